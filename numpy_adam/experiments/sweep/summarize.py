"""``numpy-adam summarize SWEEP_DIR``: every point's numbers, seed averages and a figure.

For every point of the sweep (``sweep.json``) whose run finished, the reproduction's per-run
numbers (:func:`numpy_adam.experiments.summary.run_numbers`): final and test loss and
accuracy, panel (b)'s Pearson and Spearman correlation of the update with mean |m̂|, and
panel (c)'s distance of the update from 1/√(γ²+1) with its log–log correlation, under both
aggregations of γ (the note's layer relative spread and the element mean). Points that
differ only by their seed form a group with the mean ± sd (sample standard deviation, n − 1)
of each number over its seeds. Written into the sweep folder, each atomically:

* ``summary.md``: a table of every point (pending and failed ones with their state and
  error), then one of the seed groups;
* ``summary.json``: {"warmup", "swept", "x", "points": [{"name", "state", "error",
  "settings" (the swept ones), "numbers" (the table's), "run_numbers" (all of run_numbers;
  null with a "note" for a run it refuses, whose table numbers are then computed with the
  same measures directly)}],
  "groups": [{"settings", "seeds", "n", "mean", "sd"}]};
* ``sweep_figure.png`` (``plots/sweep_figure.py``): the groups' panel (b) and (c) numbers
  against the swept setting, with error bars.

The swept settings are those whose value differs between the sweep's points. The figure's
x axis is ``x`` when given, else the first swept setting (TrainConfig's field order) other
than the seed that is a number in every point, else the first swept setting other than the
seed; each combination of the remaining swept settings draws one line.

Correlations and curve fits leave out each run's first ``warmup`` steps (default
:data:`~numpy_adam.experiments.plan.SUMMARY_WARMUP`, the reproduction's, where SGD's heavy-ball
step still ramps up), at most half of the run's steps.
"""
from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

from ...records import load_run
from ...records.atomic import atomic_write_bytes, atomic_write_json
from ...training.errors import SettingsError
from ..plan import SUMMARY_WARMUP
from ..summary import run_numbers
from .runner import STATE_FILE, load_state
from .spec import FIELDS, UNNAMED, _canonical, point_from_settings

FIGURE_STEM = "sweep_figure"
METRICS = (("final_loss", "final loss"), ("test_loss", "test loss"),
           ("test_accuracy", "test accuracy"), ("pearson", "(b) Pearson r"),
           ("spearman", "(b) Spearman ρ"), ("residual_layer", "(c) residual, γ̄"),
           ("loglog_layer", "(c) log–log r, γ̄"), ("residual_element", "(c) residual, element mean"),
           ("loglog_element", "(c) log–log r, element mean"))


def table_numbers(numbers: dict) -> dict:
    """The summary table's numbers from one run's :func:`run_numbers`."""
    layer, element = numbers["panel_c"]["layer"], numbers["panel_c"]["element"]
    return {"final_loss": numbers["final_loss"], "test_loss": numbers["test_loss"],
            "test_accuracy": numbers["test_accuracy"],
            "pearson": numbers["pearson_update_vs_mean_abs_m"],
            "spearman": numbers["spearman_update_vs_mean_abs_m"],
            "residual_layer": layer["relative_residual"], "loglog_layer": layer["loglog_pearson"],
            "residual_element": element["relative_residual"],
            "loglog_element": element["loglog_pearson"]}


def direct_numbers(run, warmup: int) -> dict:
    """The table's numbers computed with run_numbers' own measures, for a run it refuses (it
    raises ValueError for a noisy quadratic of more than one element, whose steady-state
    measures need one)."""
    from ...records import aggregate, relative_spread
    from ..analysis import curve_fit, pearson, spearman

    update, m = aggregate(run, "update")[warmup:], aggregate(run, "mean_abs_m")[warmup:]
    fits = {a: curve_fit(relative_spread(run, a)[warmup:], update) for a in ("layer", "element")}
    final = run.summary.get("final_loss")
    if final is None and run.metrics["loss"].size:
        final = float(run.metrics["loss"][-1])
    return table_numbers({"final_loss": final, "test_loss": run.summary.get("test_loss"),
                          "test_accuracy": run.summary.get("test_accuracy"),
                          "pearson_update_vs_mean_abs_m": pearson(m, update),
                          "spearman_update_vs_mean_abs_m": spearman(m, update), "panel_c": fits})


def _finite(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def mean_sd(values) -> tuple[float | None, float | None]:
    """Mean and sample sd (n − 1) of the finite values; sd None below two, both None at none."""
    finite = np.array([float(v) for v in values if _finite(v)])
    if finite.size == 0:
        return None, None
    return float(finite.mean()), float(finite.std(ddof=1)) if finite.size > 1 else None


def swept_settings(settings: list[dict]) -> list[str]:
    """The settings (field order) whose value differs between points (label, extra left out)."""
    return [k for k in FIELDS if k not in UNNAMED
            and len({json.dumps(s.get(k), sort_keys=True) for s in settings}) > 1]


def default_x(swept: list[str], settings: list[dict]) -> str | None:
    rest = [k for k in swept if k != "seed"]
    for key in rest:
        if all(isinstance(s.get(key), (int, float)) and not isinstance(s.get(key), bool)
               for s in settings):
            return key
    return rest[0] if rest else None


def seed_groups(rows: list[dict], swept: list[str]) -> list[dict]:
    """Finished points grouped by their swept settings apart from the seed, in first-seen
    order, with each number's mean and sd over the group."""
    groups: dict = {}
    for row in rows:
        if row.get("numbers") is None:
            continue
        key = {k: row["settings"][k] for k in swept if k != "seed"}
        groups.setdefault(json.dumps(key, sort_keys=True), (key, []))[1].append(row)
    out = []
    for key, members in groups.values():
        stats = {m: mean_sd([r["numbers"][m] for r in members]) for m, _ in METRICS}
        out.append({"settings": key, "seeds": [r["seed"] for r in members], "n": len(members),
                    "mean": {m: s[0] for m, s in stats.items()},
                    "sd": {m: s[1] for m, s in stats.items()}})
    return out


def _fmt(value, digits: int = 3) -> str:
    if not _finite(value):
        return "—"
    return str(int(value)) if isinstance(value, int) else f"{float(value):.{digits}g}"


def _shown(value) -> str:
    if isinstance(value, list):
        return "(" + ", ".join(_shown(v) for v in value) + ")"
    return (f"{value:g}" if isinstance(value, float) else str(value)).replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows])


def to_markdown(name: str, rows: list[dict], groups: list[dict], swept: list[str],
                warmup: int) -> str:
    settings = swept or ["(one point)"]
    header = ["run", *settings, "state", *[label for _, label in METRICS]]
    body = []
    for row in rows:
        values = [_shown(row["settings"].get(k)) for k in swept] or ["—"]
        numbers = row.get("numbers") or {}
        cells = [_fmt(numbers.get(m)) for m, _ in METRICS]
        state = row["state"] if row["state"] != "failed" else f"failed: {row['error']}"
        body.append([f"`{row['name']}`", *values, _shown(state), *cells])
    parts = [f"# Sweep {name}", f"{len(rows)} points, swept: {', '.join(swept) or 'nothing'}. "
             f"Correlations and curve fits leave out each run's first {warmup} steps (at most "
             "half of the run). (b): correlation over steps of the update |Δθ|/α with mean "
             "\\|m̂\\|; (c): mean over steps of \\|U − 1/√(γ²+1)\\|/U and the log–log "
             "correlation of U with the curve, for γ̄ = mean σ̂/mean \\|m̂\\| and for the element "
             "mean of σ̂/\\|m̂\\|.", _table(header, body)]
    multi = [g for g in groups if g["n"] > 1]
    if multi:
        rest = [k for k in swept if k != "seed"] or ["(all)"]
        header = [*rest, "seeds", *[label for _, label in METRICS]]
        body = []
        for g in multi:
            cells = [f"{_fmt(g['mean'][m])} ± {_fmt(g['sd'][m], 2)}" if g["sd"][m] is not None
                     else _fmt(g["mean"][m]) for m, _ in METRICS]
            values = [_shown(g["settings"].get(k)) for k in swept if k != "seed"] or ["all"]
            body.append([*values, f"{g['n']} ({', '.join(map(str, g['seeds']))})", *cells])
        parts += ["## Over seeds: mean ± sd (n − 1)", _table(header, body)]
    else:
        parts.append("No two points differ only by their seed: no seed averages.")
    return "\n\n".join(parts) + "\n"


def summarize_sweep(sweep_dir, *, warmup: int = SUMMARY_WARMUP, x: str | None = None,
                    formats=("png",)) -> dict:
    """Write summary.md, summary.json and the figure into ``sweep_dir`` (module docstring).

    returns: {"markdown": path, "json": path, "figures": [paths] ([] with no finished point),
              "points": n, "finished": n}
    """
    out = Path(sweep_dir)
    if not (out / STATE_FILE).is_file():
        raise FileNotFoundError(f"{out / STATE_FILE} does not exist: {out} is not a sweep folder "
                                "(numpy-adam sweep --out DIR makes one)")
    if isinstance(warmup, bool) or not isinstance(warmup, int) or warmup < 0:
        raise SettingsError(f"--warmup must be an integer >= 0, got {warmup!r}")
    load_state(out)  # checks the file
    saved = json.loads((out / STATE_FILE).read_text(encoding="utf-8"))["points"]
    configs = [point_from_settings(p["settings"], f"{out / STATE_FILE}, point {p['name']}").config
               for p in saved]
    full = [{k: _canonical(k, v) for k, v in c.to_json().items()} for c in configs]
    swept = swept_settings(full)
    if x is not None:
        x = x.replace("-", "_")
        if x not in swept:
            raise SettingsError(f"--x {x}: not a swept setting of {out} (swept: "
                                f"{', '.join(swept) or 'none'})")
    rows = []
    for p, settings in zip(saved, full):
        row = {"name": p["name"], "state": p["state"], "error": p.get("error"),
               "settings": {k: settings[k] for k in swept}, "seed": settings["seed"],
               "numbers": None, "run_numbers": None}
        if p["state"] == "finished":
            run = load_run(out / p["name"])
            skip = min(warmup, int(run.metrics["step"].size) // 2)
            try:
                row["run_numbers"] = run_numbers(run, skip)
                row["numbers"] = table_numbers(row["run_numbers"])
            except ValueError as error:
                row["numbers"], row["note"] = direct_numbers(run, skip), str(error)
        rows.append(row)
    groups = seed_groups(rows, swept)
    x = x if x is not None else default_x(swept, full)
    md = atomic_write_bytes(out / "summary.md",
                            to_markdown(out.name, rows, groups, swept, warmup).encode("utf-8"))
    js = atomic_write_json(out / "summary.json", {
        "warmup": warmup, "swept": swept, "x": x, "groups": groups,
        "points": [{k: v for k, v in r.items() if k != "seed"} for r in rows]})
    figures = []
    if groups:
        from numpy_adam.plots.sweep_figure import draw_sweep_figure

        figures = draw_sweep_figure(groups, x, out / FIGURE_STEM, formats=formats,
                                    title=f"Sweep {out.name}: seed-averaged statistics"
                                          + (f" against {x}" if x else ""))
    return {"markdown": md, "json": js, "figures": figures, "points": len(rows),
            "finished": sum(r["numbers"] is not None for r in rows)}
