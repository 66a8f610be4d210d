"""The note's identity, per element: with β1 = β2, |Δθ|/α = 1/(√(γ²+1) + ε/|m̂|); with β1 ≠ β2,
v̂ < m̂² happens and the step then exceeds α."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim import Adam

N_TENSORS = 8  # one element each, so every per-tensor mean is a per-element value


def _scalar_params(rng):
    return [(f"x{i}", Parameter(rng.normal(size=(1,)))) for i in range(N_TENSORS)]


def _stream(rng, steps):
    """Gradients with a per-element mean of either sign and noise of comparable size."""
    mean = rng.choice([-1.0, 1.0], size=N_TENSORS) * rng.uniform(0.1, 2.0, size=N_TENSORS)
    return mean + rng.uniform(0.2, 3.0, size=N_TENSORS) * rng.normal(size=(steps, N_TENSORS))


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.99])
@pytest.mark.parametrize("eps", [0.0, 1e-3])
def test_identity_per_element_at_every_step(beta, eps):
    rng = np.random.default_rng(10)
    params = _scalar_params(rng)
    opt = Adam(params, lr=0.01, betas=(beta, beta), eps=eps, sample_size=1)  # γ of each element
    for t, g in enumerate(_stream(rng, 300), start=1):
        opt.flat.grad[:] = g
        before = opt.flat.data.copy()
        opt.step()
        s = opt.last_stats
        predicted = 1.0 / (np.sqrt(s.gamma ** 2 + 1.0) + eps / s.mean_abs_m)
        np.testing.assert_allclose(s.update, predicted, rtol=1e-6, atol=0,
                                   err_msg=f"step {t}: |Δθ|/α ≠ 1/(√(γ²+1) + ε/|m̂|)")
        direction = np.sign(before - opt.flat.data)
        np.testing.assert_array_equal(direction, np.sign(opt.m),
                                      err_msg=f"step {t}: the step must follow −sign(m̂)")
        if t >= 2:  # at t = 1, v̂ − m̂² = 0 exactly in theory and ±rounding in practice
            assert np.all(s.neg_var_frac == 0), f"step {t}: β1 = β2 must give v̂ ≥ m̂²"


def test_amsgrad_step_stays_below_the_curve():
    """With amsgrad the step uses v̂_max ≥ v̂, while γ uses v̂: |Δθ|/α ≤ 1/√(γ²+1)."""
    rng = np.random.default_rng(11)
    opt = Adam(_scalar_params(rng), lr=0.01, betas=(0.9, 0.9), eps=0.0, amsgrad=True,
               sample_size=1)
    below = 0
    for t, g in enumerate(_stream(rng, 300), start=1):
        opt.flat.grad[:] = g
        opt.step()
        s = opt.last_stats
        curve = 1.0 / np.sqrt(s.gamma ** 2 + 1.0)
        assert np.all(s.update <= curve * (1 + 1e-12)), f"step {t}: {s.update} > {curve}"
        below += int(np.sum(s.update < curve * (1 - 1e-6)))
    assert below > 0, "v̂_max > v̂ should have pushed some steps strictly below the curve"


def test_unequal_betas_give_negative_variance_and_steps_above_alpha():
    """β1 = 0.5 forgets fast, β2 = 0.999 slowly: after 100 small gradients a jump to a large
    one makes m̂² overtake v̂ (γ undefined, σ̂ clamped to 0) and |Δθ|/α exceed 1."""
    rng = np.random.default_rng(12)
    opt = Adam(_scalar_params(rng), lr=0.01, betas=(0.5, 0.999), eps=1e-8)
    small = 0.01 * (1 + 0.1 * rng.normal(size=(100, N_TENSORS)))
    large = np.ones((5, N_TENSORS))
    neg, update, sigma = [], [], []
    for g in np.concatenate([small, large]):
        opt.flat.grad[:] = g
        opt.step()
        neg.append(opt.last_stats.neg_var_frac)
        update.append(opt.last_stats.update)
        sigma.append(opt.last_stats.sigma)
    neg, update, sigma = np.array(neg), np.array(update), np.array(sigma)  # (105, N)
    assert np.all(neg[-3:] > 0), f"v̂ < m̂² expected after the jump, neg_var_frac {neg[-3:]}"
    assert np.all(update[-3:] > 1), f"|Δθ|/α > 1 expected after the jump, got {update[-3:]}"
    assert np.all(sigma[-3:][neg[-3:] > 0] == 0), "clamp policy: σ̂ = 0 where v̂ < m̂²"


def test_tensor_means_leave_the_curve_where_elements_are_on_it():
    """Jensen: per element the identity is exact, but the mean step of a tensor is not
    1/√(mean γ² + 1) — why aggregated points scatter around the curve."""
    rng = np.random.default_rng(13)
    p = Parameter(rng.normal(size=(64,)))
    opt = Adam([("w", p)], lr=0.01, betas=(0.9, 0.9), eps=0.0, sample_size=64)  # all 64
    scale = 10.0 ** rng.uniform(-1, 1, size=64)  # very different relative spreads per element
    for _ in range(50):
        p.grad[...] = 0.3 + scale * rng.normal(size=64)
        opt.step()
    s = opt.last_stats
    gap = abs(s.update[0] - 1.0 / np.sqrt(s.gamma[0] ** 2 + 1.0))
    assert gap > 1e-2, f"tensor-level means should leave the curve, gap {gap:.3g}"
