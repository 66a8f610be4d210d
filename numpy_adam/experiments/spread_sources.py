"""Where Adam's spread comes from: sampling inside the batch, or the gradient's drift over time.

A CNN run trained with ``--batch-spread`` records, per tracked tensor and step, Adam's temporal
statistics (mean σ̂ = S, mean |m̂| = M, the update U) and the within-batch ones of the
per-sample gradients (mean |ḡ|, mean s; :mod:`numpy_adam.models.batch_spread`). If the
minibatch gradients of recent steps were independent draws around one fixed mean, Adam's σ̂
would estimate their standard deviation s/√B and nothing else. So, per tensor and step,

    sampling prediction     S_sample = mean s / √B
    sampling share          (S_sample / S)²    the part of Adam's variance sampling explains
                                               (1: all sampling; < 1: the rest is drift, the
                                               mean gradient moving as θ moves)
    predicted updates       U_temporal = 1/√(γ̄² + 1),  γ̄ = S / M          (Adam's own)
                            U_sample   = 1/√(γ_s² + 1), γ_s = S_sample / M  (sampling alone)

both against the measured U. The per-sample convention holds batchnorm's statistics fixed, so
for tensors before a batchnorm (conv1, conv2, fc1) s is the spread of gradients that ignore
the batch statistics' own dependence on each sample; fc2, after the last batchnorm, is exact.
"""
from __future__ import annotations

import math

import numpy as np

from .analysis import curve_fit

BATCH_KEYS = ("batch_mean_abs_g", "batch_sigma")


def has_batch_spread(run) -> bool:
    return all(k in run.metrics for k in BATCH_KEYS)


def sampling_prediction(run) -> np.ndarray:
    """(T, L) S_sample = mean s / √B per tracked tensor and step."""
    if not has_batch_spread(run):
        raise ValueError(f"{run.path}: no within-batch spread recorded (train with --batch-spread)")
    return np.asarray(run.metrics["batch_sigma"], dtype=np.float64) / math.sqrt(
        float(run.config["batch_size"]))


def spread_sources(run, warmup: int = 0) -> dict:
    """The numbers of the module docstring for one run, after ``warmup`` steps.

    returns {"tensors": names, "sampling_share": (L,) mean over steps of (S_sample/S)²,
             "sampling_share_all": the same for the means over tensors,
             "gamma_temporal": mean over steps of the note's γ̄ (mean over tensors of S/M),
             "gamma_sampling": the same with S_sample for S,
             "fit_temporal", "fit_sampling": :func:`~.analysis.curve_fit` of the measured
             update against each prediction's γ}
    """
    metrics = run.metrics
    rows = slice(warmup, None)
    S = np.asarray(metrics["sigma"], dtype=np.float64)[rows]            # (T', L)
    M = np.asarray(metrics["mean_abs_m"], dtype=np.float64)[rows]
    S_sample = sampling_prediction(run)[rows]
    U = np.asarray(metrics["update"], dtype=np.float64)[rows].mean(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (S_sample / S) ** 2
        share_all = (S_sample.mean(axis=1) / S.mean(axis=1)) ** 2
        gamma_temporal = (S / M).mean(axis=1)
        gamma_sampling = (S_sample / M).mean(axis=1)
    return {"tensors": [str(n) for n in metrics["tensor_names"]],
            "sampling_share": [float(v) for v in np.nanmean(share, axis=0)],
            "sampling_share_all": float(np.nanmean(share_all)),
            "gamma_temporal": float(np.nanmean(gamma_temporal)),
            "gamma_sampling": float(np.nanmean(gamma_sampling)),
            "fit_temporal": curve_fit(gamma_temporal, U),
            "fit_sampling": curve_fit(gamma_sampling, U)}
