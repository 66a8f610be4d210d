"""Adagrad by hand: first steps, the 1/√t of a constant gradient, lr_decay's α_t (and that
``update`` is measured in units of it), and each group's initial accumulator."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim.adagrad import Adagrad
from numpy_adam.optim.sample import update_tolerance

# gradients spanning nine orders of magnitude and both signs (as test_hand_derived.py)
G = np.array([3e-6, -2e-4, 0.5, -1.0, 7.0, -300.0, 1e3])
THETA0 = np.linspace(-1.0, 1.0, G.size)
LR = 0.01


def _one_tensor(values=THETA0):
    p = Parameter(np.asarray(values, dtype=np.float64))
    return [("w", p)], p


@pytest.mark.parametrize("init", [0.0, 0.1])
def test_first_step_is_lr_g_over_sqrt_init_plus_g2(init):
    params, p = _one_tensor()
    opt = Adagrad(params, lr=LR, initial_accumulator_value=init)
    np.testing.assert_array_equal(opt.s, np.full(G.size, init), err_msg="s_0")
    p.grad[...] = G
    opt.step()
    step = G / (np.sqrt(init + G ** 2) + 1e-10)  # s_1 = s_0 + g²
    np.testing.assert_allclose(p.data, THETA0 - LR * step, rtol=1e-14, atol=1e-15)
    np.testing.assert_allclose(opt.s, init + G ** 2, rtol=1e-15)
    np.testing.assert_allclose(opt.last_stats.update, np.mean(np.abs(step)), rtol=1e-14)
    if init == 0.0:
        np.testing.assert_allclose(step, np.sign(G), rtol=1e-4, err_msg="≈ α sign(g), as Adam")
    assert np.isnan(opt.last_stats.mean_abs_m).all(), "without a probe only update is measured"


def test_first_step_with_decay_and_maximize():
    lam = 0.1
    params, p = _one_tensor()
    opt = Adagrad(params, lr=LR, weight_decay=lam, maximize=True)
    p.grad[...] = G
    opt.step()
    d = -G + lam * THETA0  # g_t ← −g_t + λ θ_0
    np.testing.assert_allclose(p.data, THETA0 - LR * d / (np.abs(d) + 1e-10), rtol=1e-14,
                               atol=1e-15)


def test_constant_gradient_steps_shrink_as_one_over_sqrt_t():
    params, p = _one_tensor()
    opt = Adagrad(params, lr=LR, eps=0.0)
    for t in range(1, 11):
        p.grad[...] = G
        before = p.data.copy()
        opt.step()
        # s_t = t g², so Δθ = α g/(√t |g|) = α sign(g)/√t
        np.testing.assert_allclose(before - p.data, LR * np.sign(G) / np.sqrt(t), rtol=1e-12,
                                   err_msg=f"step {t}")
        np.testing.assert_allclose(opt.last_stats.update, 1 / np.sqrt(t), rtol=1e-13)


def test_lr_decay_scales_the_step_but_not_update():
    """α_t = α/(1 + (t − 1)δ); ``update`` = mean |Δθ|/α_t, so it is the same with or without
    decay, and so is the element sample's update."""
    delta = 0.5
    runs = {}
    for decay in (0.0, delta):
        params, p = _one_tensor()
        opt = Adagrad(params, lr=LR, lr_decay=decay, eps=0.0, sample_size=3)
        steps = []
        for t in range(1, 4):
            p.grad[...] = G
            before = p.data.copy()
            opt.step()
            steps.append(before - p.data)
        runs[decay] = (opt, np.array(steps))
    (plain, plain_steps), (decayed, decayed_steps) = runs[0.0], runs[delta]
    for t in range(1, 4):
        np.testing.assert_allclose(decayed_steps[t - 1], plain_steps[t - 1] / (1 + (t - 1) * delta),
                                   rtol=1e-13, err_msg=f"Δθ_t = α_t u_t at step {t}")
    alpha_3 = LR / (1 + 2 * delta)
    np.testing.assert_allclose(decayed_steps[2], alpha_3 * np.sign(G) / np.sqrt(3), rtol=1e-12)
    np.testing.assert_allclose(decayed.last_stats.update, plain.last_stats.update, rtol=1e-14)
    np.testing.assert_allclose(decayed.last_stats.update, 1 / np.sqrt(3), rtol=1e-13)
    sample = decayed.last_sample
    u = np.sign(G[decayed.sample_layout.element]) / np.sqrt(3)
    tol = update_tolerance(sample.param, sample.update, alpha_3, np.float64)
    assert np.all(np.abs(sample.update - u) <= tol), (sample.update, u, tol)


def test_each_group_starts_from_its_own_accumulator_value():
    a, b, c = (Parameter(np.ones(2)) for _ in range(3))
    opt = Adagrad([{"params": [a]}, {"params": [b], "initial_accumulator_value": 3.0}],
                  initial_accumulator_value=1.0)
    np.testing.assert_array_equal(opt.s, [1.0, 1.0, 3.0, 3.0])
    a.grad = b.grad = np.array([2.0, 0.0])
    opt.step()
    np.testing.assert_array_equal(opt.s, [5.0, 1.0, 7.0, 3.0])
    opt.param_groups[1]["initial_accumulator_value"] = 9.0  # only the start value: no effect
    opt.add_param_group({"params": [c], "initial_accumulator_value": 0.5})
    np.testing.assert_array_equal(opt.s, [5.0, 1.0, 7.0, 3.0, 0.5, 0.5],
                                  err_msg="kept s, and the new group's own start value")
    c.grad = np.array([1.0, 1.0])
    before = c.data.copy()
    opt.step()
    # c's first step at t = 2: s = 0.5 + 1, α_2 = α (δ = 0)
    np.testing.assert_allclose(before - c.data, 0.01 / (np.sqrt(1.5) + 1e-10), rtol=1e-14)
