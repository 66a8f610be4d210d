"""Figure 7, "One axis": every optimizer's step against the gradient's relative spread γ.

Small multiples, one panel per run (one method each, in METHODS order), drawn from run
records only (never trains). Every panel shares one logarithmic γ axis, and each shows its
method in its natural unit (:mod:`numpy_adam.experiments.one_axis`: |Δθ|/α; |Δθ|/(α|m̂|) for
SGD and M-SVAG; √t·|Δθ|/α for Adagrad). Panels of scale-free units (|Δθ|/α, √t·|Δθ|/α) share
one y range, the gradient-scaled ones another, so a flat line and a falling one read alike:

* grey, a 2-D log-count histogram of every recorded element-step (γ_i, step_i) after the
  warm-up (darkest: the panel's densest bin; each panel to its own maximum, since a sign
  method puts every element in one row);
* dots, one per tracked tensor and step, coloured by step: the layer relative spread
  γ̄_l = mean σ̂/mean |m̂| against the tensor's mean step in the same unit;
* black dashed, the method's predicted curve (at the last step; for SGD and M-SVAG, whose
  curve moves with t, grey at the first step shown too); faint blue in the other |Δθ|/α
  panels, Adam's 1/√(γ²+1) for comparison. RMSprop and Adagrad have no function of γ alone:
  their panels show the predicted RMS step 1 and the measured RMS per γ bin (red).

Two summary panels: the curves' shapes overlaid, each divided by its value at γ → 0 (so
SGD's 1/(1 − μ) becomes 1), with a marker at each run's median element γ; and each method's
residual against its own prediction, per element-step and per tensor (median and 90th
percentile), and for RMSprop and Adagrad |RMS − 1| overall and per γ bin. Only matplotlib's
object API.
"""
from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from matplotlib.colors import LogNorm, Normalize
from matplotlib.figure import Figure

from numpy_adam.experiments.one_axis import (CURVE_FORMULAS, FIGURE, METHODS, NAMES, UNITS,
                                             WARMUP, method_of, predicted_curve)
from numpy_adam.experiments.one_axis_exact import exact_check
from numpy_adam.experiments.one_axis_numbers import (element_values, layer_values,
                                                     relative_residual, rms_by_gamma,
                                                     rms_check)
from numpy_adam.records import Run

from .spread_figure import DPI, _output_paths, save_figure

COLUMNS, PANEL_W_IN, PANEL_H_IN, SUMMARY_H_IN = 3, 4.2, 3.2, 3.4
BINS = 60
RMS_BINS = 8  # γ bins of the measured RMS drawn in RMSprop's and Adagrad's panels
STEP_CMAP = "viridis"
FLOOR = 1e-9  # the residual panel's floor: residuals of exactly 0 are drawn there
ADAM_REFERENCE = "#7fa7d9"
METHOD_STYLE = {  # (colour, marker) in the summary panels
    "adam": ("#1f5fa8", "o"), "sgd": ("#c85a0a", "^"), "signsgd": ("#7f7f7f", "v"),
    "signum": ("#23803a", "s"), "lion": ("#b8860b", "D"), "rmsprop": ("#5e3c99", "P"),
    "adagrad": ("#8c564b", "X"), "msvag": ("#d62728", "*")}


def _ordered(runs) -> list[Run]:
    items = list(runs.values()) if isinstance(runs, Mapping) else list(runs)
    if not items or not all(isinstance(r, Run) for r in items):
        raise TypeError("runs must be a non-empty dict or list of Run (numpy_adam.records."
                        "load_run), one per method")
    return sorted(items, key=lambda r: METHODS.index(method_of(r)))


def _positive(*arrays) -> np.ndarray:
    flat = np.concatenate([np.asarray(a, dtype=np.float64).ravel() for a in arrays])
    return flat[np.isfinite(flat) & (flat > 0)]


def _gamma_range(data: list[tuple[dict, dict]]) -> tuple[float, float]:
    g = _positive(*[e["gamma"] for e, _ in data], *[lay["gamma"] for _, lay in data])
    if g.size == 0:
        raise ValueError("no element or tensor has a finite γ > 0 after the warm-up")
    lo, hi = np.percentile(g, 0.5), np.percentile(g, 99.5)
    return lo / 1.5, hi * 1.5


def _scale(unit: str) -> str:
    """Panels sharing a y range: the scale-free units, or the gradient-scaled one."""
    return "gradient" if unit == "alpha_m" else "free"


def _y_ranges(ordered, data, grid) -> dict:
    """One (low, high) per _scale: the 0.5–99.5 percentiles of every element and tensor step
    of those panels, widened to hold their curves on ``grid`` (and 1, the RMS prediction)."""
    ranges = {}
    for scale in ("free", "gradient"):
        members = [(r, e, lay) for r, (e, lay) in zip(ordered, data) if _scale(e["unit"]) == scale]
        if not members:
            continue
        y = _positive(*[e["y"] for _, e, _ in members], *[lay["y"] for _, _, lay in members])
        lo, hi = (np.percentile(y, 0.5), np.percentile(y, 99.5)) if y.size else (1.0, 1.0)
        for run, e, _ in members:
            steps = e["step"][:, 0]
            for t in (steps[0], steps[-1]):
                curve = predicted_curve(e["method"], grid, run.config, t)
                c = np.ones(1) if curve is None else curve
                lo, hi = min(lo, float(c.min())), max(hi, float(c.max()))
        ranges[scale] = (lo / 1.5, hi * 3.0)
    return ranges


def _predictions(ax, run: Run, elements: dict, grid: np.ndarray) -> None:
    """The method's prediction: its curve (dashed black; grey at the first step shown when it
    moves with t), or the RMS statement and the measured RMS per γ bin."""
    method, steps = elements["method"], elements["step"][:, 0]
    first, last = int(steps[0]), int(steps[-1])
    formula = CURVE_FORMULAS[method]
    if method in ("sgd", "msvag"):
        ax.plot(grid, predicted_curve(method, grid, run.config, first), color="0.45", lw=1.2,
                ls="--", label=f"{formula}, t = {first}", zorder=4)
    curve = predicted_curve(method, grid, run.config, last)
    if curve is not None:
        text = f"{formula}, t = {last}" if method in ("sgd", "msvag") else f"predicted {formula}"
        ax.plot(grid, curve, color="black", lw=1.6, ls="--", label=text, zorder=4)
        return
    check = rms_check(elements)
    ax.axhline(1.0, color="black", lw=1.6, ls="--", label="predicted RMS = 1", zorder=4)
    binned = rms_by_gamma(elements["gamma"], elements["y"], bins=RMS_BINS)
    ax.plot(binned["gamma_median"], binned["rms_by_bin"], color="#c00000", marker="s", ms=3.5,
            lw=1.0, label=f"measured RMS per γ bin (all: {check['rms']:.2f})", zorder=5)


def _method_panel(ax, run: Run, elements: dict, layers: dict, x_range, y_range, step_norm,
                  warmup: int) -> None:
    grid = np.geomspace(*x_range, 300)
    ax.set_xscale("log")
    ax.set_yscale("log")
    method = elements["method"]
    g, y = elements["gamma"].ravel(), elements["y"].ravel()
    shown = np.isfinite(g) & np.isfinite(y) & (g > 0) & (y > 0)
    counts, x_edges, y_edges = np.histogram2d(
        g[shown], y[shown], bins=(np.geomspace(*x_range, BINS + 1),
                                  np.geomspace(*y_range, BINS + 1)))
    if counts.max() > 0:
        ax.pcolormesh(x_edges, y_edges, counts.T, cmap="Greys", rasterized=True,
                      norm=LogNorm(vmin=1, vmax=max(counts.max(), 2)), zorder=1)
    if elements["unit"] == "alpha" and method != "adam":
        ax.plot(grid, predicted_curve("adam", grid, run.config), color=ADAM_REFERENCE, lw=1.2,
                label="Adam's 1/√(γ²+1)", zorder=2)
    _predictions(ax, run, elements, grid)
    ax.scatter(layers["gamma"].ravel(), layers["y"].ravel(), c=layers["step"].ravel(),
               cmap=STEP_CMAP, norm=step_norm, s=6, linewidths=0, alpha=0.9, zorder=3)
    no_gamma = ~(np.isfinite(g) & (g > 0))
    no_step = ~no_gamma & ~(np.isfinite(y) & (y > 0))  # a step below θ's rounding: u = 0
    hidden = [f"{n:,} {why}" for n, why in ((no_gamma.sum(), "with γ = 0 or undefined"),
                                             (no_step.sum(), "below θ's rounding (u = 0)"))
              if n]
    exact = exact_check(run, warmup)
    ax.plot([], [], " ", label=f"{shown.sum():,} element-steps"
                               + (f"\n(not shown: {', '.join(hidden)})" if hidden else ""))
    ax.plot([], [], " ", label=f"exact {exact['relation']}: {exact['fraction']:.1%}")
    agree = np.nanmean(elements["agree"]) if np.isfinite(elements["agree"]).any() else math.nan
    if agree < 0.999:  # the step follows g_t or c_t: γ shows in its direction
        ax.plot([], [], " ", label=f"sign(u) = sign(m̂) on {agree:.0%} of them")
    ax.set_xlim(*x_range)
    ax.set_ylim(*y_range)
    ax.set_ylabel(UNITS[elements["unit"]], fontsize=8.5)
    ax.set_title(run.label.replace(", batch 100", ""), fontsize=9)
    ax.tick_params(which="both", labelsize=7.5)
    ax.legend(loc="lower left", fontsize=6.5, frameon=True, framealpha=0.85)


def _shape(method: str, run: Run, grid: np.ndarray) -> np.ndarray:
    """The curve at the last step divided by its γ → 0 value; flat 1 for RMSprop and Adagrad
    (their RMS in their natural units)."""
    last = int(run.metrics["step"][-1])
    curve = predicted_curve(method, grid, run.config, last)
    if curve is None:
        return np.ones_like(grid)
    return curve / predicted_curve(method, np.zeros(1), run.config, last)[0]


def _overlay_panel(ax, runs: list[Run], data: list[tuple[dict, dict]], x_range) -> None:
    grid = np.geomspace(*x_range, 300)
    ax.set_xscale("log")
    ax.set_yscale("log")
    flat = []
    for run, (elements, _) in zip(runs, data):
        method = elements["method"]
        color, marker = METHOD_STYLE[method]
        shape = _shape(method, run, grid)
        curved = not np.all(shape == 1.0)
        if curved:
            ax.plot(grid, shape, color=color, lw=1.6)
        else:
            flat.append(NAMES[method])
        g = float(np.nanmedian(np.where(elements["gamma"] > 0, elements["gamma"], np.nan)))
        at = float(np.interp(math.log(g), np.log(grid), shape))
        ax.plot([g], [at], marker=marker, color=color, ms=6.5, ls="-" if curved else "none",
                lw=1.6, mec="black", mew=0.5, label=f"{NAMES[method]} (median γ {g:.2g})",
                zorder=5)
    if flat:
        ax.axhline(1.0, color="black", lw=1.2, ls="--", label="flat: the others", zorder=2)
    ax.set_xlim(*x_range)
    ax.set_ylim(3e-3, 2.0)
    ax.set_xlabel("relative spread γ = σ̂/|m̂|", fontsize=8.5)
    ax.set_ylabel("prediction ÷ its value at γ → 0", fontsize=8.5)
    ax.set_title("every prediction's shape; marker: the run's median γ", fontsize=9)
    ax.tick_params(which="both", labelsize=7.5)
    ax.legend(loc="lower left", fontsize=6.5, frameon=True, framealpha=0.85, ncols=2,
              columnspacing=0.8, handlelength=1.5)


def _floored(value: float) -> float:
    return max(value, FLOOR)


def _residual_panel(ax, ordered: list[Run], data, warmup: int) -> None:
    """Per method (x): the residual against its own prediction on a log axis."""
    ax.set_yscale("log")
    seen = set()

    def mark(x, median, p90, offset, marker, color, label):
        ax.plot([x + offset] * 2, [_floored(median), _floored(p90)], color=color, lw=1.4)
        ax.plot([x + offset], [_floored(median)], marker=marker, color=color, ms=6, ls="none",
                mec="black", mew=0.4, label=None if label in seen else label)
        seen.add(label)

    for x, (run, (elements, layers)) in enumerate(zip(ordered, data)):
        color = METHOD_STYLE[elements["method"]][0]
        element = relative_residual(elements["y"], elements["curve"])
        if element is not None:
            layer = relative_residual(layers["y"], layers["curve"])
            mark(x, element["median"], element["p90"], -0.12, "o", color,
                 "per element-step: median, line to 90th percentile")
            mark(x, layer["median"], layer["p90"], 0.12, "s", color,
                 "per tracked tensor and step (at γ̄): median, line to 90th percentile")
        else:
            check = rms_check(elements)
            bins = np.abs(np.asarray(check["rms_by_bin"]) - 1.0)
            ax.plot([x + 0.12] * bins.size, np.maximum(bins, FLOOR), ls="none", marker="_",
                    ms=9, color=color, label=None if "bins" in seen else
                    "RMS methods: |RMS − 1| per γ quintile")
            seen.add("bins")
            ax.plot([x - 0.12], [_floored(check["residual"])], marker="D", ms=6, ls="none",
                    color=color, mec="black", mew=0.4, label=None if "rms" in seen else
                    "RMS methods: |RMS − 1| over all element-steps")
            seen.add("rms")
        exact = exact_check(run, warmup)
        ax.annotate(f"exact: {exact['passed']:,}/{exact['values']:,}\nwithin rounding",
                    (x, 2.5), ha="center", va="bottom", fontsize=6.5, color="0.25")
    ax.axhline(FLOOR, color="0.6", lw=0.8, ls=":")
    ax.text(len(ordered) - 0.5, FLOOR * 1.6, "exactly 0 (drawn here)", ha="right", va="bottom",
            fontsize=6.5, color="0.4")
    ax.set_xticks(range(len(ordered)),
                  [f"{NAMES[e['method']]}\n{UNITS[e['unit']]}" for e, _ in data], fontsize=8)
    ax.set_xlim(-0.6, len(ordered) - 0.4)
    ax.set_ylim(FLOOR / 3.0, 30.0)
    ax.set_ylabel("relative residual |measured − predicted|/predicted", fontsize=8.5)
    ax.set_title("Each method against its own prediction. Per element the curves hold up to "
                 "rounding (and Adam's ε/|m̂|);\naveraging over a tensor moves Adam's and "
                 "M-SVAG's dots off theirs; RMSprop's and Adagrad's RMS stays near 1 at every γ",
                 fontsize=9)
    ax.tick_params(axis="y", which="both", labelsize=7.5)
    ax.legend(loc="center left", bbox_to_anchor=(1.005, 0.5), fontsize=7, frameon=True)


def build_one_axis_figure(runs, title: str, warmup: int = WARMUP) -> Figure:
    """The figure for ``runs`` (a dict or list of Run, one per method), from step
    ``warmup`` + 1 on: a panel per method, the shapes overlaid, the residual summary."""
    ordered = _ordered(runs)
    data = [(element_values(r, warmup), layer_values(r, warmup)) for r in ordered]
    x_range = _gamma_range(data)
    y_ranges = _y_ranges(ordered, data, np.geomspace(*x_range, 300))
    steps = np.concatenate([lay["step"].ravel() for _, lay in data])
    step_norm = Normalize(vmin=float(steps.min()), vmax=float(steps.max()))
    rows = math.ceil((len(ordered) + 1) / COLUMNS)
    fig = Figure(figsize=(PANEL_W_IN * COLUMNS + 0.9, PANEL_H_IN * rows + SUMMARY_H_IN + 1.1),
                 dpi=DPI, layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[PANEL_H_IN * rows, SUMMARY_H_IN])
    axes = top.subplots(rows, COLUMNS, squeeze=False, sharex=True)
    flat_axes = list(axes.ravel())
    for ax, run, (elements, layers) in zip(flat_axes, ordered, data):
        _method_panel(ax, run, elements, layers, x_range, y_ranges[_scale(elements["unit"])],
                      step_norm, warmup)
    _overlay_panel(flat_axes[len(ordered)], ordered, data, x_range)
    for ax in flat_axes[len(ordered) + 1:]:
        ax.set_visible(False)
    for ax in axes[-1]:
        ax.set_xlabel("relative spread γ = σ̂/|m̂|", fontsize=8.5)
        ax.xaxis.set_tick_params(labelbottom=True)
    mappable = flat_axes[0].collections[-1]
    cbar = top.colorbar(mappable, ax=axes[:, -1].tolist(), pad=0.01, shrink=0.5)
    cbar.set_label("step t (dots: one per tracked tensor and step)", fontsize=7.5)
    cbar.ax.tick_params(labelsize=7)
    _residual_panel(bottom.subplots(), ordered, data, warmup)
    fig.suptitle(title, fontsize=12)
    fig.supxlabel(f"From step {warmup + 1} on. Grey: every recorded element-step (32 elements "
                  "of each tracked weight), log count. Dots: per tracked tensor and step, "
                  "γ̄ = mean σ̂/mean |m̂| against the mean step in the panel's unit. Dashed: the "
                  "method's prediction. γ from the method's own m̂, v̂ (Adam, M-SVAG) or a "
                  "passive probe with the run's (β1, β2). u = −Δθ/α, the recorded "
                  "step; exact: the share of element-steps on the method's exact relation.",
                  fontsize=7.5, wrap=True)
    return fig


def draw_one_axis_figure(runs, title: str, out_path, formats=("png",),
                         warmup: int = WARMUP) -> list[Path]:
    """Draw Figure 7 and save it: ``out_path`` a file ("fig7.png" → fig7.<fmt> per format)
    or an existing folder (→ folder/figure7.<fmt>); returns the written paths."""
    out = Path(out_path)
    paths = _output_paths(out / FIGURE if out.is_dir() else out, formats)
    return save_figure(build_one_axis_figure(runs, title, warmup), paths)
