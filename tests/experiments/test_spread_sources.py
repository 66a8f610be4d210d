"""Where Adam's spread comes from: the sampling share and the two update predictions, on
hand-made records with known answers."""
import math
from types import SimpleNamespace

import numpy as np
import pytest

from numpy_adam.experiments.spread_sources import (has_batch_spread, sampling_prediction,
                                                   spread_sources)


def _run(sigma, mean_abs_m, batch_sigma, update, batch=16):
    T, L = np.shape(sigma)
    metrics = {"sigma": np.asarray(sigma, float), "mean_abs_m": np.asarray(mean_abs_m, float),
               "update": np.asarray(update, float), "tensor_names": np.array([f"t{i}" for i in range(L)]),
               "batch_sigma": np.asarray(batch_sigma, float),
               "batch_mean_abs_g": np.ones((T, L))}
    return SimpleNamespace(metrics=metrics, config={"batch_size": batch}, path="run")


def test_sampling_share_is_the_squared_ratio_of_the_sampling_prediction_to_adams_spread():
    # S = 0.1 everywhere; s = 0.2·√16 = 0.8 in tensor 0 (all sampling), 0.2 in tensor 1 (¼ of S)
    T = 10
    sigma = np.full((T, 2), 0.1)
    batch_sigma = np.column_stack([np.full(T, 0.4), np.full(T, 0.2)])  # s; s/√16 = 0.1, 0.05
    m = np.full((T, 2), 0.01)
    gamma = 0.1 / 0.01
    run = _run(sigma, m, batch_sigma, np.full((T, 2), 1 / math.sqrt(gamma ** 2 + 1)))
    np.testing.assert_allclose(sampling_prediction(run)[0], [0.1, 0.05])
    out = spread_sources(run, warmup=2)
    np.testing.assert_allclose(out["sampling_share"], [1.0, 0.25])
    assert out["sampling_share_all"] == pytest.approx((0.075 / 0.1) ** 2)
    assert out["gamma_temporal"] == pytest.approx(10.0)
    assert out["gamma_sampling"] == pytest.approx((10.0 + 5.0) / 2)
    assert out["fit_temporal"]["relative_residual"] == pytest.approx(0.0, abs=1e-12), \
        "the measured update was made to lie on 1/√(γ̄²+1)"
    assert out["fit_sampling"]["relative_residual"] > 0.1
    assert out["fit_temporal"]["n"] == T - 2


def test_runs_without_the_probe_are_named():
    run = _run(np.ones((3, 1)), np.ones((3, 1)), np.ones((3, 1)), np.ones((3, 1)))
    del run.metrics["batch_sigma"]
    assert not has_batch_spread(run)
    with pytest.raises(ValueError, match="--batch-spread"):
        sampling_prediction(run)
