"""``numpy-adam reproduce``: train the plan's runs, then draw the figures and the summary from
their records (never the other way round).

Each run lands in ``OUT/<name>/``. A finished run with the same settings is reused, an
interrupted one is resumed from its checkpoint, so a killed reproduction continues where it
stopped. CIFAR-10 is loaded once for all CNN runs.
"""
from __future__ import annotations

import json
import time
from pathlib import Path

from .summary import write_summary
from ..training.loop import CHECKPOINT, config_differences, train
from ..records import load_run
from .plan import (AVERAGING_FIGURE, AVERAGING_RUNS, AVERAGING_TITLE, FIGURE_TITLES,
                        SUMMARY_WARMUP, Experiment, plan)
from ..training.tasks import CifarData


def _existing(run_dir: Path, experiment: Experiment) -> str:
    """"finished", "partial" (a checkpoint to resume) or "new"."""
    summary, config = run_dir / "summary.json", run_dir / "config.json"
    if not config.exists():
        return "new"
    if config_differences(json.loads(config.read_text()), experiment.config):
        raise FileExistsError(f"{run_dir} holds a run with other settings; choose another --out "
                              "or remove it")
    if summary.exists() and json.loads(summary.read_text()).get("status") == "finished":
        return "finished"
    return "partial" if (run_dir / CHECKPOINT).exists() else "new"


def run_reproduction(mode: str, out, *, data_dir=None, seed: int = 0, formats=("png",),
                     quiet: bool = False) -> dict:
    """Train every run of ``plan(mode, seed)`` into ``out`` and write figure1-4 and summary.{md,json}.

    Returns {"figures": [paths], "summary": (json path, md path), "seconds": wall time}.
    """
    from numpy_adam.plots.averaging_figure import draw_averaging_figure
    from numpy_adam.plots.spread_figure import draw_spread_figure

    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    experiments = plan(mode, seed)
    began = time.perf_counter()
    data = None
    runs = {}
    for i, experiment in enumerate(experiments, 1):
        run_dir = out / experiment.name
        state = _existing(run_dir, experiment)
        if not quiet:
            print(f"[{i}/{len(experiments)}] {experiment.name}: {experiment.config.label} ({state})",
                  flush=True)
        if state == "finished":
            runs[experiment.name] = load_run(run_dir)
            continue
        if experiment.config.model == "cnn" and data is None:
            data = CifarData.load(data_dir)
        runs[experiment.name] = train(experiment.config, run_dir, data=data,
                                      resume=state == "partial", quiet=quiet)

    figures = []
    for figure, title in FIGURE_TITLES.items():
        members = [e for e in experiments if e.figure == figure]
        n_rows = max(e.row for e in members) + 1
        rows = [[runs[e.name] for e in members if e.row == r] for r in range(n_rows)]
        figures += draw_spread_figure(rows, title, out / f"{figure}.png", formats=formats)
    figures += draw_averaging_figure([runs[name] for name in AVERAGING_RUNS], AVERAGING_TITLE,
                                     out / f"{AVERAGING_FIGURE}.png", warmup=SUMMARY_WARMUP,
                                     formats=formats)
    summary = write_summary([runs[e.name] for e in experiments], out, stem="summary",
                            warmup=SUMMARY_WARMUP)
    seconds = time.perf_counter() - began
    if not quiet:
        print(f"figures: {', '.join(str(p) for p in figures)}\nsummary: {summary[1]}\n"
              f"done in {seconds:.0f} s")
    return {"figures": figures, "summary": summary, "seconds": seconds}
