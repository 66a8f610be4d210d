"""A sweep's seed-averaged statistics against the swept setting (``numpy-adam summarize``).

Two panels, drawn from the numbers :mod:`numpy_adam.experiments.sweep.summarize` computes
from the run records (never trains):

(b) the correlation of the update size |Δθ|/α with the mean gradient mean |m̂| over steps —
    Pearson r (filled circles, solid) and Spearman ρ (open squares, dashed): near 1 where the
    step follows the mean gradient (SGD), lower where it does not (Adam);
(c) the mean relative distance of the update from Adam's curve 1/√(γ²+1),
    mean_t |U_t − f(γ_t)|/U_t, with γ the note's layer relative spread γ̄ = mean σ̂/mean |m̂|
    (solid) and the element mean of σ̂/|m̂| (dashed); log scale when positive.

Each point is the mean over the seeds of one setting, its error bar ± one standard deviation
across them (none for a single seed). The x axis is the swept setting (log scale when its
values are positive and span more than a factor 10; categories otherwise); the other swept
settings, if any, make one line each, in one colour per line.

Only matplotlib's object API (``Figure`` + Agg canvas) is used: no pyplot, no global state.
"""
from __future__ import annotations

import math
from pathlib import Path

from matplotlib.figure import Figure
from matplotlib.lines import Line2D

FORMATS = ("png", "pdf", "svg")
DPI = 120
COLOURS = ("#1f5fa8", "#c85a0a", "#23803a", "#5e3c99", "#a0223a", "#4d4d4d", "#b8860b")
PANEL_B = (("pearson", "Pearson r", "o", "-", True), ("spearman", "Spearman ρ", "s", "--", False))
PANEL_C = (("residual_layer", "γ̄ = mean σ̂ / mean |m̂|", "o", "-", True),
           ("residual_element", "element mean of σ̂/|m̂|", "s", "--", False))


def _number(value) -> float:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) \
        and math.isfinite(value) else math.nan


def _shown(value) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(_shown(v) for v in value) + ")"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _x_positions(groups: list[dict], x: str | None):
    """(position per group, tick positions, tick labels or None, log scale?)."""
    if x is None:
        return [0.0] * len(groups), [0.0], ["all points"], False
    values = [g["settings"].get(x) for g in groups]
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric:
        floats = [float(v) for v in values]
        log = min(floats) > 0 and max(floats) / min(floats) > 10
        return floats, None, None, log
    order = []
    for v in values:
        if _shown(v) not in order:
            order.append(_shown(v))
    return [float(order.index(_shown(v))) for v in values], list(range(len(order))), order, False


def _series(groups: list[dict], x: str | None) -> dict:
    """{line label: [group indices]}: groups with the same settings apart from ``x``."""
    lines: dict = {}
    for i, g in enumerate(groups):
        rest = {k: v for k, v in g["settings"].items() if k != x}
        label = ", ".join(f"{k}={_shown(v)}" for k, v in rest.items()) or "all"
        lines.setdefault(label, []).append(i)
    return lines


def _panel(ax, groups, positions, lines, metrics, log_y: bool, dodge: float = 0.0) -> None:
    """dodge: total width over which the lines are spread apart around each position (on a
    category axis, so that lines at the same category do not hide each other)."""
    for k, (colour, (label, members)) in enumerate(zip(COLOURS * 10, lines.items())):
        members = sorted(members, key=lambda i: positions[i])
        shift = dodge * (k / (len(lines) - 1) - 0.5) if len(lines) > 1 else 0.0
        for key, _, marker, style, filled in metrics:
            xs = [positions[i] + shift for i in members]
            ys = [_number(groups[i]["mean"].get(key)) for i in members]
            sd = [_number(groups[i]["sd"].get(key)) for i in members]
            err = [0.0 if math.isnan(s) else s for s in sd]
            if log_y:  # an error bar may not reach below 0 on a log axis
                err = [[min(e, 0.999 * y) if y > 0 else 0.0 for e, y in zip(err, ys)], err]
            ax.errorbar(xs, ys, yerr=err, color=colour, marker=marker, linestyle=style,
                        markerfacecolor=colour if filled else "white", markersize=5,
                        capsize=3, linewidth=1.2)
    if log_y:
        ax.set_yscale("log")
    ax.grid(True, alpha=0.3)


def build_sweep_figure(groups: list[dict], x: str | None, title: str = "") -> Figure:
    """The figure for ``groups`` — [{"settings": {swept setting: value} (seed left out),
    "mean": {metric: value}, "sd": {metric: value or None}, "n": seeds}] — against setting
    ``x`` (None: one position for all)."""
    if not groups:
        raise ValueError("build_sweep_figure: no groups to draw (no finished points)")
    positions, ticks, tick_labels, log_x = _x_positions(groups, x)
    lines = _series(groups, x)
    residuals = [_number(g["mean"].get(k)) for g in groups for k, *_ in PANEL_C]
    log_y = all(v > 0 for v in residuals if not math.isnan(v)) and \
        any(not math.isnan(v) for v in residuals)
    fig = Figure(figsize=(10.0, 4.2), layout="constrained")
    ax_b, ax_c = fig.subplots(1, 2)
    dodge = 0.3 if ticks is not None else 0.0  # categories are 1 apart
    _panel(ax_b, groups, positions, lines, PANEL_B, log_y=False, dodge=dodge)
    _panel(ax_c, groups, positions, lines, PANEL_C, log_y=log_y, dodge=dodge)
    ax_b.set_title("(b) update |Δθ|/α against mean |m̂|: correlation over steps", fontsize=9)
    ax_b.set_ylabel("correlation")
    ax_c.set_title("(c) distance of the update from 1/√(γ²+1)", fontsize=9)
    ax_c.set_ylabel("mean |U − 1/√(γ²+1)| / U")
    for ax in (ax_b, ax_c):
        ax.set_xlabel(x or "")
        if log_x:
            ax.set_xscale("log")
        if ticks is not None:
            ax.set_xticks(ticks, tick_labels)
    handles = [Line2D([], [], color="black", marker=m, linestyle=s,
                      markerfacecolor="black" if f else "white", label=name)
               for _, name, m, s, f in PANEL_B]
    ax_b.legend(handles=handles, fontsize=7, loc="best")
    handles = [Line2D([], [], color="black", marker=m, linestyle=s,
                      markerfacecolor="black" if f else "white", label=name)
               for _, name, m, s, f in PANEL_C]
    handles += [Line2D([], [], color=c, linewidth=3, label=label)
                for c, label in zip(COLOURS * 10, lines) if len(lines) > 1]
    ax_c.legend(handles=handles, fontsize=7, loc="best")
    seeds = sorted({int(g["n"]) for g in groups})
    fig.suptitle(title, fontsize=11)
    fig.supxlabel(f"Each point: mean over seeds (n = {', '.join(map(str, seeds))} per point), "
                  "error bars ± 1 sd across seeds.", fontsize=7)
    return fig


def draw_sweep_figure(groups: list[dict], x: str | None, out_path, title: str = "",
                      formats=("png",)) -> list[Path]:
    """Draw :func:`build_sweep_figure` and save it as ``out_path`` with each format's suffix
    (rendered to a temporary name and renamed, so a crash never leaves half a file); returns
    the written paths."""
    formats = tuple(formats)
    if not formats or any(f not in FORMATS for f in formats):
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, got {formats}")
    out = Path(out_path)
    if out.suffix.lower() in tuple(f".{f}" for f in FORMATS):
        out = out.with_suffix("")
    fig = build_sweep_figure(groups, x, title)
    paths = []
    for fmt in formats:
        path = out.parent / f"{out.name}.{fmt}"
        tmp = path.with_name(f".{path.name}.partial")
        try:
            fig.savefig(tmp, format=fmt, dpi=DPI)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
        paths.append(path)
    return paths

