"""signSGD, Signum, Lion and M-SVAG: hand-derived steps, each method's step against the relative
spread γ (per element, where exact), the family on one gradient stream beside Adam, statistics,
hyperparameter checks, state round trips and parameter groups."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim import Adam
from numpy_adam.optim import lion, msvag, sign
from numpy_adam.optim.lion import Lion
from numpy_adam.optim.msvag import MSVAG, msvag_kappa, msvag_rho
from numpy_adam.optim.sign import SignSGD, Signum
from numpy_adam.optim.stats import FIELDS, element_spread, spread_stats

# gradients spanning nine orders of magnitude, both signs, and an exact zero
G = np.array([3e-6, -2e-4, 0.5, -1.0, 7.0, -300.0, 1e3, 0.0])
THETA0 = np.linspace(-1.0, 1.0, G.size)
LR = 0.01


def _one_tensor(values=THETA0):
    p = Parameter(np.asarray(values, dtype=np.float64))
    return [("w", p)], p


def _step(opt, p, g):
    p.grad[...] = g
    opt.step()
    return p.data.copy()


# -- hand-derived steps ---------------------------------------------------------------------

@pytest.mark.parametrize("weight_decay", [0.0, 0.1])
def test_sign_sgd_step_is_minus_lr_sign_g(weight_decay):
    params, p = _one_tensor()
    opt = SignSGD(params, lr=LR, weight_decay=weight_decay)
    theta1 = _step(opt, p, G)
    d = G + weight_decay * THETA0
    np.testing.assert_array_equal(theta1, THETA0 - LR * np.sign(d),
                                  err_msg="signSGD: θ_1 = θ_0 − α sign(g + λθ_0)")
    if weight_decay == 0.0:
        assert theta1[-1] == THETA0[-1], "sign(0) = 0: a zero gradient does not move its element"
    assert opt.last_stats.update[0] == np.mean(d != 0), "update = fraction of elements that moved"


def test_signum_first_steps_and_momentum_convention():
    """t = 1: sign((1 − β) g_1) = sign(g_1); t = 2: m_2 = β(1 − β) g_1 + (1 − β) g_2."""
    params, p = _one_tensor()
    opt = Signum(params, lr=LR, beta=0.9)
    theta1 = _step(opt, p, G)
    np.testing.assert_array_equal(theta1, THETA0 - LR * np.sign(G), err_msg="Signum step 1")
    np.testing.assert_allclose(opt.m, 0.1 * G, rtol=1e-15, err_msg="m_1 = (1 − β) g_1 (EMA)")
    # g_2 = −g_1/2: m_2 = (0.09 − 0.05) g_1 keeps g_1's sign; g_2 = −g_1 flips it (−0.01 g_1)
    theta2 = _step(opt, p, -0.5 * G)
    np.testing.assert_array_equal(theta2, theta1 - LR * np.sign(G), err_msg="momentum holds")
    theta3 = _step(opt, p, -3.0 * G)  # m_3 = 0.9 · 0.04 g_1 − 0.3 g_1 < 0
    np.testing.assert_array_equal(theta3, theta2 + LR * np.sign(G), err_msg="momentum flips")


@pytest.mark.parametrize("weight_decay", [0.0, 0.5])
def test_lion_first_steps(weight_decay):
    """t = 1: θ_1 = (1 − αλ)θ_0 − α sign(g_1), m_1 = (1 − β2) g_1; t = 2 with g_2 = −g_1/2:
    c_2 = 0.009 g_1 − 0.05 g_1 flips, where Signum(β = 0.9) would keep g_1's sign."""
    params, p = _one_tensor()
    opt = Lion(params, lr=LR, weight_decay=weight_decay)  # betas (0.9, 0.99)
    kappa = 1.0 - LR * weight_decay
    theta1 = _step(opt, p, G)
    np.testing.assert_allclose(theta1, kappa * THETA0 - LR * np.sign(G), rtol=1e-15, atol=1e-17)
    np.testing.assert_allclose(opt.m, (1 - 0.99) * G, rtol=1e-15, err_msg="m_1 = (1 − β2) g_1")
    assert opt.last_stats.update[0] == np.mean(G != 0), "decoupled decay is excluded from update"
    theta2 = _step(opt, p, -0.5 * G)
    np.testing.assert_allclose(theta2, kappa * theta1 + LR * np.sign(G), rtol=1e-15, atol=1e-17,
                               err_msg="c_2 = β1(1 − β2) g_1 + (1 − β1) g_2 follows g_2")


def test_msvag_first_two_steps():
    """t = 1: r_1 = 1, θ_1 = θ_0 − α g_1 (0/0 → no step where g_1 = 0). t = 2: m̂_2 =
    (β g_1 + g_2)/(1 + β), κ_2 σ̂_2² = (1 + β²)(g_1 − g_2)²/(2(1 + β)²), u_2 = r_2 m̂_2."""
    beta = 0.9
    params, p = _one_tensor()
    opt = MSVAG(params, lr=LR, beta=beta)
    theta1 = _step(opt, p, G)
    np.testing.assert_allclose(theta1, THETA0 - LR * G, rtol=1e-15, atol=1e-17,
                               err_msg="M-SVAG's first step is SGD's")
    assert opt.last_stats.update[0] == pytest.approx(np.mean(np.abs(G)), rel=1e-14)
    g2 = G * np.array([1.0, 0.5, -1.0, 2.0, -0.1, 3.0, 1.0, 0.0]) + 0.2
    theta2 = _step(opt, p, g2)
    m_hat = (beta * G + g2) / (1 + beta)
    spread = (1 + beta ** 2) * (G - g2) ** 2 / (2 * (1 + beta) ** 2)
    u2 = m_hat ** 3 / (m_hat ** 2 + spread)
    np.testing.assert_allclose(theta2, theta1 - LR * u2, rtol=1e-13, atol=1e-16)
    assert msvag_kappa(beta, 2) == pytest.approx((1 + beta ** 2) / (2 * beta), rel=1e-15)


def test_msvag_on_a_constant_gradient_is_sgd():
    """σ̂ = 0 at every step, so r = 1 and u_t = m̂_t = g: θ_t = θ_0 − α t g."""
    params, p = _one_tensor()
    opt = MSVAG(params, lr=LR, beta=0.9)
    for _ in range(50):
        _step(opt, p, G)
    np.testing.assert_allclose(p.data, THETA0 - 50 * LR * G, rtol=1e-12, atol=1e-12)


def test_rho_is_the_sum_of_squared_ema_weights_and_kappa_its_odds():
    for beta in (0.5, 0.9, 0.999):
        for t in (1, 2, 3, 10, 100):
            w = (1 - beta) * beta ** (t - np.arange(1, t + 1)) / (1 - beta ** t)  # w_1 … w_t
            assert w.sum() == pytest.approx(1.0, rel=1e-12), "bias-corrected weights sum to 1"
            assert msvag_rho(beta, t) == pytest.approx(np.sum(w ** 2), rel=1e-9), (beta, t)
            if t > 1:
                rho = msvag_rho(beta, t)
                assert msvag_kappa(beta, t) == pytest.approx(rho / (1 - rho), rel=1e-9), (beta, t)
    assert msvag_rho(0.9, 1) == pytest.approx(1.0) and msvag_kappa(0.9, 1) == 0.0
    assert msvag_kappa(0.9) == pytest.approx(1 / 18) == msvag_kappa(0.9, 2000)


# -- the step against the relative spread γ, per element -------------------------------------

N_TENSORS = 8  # one element each, so every per-tensor statistic is a per-element value


def _scalar_params(rng):
    return [(f"x{i}", Parameter(rng.normal(size=(1,)))) for i in range(N_TENSORS)]


def _stream(rng, steps):
    """Gradients with a per-element mean of either sign and noise of comparable size."""
    mean = rng.choice([-1.0, 1.0], size=N_TENSORS) * rng.uniform(0.1, 2.0, size=N_TENSORS)
    return mean + rng.uniform(0.2, 3.0, size=N_TENSORS) * rng.normal(size=(steps, N_TENSORS))


@pytest.mark.parametrize("beta", [0.5, 0.9, 0.99])
def test_msvag_relation_per_element_at_every_step(beta):
    """|Δθ|/α = |m̂|/(1 + κ_t γ²) with γ = σ̂/|m̂| of M-SVAG's own m̂, v̂; along −sign(m̂)."""
    rng = np.random.default_rng(110)
    opt = MSVAG(_scalar_params(rng), lr=0.01, beta=beta, sample_size=1)  # γ of each element
    for t, g in enumerate(_stream(rng, 300), start=1):
        opt.flat.grad[:] = g
        before = opt.flat.data.copy()
        opt.step()
        s = opt.last_stats
        predicted = msvag.predicted_update(s.gamma, s.mean_abs_m, beta, t)
        np.testing.assert_allclose(s.update, predicted, rtol=1e-12, atol=0,
                                   err_msg=f"step {t}: |Δθ|/α ≠ |m̂|/(1 + κ_t γ²)")
        np.testing.assert_array_equal(np.sign(before - opt.flat.data), np.sign(opt.m),
                                      err_msg=f"step {t}: the step must follow −sign(m̂)")
        if t >= 2:
            assert np.all(s.neg_var_frac == 0), f"step {t}: one β for m and v gives v̂ ≥ m̂²"


@pytest.mark.parametrize("cls, options", [
    (SignSGD, dict(weight_decay=0.05)), (Signum, dict(beta=0.9)),
    (Lion, dict(betas=(0.9, 0.99), weight_decay=0.5))], ids=["signsgd", "signum", "lion"])
def test_sign_methods_step_exactly_one_per_element(cls, options):
    """|Δθ|/α = 1 on every element whose sign argument is non-zero (the flat curve), the
    sample's step (decoupled decay divided out) is ±1 exactly, along −sign of the argument."""
    rng = np.random.default_rng(111)
    opt = cls(_scalar_params(rng), lr=0.01, probe_betas=(0.9, 0.99), sample_size=1, **options)
    stream = _stream(rng, 300)
    stream[:, 0] = 0.0  # a zero gradient: signSGD/Signum still see λθ, Lion nothing
    for t, g in enumerate(stream, start=1):
        m_before = None if opt.m is None else opt.m.copy()
        theta = opt.flat.data.copy()
        opt.flat.grad[:] = g
        opt.step()
        if cls is Lion:
            argument = 0.9 * m_before + (1 - 0.9) * g            # c_t
        elif cls is Signum:
            argument = opt.m                                     # m_t
        else:
            argument = g + 0.05 * theta                          # g_t + λθ_{t−1}
        moved = argument != 0
        assert cls is not Lion or not moved[0], "Lion: c = 0 where g has always been 0"
        curve = lion.predicted_update(opt.last_stats.gamma) if cls is Lion else \
            sign.predicted_update(opt.last_stats.gamma)
        np.testing.assert_array_equal(opt.last_stats.update, np.where(moved, curve, 0.0),
                                      err_msg=f"step {t}: |Δθ|/α must be 1 (0 where c = 0)")
        np.testing.assert_allclose(opt.last_sample.update, np.sign(argument), rtol=0, atol=1e-12,
                                   err_msg=f"step {t}: u_t = sign of the argument")


def test_the_family_on_one_gradient_stream():
    """Adam (β1 = β2 = β, ε = 0), Signum (β) and M-SVAG (β) fed the same gradients keep the same
    m (and Adam and M-SVAG the same v), so they step in one direction −sign(m̂) with sizes
    1/√(γ²+1), 1 and |m̂|/(1 + κ_t γ²): the three curves of the note's axes."""
    rng = np.random.default_rng(112)
    theta0 = rng.normal(size=(1, N_TENSORS))[0]
    beta = 0.9
    adam, signum, svag = (cls([(f"x{i}", Parameter(theta0[i:i + 1].copy()))
                               for i in range(N_TENSORS)], lr=0.01, **kw)
                          for cls, kw in ((Adam, dict(betas=(beta, beta), eps=0.0)),
                                          (Signum, dict(beta=beta)), (MSVAG, dict(beta=beta))))
    for t, g in enumerate(_stream(rng, 200), start=1):
        steps = []
        for opt in (adam, signum, svag):
            before = opt.flat.data.copy()
            opt.flat.grad[:] = g
            opt.step()
            steps.append(before - opt.flat.data)
        np.testing.assert_array_equal(signum.m, adam.m, err_msg="Signum's m is Adam's m")
        np.testing.assert_array_equal(svag.m, adam.m, err_msg="M-SVAG's m is Adam's m")
        np.testing.assert_array_equal(svag.v, adam.v, err_msg="M-SVAG's v is Adam's v")
        for step in steps:
            np.testing.assert_array_equal(np.sign(step), np.sign(adam.m), err_msg=f"step {t}")
        m_hat = adam.m / (1 - beta ** t)
        _, gamma, _ = element_spread(m_hat, adam.v / (1 - beta ** t))
        gamma = np.where(np.abs(m_hat) > 0, gamma, 0.0)
        np.testing.assert_allclose(adam.last_stats.update, 1 / np.sqrt(gamma ** 2 + 1), rtol=1e-6)
        np.testing.assert_array_equal(signum.last_stats.update, sign.predicted_update(gamma))
        np.testing.assert_allclose(svag.last_stats.update,
                                   msvag.predicted_update(gamma, np.abs(m_hat), beta, t),
                                   rtol=1e-12)


def test_msvag_predicted_update_shape():
    gamma = np.array([0.0, 1.0, 4.0, 100.0, np.inf])
    curve = msvag.predicted_update(gamma, 2.0, beta=0.9)  # κ = 1/18
    np.testing.assert_allclose(curve, 2.0 / (1 + gamma ** 2 / 18), rtol=1e-15)
    assert curve[0] == 2.0 and curve[-1] == 0.0 and np.all(np.diff(curve) < 0), curve
    np.testing.assert_array_equal(msvag.predicted_update([3.0, 3.0], [0.0, 1.0], 0.9, t=1),
                                  [0.0, 1.0], err_msg="t = 1: |m̂|; |m̂| = 0: no step")
    np.testing.assert_array_equal(sign.predicted_update(gamma), np.ones(5))
    np.testing.assert_array_equal(lion.predicted_update(gamma.reshape(5, 1)), np.ones((5, 1)))


# -- statistics -----------------------------------------------------------------------------

@pytest.mark.parametrize("cls, options", [
    (SignSGD, dict(weight_decay=0.05, probe_betas=(0.9, 0.99))),
    (Signum, dict(maximize=True, probe_betas=(0.8, 0.999))),
    (Lion, dict(weight_decay=0.5, probe_betas=(0.9, 0.9))), (MSVAG, dict(weight_decay=0.05))],
    ids=["signsgd", "signum", "lion", "msvag"])
def test_statistics_equal_numpy_statistics_from_the_state(cls, options, make_params,
                                                          small_chunks):
    """Recompute the statistics in NumPy from the probe's (M-SVAG's own) m, v and the step
    recovered from θ (decoupled decay divided out)."""
    rng = np.random.default_rng(113)
    opt = cls(make_params(rng), lr=0.01, track=("weight", "batchnorm"), sample_size=3, **options)
    kappa = getattr(opt.hparams, "decay_factor", 1.0)
    segments = [opt.flat.segments[i] for i in opt.tracked]
    layout = opt.sample_layout
    sampled = [layout.element[layout.slot == k] for k in range(len(segments))]
    for t in range(1, 31):
        opt.flat.grad[:] = rng.normal(loc=0.2, size=opt.flat.grad.shape)
        before = opt.flat.data.copy()
        opt.step()
        u = (kappa * before - opt.flat.data) / opt.lr
        if cls is MSVAG:
            want = spread_stats(opt.m, opt.v, u, t, opt.hparams.beta, opt.hparams.beta, segments,
                                gamma_at=sampled)
        else:
            want = spread_stats(opt.probe.m, opt.probe.v, u, t, *opt.probe_betas, segments,
                                gamma_at=sampled)
        for field in FIELDS:
            rtol = 1e-10 if field == "update" else 1e-12  # u recovered from θ loses digits
            np.testing.assert_allclose(getattr(opt.last_stats, field), getattr(want, field),
                                       rtol=rtol, err_msg=f"step {t}: {field}")


def test_without_probe_only_update_is_measured(make_params):
    rng = np.random.default_rng(114)
    opt = Lion(make_params(rng), sample_size=2)
    opt.flat.grad[:] = rng.normal(size=opt.flat.grad.shape)
    opt.step()
    s = opt.last_stats
    assert np.all(s.update == 1.0), s.update
    for field in ("mean_abs_m", "sigma", "gamma", "neg_var_frac"):
        assert np.all(np.isnan(getattr(s, field))), f"{field} must be NaN without a probe"
    assert np.all(np.isnan(opt.last_sample.m_hat)), "the sample's m̂ is NaN without a probe"
    np.testing.assert_allclose(np.abs(opt.last_sample.update), 1.0, rtol=0, atol=1e-10,
                               err_msg="the sample's step, recovered from θ, is ±1")
