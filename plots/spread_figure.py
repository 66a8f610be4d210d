"""The note's figure: how Adam's and SGD's update sizes relate to the gradient's mean and spread.

One row per batch size, three panels per row, drawn from run records only (never trains):

(a) training loss vs step (log y when the loss spans decades; noisy mini-batch losses are
    drawn faint with a moving average on top);
(b) update size |Δθ|/α vs mean |m̂|: SGD's step is α·b and, for heavy-ball momentum μ = β1,
    b_t = m_t/(1−β1) = m̂_t (1−β1^t)/(1−β1), so after the warm-up its dots lie on a line
    through the origin; Adam's do not;
(c) update size vs relative spread, with the dotted curve 1/√(γ²+1) — Adam's per-element
    step for β1 = β2 (ε → 0). By default the relative spread is the note's layer relative
    spread γ̄ = mean σ̂ / mean |m̂| per tensor, averaged over tensors; ``gamma="element"``
    plots the element mean of σ̂/|m̂| over each tensor's sampled elements instead (see
    :mod:`numpy_adam.optim.stats` for why the two differ, and ``plots.averaging_figure`` for
    the picture). The axis label names the aggregation shown.

Every other value is the run record's tensor aggregate (per-step mean over each tracked
tensor's elements, then over tensors: :func:`numpy_adam.records.aggregate`). Each run has its own marker and sequential colormap, dots coloured by step,
one colorbar per run: Adam circles in blues, SGD triangles in oranges. Each quantity has one
scale across all rows (:func:`figure_scales`): logarithmic when its data span more than
``LOG_SPAN``, with a floor that keeps outliers and runaway decays from squeezing the rest
(see :class:`AxisScale`; points ≤ 0 or below the floor are left out).

Only matplotlib's object API (``Figure`` + Agg canvas) is used: no pyplot, no global state.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import matplotlib
import numpy as np
from matplotlib.colors import LinearSegmentedColormap, Normalize
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from numpy_adam.records import (GAMMA_AGGREGATIONS, GAMMA_LABELS, RecordError, Run, aggregate,
                                load_run, relative_spread)

FORMATS = ("png", "pdf", "svg")
LOG_SPAN = 30.0  # max/min ratio above which an axis goes logarithmic
LOG_DECADES_MAX = 14  # a log axis shows at most this many decades below its largest value
MAX_POINTS = 4000  # scatter points per run; longer runs are thinned evenly (first/last kept)
ROW_HEIGHT_IN, WIDTH_IN, DPI = 3.0, 9.0, 120
OPTIMIZER_ORDER = {"adam": 0, "adamw": 1, "sgd": 2}

# (marker, colormap, line colour); Adam-family runs prefer style 0, SGD style 1.
STYLES = (("o", "Blues", "#1f5fa8"), ("^", "Oranges", "#c85a0a"),
          ("s", "Greens", "#23803a"), ("D", "Purples", "#5e3c99"))
PREFERENCE = {"adam": (0, 2, 3, 1), "adamw": (2, 0, 3, 1), "sgd": (1, 3, 2, 0)}

FOOTNOTES = {
    "layer": ("Dots: per-step means over each tracked tensor's elements, then over tensors; in "
              "(c) each tensor's γ̄ = mean σ̂ / mean |m̂| (the note's aggregation). Dotted: "
              "1/√(γ²+1), Adam's per-element step for β1 = β2 (ε → 0). SGD's m̂, v̂ come from a "
              "passive probe with the Adam run's (β1, β2)."),
    "element": ("Dots: per-step means over each tracked tensor's elements, then over tensors; in "
                "(c) the element mean of γ = σ̂/|m̂| over each tensor's sampled elements, which "
                "elements with |m̂| ≈ 0 dominate, so dots leave the curve even where every "
                "element lies on it. Dotted: 1/√(γ²+1), Adam's per-element step for β1 = β2 "
                "(ε → 0). SGD's m̂, v̂ come from a passive probe with the Adam run's (β1, β2)."),
}


def short_name(run: Run) -> str:
    """"Adam", "AdamW", "SGD" or, for SGD without momentum, "GD"; with the learning-rate
    schedule in brackets when it is not constant ("Adam (cosine)")."""
    opt = str(run.config.get("optimizer", "?")).lower()
    if opt == "sgd":
        name = "SGD" if float(run.config.get("momentum") or 0.0) > 0 else "GD"
    else:
        name = {"adam": "Adam", "adamw": "AdamW"}.get(opt, opt)
    schedule = run.config.get("lr_schedule", "constant")
    return name if schedule == "constant" else f"{name} ({schedule})"


def _style_table(row: list[Run]) -> list[tuple[str, str, str]]:
    taken: set[int] = set()
    styles = []
    for run in row:
        prefs = PREFERENCE.get(str(run.config.get("optimizer")).lower(), (0, 1, 2, 3))
        free = [i for i in prefs if i not in taken] or [len(styles) % len(STYLES)]
        taken.add(free[0])
        styles.append(STYLES[free[0]])
    return styles


def _cmap(name: str) -> LinearSegmentedColormap:
    """The named sequential colormap without its near-white start (early steps stay visible)."""
    base = matplotlib.colormaps[name]
    return LinearSegmentedColormap.from_list(f"{name}_dark", base(np.linspace(0.3, 1.0, 256)))


def _thin(n: int, max_points: int = MAX_POINTS) -> np.ndarray:
    """Evenly spaced indices into range(n), at most ``max_points``, first and last included."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_points).round().astype(np.int64))


def _positive(*series: np.ndarray) -> np.ndarray:
    values = np.concatenate([np.asarray(s, dtype=np.float64).ravel() for s in series])
    return values[np.isfinite(values) & (values > 0)]


@dataclass(frozen=True)
class AxisScale:
    """How one quantity is shown in every row of a figure.

    log:   logarithmic axis (the positive data span more than LOG_SPAN)
    floor: smallest value a log axis shows (−inf for a linear axis): at most
           LOG_DECADES_MAX decades below the largest value and, for scatter quantities, a
           decade below their 1st percentile — so a lone near-zero outlier (γ at step 1,
           where v̂ − m̂² is 0 up to rounding) or GD's loss running to 1e-300 does not squeeze
           everything else into a corner. Values below the floor leave the axis.
    """

    log: bool
    floor: float

    @classmethod
    def of(cls, series, robust: bool) -> "AxisScale":
        values = _positive(*series)
        if values.size < 2 or values.max() / values.min() <= LOG_SPAN:
            return cls(False, -np.inf)
        floor = max(float(values.min()), float(values.max()) / 10.0 ** LOG_DECADES_MAX)
        if robust:
            floor = max(floor, float(np.percentile(values, 1.0)) / 10.0)
        return cls(True, floor)

    def shown(self, values: np.ndarray) -> np.ndarray:
        """Boolean mask of the values this axis can show."""
        ok = np.isfinite(values)
        return ok & (values >= self.floor) if self.log else ok

    def apply(self, ax, which: str) -> None:
        if self.log:
            (ax.set_xscale if which == "x" else ax.set_yscale)("log")


def panel_series(run: Run, key: str, gamma: str = "layer") -> np.ndarray:
    """The (T,) per-step series a panel plots: the relative spread under aggregation
    ``gamma`` for key "gamma", else :func:`~numpy_adam.records.aggregate` of the key."""
    return relative_spread(run, gamma) if key == "gamma" else aggregate(run, key)


def figure_scales(rows: list[list[Run]], gamma: str = "layer") -> dict[str, AxisScale]:
    """One :class:`AxisScale` per plotted quantity, shared by all rows (rows compare)."""
    runs = [run for row in rows for run in row]
    scales = {"loss": AxisScale.of([r.metrics["loss"] for r in runs], robust=False)}
    for key in ("mean_abs_m", "gamma", "update"):
        scales[key] = AxisScale.of([panel_series(r, key, gamma) for r in runs], robust=True)
    return scales


def _moving_average(y: np.ndarray, window: int) -> np.ndarray:
    """Centred moving average of (T,) y over ``window`` points, (T − window + 1,)."""
    kernel = np.full(window, 1.0 / window)
    return np.convolve(y, kernel, mode="valid")


def _draw_loss(ax, row: list[Run], styles, scale: AxisScale) -> None:
    for run, (_, _, color) in zip(row, styles):
        step = run.metrics["step"]
        loss = np.asarray(run.metrics["loss"], dtype=np.float64)
        if scale.log:
            loss = np.where(loss > 0, loss, np.nan)
        noisy = run.config.get("model") != "quadratic" and loss.size >= 200
        ax.plot(step, loss, color=color, lw=0.5 if noisy else 1.0, alpha=0.25 if noisy else 1.0)
        if noisy:  # mini-batch losses: a moving average over 2 % of the run on top
            w = max(2, loss.size // 50)
            ax.plot(step[w // 2: w // 2 + loss.size - w + 1], _moving_average(loss, w),
                    color=color, lw=1.4)
    scale.apply(ax, "y")
    shown = _positive(*[r.metrics["loss"] for r in row])
    if scale.log and shown.size:  # limits from the shown data only (GD's decay leaves the axis)
        top = float(shown.max())
        bottom = max(scale.floor, float(shown.min()))
        pad = (top / bottom) ** 0.05
        ax.set_ylim(bottom / pad, top * pad)
    ax.set_xlabel("step")
    ax.set_ylabel("training loss")


def _scatter_panel(ax, row, styles, norms, x_key: str, scales: dict, gamma: str) -> list:
    x_scale, y_scale = scales[x_key], scales["update"]
    xs = [panel_series(r, x_key, gamma) for r in row]
    mappables = []
    for run, x, (marker, cmap, _), norm in zip(row, xs, styles, norms):
        y = aggregate(run, "update")
        idx = _thin(run.metrics["step"].size)
        idx = idx[(x_scale.shown(x) & y_scale.shown(y))[idx]]
        mappables.append(ax.scatter(x[idx], y[idx], c=run.metrics["step"][idx], cmap=_cmap(cmap),
                                    norm=norm, marker=marker, s=7, linewidths=0, alpha=0.75,
                                    rasterized=True))
    x_scale.apply(ax, "x")
    y_scale.apply(ax, "y")
    if x_key == "gamma":  # Adam's per-element step as a function of γ, over the data's γ range
        shown = np.concatenate([x[x_scale.shown(x)] for x in xs])
        if shown.size:
            lo, hi = min(shown.min(), 0.1), shown.max()  # from γ = 0.1 at least: show the knee
            grid = (np.geomspace(lo, hi, 300) if x_scale.log
                    else np.linspace(min(lo, 0.0), hi, 300))
            ax.plot(grid, 1.0 / np.sqrt(grid * grid + 1.0), ls=":", color="black", lw=1.5,
                    label="1/√(γ²+1)")
            ax.legend(loc="best", fontsize=7, frameon=False)
        ax.set_xlabel(GAMMA_LABELS[gamma], fontsize=8)
    else:
        ax.set_xlabel("mean |m̂|")
    ax.set_ylabel("update size |Δθ|/α")
    return mappables


def _draw_row(subfig, row: list[Run], label: str, scales: dict, gamma: str) -> None:
    styles = _style_table(row)
    n = len(row)
    axes = subfig.subplots(1, 3 + n, gridspec_kw={"width_ratios": [1, 1, 1] + [0.05] * n})
    ax_loss, ax_m, ax_gamma, caxes = axes[0], axes[1], axes[2], axes[3:]
    norms = [Normalize(float(r.metrics["step"].min()), float(r.metrics["step"].max()))
             if r.metrics["step"].size else Normalize(0, 1) for r in row]
    _draw_loss(ax_loss, row, styles, scales["loss"])
    _scatter_panel(ax_m, row, styles, norms, "mean_abs_m", scales, gamma)
    mappables = _scatter_panel(ax_gamma, row, styles, norms, "gamma", scales, gamma)
    ax_loss.set_title("(a) loss", fontsize=9)
    ax_m.set_title("(b) update size vs mean |m̂|", fontsize=9)
    ax_gamma.set_title("(c) update size vs spread γ", fontsize=9)
    handles = [Line2D([], [], color=c, marker=m, lw=1.2, ms=5, label=r.label)
               for r, (m, _, c) in zip(row, styles)]
    subfig.legend(handles=handles, fontsize=8, frameon=False, loc="outside upper right",
                  ncols=len(handles))
    for cax, mappable, run in zip(caxes, mappables, row):
        cbar = subfig.colorbar(mappable, cax=cax)
        cbar.solids.set_alpha(1.0)
        cbar.set_label(f"{short_name(run)} step", fontsize=8, labelpad=1)
        cbar.ax.tick_params(labelsize=7)
    subfig.suptitle(label, fontsize=10, fontweight="bold", x=0.01, ha="left")


def default_row_label(row: list[Run]) -> str:
    """"batch B" from the runs' config, or "full batch" for the quadratic."""
    run = row[0]
    if run.config.get("model") == "quadratic":
        return "f(x) = x², full batch"
    return f"batch {run.config.get('batch_size')}"


def build_spread_figure(rows: list[list[Run]], title: str, row_labels=None,
                        footnote: bool = True, gamma: str = "layer") -> Figure:
    """The figure as a matplotlib ``Figure`` (see :func:`draw_spread_figure`).

    Axes: per row 3 panels + one colorbar per run, so len(fig.axes) = Σ_rows (3 + runs).
    """
    if gamma not in GAMMA_AGGREGATIONS:
        raise ValueError(f"gamma must be one of {GAMMA_AGGREGATIONS}, got {gamma!r}")
    if not rows or not all(isinstance(row, (list, tuple)) and row for row in rows):
        raise ValueError("rows must be a non-empty list of non-empty lists of Run")
    for r, row in enumerate(rows):
        for i, run in enumerate(row):
            if not isinstance(run, Run):
                raise TypeError(f"rows[{r}][{i}] must be a Run (numpy_adam.records.load_run), "
                                f"got {type(run).__name__}")
    if row_labels is None:
        row_labels = [default_row_label(list(row)) for row in rows]
    if len(row_labels) != len(rows):
        raise ValueError(f"row_labels has {len(row_labels)} entries, rows has {len(rows)}")
    fig = Figure(figsize=(WIDTH_IN, ROW_HEIGHT_IN * len(rows) + 0.6), dpi=DPI,
                 layout="constrained")
    subfigs = fig.subfigures(len(rows), 1, squeeze=False)[:, 0]
    scales = figure_scales(rows, gamma)
    for subfig, row, label in zip(subfigs, rows, row_labels):
        _draw_row(subfig, list(row), str(label), scales, gamma)
    fig.suptitle(title, fontsize=11)
    if footnote:
        fig.supxlabel(FOOTNOTES[gamma], fontsize=7, wrap=True)
    return fig


def _output_paths(out_path, formats) -> list[Path]:
    formats = tuple(formats)
    bad = [f for f in formats if f not in FORMATS]
    if bad or not formats:
        raise ValueError(f"formats must be a non-empty subset of {FORMATS}, got {formats}")
    out = Path(out_path)
    if out.is_dir():
        out = out / "spread_figure"
    if out.suffix.lower() in tuple(f".{f}" for f in FORMATS):
        out = out.with_suffix("")
    if not out.parent.is_dir():
        raise FileNotFoundError(f"output folder {out.parent} does not exist")
    return [out.parent / f"{out.name}.{fmt}" for fmt in formats]


def draw_spread_figure(rows: list[list[Run]], title: str, out_path, row_labels=None,
                       formats=("png",), gamma: str = "layer") -> list[Path]:
    """Draw the spread figure from run records and save it.

    rows:       one list of runs per row (e.g. [[adam_b16, sgd_b16], [adam_b100, sgd_b100]]
                for the CNN, [[adam, gd]] for the quadratic)
    title:      figure title
    out_path:   output file ("fig1.png" → fig1.png / fig1.pdf per format) or an existing
                folder (→ folder/spread_figure.<fmt>); the folder must exist
    row_labels: one label per row; default "batch B" from the first run's config
    formats:    any of "png", "pdf", "svg"
    gamma:      aggregation of the relative spread in panel (c): "layer" (the note's γ̄)
                or "element" (the element mean of σ̂/|m̂|)
    returns:    the written paths, in ``formats`` order

    Files are written in place by matplotlib (render to a temp name, then rename, so a
    crash never leaves half a PNG).
    """
    paths = _output_paths(out_path, formats)
    return save_figure(build_spread_figure(rows, title, row_labels, gamma=gamma), paths)


def save_figure(fig: Figure, paths: list[Path]) -> list[Path]:
    """Save ``fig`` to every path (format from the suffix), each rendered to a temporary
    name and renamed, so a crash never leaves half a file."""
    for path in paths:
        tmp = path.with_name(f".{path.name}.partial")
        try:
            fig.savefig(tmp, format=path.suffix[1:], dpi=DPI)
            tmp.replace(path)
        finally:
            tmp.unlink(missing_ok=True)
    return paths


def group_rows(runs: list[Run]) -> list[list[Run]]:
    """Runs grouped into rows by config batch_size (ascending), Adam before SGD in a row."""
    by_batch: dict = {}
    for run in runs:
        by_batch.setdefault(run.config.get("batch_size"), []).append(run)
    rows = []
    for batch in sorted(by_batch, key=lambda b: (b is None, b if isinstance(b, (int, float)) else 0)):
        rows.append(sorted(by_batch[batch], key=lambda r: (
            OPTIMIZER_ORDER.get(str(r.config.get("optimizer")).lower(), 9), r.label)))
    return rows


def describe_runs(runs: list[Run]) -> str:
    """A default title: the model and each distinct optimizer setting, e.g.
    "CIFAR-10 CNN: Adam β1=0.99, β2=0.99 vs SGD momentum 0.99"."""
    models = sorted({str(r.config.get("model")) for r in runs})
    model = ", ".join({"cnn": "CIFAR-10 CNN", "quadratic": "f(x) = x²"}.get(m, m) for m in models)
    parts = []
    for run in sorted(runs, key=lambda r: OPTIMIZER_ORDER.get(str(r.config.get("optimizer")), 9)):
        name, cfg = short_name(run), run.config
        base = name.split(" (")[0]
        if base in ("Adam", "AdamW"):
            text = f"{name} β1={cfg.get('beta1')}, β2={cfg.get('beta2')}"
        elif base == "SGD":
            text = f"{name} momentum {cfg.get('momentum')}"
        else:
            text = name
        if text not in parts:
            parts.append(text)
    return f"{model}: " + " vs ".join(parts)


def main(run_dirs, out, title=None, formats=("png",), gamma="layer") -> list[Path]:
    """``numpy-adam plot RUN…``: load the runs, group rows by batch size, draw, save.

    run_dirs: run directories; out: output path (see :func:`draw_spread_figure`);
    title: default :func:`describe_runs`; gamma: panel (c)'s aggregation;
    returns the written paths.
    """
    runs = [load_run(d, require_summary=False) for d in run_dirs]
    if not runs:
        raise ValueError("plot: give at least one run directory")
    for run in runs:
        if run.metrics["step"].size == 0:
            status = run.summary.get("message") or run.summary.get("status") or "unfinished"
            raise RecordError(f"{run.path} has no recorded steps to plot ({status})")
    return draw_spread_figure(group_rows(runs), title or describe_runs(runs), out,
                              formats=formats, gamma=gamma)

