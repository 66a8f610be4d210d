"""Figure 4, "What averaging does": why a mean of ratios is not a ratio of means.

One row per Adam run, drawn from its record's element sample and per-tensor statistics
(never trains):

(a) every recorded element-step as a density of (γ_i, |u_i|), γ_i = σ̂_i/|m̂_i|, with the curve
    1/√(γ²+1) they lie on, and the per-step dots of the two aggregations: the note's layer
    relative spread γ̄ = mean σ̂ / mean |m̂| (per tensor, then averaged over tensors) and the
    element mean of γ_i. The legend gives each aggregation's mean relative residual
    |U − 1/√(γ²+1)|/U (:func:`numpy_adam.experiments.analysis.curve_fit`).
(b) where the element mean comes from: within each tracked tensor and step, the sampled
    elements are sorted by |m̂_i|, and the curves show the cumulative share of Σγ_i, Σσ̂_i and
    Σ|m̂_i| carried by the smallest-|m̂| fraction of them (averaged over steps and tensors).
    γ̄ is Σσ̂/Σ|m̂|, the ratio of two sums that no element dominates; the element mean of γ is
    Σγ_i/n, which the few elements with |m̂| ≈ 0 dominate.

Elements with v̂ < m̂² (β1 ≠ β2; σ̂² clamped, γ = 0) cannot show on a log axis; the legend
counts them.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

from numpy_adam.experiments.analysis import curve_fit
from numpy_adam.optim.stats import element_spread
from numpy_adam.records import Run, aggregate, relative_spread

from .spread_figure import DPI, _output_paths, save_figure

WIDTH_IN, ROW_HEIGHT_IN = 9.0, 3.4
LAYER_COLOR, ELEMENT_COLOR = "#1f5fa8", "#c85a0a"
BINS = 70


def sample_values(run: Run, warmup: int = 0) -> dict[str, np.ndarray]:
    """The element sample after ``warmup`` steps as float64 arrays (T', N):
    m_abs = |m̂|, sigma = σ̂, gamma = γ (NaN where m̂ = 0), update = |u|, negative = v̂ < m̂²;
    and slot (N,), the tensor of each column. Raises ValueError if the run has no sample."""
    metrics = run.metrics
    if "sample_m_hat" not in metrics:
        raise ValueError(f"{run.path}: the record has no element sample (sample_* keys); train "
                         "with --sample-per-tensor > 0")
    rows = slice(warmup, None)
    m_hat = metrics["sample_m_hat"][rows].astype(np.float64)
    sigma, gamma, negative = element_spread(m_hat, metrics["sample_v_hat"][rows])
    return {"m_abs": np.abs(m_hat), "sigma": sigma, "gamma": gamma,
            "update": np.abs(metrics["sample_update"][rows].astype(np.float64)),
            "negative": negative, "slot": metrics["sample_slot"]}


def cumulative_shares(values: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Cumulative share of Σγ, Σσ̂ and Σ|m̂| over elements sorted by |m̂| (ascending).

    Within each (step, tensor) group of the sample, the k smallest-|m̂| elements carry a
    share of each sum; the shares are averaged over steps, then over tensors. Groups with a
    NaN γ (an m̂ = 0) are left out.
    returns: {"fraction": (K+1,) 0 … 1, "gamma", "sigma", "m_abs": (K+1,) shares}, K the
             smallest group's size
    """
    slot = values["slot"]
    k_min = min(int(np.count_nonzero(slot == s)) for s in np.unique(slot))
    fraction = np.linspace(0.0, 1.0, k_min + 1)
    curves = {key: [] for key in ("gamma", "sigma", "m_abs")}
    for s in np.unique(slot):
        cols = slot == s
        order = np.argsort(values["m_abs"][:, cols], axis=1)  # (T', K_s)
        ok = np.all(np.isfinite(values["gamma"][:, cols]), axis=1)
        k = int(np.count_nonzero(cols))
        grid = np.linspace(0.0, 1.0, k + 1)
        for key in curves:
            sorted_vals = np.take_along_axis(values[key][:, cols], order, axis=1)[ok]
            totals = sorted_vals.sum(axis=1, keepdims=True)
            keep = totals[:, 0] > 0
            share = np.cumsum(sorted_vals[keep], axis=1) / totals[keep]  # (T'', K_s)
            mean_share = np.r_[0.0, share.mean(axis=0)] if share.size else np.full(k + 1, np.nan)
            curves[key].append(np.interp(fraction, grid, mean_share))
    return {"fraction": fraction, **{k: np.mean(v, axis=0) for k, v in curves.items()}}


def _density_panel(ax, run: Run, values: dict, warmup: int) -> None:
    gamma, update = values["gamma"].ravel(), values["update"].ravel()
    shown = np.isfinite(gamma) & (gamma > 0) & (update > 0)
    g, u = np.log10(gamma[shown]), np.log10(update[shown])
    layer = relative_spread(run, "layer")[warmup:]
    element = relative_spread(run, "element")[warmup:]
    update_mean = aggregate(run, "update")[warmup:]
    lo = min(np.percentile(g, 0.5), np.log10(np.nanmin(layer)))
    hi = max(np.percentile(g, 99.5), np.log10(np.nanmax(element)))
    g_edges = np.logspace(lo - 0.1, hi + 0.1, BINS + 1)
    u_edges = np.logspace(np.percentile(u, 0.5) - 0.1, 0.1, BINS + 1)
    counts, _, _ = np.histogram2d(10 ** g, 10 ** u, bins=(g_edges, u_edges))
    mesh = ax.pcolormesh(g_edges, u_edges, counts.T, cmap="Greys", norm=LogNorm(vmin=1),
                         rasterized=True)
    grid = np.geomspace(g_edges[0], g_edges[-1], 300)
    ax.plot(grid, 1.0 / np.sqrt(grid * grid + 1.0), ls=":", color="black", lw=1.5,
            label="1/√(γ²+1)")
    fits = {a: curve_fit(x, update_mean) for a, x in (("layer", layer), ("element", element))}
    ax.scatter(layer, update_mean, s=6, color=LAYER_COLOR, linewidths=0, alpha=0.8,
               label=f"γ̄ = mean σ̂/mean |m̂| (note): residual "
                     f"{fits['layer']['relative_residual']:.1%}")
    ax.scatter(element, update_mean, s=6, color=ELEMENT_COLOR, linewidths=0, alpha=0.8,
               label=f"element mean of σ̂/|m̂|: residual "
                     f"{fits['element']['relative_residual']:.1%}")
    negative = float(np.mean(values["negative"]))
    ax.plot([], [], " ", label=f"{shown.sum():,} element-steps; v̂ < m̂² (not shown): "
                               f"{negative:.3%}")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlim(g_edges[0], g_edges[-1])
    ax.set_ylim(u_edges[0], u_edges[-1])
    ax.set_xlabel("relative spread γ", fontsize=8)
    ax.set_ylabel("update size |Δθ|/α", fontsize=8)
    ax.legend(loc="lower left", fontsize=6.5, frameon=True, framealpha=0.85)
    ax.set_title("(a) elements (grey density) and the two aggregations", fontsize=9)
    cbar = ax.figure.colorbar(mesh, ax=ax, pad=0.01)
    cbar.set_label("element-steps per bin", fontsize=7)
    cbar.ax.tick_params(labelsize=6)


def _share_panel(ax, values: dict) -> None:
    shares = cumulative_shares(values)
    f = shares["fraction"]
    labels = {"gamma": ("Σ γ_i (element mean of γ)", ELEMENT_COLOR, "-"),
              "sigma": ("Σ σ̂_i (numerator of γ̄)", LAYER_COLOR, "-"),
              "m_abs": ("Σ |m̂_i| (denominator of γ̄)", LAYER_COLOR, "--")}
    for key, (label, color, ls) in labels.items():
        ax.plot(f, shares[key], color=color, ls=ls, lw=1.6, label=label)
    ax.plot([0, 1], [0, 1], color="grey", lw=0.6, ls=":")
    at = {key: float(np.interp(0.1, f, shares[key])) for key in ("gamma", "sigma", "m_abs")}
    ax.annotate(f"the 10 % smallest |m̂|: {at['gamma']:.0%} of Σγ,\n"
                f"{at['sigma']:.0%} of Σσ̂, {at['m_abs']:.0%} of Σ|m̂|",
                xy=(0.1, at["gamma"]), xytext=(0.3, 0.12), fontsize=7,
                arrowprops=dict(arrowstyle="->", lw=0.6))
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("fraction of elements, sorted by |m̂| (smallest first)", fontsize=8)
    ax.set_ylabel("cumulative share of the sum", fontsize=8)
    ax.legend(loc="upper left", fontsize=7, frameon=False)
    ax.set_title("(b) who carries each sum", fontsize=9)


def build_averaging_figure(runs: list[Run], title: str, warmup: int = 0) -> Figure:
    """The figure for ``runs`` (one row each, every run with an element sample)."""
    if not runs or not all(isinstance(r, Run) for r in runs):
        raise TypeError("runs must be a non-empty list of Run (numpy_adam.records.load_run)")
    fig = Figure(figsize=(WIDTH_IN, ROW_HEIGHT_IN * len(runs) + 0.7), dpi=DPI,
                 layout="constrained")
    subfigs = fig.subfigures(len(runs), 1, squeeze=False)[:, 0]
    for subfig, run in zip(subfigs, runs):
        values = sample_values(run, warmup)
        ax_density, ax_share = subfig.subplots(1, 2, gridspec_kw={"width_ratios": [1.35, 1]})
        _density_panel(ax_density, run, values, warmup)
        _share_panel(ax_share, values)
        subfig.suptitle(run.label, fontsize=10, fontweight="bold", x=0.01, ha="left")
    fig.suptitle(title, fontsize=11)
    fig.supxlabel("Dots: one per step after the first "
                  f"{warmup} steps; a dot's update is the mean over each tracked tensor's "
                  "elements, then over tensors, in both aggregations. A mean of ratios "
                  "(Σγ_i/n) is not a ratio of means (Σσ̂_i/Σ|m̂_i|): elements with |m̂| ≈ 0 "
                  "carry the first, not the second.", fontsize=7, wrap=True)
    return fig


def draw_averaging_figure(runs: list[Run], title: str, out_path, warmup: int = 0,
                          formats=("png",)) -> list[Path]:
    """Draw Figure 4 for ``runs`` and save it (paths as in
    :func:`plots.spread_figure.draw_spread_figure`); returns the written paths."""
    paths = _output_paths(out_path, formats)
    return save_figure(build_averaging_figure(runs, title, warmup), paths)
