"""Figure 8: where Adam stops converging on f(x) = x², drawn from a phase-map record.

Drawn from a :class:`numpy_adam.experiments.phase_map.PhaseMap` (``load_phase_map``), never
recomputed. Top row: one map over (β2, β1) per learning rate (the smallest, a middle and the
largest α of the grid) at the map's first ε (1e-12). Each cell is one run from x0 = 1: its colour
is its class (:mod:`numpy_adam.experiments.phase_classify`); cycle cells are shaded by their
amplitude max|x|/α (one colour scale for all maps) and every oscillating cell is annotated with
it. The outlined cells are the diagonal β1 = β2; cells above it have β1 > β2.

Bottom row:

(d) the exact 2-cycle x = ±(α r − ε)/2, r = (1 − β1)/(1 + β1), started on and perturbed by a
    relative 1e-6 (:func:`~numpy_adam.experiments.phase_map.two_cycle_growth`): blue where the
    perturbation shrinks (the cycle attracts), red where it grows;
(e) max|x|/α against α on the diagonal β1 = β2 for ε = 1e-12 (filled) and 1e-8 (open): a flat
    line is an amplitude proportional to α (for ε = 0 exactly so: Adam on x² is scale-free);
(f) the ε sweep at α = 1e-2: max|x|/α divided by its ε = 1e-12 value against ε/(α r), with the
    line 1 − ε/(α r); runs that converge are drawn on the floor as open downward triangles.

Only matplotlib's object API (``Figure``) is used: no pyplot, no global state.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from matplotlib import colormaps
from matplotlib.cm import ScalarMappable
from matplotlib.colors import ListedColormap, LogNorm, Normalize, to_rgba
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.ticker import NullFormatter

from numpy_adam.experiments.phase_classify import CLASS_NAMES, CONVERGES, CYCLE

from .spread_figure import _output_paths, save_figure

WIDTH_IN, TOP_IN, BOTTOM_IN = 10.8, 4.1, 3.5
CLASS_COLORS = {"converges": "#3a9d4a", "cycle": "#2f6db3", "spikes": "#e08a1e",
                "grows": "#c0392b", "unsettled": "#a8a8a8"}
AMP_CMAP, AMP_RANGE = "Blues", (1e-4, 10.0)  # cycle shading: max|x|/α on a log scale
DIAGONAL_BETAS = (0.9, 0.99, 0.999)
SWEEP_FLOOR = 0.02  # ratio below which a swept run is drawn on the floor (it converged)


def _short(value: float) -> str:
    """A cell label of at most 4 characters: 4e-4, .041, 0.5, 2.1, 37, 7e3."""
    if not np.isfinite(value):
        return "∞"
    if value >= 1000:
        return f"{value:.0e}".replace("e+0", "e")
    if value >= 10:
        return f"{value:.0f}"
    if value >= 1:
        return f"{value:.1f}"
    if value >= 0.01:
        return f"{value:.2f}".lstrip("0")
    return f"{value:.0e}".replace("e-0", "e-")


def class_colors(cls: np.ndarray, amplitude: np.ndarray) -> np.ndarray:
    """RGBA (…, 4) of each cell: the class colour, cycles shaded by log max|x|/α."""
    rgba = np.array([to_rgba(CLASS_COLORS[CLASS_NAMES[c]]) for c in cls.ravel()])
    norm = LogNorm(*AMP_RANGE, clip=True)
    cycle = cls.ravel() == CYCLE
    amp = np.clip(amplitude.ravel()[cycle], *AMP_RANGE)
    rgba[cycle] = colormaps[AMP_CMAP](0.3 + 0.7 * norm(amp))
    return rgba.reshape(cls.shape + (4,))


def _beta_axes(ax, rows, cols, ylabel=True):
    ax.set_xticks(range(len(cols)), [f"{b:g}" for b in cols], rotation=90, fontsize=7)
    ax.set_yticks(range(len(rows)), [f"{b:g}" for b in rows] if ylabel else [], fontsize=7)
    ax.set_xlabel("β2", fontsize=8)
    if ylabel:
        ax.set_ylabel("β1", fontsize=8)


def _class_map(ax, result, lr_index: int, eps_index: int = 0, ylabel: bool = True):
    cls = result.cls[eps_index, :, :, lr_index]
    amp = result.amplitude[eps_index, :, :, lr_index]
    ax.imshow(class_colors(cls, amp), origin="lower", aspect="auto", interpolation="nearest")
    n1, n2 = cls.shape
    small = n2 > 10
    for p in range(n1):
        for q in range(n2):
            if cls[p, q] != CONVERGES:  # every oscillating (or unsettled) cell: its max|x|/α
                dark = cls[p, q] == CYCLE and amp[p, q] > 0.05
                ax.text(q, p, _short(amp[p, q]), ha="center", va="center",
                        fontsize=5.2 if small else 6.5, color="white" if dark else "black")
            k = np.flatnonzero(result.betas2 == result.betas1[p])
            if k.size and k[0] == q:
                ax.add_patch(Rectangle((q - 0.5, p - 0.5), 1, 1, fill=False, lw=1.0,
                                       ec="black"))
    _beta_axes(ax, result.betas1, result.betas2, ylabel)
    ax.set_title(f"α = {result.lrs[lr_index]:.0e}, ε = {result.eps[eps_index]:.0e}", fontsize=9)


def _probe_panel(ax, result):
    growth = np.log10(np.clip(result.probe_growth, 1e-12, 1e12))
    im = ax.imshow(growth, origin="lower", aspect="auto", cmap="RdBu_r",
                   norm=Normalize(-10, 10), interpolation="nearest")
    _beta_axes(ax, result.probe_betas1, result.betas2)
    ax.set_title("(d) exact 2-cycle, perturbed by 1e-6", fontsize=9)
    return im


def _diagonal_panel(ax, result):
    colors = colormaps["viridis"](np.linspace(0.0, 0.8, len(DIAGONAL_BETAS)))
    for beta, color in zip(DIAGONAL_BETAS, colors):
        j = np.flatnonzero(np.isclose(result.betas1, beta))
        k = np.flatnonzero(np.isclose(result.betas2, beta))
        if not (j.size and k.size):
            continue
        for e, (marker, fill, style) in enumerate((("o", color, "-"), ("o", "none", "--"))):
            if e >= result.eps.size:
                break
            amp = result.amplitude[e, j[0], k[0]]
            ok = result.cls[e, j[0], k[0]] == CYCLE
            ax.plot(result.lrs[ok], amp[ok], marker=marker, mfc=fill, color=color, ls=style,
                    lw=1.6 if beta == 0.99 else 1.0, ms=4,
                    label=f"β1 = β2 = {beta:g}" if e == 0 else None)
    handles, _ = ax.get_legend_handles_labels()
    handles += [Line2D([], [], color="0.3", marker="o", ls="-", ms=4,
                       label=f"ε = {result.eps[0]:.0e}")]
    if result.eps.size > 1:
        handles += [Line2D([], [], color="0.3", marker="o", mfc="none", ls="--", ms=4,
                           label=f"ε = {result.eps[1]:.0e}")]
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("learning rate α", fontsize=8)
    ax.set_ylabel("cycle amplitude max|x| / α", fontsize=8)
    ax.set_title("(e) β1 = β2: max|x| ∝ α", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(handles=handles, fontsize=6, loc="center right")


def _sweep_panel(ax, result):
    colors = colormaps["plasma"](np.linspace(0.0, 0.75, result.sweep_betas.size))
    f = result.sweep_factors
    lr_at = np.flatnonzero(np.isclose(result.lrs, result.sweep_lr))
    for j, (beta, color) in enumerate(zip(result.sweep_betas, colors)):
        on_grid = np.flatnonzero(np.isclose(result.betas1, beta))
        if not (on_grid.size and lr_at.size):
            continue
        a0 = result.amplitude[0, on_grid[0], on_grid[0], lr_at[0]]
        ratio = result.sweep_amplitude[j] / a0
        floor = (result.sweep_cls[j] == CONVERGES) | (ratio < SWEEP_FLOOR)
        ax.plot(f[~floor], ratio[~floor], "o-", color=color, ms=4, lw=1.0,
                label=f"β1 = β2 = {beta:g}")
        ax.plot(f[floor], np.full(floor.sum(), SWEEP_FLOOR), "v", mfc="none", color=color,
                ms=5)
    grid = np.linspace(f.min(), 1.0, 50)
    ax.plot(grid, 1 - grid, ":", color="black", lw=1.0, label="1 − ε/(α r)")
    ax.axvline(1.0, color="0.5", lw=0.8)
    ax.set_xscale("log")
    ticks = [t for t in (0.25, 0.5, 1.0, 2.0, 4.0) if f.min() <= t <= f.max()]
    ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_ylim(0.0, 1.15)
    ax.set_xlabel("ε / (α r),  r = (1 − β1)/(1 + β1)", fontsize=8)
    ax.set_ylabel("max|x| / (its value at ε = 1e-12)", fontsize=8)
    ax.set_title(f"(f) ε sweep at α = {result.sweep_lr:g}", fontsize=9)
    ax.tick_params(labelsize=7)
    ax.legend(fontsize=6, loc="upper right")


def build_phase_figure(result, title: str) -> Figure:
    """The figure (not saved): subfigs[0] holds the three class maps, subfigs[1] panels d–f."""
    fig = Figure(figsize=(WIDTH_IN, TOP_IN + BOTTOM_IN), layout="constrained")
    top, bottom = fig.subfigures(2, 1, height_ratios=[TOP_IN, BOTTOM_IN])
    lr_indices = sorted({0, result.lrs.size // 2, result.lrs.size - 1})
    axes = top.subplots(1, len(lr_indices))
    for i, (ax, s) in enumerate(zip(np.atleast_1d(axes), lr_indices)):
        _class_map(ax, result, s, ylabel=i == 0)
        ax.set_title(f"({'abc'[i]}) " + ax.get_title(), fontsize=9)
    shade = ScalarMappable(norm=LogNorm(*AMP_RANGE), cmap=_shade_cmap(colormaps[AMP_CMAP]))
    bar = top.colorbar(shade, ax=list(np.atleast_1d(axes)), shrink=0.85, pad=0.01)
    bar.set_label("cycle max|x| / α", fontsize=8)
    bar.ax.tick_params(labelsize=7)
    handles = [Patch(color=CLASS_COLORS[n], label=n) for n in CLASS_NAMES]
    top.legend(handles=handles, loc="outside upper center", ncols=len(handles), fontsize=8,
               frameon=False)
    ax_probe, ax_diag, ax_sweep = bottom.subplots(1, 3)
    im = _probe_panel(ax_probe, result)
    cb = bottom.colorbar(im, ax=ax_probe, pad=0.01)
    cb.set_label("log10 growth", fontsize=7)
    cb.ax.tick_params(labelsize=7)
    _diagonal_panel(ax_diag, result)
    _sweep_panel(ax_sweep, result)
    fig.suptitle(title, fontsize=11)
    return fig


def _shade_cmap(cmap):
    """The part of ``cmap`` that :func:`class_colors` uses (0.3 … 1), as its own colormap."""
    return ListedColormap(cmap(np.linspace(0.3, 1.0, 256)))


def draw_phase_figure(result, title: str, out_path, formats=("png",)) -> list[Path]:
    """Draw Figure 8 from a phase-map record and save it; returns the written paths.

    out_path: a file name (its suffix is replaced per format) or a folder (→ ``figure8.*``)
    formats:  any of "png", "pdf", "svg"; each is written under a temporary name and renamed
    """
    if Path(out_path).is_dir():
        out_path = Path(out_path) / "figure8"
    paths = _output_paths(out_path, formats)
    return save_figure(build_phase_figure(result, title), paths)
