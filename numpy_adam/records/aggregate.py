"""The note's second stage: per-step means across tracked tensors, and the relative spread
under either aggregation (see :mod:`numpy_adam.optim.stats` for why they differ)."""
from __future__ import annotations

import numpy as np

from ..optim.stats import layer_relative_spread, sample_gamma
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
                 "element": mean over tensors of the element mean of γ = σ̂/|m̂| over each
                 tensor's sampled elements (:func:`element_gamma`)
    """
    metrics = run.metrics if isinstance(run, Run) else run
    if aggregation == "layer":
        return _mean_over_tensors(layer_relative_spread(metrics["sigma"], metrics["mean_abs_m"]))
    if aggregation == "element":
        return _mean_over_tensors(element_gamma(metrics))
    raise ValueError(f"relative_spread: aggregation must be one of {GAMMA_AGGREGATIONS}, got "
                     f"{aggregation!r}")


def element_gamma(run) -> np.ndarray:
    """Per step and tensor, the element mean of γ = σ̂/|m̂|, (T, L) float64.

    From the record's element sample when it has one (:func:`~numpy_adam.optim.stats.
    sample_gamma` of ``sample_m_hat``, ``sample_v_hat``), else the recorded ``gamma``. The
    optimizer's ``gamma`` is that same sample mean (from its float64 state rather than the
    stored m̂, v̂), but older records hold the mean over *all* elements in ``gamma`` (see
    :mod:`numpy_adam.records`); taking the sample first gives old and new records with a
    sample one quantity. Without a sample a new record's ``gamma`` is NaN, an old one's the
    mean over all elements.
    """
    metrics = run.metrics if isinstance(run, Run) else run
    if not all(k in metrics for k in ("sample_slot", "sample_m_hat", "sample_v_hat")):
        return np.asarray(metrics["gamma"], dtype=np.float64)
    return sample_gamma(metrics["sample_slot"], metrics["sample_m_hat"], metrics["sample_v_hat"],
                        len(metrics["tensor_names"]))
