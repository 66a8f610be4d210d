"""Hand-derived values: first steps of Adam and SGD, and behaviour on f(x) = x²."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim import SGD, Adam, AdamW


def _one_tensor(values):
    p = Parameter(np.asarray(values, dtype=np.float64))
    return [("w", p)], p


# gradients spanning nine orders of magnitude and both signs
G = np.array([3e-6, -2e-4, 0.5, -1.0, 7.0, -300.0, 1e3])
THETA0 = np.linspace(-1.0, 1.0, G.size)


@pytest.mark.parametrize("eps", [1e-8, 0.0])
@pytest.mark.parametrize("amsgrad", [False, True])
def test_adam_first_step_is_lr_times_g_over_abs_g_plus_eps(eps, amsgrad):
    params, p = _one_tensor(THETA0)
    opt = Adam(params, lr=0.01, betas=(0.9, 0.999), eps=eps, amsgrad=amsgrad)
    p.grad[...] = G
    opt.step()
    expected = THETA0 - 0.01 * G / (np.abs(G) + eps)  # ≈ θ0 − α sign(g) whatever |g|
    np.testing.assert_allclose(p.data, expected, rtol=1e-14, atol=1e-15,
                               err_msg="Adam's first step must be α g/(|g| + ε)")
    stats = opt.last_stats
    np.testing.assert_allclose(stats.update, np.mean(np.abs(G) / (np.abs(G) + eps)), rtol=1e-14,
                               err_msg="update = mean |Δθ|/α on step 1")
    np.testing.assert_allclose(stats.mean_abs_m, np.mean(np.abs(G)), rtol=1e-14,
                               err_msg="m̂_1 = g_1")
    assert stats.sigma[0] < 1e-7 * np.mean(np.abs(G)), f"σ̂_1 = 0 up to rounding, got {stats.sigma}"


def test_adam_first_step_with_l2_and_decoupled_decay():
    lam, lr, eps = 0.1, 0.01, 1e-8
    params, p = _one_tensor(THETA0)
    opt = Adam(params, lr=lr, eps=eps, weight_decay=lam)
    p.grad[...] = G
    opt.step()
    d = G + lam * THETA0
    np.testing.assert_allclose(p.data, THETA0 - lr * d / (np.abs(d) + eps), rtol=1e-14,
                               atol=1e-15, err_msg="L2 decay: Adam sees g + λθ")

    params, p = _one_tensor(THETA0)
    opt = AdamW(params, lr=lr, eps=eps, weight_decay=lam)
    p.grad[...] = G
    opt.step()
    expected = (1 - lr * lam) * THETA0 - lr * G / (np.abs(G) + eps)
    np.testing.assert_allclose(p.data, expected, rtol=1e-14, atol=1e-15,
                               err_msg="decoupled decay: θ(1 − αλ) − α g/(|g| + ε)")
    np.testing.assert_allclose(opt.last_stats.update, np.mean(np.abs(G) / (np.abs(G) + eps)),
                               rtol=1e-14, err_msg="decoupled decay is excluded from update")


@pytest.mark.parametrize("kwargs, factor", [(dict(), 1.0),
                                            (dict(momentum=0.9), 1.0),
                                            (dict(momentum=0.9, dampening=0.5), 1.0),
                                            (dict(momentum=0.9, nesterov=True), 1.9)],
                         ids=["plain", "momentum", "dampening", "nesterov"])
def test_sgd_first_step_is_lr_times_g(kwargs, factor):
    params, p = _one_tensor(THETA0)
    opt = SGD(params, lr=0.01, **kwargs)
    p.grad[...] = G
    opt.step()
    np.testing.assert_allclose(p.data, THETA0 - 0.01 * factor * G, rtol=1e-15, atol=1e-16,
                               err_msg="SGD's first step is α g (b_1 = g_1; nesterov α(1+μ)g)")
    np.testing.assert_allclose(opt.last_stats.update, factor * np.mean(np.abs(G)), rtol=1e-14,
                               err_msg="SGD update statistic is mean |u| = mean |Δθ|/α")


def test_sgd_second_step_follows_heavy_ball():
    params, p = _one_tensor(THETA0)
    opt = SGD(params, lr=0.1, momentum=0.5, dampening=0.25)
    g1, g2 = G, -2 * G
    p.grad[...] = g1
    opt.step()
    p.grad[...] = g2
    opt.step()
    b2 = 0.5 * g1 + 0.75 * g2                        # b_2 = μ b_1 + (1 − τ) g_2, b_1 = g_1
    np.testing.assert_allclose(p.data, THETA0 - 0.1 * g1 - 0.1 * b2, rtol=1e-14, atol=1e-15,
                               err_msg="θ_2 = θ_0 − α b_1 − α b_2")


def test_quadratic_adam_keeps_oscillating_while_gd_goes_straight_to_zero():
    """f(x) = x², full batch, β1 = β2 = 0.99: Adam's gradient mean passes through 0 and grows
    out again, over and over; gradient descent's gradient shrinks monotonically to 0."""
    adam_params, x = _one_tensor([1.0])
    adam = Adam(adam_params, lr=0.01, betas=(0.99, 0.99))
    gd_params, y = _one_tensor([1.0])
    gd = SGD(gd_params, lr=0.01)
    xs, ys, abs_m = [], [], []
    for _ in range(3000):
        x.grad[...] = 2 * x.data
        adam.step()
        y.grad[...] = 2 * y.data
        gd.step()
        xs.append(x.data[0])
        ys.append(y.data[0])
        abs_m.append(adam.last_stats.mean_abs_m[0])
    xs, ys, abs_m = map(np.array, (xs, ys, abs_m))
    assert np.all(ys > 0) and np.all(np.diff(ys) < 0), "GD on x² must decrease x monotonically"
    sign_changes = int(np.sum(np.diff(np.sign(xs)) != 0))
    assert sign_changes >= 20, f"Adam should keep crossing x = 0, crossed {sign_changes} times"
    regrowths = int(np.sum(np.diff(abs_m) > 0))
    assert regrowths >= 100, f"|m̂| should grow out again after dips, grew on {regrowths} steps"
