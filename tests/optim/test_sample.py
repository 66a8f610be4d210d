"""The element sample: which elements, and that their m̂, v̂, step and θ are the optimizer's."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim import SGD, Adam, AdamW
from numpy_adam.optim.adam import adam_update
from numpy_adam.optim.sample import choose_sample, update_tolerance
from numpy_adam.optim.stats import bias_corrections, element_spread


def named_params(rng, dtype=np.float32):
    shapes = {"a.weight": (20, 30), "a.bias": (20,), "b.weight": (5,)}
    return [(name, Parameter((0.1 * rng.normal(size=shape)).astype(dtype)))
            for name, shape in shapes.items()]


def test_layout_takes_k_per_tracked_tensor_all_of_a_small_one_in_flat_order():
    track = ("a.weight", "b.weight")
    opt = Adam(named_params(np.random.default_rng(0)), sample_size=8, sample_seed=3, track=track)
    layout = opt.sample_layout
    assert layout.size == 8 + 5, "8 of a.weight (600 elements), all 5 of b.weight"
    np.testing.assert_array_equal(layout.slot, [0] * 8 + [1] * 5)
    np.testing.assert_array_equal(layout.element[8:], np.arange(5), "a small tensor is taken whole")
    assert np.all(np.diff(layout.element[:8]) > 0), "distinct and sorted within a tensor"
    segments = {s.name: s for s in opt.flat.segments}
    np.testing.assert_array_equal(layout.flat_index[:8], segments["a.weight"].offset + layout.element[:8])
    np.testing.assert_array_equal(layout.flat_index[8:], segments["b.weight"].offset + np.arange(5))
    again = Adam(named_params(np.random.default_rng(1)), sample_size=8, sample_seed=3, track=track)
    np.testing.assert_array_equal(again.sample_layout.flat_index, layout.flat_index,
                                  err_msg="the layout depends only on the seed and the sizes")
    other = Adam(named_params(np.random.default_rng(0)), sample_size=8, sample_seed=4, track=track)
    assert not np.array_equal(other.sample_layout.element[:8], layout.element[:8]), \
        "another seed picks other elements"


def test_no_sample_by_default_and_none_without_statistics():
    rng = np.random.default_rng(0)
    opt = Adam(named_params(rng))
    opt.flat.grad[:] = 1.0
    opt.step()
    assert opt.sample_layout.size == 0 and opt.last_sample is None
    sampled = Adam(named_params(rng), sample_size=4)
    sampled.flat.grad[:] = 1.0
    sampled.step(compute_stats=False)
    assert sampled.last_sample is None, "the sample belongs to the statistics"


@pytest.mark.parametrize("bad", [-1, 1.5, True, "8"])
def test_bad_sample_size_is_refused(bad):
    with pytest.raises(ValueError, match=r"Adam: sample_size must be an integer >= 0"):
        Adam(named_params(np.random.default_rng(0)), sample_size=bad)


@pytest.mark.parametrize("options", [{}, {"weight_decay": 0.1}, {"amsgrad": True}])
def test_adam_sample_matches_the_plain_adam_update(options):
    """float64: m̂, v̂ and θ_t of the sampled elements equal plain adam_update's; the recorded
    step is (θ_{t−1} − θ_t)/α to rounding."""
    rng = np.random.default_rng(5)
    params = named_params(rng, np.float64)
    opt = Adam(params, lr=0.01, betas=(0.9, 0.99), eps=1e-8, sample_size=16, **options)
    theta, m, v = opt.flat.data.copy(), np.zeros_like(opt.flat.data), np.zeros_like(opt.flat.data)
    v_max = np.zeros_like(theta) if options.get("amsgrad") else None
    idx = opt.sample_layout.flat_index
    for t in range(1, 40):
        g = rng.normal(size=theta.shape) + 0.3
        opt.flat.grad[:] = g
        opt.step()
        theta, m, v, v_max, u = adam_update(theta, g, m, v, v_max, t, 0.01, 0.9, 0.99, 1e-8,
                                            **options)
        c1, c2 = bias_corrections(0.9, 0.99, t)
        s = opt.last_sample
        assert s.step == t
        np.testing.assert_allclose(s.m_hat, c1 * m[idx], rtol=1e-12, err_msg=f"m̂ at step {t}")
        np.testing.assert_allclose(s.v_hat, c2 * v[idx], rtol=1e-12, err_msg=f"v̂ at step {t}")
        np.testing.assert_allclose(s.param, theta[idx], rtol=1e-12, err_msg=f"θ at step {t}")
        np.testing.assert_allclose(s.update, u[idx], rtol=1e-9, atol=1e-12,
                                   err_msg=f"the recorded step is the step taken, step {t}")


def test_decoupled_weight_decay_is_left_out_of_the_sampled_update():
    rng = np.random.default_rng(6)
    opt = AdamW(named_params(rng, np.float64), lr=0.1, weight_decay=0.5, sample_size=6)
    opt.flat.grad[:] = rng.normal(size=opt.flat.grad.shape)
    opt.step()
    # first step: u = m̂/(√v̂ + ε) = g/(|g| + ε) ≈ sign(g), whatever the decay did to θ
    g = opt.flat.grad[opt.sample_layout.flat_index]
    np.testing.assert_allclose(opt.last_sample.update, g / (np.abs(g) + 1e-8), rtol=1e-9)


def test_sgd_sample_uses_its_probe_and_is_nan_without_one():
    rng = np.random.default_rng(7)
    probe = SGD(named_params(rng, np.float64), lr=0.1, momentum=0.9, probe_betas=(0.9, 0.999),
                sample_size=4)
    plain = SGD(named_params(rng, np.float64), lr=0.1, momentum=0.9, sample_size=4)
    for opt in (probe, plain):
        for _ in range(3):
            opt.flat.grad[:] = 1.0
            opt.step()
    c1, c2 = bias_corrections(0.9, 0.999, 3)
    idx = probe.sample_layout.flat_index
    np.testing.assert_allclose(probe.last_sample.m_hat, c1 * probe.probe.m[idx])
    np.testing.assert_allclose(probe.last_sample.v_hat, c2 * probe.probe.v[idx])
    np.testing.assert_allclose(probe.last_sample.update, probe.b[idx], rtol=1e-12,
                               err_msg="SGD's step is α b: u = b")
    assert np.all(np.isnan(plain.last_sample.m_hat)) and np.all(np.isnan(plain.last_sample.v_hat))
    assert np.all(np.isfinite(plain.last_sample.update))


def test_float32_identity_holds_within_the_rounding_tolerance_and_fails_beyond_it():
    """β1 = β2 on float32 parameters: every sampled element satisfies the identity within
    update_tolerance; steps 1 % larger would mostly not (the tolerance is the rounding of θ
    over α, so it is loosest for the smallest steps)."""
    rng = np.random.default_rng(8)
    opt = Adam(named_params(rng), lr=1e-3, betas=(0.99, 0.99), eps=1e-8, sample_size=32)
    worst, caught, total = 0.0, 0, 0
    for t in range(200):
        opt.flat.grad[:] = 0.01 * rng.normal(size=opt.flat.grad.shape) + 0.002
        opt.step()
        s = opt.last_sample
        _, gamma, negative = element_spread(s.m_hat, s.v_hat)
        curve = 1.0 / (np.sqrt(gamma ** 2 + 1.0) + 1e-8 / np.abs(s.m_hat.astype(np.float64)))
        tolerance = update_tolerance(s.param, s.update, 1e-3, np.float32)
        ratio = np.abs(np.abs(s.update) - curve) / tolerance
        worst = max(worst, float(ratio.max()))
        caught += int(np.count_nonzero(np.abs(1.01 * np.abs(s.update) - curve) > tolerance))
        total += s.update.size
    assert worst <= 1.0, f"an element is off the identity by {worst:.2f}× its rounding tolerance"
    assert caught > 0.9 * total, f"a 1 % error is caught in only {caught} of {total} element-steps"


def test_choose_sample_with_nothing_tracked_is_empty():
    layout = choose_sample((), (), 5, np.random.default_rng(0))
    assert layout.size == 0 and layout.flat_index.dtype == np.int64
