"""The "element" aggregation reads the element sample when a record has one, so records from
before and after the optimizer's γ moved to the sample give one quantity."""
import numpy as np

from numpy_adam.nn import Parameter
from numpy_adam.optim import Adam
from numpy_adam.records import MetricsLog, element_gamma, relative_spread


def _sampled_metrics():
    """Two tensors, three sampled elements (two in tensor 0), two steps; step 2 has no stats.

    Step 1: m̂ = (1, −2, 4), v̂ = (2, 20, 25): σ̂ = (1, 4, 3), γ = (1, 2, 0.75).
    ``gamma`` holds other numbers, as an older record's mean over all elements would."""
    nan = np.nan
    return {"tensor_names": np.array(["a.weight", "b.weight"]),
            "sample_slot": np.array([0, 0, 1]), "sample_element": np.array([0, 5, 2]),
            "sample_m_hat": np.array([[1.0, -2.0, 4.0], [nan, nan, nan]], np.float32),
            "sample_v_hat": np.array([[2.0, 20.0, 25.0], [nan, nan, nan]], np.float32),
            "gamma": np.array([[99.0, 99.0], [nan, nan]])}


def test_element_aggregation_is_the_sample_mean_not_the_recorded_column():
    metrics = _sampled_metrics()
    np.testing.assert_allclose(element_gamma(metrics), [[1.5, 0.75], [np.nan, np.nan]])
    np.testing.assert_allclose(relative_spread(metrics, "element"), [(1.5 + 0.75) / 2, np.nan])


def test_sampled_elements_with_zero_mean_are_left_out():
    metrics = _sampled_metrics()
    metrics["sample_m_hat"][0, 1] = 0.0  # γ undefined: tensor 0's mean is its other element's
    np.testing.assert_allclose(element_gamma(metrics)[0], [1.0, 0.75])
    metrics["sample_m_hat"][0, 0] = 0.0  # none left in tensor 0
    np.testing.assert_allclose(element_gamma(metrics)[0], [np.nan, 0.75])
    np.testing.assert_allclose(relative_spread(metrics, "element")[0], 0.75)


def test_without_a_sample_the_recorded_column_is_used():
    metrics = {k: v for k, v in _sampled_metrics().items() if not k.startswith("sample_")}
    np.testing.assert_allclose(element_gamma(metrics), metrics["gamma"])


def test_a_new_record_agrees_with_its_own_sample():
    """The optimizer's ``gamma`` (float64 from its state) and the same mean recomputed from
    the float32 m̂, v̂ the record stores differ only by that rounding: with ε = 2⁻²³ a γ_i
    moves by at most about ε(γ_i + 3/γ_i)/2 and, where σ̂² is below the rounding of
    v̂ − m̂², by at most √(3ε) ≈ 6e-4 (the tolerance here)."""
    rng = np.random.default_rng(5)
    params = [(f"{i}.weight", Parameter(rng.normal(size=(40,)).astype(np.float32)))
              for i in range(3)]
    opt = Adam(params, lr=0.01, betas=(0.9, 0.99), sample_size=16)
    layout = opt.sample_layout
    log = MetricsLog(opt.tracked_names, layout.slot, layout.element, np.float32)
    drift = rng.normal(size=opt.flat.grad.shape)
    for t in range(1, 31):
        opt.flat.grad[:] = drift + rng.normal(size=drift.shape)
        opt.step()
        log.append(t, 0.0, opt.lr, opt.last_stats, opt.last_sample)
    metrics = log.as_arrays()
    assert np.isfinite(metrics["gamma"]).all(), "the optimizer measures γ from its sample"
    np.testing.assert_allclose(element_gamma(metrics), metrics["gamma"], rtol=1e-6, atol=6e-4)
