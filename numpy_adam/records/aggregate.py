"""The note's second stage: per-step means across tracked tensors, and the relative spread
under either aggregation (see :mod:`numpy_adam.optim.stats` for why they differ)."""
from __future__ import annotations

import numpy as np

from ..optim.stats import layer_relative_spread
from .files import Run
from .schema import GAMMA_AGGREGATIONS, STAT_KEYS


def aggregate(run, key: str) -> np.ndarray:
    """Mean across tracked tensors of a (T, L) statistic: (T,) float64.

    run: a :class:`Run` or a metrics dict
    key: one of ``STAT_KEYS``

    Each entry is already a mean over one tensor's elements; this is the seed note's second
    stage, the mean across tensors. NaN entries are ignored; an all-NaN step (or L = 0)
    gives NaN.
    """
    metrics = run.metrics if isinstance(run, Run) else run
    if key not in STAT_KEYS:
        raise ValueError(f"aggregate: key must be one of {STAT_KEYS}, got {key!r}")
    values = np.asarray(metrics[key], dtype=np.float64)  # (T, L)
    if values.ndim != 2:
        raise ValueError(f"aggregate: {key!r} must be (T, L), got shape {values.shape}")
    return _mean_over_tensors(values)


def _mean_over_tensors(values: np.ndarray) -> np.ndarray:
    finite = ~np.isnan(values)
    count = finite.sum(axis=1)  # (T,) tensors with a value at each step
    total = np.where(finite, values, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def relative_spread(run, aggregation: str = "layer") -> np.ndarray:
    """The per-step relative spread of a run, (T,) float64, under one of GAMMA_AGGREGATIONS.

    run:         a :class:`Run` or a metrics dict
    aggregation: "layer": mean over tensors of γ̄_l = sigma_l / mean_abs_m_l (the note's);
                 "element": mean over tensors of the recorded element mean ``gamma``
    """
    metrics = run.metrics if isinstance(run, Run) else run
    if aggregation == "layer":
        return _mean_over_tensors(layer_relative_spread(metrics["sigma"], metrics["mean_abs_m"]))
    if aggregation == "element":
        return aggregate(metrics, "gamma")
    raise ValueError(f"relative_spread: aggregation must be one of {GAMMA_AGGREGATIONS}, got "
                     f"{aggregation!r}")
