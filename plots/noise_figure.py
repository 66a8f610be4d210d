"""Figure 6: Adam near the optimum of the noisy quadratic, against SGD's steady state.

Drawn from run records only (never trains): the runs of
:func:`numpy_adam.experiments.noise_plan.noise_experiments`, f(x; ξ) = (x − ξ)² with ξ ~ N(0, s²/B)
drawn afresh every step, one Adam and one SGD run per noise level s. Every number is a measure of
a run's stationary part, its last half (:func:`numpy_adam.experiments.stationary.run_measures`):

(a) RMS of x about the optimum's mean 0 against s, log–log. SGD's closed form
    √Var x = √(α σ_ξ²/(1 − α)), σ_ξ² = s²/B (heavy ball: the general form in
    :mod:`numpy_adam.experiments.stationary`) is the line: a slope-1 line, SGD's x ∝ s.
(b) RMS of the step |Δx| = α |Δθ|/α, absolute, with SGD's closed form α √Var b.
(c) Sign changes of x per step, and the period 2/rate they imply (right axis), with SGD's
    closed form arccos(ρ_1)/π, ρ_1 = (1 + μ − αh)/(1 + μ), which does not depend on s.
(d) Adam's update size |Δθ|/α against its relative spread γ = σ̂/|m̂| (one element, so every
    aggregation is this one), late steps only, coloured by s, with the curve 1/√(γ²+1): where
    the points sit on the curve says what spread the step is made of — Adam's own movement
    (s = 0, far right: γ ≈ 190) or sampling (large s).

s = 0 has no place on a log axis: it is drawn one decade left of the smallest s > 0, behind a
dashed break, with the tick label "0". A value below a panel's floor (SGD at s = 0, where x → 0
geometrically) is drawn on the floor as an open downward triangle.

Only matplotlib's object API (``Figure``) is used: no pyplot, no global state.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.figure import Figure

from numpy_adam.experiments.stationary import (noise_variance, run_measures,
                                               sgd_sign_change_rate, sgd_stationary_variance,
                                               sgd_step_rms, stationary_slice)
from numpy_adam.records import Run

from .spread_figure import DPI, _output_paths, save_figure

FRACTION = 0.5  # the stationary part: the last half of each run
MAX_POINTS = 1500  # panel (d): points per run
FLOOR_DECADES = 8  # a panel shows at most this many decades below its largest value
STYLES = {"adam": ("o", "#1f5fa8"), "sgd": ("^", "#c85a0a")}
CLOSED_FORM_COLOR = "0.2"
ZERO_COLOR = "0.45"  # panel (d): s = 0
OTHER_STYLES = (("s", "#23803a"), ("D", "#5e3c99"), ("v", "#7f7f7f"))
FOOTNOTE = ("Each point: one run's last half; σ_ξ² = s²/B. Dashed: SGD's closed-form steady state "
            "(numpy_adam.experiments.stationary). s = 0 sits left of the dashed break;\n"
            "a value below a panel's floor (SGD at s = 0, where x → 0) is drawn on it as ▽. "
            "(d): Adam's steps over the last half (γ's central 99 %), coloured by s; dotted: "
            "1/√(γ²+1).")


def _series_key(run: Run) -> tuple:
    c = run.config
    return (str(c.get("optimizer")), float(c.get("lr")), float(c.get("momentum") or 0.0),
            float(c.get("beta1")), float(c.get("beta2")), int(c.get("batch_size") or 1))


def _series_label(key: tuple) -> str:
    optimizer, lr, momentum, beta1, beta2, batch = key
    if optimizer == "sgd":
        text = f"SGD α={lr:g}" + (f", momentum {momentum:g}" if momentum else "")
    else:
        betas = f"β1=β2={beta1:g}" if beta1 == beta2 else f"β1={beta1:g}, β2={beta2:g}"
        name = {"adam": "Adam", "adamw": "AdamW"}.get(optimizer, optimizer)
        text = f"{name} {betas}, α={lr:g}"
    return text + (f", B={batch}" if batch != 1 else "")


def noise_series(runs) -> dict[tuple, list[dict]]:
    """Runs grouped into series (one per optimizer setting), each a list of
    :func:`~numpy_adam.experiments.stationary.run_measures` dicts (with the Run under "run")
    sorted by s."""
    series: dict[tuple, list[dict]] = {}
    for i, run in enumerate(runs):
        if not isinstance(run, Run):
            raise TypeError(f"runs[{i}] must be a Run (numpy_adam.records.load_run), got "
                            f"{type(run).__name__}")
        measures = run_measures(run, FRACTION)
        measures["run"] = run
        series.setdefault(_series_key(run), []).append(measures)
    for points in series.values():
        points.sort(key=lambda m: m["noise_std"])
    return dict(sorted(series.items(), key=lambda kv: (kv[0][0] == "sgd", kv[0])))


class _NoiseAxis:
    """Where each s goes on a log x axis: s > 0 as itself, s = 0 one decade left of the
    smallest s > 0 (behind a dashed break)."""

    def __init__(self, noise_stds):
        s = np.asarray(sorted(set(float(v) for v in noise_stds)))
        positive = s[s > 0]
        self.has_zero = bool(np.any(s == 0))
        self.low = float(positive.min()) if positive.size else 1.0
        self.high = float(positive.max()) if positive.size else 1.0
        self.zero_at = self.low / 10.0

    def position(self, s) -> np.ndarray:
        s = np.asarray(s, dtype=np.float64)
        return np.where(s > 0, s, self.zero_at)

    def grid(self) -> np.ndarray:
        """Positive s from the smallest to the largest, for closed-form lines."""
        return np.geomspace(self.low, self.high, 200) if self.high > self.low else \
            np.array([self.low])

    def apply(self, ax) -> None:
        ax.set_xscale("log")
        left = self.zero_at if self.has_zero else self.low
        ax.set_xlim(left / 2.5, self.high * 2.5)
        if self.has_zero:
            ax.axvline(self.low / math.sqrt(10.0), color="0.6", ls="--", lw=0.8)
            ticks = [self.zero_at] + [10.0 ** k for k in range(
                math.ceil(math.log10(self.low) - 1e-9), math.floor(math.log10(self.high) + 1e-9)
                + 1)]
            ax.set_xticks(ticks, ["0"] + [f"$10^{{{round(math.log10(t))}}}$" for t in ticks[1:]])
            ax.minorticks_off()
        ax.set_xlabel("noise s (ξ ~ N(0, s²/B))")


def _floor(values) -> float:
    """The smallest value a panel shows: a fifth of its smallest value within FLOOR_DECADES
    decades of its largest."""
    v = np.asarray([x for x in values if np.isfinite(x) and x > 0], dtype=np.float64)
    if v.size == 0:
        return 1e-300
    regular = v[v >= v.max() / 10.0 ** FLOOR_DECADES]
    return float(regular.min()) / 5.0


def _style(key: tuple, taken: dict) -> tuple[str, str]:
    if key[0] in STYLES and STYLES[key[0]] not in taken.values():
        taken[key] = STYLES[key[0]]
    else:
        free = [s for s in OTHER_STYLES if s not in taken.values()] or list(OTHER_STYLES)
        taken[key] = free[0]
    return taken[key]


def _points(ax, axis: _NoiseAxis, points: list[dict], field: str, floor: float, style,
            label: str, joined: bool) -> None:
    marker, color = style
    s = np.array([m["noise_std"] for m in points])
    y = np.array([m[field] for m in points], dtype=np.float64)
    shown = np.isfinite(y) & (y >= floor)
    x = axis.position(s)
    if joined:  # Adam: no closed form, a thin line guides the eye over s > 0
        ax.plot(x[shown & (s > 0)], y[shown & (s > 0)], color=color, lw=0.8, alpha=0.6)
    ax.plot(x[shown], y[shown], ls="none", marker=marker, color=color, ms=6, label=label)
    below = np.isfinite(y) & ~shown
    for xb in x[below]:
        ax.plot([xb], [floor], ls="none", marker="v", ms=7, mfc="none", color=color)
        ax.annotate("→ 0", (xb, floor), xytext=(6, 0), textcoords="offset points",
                    fontsize=7, color=color, va="center")


def _sgd_lines(ax, axis, series, field: str, styles) -> None:
    """SGD's closed form over s > 0, one line per SGD setting (α, μ, B)."""
    grid = axis.grid()
    for key in series:
        optimizer, lr, momentum, _, _, batch = key
        if optimizer != "sgd":
            continue
        var = [noise_variance(float(s), batch) for s in grid]
        if field == "rms_x":
            y = [math.sqrt(sgd_stationary_variance(lr, v, momentum)) for v in var]
        elif field == "rms_step":
            y = [sgd_step_rms(lr, v, momentum) for v in var]
        else:
            y = [sgd_sign_change_rate(lr, momentum)] * grid.size
        ax.plot(grid, y, color=CLOSED_FORM_COLOR, lw=1.0, ls="--",
                label=f"{_series_label(key)}: closed form")


def _panel(ax, axis, series, styles, field: str, title: str, ylabel: str) -> None:
    values = [m[field] for points in series.values() for m in points]
    floor = _floor(values)
    for key, points in series.items():
        _points(ax, axis, points, field, floor, styles[key], _series_label(key),
                joined=key[0] != "sgd")
    _sgd_lines(ax, axis, series, field, styles)
    axis.apply(ax)
    ax.set_yscale("log")
    top = max([v for v in values if np.isfinite(v)] + [floor * 10])
    ax.set_ylim(floor / 1.8, top * 2.0)
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel)
    ax.grid(True, which="major", color="0.92", lw=0.6)


def _gamma_panel(ax, series) -> None:
    adam = [m for key, points in series.items() if key[0] != "sgd" for m in points]
    cmap = matplotlib.colormaps["viridis"]
    positive = [m for m in adam if m["noise_std"] > 0]
    colors = {id(m): (ZERO_COLOR if m["noise_std"] == 0 else
                      cmap(0.9 * positive.index(m) / max(1, len(positive) - 1))) for m in adam}
    all_gamma, centres = [], []
    for m in adam:
        run = m["run"]
        window = stationary_slice(run.metrics["step"].size, FRACTION)
        sigma = np.asarray(run.metrics["sigma"][window, 0], dtype=np.float64)
        abs_m = np.asarray(run.metrics["mean_abs_m"][window, 0], dtype=np.float64)
        update = np.asarray(run.metrics["update"][window, 0], dtype=np.float64)
        gamma = np.divide(sigma, abs_m, out=np.full(sigma.shape, np.nan), where=abs_m > 0)
        keep = np.flatnonzero(np.isfinite(gamma) & (gamma > 0) & (update > 0))
        if keep.size == 0:
            continue
        if keep.size > MAX_POINTS:
            keep = keep[np.unique(np.linspace(0, keep.size - 1, MAX_POINTS).round().astype(int))]
        ax.scatter(gamma[keep], update[keep], s=4, color=colors[id(m)], linewidths=0, alpha=0.35,
                   rasterized=True)
        centres.append((float(np.median(gamma[keep])), float(np.median(update[keep])),
                        colors[id(m)], f"s = {m['noise_std']:g}"))
        all_gamma.append(gamma[keep])
    for i, (g, u, color, label) in enumerate(centres):  # each run's median on top, shrinking
        size = 11.0 - 5.0 * i / max(1, len(centres) - 1)  # with s so coinciding ones stay visible
        ax.plot([g], [u], ls="none", marker="o", ms=size, color=color, mec="black", mew=0.8,
                label=label)
    shown = np.concatenate(all_gamma) if all_gamma else np.array([])
    if shown.size:
        lo, hi = np.percentile(shown, [0.5, 99.5])
        grid = np.geomspace(lo / 2.0, hi * 2.0, 300)
        ax.plot(grid, 1.0 / np.sqrt(grid * grid + 1.0), ls=":", color="black", lw=1.5,
                label="1/√(γ²+1)")
        ax.set_xlim(lo / 2.0, hi * 2.0)
        ax.set_ylim(1.0 / math.sqrt(4.0 * hi * hi + 1.0) / 1.5,
                    1.0 / math.sqrt(lo * lo / 4.0 + 1.0) * 1.5)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("relative spread γ = σ̂/|m̂|")
    ax.set_ylabel("update size |Δθ|/α")
    ax.set_title("(d) Adam's step vs its relative spread γ (● each run's median)", fontsize=9)
    ax.legend(fontsize=6.5, frameon=False, loc="lower left", ncols=2)
    ax.grid(True, which="major", color="0.92", lw=0.6)


def build_noise_figure(runs, title: str, footnote: bool = True) -> Figure:
    """Figure 6 as a matplotlib ``Figure`` (see :func:`draw_noise_figure`).

    Axes: (a), (b), (c), (d) in reading order; (c)'s period axis is a child of (c).
    """
    runs = list(runs)
    if not runs:
        raise ValueError("runs must be a non-empty list of Run (the noise experiment's runs)")
    series = noise_series(runs)
    axis = _NoiseAxis([m["noise_std"] for points in series.values() for m in points])
    taken: dict = {}
    styles = {key: _style(key, taken) for key in series}
    fig = Figure(figsize=(10.0, 7.6), dpi=DPI, layout="constrained")
    (ax_x, ax_step), (ax_sign, ax_gamma) = fig.subplots(2, 2)
    _panel(ax_x, axis, series, styles, "rms_x", "(a) RMS of x about the optimum",
           "RMS x")
    _panel(ax_step, axis, series, styles, "rms_step", "(b) RMS of the step |Δx|",
           "RMS |Δx| (absolute)")
    _panel(ax_sign, axis, series, styles, "sign_change_rate_x",
           "(c) sign changes of x per step", "sign changes per step")
    period = ax_sign.secondary_yaxis("right", functions=(_two_over, _two_over))
    period.set_ylabel("period 2/rate (steps)")
    _gamma_panel(ax_gamma, series)
    ax_x.legend(fontsize=7, frameon=False, loc="upper left")
    fig.suptitle(title, fontsize=11)
    if footnote:
        fig.supxlabel(FOOTNOTE, fontsize=7)
    return fig


def _two_over(values):
    values = np.asarray(values, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(values > 0, 2.0 / np.where(values > 0, values, 1.0), np.inf)


def draw_noise_figure(runs, title: str, out_path, formats=("png",)) -> list[Path]:
    """Draw Figure 6 from run records and save it.

    runs:     the noise experiment's runs (:class:`~numpy_adam.records.Run`), any number of s
              per optimizer setting; one series per setting
    title:    figure title (``numpy_adam.experiments.noise_plan.TITLE``)
    out_path: output file ("fig6.png" → fig6.<fmt> per format) or an existing folder
              (→ folder/noise_figure.<fmt>); the folder must exist
    formats:  any of "png", "pdf", "svg"
    returns:  the written paths, in ``formats`` order (each rendered to a temporary name, then
              renamed: a crash never leaves half a file)
    """
    out = Path(out_path)
    paths = _output_paths(out / "noise_figure" if out.is_dir() else out, formats)
    return save_figure(build_noise_figure(runs, title), paths)

