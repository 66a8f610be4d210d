"""Figure 5, "Where Adam's spread comes from": sampling inside the batch against Adam's spread.

One row per run (Adam, trained with ``--batch-spread``), drawn from run records only; the
quantities are those of :mod:`numpy_adam.experiments.spread_sources`, every curve a moving
average over 2 % of the run (the raw per-step values are noisy):

(a) Adam's spread S = mean σ̂ and the sampling prediction S_sample = mean s/√B, each the mean
    over the tracked tensors, over training;
(b) the sampling share (S_sample/S)² per tracked tensor (1: Adam's spread is all sampling
    noise; below 1 the rest is drift);
(c) the update: measured, and as 1/√(γ²+1) predicts it from Adam's γ̄ = S/M and from the
    sampling alone, γ_s = S_sample/M (M = mean |m̂|; γ averaged over tensors as in Figure 1).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from numpy_adam.experiments.spread_sources import sampling_prediction
from numpy_adam.records import Run

from .spread_figure import DPI, _moving_average, _output_paths, save_figure

WIDTH_IN, ROW_HEIGHT_IN = 9.0, 2.9
TENSOR_COLORS = ("#1f5fa8", "#c85a0a", "#23803a", "#5e3c99")


def _smooth(step: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    w = max(2, y.size // 50)
    if y.size <= w:
        return step, y
    return step[w // 2: w // 2 + y.size - w + 1], _moving_average(y, w)


def _draw_row(subfig, run: Run, warmup: int) -> None:
    m = run.metrics
    rows = slice(warmup, None)  # σ̂ = 0 at t = 1 and still building up over the EMAs' warm-up
    step = m["step"][rows]
    S = np.asarray(m["sigma"], dtype=np.float64)[rows]
    M = np.asarray(m["mean_abs_m"], dtype=np.float64)[rows]
    S_sample = sampling_prediction(run)[rows]
    ax_s, ax_share, ax_u = subfig.subplots(1, 3)
    for y, label, color in ((S.mean(axis=1), "Adam's spread S = mean σ̂", "#1f5fa8"),
                            (S_sample.mean(axis=1), "sampling S_sample = mean s/√B", "#c85a0a")):
        ax_s.plot(*_smooth(step, y), color=color, lw=1.4, label=label)
    ax_s.set_yscale("log")
    ax_s.set_xlabel("step", fontsize=8)
    ax_s.set_ylabel("spread (mean over tensors)", fontsize=8)
    ax_s.set_title("(a) Adam's spread and sampling's", fontsize=9)
    ax_s.legend(fontsize=6.5, frameon=False, loc="best")
    with np.errstate(divide="ignore", invalid="ignore"):
        share = (S_sample / S) ** 2
    for k, name in enumerate(run.tensor_names):
        ax_share.plot(*_smooth(step, share[:, k]), lw=1.2, color=TENSOR_COLORS[k % 4],
                      label=name.replace(".weight", ""))
    ax_share.axhline(1.0, color="grey", lw=0.8, ls=":")
    ax_share.set_yscale("log")
    ax_share.set_xlabel("step", fontsize=8)
    ax_share.set_ylabel("(S_sample / S)²", fontsize=8)
    ax_share.set_title("(b) sampling's share of Adam's variance", fontsize=9)
    ax_share.legend(fontsize=6.5, frameon=False, ncols=2)
    with np.errstate(divide="ignore", invalid="ignore"):
        curves = {"measured": np.asarray(m["update"], dtype=np.float64)[rows].mean(axis=1),
                  "from Adam's γ̄ = S/M": 1 / np.sqrt((S / M).mean(axis=1) ** 2 + 1),
                  "from sampling γ_s = S_sample/M": 1 / np.sqrt((S_sample / M).mean(axis=1) ** 2 + 1)}
    for (label, y), color, ls in zip(curves.items(), ("black", "#1f5fa8", "#c85a0a"),
                                     ("-", "--", "--")):
        ax_u.plot(*_smooth(step, y), color=color, lw=1.3, ls=ls, label=label)
    ax_u.set_yscale("log")
    ax_u.set_xlabel("step", fontsize=8)
    ax_u.set_ylabel("update size |Δθ|/α", fontsize=8)
    ax_u.set_title("(c) update: measured, predicted", fontsize=9)
    ax_u.legend(fontsize=6.5, frameon=False, loc="best")
    for ax in (ax_s, ax_share, ax_u):
        ax.tick_params(labelsize=7)
    subfig.suptitle(run.label, fontsize=10, fontweight="bold", x=0.01, ha="left")


def build_sources_figure(runs: list[Run], title: str, warmup: int = 0) -> Figure:
    """The figure for ``runs`` (one row each; every run recorded with --batch-spread), from
    step ``warmup`` + 1 on."""
    if not runs or not all(isinstance(r, Run) for r in runs):
        raise TypeError("runs must be a non-empty list of Run (numpy_adam.records.load_run)")
    fig = Figure(figsize=(WIDTH_IN, ROW_HEIGHT_IN * len(runs) + 0.6), dpi=DPI,
                 layout="constrained")
    for subfig, run in zip(fig.subfigures(len(runs), 1, squeeze=False)[:, 0], runs):
        _draw_row(subfig, run, warmup)
    fig.suptitle(title, fontsize=11)
    fig.supxlabel(f"From step {warmup + 1} on (the EMAs' warm-up left out). Per-sample gradients hold batchnorm's batch statistics fixed; for conv1, "
                  "conv2 and fc1 (before a batchnorm) s therefore leaves out how each sample "
                  "moves those statistics; fc2 is exact. Curves: moving averages over 2 % of "
                  "the run.", fontsize=7, wrap=True)
    return fig


def draw_sources_figure(runs: list[Run], title: str, out_path, warmup: int = 0,
                        formats=("png",)) -> list[Path]:
    """Draw Figure 5 and save it (paths as in :func:`plots.spread_figure.draw_spread_figure`)."""
    paths = _output_paths(out_path, formats)
    return save_figure(build_sources_figure(runs, title, warmup), paths)
