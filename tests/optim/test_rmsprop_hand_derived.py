"""RMSprop by hand: first and second steps, the exact per-element relation of its step to the
probe's γ, and its root-mean-square step that stays near 1 whatever the spread."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim.rmsprop import RMSprop

# gradients spanning nine orders of magnitude and both signs (as test_hand_derived.py)
G = np.array([3e-6, -2e-4, 0.5, -1.0, 7.0, -300.0, 1e3])
THETA0 = np.linspace(-1.0, 1.0, G.size)
LR, ALPHA = 0.01, 0.99


def _one_tensor(values=THETA0):
    p = Parameter(np.asarray(values, dtype=np.float64))
    return [("w", p)], p


@pytest.mark.parametrize("eps", [1e-8, 0.0])
def test_first_step_is_lr_g_over_sqrt_one_minus_alpha_g2(eps):
    params, p = _one_tensor()
    opt = RMSprop(params, lr=LR, alpha=ALPHA, eps=eps)
    p.grad[...] = G
    opt.step()
    step = G / (np.sqrt((1 - ALPHA) * G ** 2) + eps)  # v_1 = (1 − α) g², no bias correction
    np.testing.assert_allclose(p.data, THETA0 - LR * step, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(opt.v, (1 - ALPHA) * G ** 2, rtol=1e-15)
    np.testing.assert_allclose(opt.last_stats.update, np.mean(np.abs(step)), rtol=1e-14,
                               err_msg="update = mean |Δθ|/η")
    big = np.abs(G) > 1e-3  # where ε is negligible beside √(1 − α)|g|
    np.testing.assert_allclose(step[big], 10.0 * np.sign(G[big]), rtol=1e-5,
                               err_msg="≈ sign(g)/√(1 − α) = 10 sign(g) for α = 0.99")
    assert np.isnan(opt.last_stats.sigma).all() and np.isnan(opt.last_stats.gamma).all(), \
        "without a probe only update is measured"


def test_first_step_centered():
    params, p = _one_tensor()
    opt = RMSprop(params, lr=LR, alpha=ALPHA, eps=1e-8, centered=True)
    p.grad[...] = G
    opt.step()
    # ḡ_1 = (1 − α) g, v_1 − ḡ_1² = (1 − α) g² − (1 − α)² g² = α(1 − α) g²
    expected = THETA0 - LR * G / (np.sqrt(ALPHA * (1 - ALPHA) * G ** 2) + 1e-8)
    np.testing.assert_allclose(p.data, expected, rtol=1e-13, atol=1e-15)
    np.testing.assert_allclose(opt.g_avg, (1 - ALPHA) * G, rtol=1e-15)


def test_first_step_with_decay_and_maximize():
    lam = 0.1
    params, p = _one_tensor()
    opt = RMSprop(params, lr=LR, weight_decay=lam, maximize=True)
    p.grad[...] = G
    opt.step()
    d = -G + lam * THETA0  # g_t ← −g_t + λ θ_0
    np.testing.assert_allclose(p.data, THETA0 - LR * d / (np.sqrt((1 - ALPHA) * d ** 2) + 1e-8),
                               rtol=1e-14, atol=1e-15)


def test_second_step_with_momentum():
    mu = 0.9
    params, p = _one_tensor()
    opt = RMSprop(params, lr=LR, alpha=ALPHA, momentum=mu)
    g1, g2 = G, -0.5 * G
    p.grad[...] = g1
    opt.step()
    p.grad[...] = g2
    opt.step()
    v1 = (1 - ALPHA) * g1 ** 2
    v2 = ALPHA * v1 + (1 - ALPHA) * g2 ** 2
    b1 = g1 / (np.sqrt(v1) + 1e-8)                    # b_1 = 0·μ + g_1/D_1
    b2 = mu * b1 + g2 / (np.sqrt(v2) + 1e-8)          # b_2 = μ b_1 + g_2/D_2
    np.testing.assert_allclose(p.data, THETA0 - LR * b1 - LR * b2, rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(opt.b, b2, rtol=1e-13)
    np.testing.assert_allclose(opt.last_stats.update, np.mean(np.abs(b2)), rtol=1e-13,
                               err_msg="with momentum u_t = b_t")


N_TENSORS = 8  # one element each: per-tensor means are per-element values


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("alpha", [0.9, 0.99])
def test_step_against_the_probes_gamma_per_element(centered, alpha):
    """ε = 0, μ = 0, probe (α, α): |u_t| = (|g_t|/|m̂_t|)/√((1 − α^t)(γ_t² + κ)), κ = 1, or α^t
    when centered, at every step (module docstring)."""
    rng = np.random.default_rng(90)
    params = [(f"x{i}", Parameter(rng.normal(size=(1,)))) for i in range(N_TENSORS)]
    opt = RMSprop(params, lr=0.01, alpha=alpha, eps=0.0, centered=centered,
                  probe_betas=(alpha, alpha), sample_size=1)  # γ of each one-element tensor
    mean = rng.choice([-1.0, 1.0], size=N_TENSORS) * rng.uniform(0.1, 2.0, size=N_TENSORS)
    noise = rng.uniform(0.2, 3.0, size=N_TENSORS)
    for t in range(1, 301):
        g = mean + noise * rng.normal(size=N_TENSORS)
        opt.flat.grad[:] = g
        opt.step()
        s = opt.last_stats
        kappa = alpha ** t if centered else 1.0
        predicted = np.abs(g) / (s.mean_abs_m * np.sqrt((1 - alpha ** t) * (s.gamma ** 2 + kappa)))
        np.testing.assert_allclose(s.update, predicted, rtol=1e-9,
                                   err_msg=f"step {t}: |u| ≠ (|g|/|m̂|)/√((1 − α^t)(γ² + κ))")
        np.testing.assert_array_equal(opt.probe.v, opt.v, err_msg="probe β2 = α: v_p = v")
        if centered:
            np.testing.assert_array_equal(opt.probe.m, opt.g_avg, err_msg="probe β1 = α: m_p = ḡ")


@pytest.mark.parametrize("centered", [False, True])
@pytest.mark.parametrize("gamma", [0.1, 1.0, 10.0])
def test_root_mean_square_step_does_not_shrink_with_the_spread(centered, gamma):
    """g = 1 + γ ξ: over a steady stretch the RMS of u is ≈ 1 (centered ≈ √(1 + 1/γ²)) for γ
    from 0.1 to 10, where Adam's |u| = 1/√(γ² + 1) falls from 0.995 to 0.0995."""
    rng = np.random.default_rng(91)
    p = Parameter(np.zeros(100))
    opt = RMSprop([("w", p)], lr=1e-3, centered=centered)
    u2 = []
    for t in range(2000):
        p.grad[...] = 1.0 + gamma * rng.normal(size=100)
        before = p.data.copy()
        opt.step(compute_stats=False)
        if t >= 500:
            u2.append(np.mean(((before - p.data) / 1e-3) ** 2))
    rms = np.sqrt(np.mean(u2))
    expected = np.sqrt(1 + 1 / gamma ** 2) if centered else 1.0
    assert abs(rms / expected - 1) < 0.03, f"RMS step {rms:.4g}, expected ≈ {expected:.4g}"


def test_momentum_or_centered_switched_on_later_is_refused():
    params, p = _one_tensor()
    opt = RMSprop(params)
    p.grad[...] = G
    opt.step()
    opt.param_groups[0]["momentum"] = 0.9
    with pytest.raises(ValueError, match="RMSprop: a parameter group's momentum went from 0"):
        opt.step()
    opt.param_groups[0]["momentum"] = 0.0
    opt.param_groups[0]["centered"] = True
    with pytest.raises(ValueError, match="RMSprop: centered was switched on"):
        opt.step()
    assert opt.t == 1, "a refused step changes nothing"


def test_a_group_may_turn_momentum_on_when_another_group_has_it():
    a, b = Parameter(np.array([1.0])), Parameter(np.array([2.0]))
    opt = RMSprop([{"params": [a], "momentum": 0.9}, {"params": [b]}], lr=0.1)
    assert set(opt.state_dict()["state"]) == {"v", "b"}
    a.grad, b.grad = np.array([1.0]), np.array([1.0])
    opt.step()
    assert opt.b[1] == 0.0, "the group without momentum leaves its part of b untouched"
    opt.param_groups[1]["momentum"] = 0.5
    opt.step()
    # b's group: v_2 = (1 − α)(α + 1)·1, b_2 = 0.5·0 + 1/(√v_2 + ε)
    np.testing.assert_allclose(opt.b[1], 1 / (np.sqrt(0.01 * 1.99) + 1e-8), rtol=1e-14)
