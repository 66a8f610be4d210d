"""Statistics plumbing: tracked tensors, the m̂ = 0 guard, SGD's probe, last_step_stats, and the
fused statistics against the same statistics computed in NumPy from the optimizer's state."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim import SGD, Adam, SpreadStats, last_step_stats
from numpy_adam.optim.stats import (FIELDS, element_spread, layer_relative_spread,
                                    spread_stats)


def _step(opt, rng, steps=5):
    for _ in range(steps):
        opt.flat.grad[:] = rng.normal(size=opt.flat.grad.shape)
        opt.step()


def test_default_tracks_conv_and_fc_weights_only(make_params):
    rng = np.random.default_rng(20)
    opt = Adam(make_params(rng))
    _step(opt, rng, 1)
    assert opt.last_stats.names == ("0.weight", "2.weight", "3.weight"), opt.last_stats.names


@pytest.mark.parametrize("track, expected", [
    (("bias",), ("0.bias", "2.bias")),
    (("batchnorm", "0.weight"), ("0.weight", "1.weight", "1.bias")),
    ("2.bias", ("2.bias",)),
    ((), ()),
    (None, ()),
])
def test_track_selects_kinds_and_names_in_flat_order(make_params, track, expected):
    rng = np.random.default_rng(21)
    opt = Adam(make_params(rng), track=track)
    _step(opt, rng, 1)
    s = opt.last_stats
    assert s.names == expected, f"track={track!r} gave {s.names}"
    for field in FIELDS:
        assert getattr(s, field).shape == (len(expected),), f"{field} must be (L,)"


def test_fused_statistics_equal_numpy_statistics_from_the_state(make_params, small_chunks):
    """Recompute the statistics in NumPy from the optimizer's m, v and the θ it moved."""
    rng = np.random.default_rng(22)
    opt = Adam(make_params(rng), lr=0.01, betas=(0.9, 0.99), eps=1e-8,
               track=("weight", "batchnorm"))
    for t in range(1, 31):
        opt.flat.grad[:] = rng.normal(loc=0.2, size=opt.flat.grad.shape)
        before = opt.flat.data.copy()
        opt.step()
        u = (before - opt.flat.data) / opt.lr       # Δθ/α, recovered from θ
        segments = [opt.flat.segments[i] for i in opt.tracked]
        want = spread_stats(opt.m, opt.v, u, t, 0.9, 0.99, segments)
        got = last_step_stats(opt)
        assert got.names == want.names, (got.names, want.names)
        for field in FIELDS:
            rtol = 1e-10 if field == "update" else 1e-12  # u recovered from θ loses digits
            np.testing.assert_allclose(getattr(got, field), getattr(want, field), rtol=rtol,
                                       err_msg=f"step {t}: {field}")


def test_statistics_do_not_depend_on_chunking(make_params, monkeypatch):
    from numpy_adam.optim import kernels
    results = []
    for chunk in (kernels.CHUNK_SIZE, 3):
        monkeypatch.setattr(kernels, "CHUNK_SIZE", chunk)
        rng = np.random.default_rng(23)
        opt = Adam(make_params(rng), track=("weight", "bias", "batchnorm"))
        _step(opt, rng, 10)
        results.append(opt.last_stats)
    for field in FIELDS:
        np.testing.assert_allclose(getattr(results[0], field), getattr(results[1], field),
                                   rtol=1e-13, err_msg=f"{field} must not depend on chunking")


def test_gamma_excludes_zero_mean_elements_and_is_nan_without_any():
    dead = Parameter(np.ones(4))                   # gradient always 0: m̂ = 0 everywhere
    half = Parameter(np.ones(4))                   # two elements with m̂ = 0, two without
    opt = Adam([("dead", dead), ("half", half)], lr=0.1, sample_size=4)  # γ over every element
    for k in range(3):
        dead.grad[...] = 0.0
        half.grad[...] = [0.0, 0.0, 1.0 + k, -2.0]
        opt.step()
    s = opt.last_stats
    assert np.isnan(s.gamma[0]), f"γ of a tensor with m̂ = 0 everywhere is NaN, got {s.gamma[0]}"
    assert s.update[0] == 0 and s.mean_abs_m[0] == 0, "a dead tensor does not move"
    m_hat = opt.m[6:8] / (1 - 0.9 ** 3)
    v_hat = opt.v[6:8] / (1 - 0.999 ** 3)
    gamma = np.sqrt(np.maximum(v_hat - m_hat ** 2, 0)) / np.abs(m_hat)
    np.testing.assert_allclose(s.gamma[1], gamma.mean(), rtol=1e-12,
                               err_msg="γ is averaged over the elements with m̂ ≠ 0 only")


def test_sgd_statistics_with_and_without_probe(make_params):
    rng = np.random.default_rng(24)
    plain = SGD(make_params(rng), lr=0.01, momentum=0.9, sample_size=4)
    _step(plain, rng, 3)
    s = plain.last_stats
    assert np.all(np.isfinite(s.update)), "update is measured without a probe"
    for field in ("mean_abs_m", "sigma", "gamma", "neg_var_frac"):
        assert np.all(np.isnan(getattr(s, field))), f"{field} must be NaN without a probe"

    probed = SGD(make_params(rng), lr=0.01, momentum=0.9, probe_betas=(0.9, 0.999),
                 sample_size=4)  # the sample gives γ
    _step(probed, rng, 3)
    s = probed.last_stats
    for field in FIELDS:
        assert np.all(np.isfinite(getattr(s, field))), f"{field} must be measured with a probe"


def test_gamma_is_the_mean_over_the_sampled_elements_and_nan_without_a_sample(make_params):
    """The kernels keep only sums; γ's element mean is the sample's, in float64 from the state,
    and NaN when no sample is kept."""
    for sample_size in (0, 2, 10_000):
        opt = Adam(make_params(np.random.default_rng(27)), lr=0.01, betas=(0.9, 0.99),
                   sample_size=sample_size)
        _step(opt, np.random.default_rng(28), 5)
        s = opt.last_stats
        if sample_size == 0:
            assert np.isnan(s.gamma).all(), "no sample: γ is NaN"
            continue
        layout = opt.sample_layout
        c1, c2 = 1 / (1 - 0.9 ** 5), 1 / (1 - 0.99 ** 5)
        for k, name in enumerate(opt.tracked_names):
            idx = layout.flat_index[layout.slot == k]
            m_hat, v_hat = opt.m[idx] * c1, opt.v[idx] * c2
            gamma = np.sqrt(np.maximum(v_hat - m_hat ** 2, 0)) / np.abs(m_hat)
            gamma = gamma[m_hat != 0]
            np.testing.assert_allclose(s.gamma[k], gamma.mean(), rtol=1e-12, err_msg=name)
            if sample_size == 10_000:  # every element sampled: the mean over the whole tensor
                seg = opt.flat.segments[opt.tracked[k]]
                assert idx.size == seg.size


def test_probe_is_passive(make_params):
    """The probe never changes the trajectory."""
    runs = []
    for probe in (None, (0.9, 0.99)):
        rng = np.random.default_rng(25)
        opt = SGD(make_params(rng), lr=0.01, momentum=0.9, weight_decay=0.01, probe_betas=probe)
        _step(opt, rng, 20)
        runs.append(opt.flat.data.copy())
    np.testing.assert_array_equal(runs[0], runs[1], err_msg="the probe must not alter θ")


def test_last_stats_lifecycle(make_params):
    rng = np.random.default_rng(26)
    opt = Adam(make_params(rng, dtype=np.float32))
    with pytest.raises(RuntimeError, match="compute_stats=True"):
        last_step_stats(opt)
    _step(opt, rng, 2)
    s = last_step_stats(opt)
    assert isinstance(s, SpreadStats) and s.step == 2, s
    assert all(getattr(s, f).dtype == np.float64 for f in FIELDS), "statistics are float64"
    assert set(s.as_dict()) == set(FIELDS), s.as_dict().keys()
    opt.flat.grad[:] = 1.0
    opt.step(compute_stats=False)
    assert opt.last_stats is None, "a step without statistics clears last_stats"
    with pytest.raises(RuntimeError, match="no statistics"):
        last_step_stats(opt)


# --- the two aggregations of the relative spread -------------------------------------------

def test_layer_relative_spread_is_mean_sigma_over_mean_abs_m():
    got = layer_relative_spread(np.array([[2.0, 1.0], [0.5, np.nan]]),
                                np.array([[4.0, 0.0], [0.25, 1.0]]))
    np.testing.assert_allclose(got[0, 0], 0.5)
    np.testing.assert_allclose(got[1, 0], 2.0)
    assert np.isnan(got[0, 1]) and np.isnan(got[1, 1]), "M = 0 or a NaN S gives NaN"
    with pytest.raises(ValueError, match="one shape"):
        layer_relative_spread(np.zeros(2), np.zeros(3))


def test_element_spread_clamps_and_flags_negative_variance():
    sigma, gamma, negative = element_spread([2.0, -1.0, 0.0, 3.0], [5.0, 1.0, 4.0, 8.0])
    np.testing.assert_allclose(sigma, [1.0, 0.0, 2.0, 0.0])
    np.testing.assert_allclose(gamma[[0, 1, 3]], [0.5, 0.0, 0.0])
    assert np.isnan(gamma[2]), "γ is undefined where m̂ = 0"
    np.testing.assert_array_equal(negative, [False, False, False, True])


def test_two_elements_of_different_scale_split_the_aggregations_by_a_computed_amount():
    """Element 1: |m̂| = 1, σ̂ = 1 (γ = 1); element 2: |m̂| = 0.01, σ̂ = 1 (γ = 100).
    Layer: γ̄ = mean σ̂ / mean |m̂| = 1/0.505 = 1.980…; element mean: (1 + 100)/2 = 50.5.
    With β1 = β2 each element steps by 1/√(γ²+1): (0.7071 + 0.0100)/2 = 0.3586 on average,
    and the layer curve 1/√(γ̄²+1) = 0.4508 is 26 % off, the element-mean curve 0.0198 is 94 %
    off: the ratio of means lands far closer than the mean of ratios."""
    m_hat, sigma = np.array([1.0, 0.01]), np.array([1.0, 1.0])
    sigma_e, gamma_e, _ = element_spread(m_hat, sigma ** 2 + m_hat ** 2)
    layer = float(layer_relative_spread(sigma_e.mean(), np.abs(m_hat).mean()))
    element_mean = float(gamma_e.mean())
    assert layer == pytest.approx(1 / 0.505, rel=1e-12)
    assert element_mean == pytest.approx(50.5, rel=1e-12)
    update = np.mean(1 / np.sqrt(gamma_e ** 2 + 1))
    assert update == pytest.approx((1 / np.sqrt(2) + 1 / np.sqrt(10001)) / 2, rel=1e-12)
    off = lambda g: abs(update - 1 / np.sqrt(g * g + 1)) / update  # noqa: E731
    assert off(layer) == pytest.approx(0.2572, abs=1e-4)
    assert off(element_mean) == pytest.approx(0.9448, abs=1e-4)
