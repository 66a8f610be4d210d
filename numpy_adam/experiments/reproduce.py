"""``numpy-adam reproduce``: train the plan's runs, then draw the figures and the summary from
their records (never the other way round).

Each run lands in ``OUT/<name>/``. A finished run with the same settings is reused, an
interrupted one is resumed from its checkpoint, so a killed reproduction continues where it
stopped. With ``jobs=1`` the runs go one after another in this process and CIFAR-10 is loaded
once for all CNN runs; with ``jobs > 1`` the runs are independent points of a sweep on the
sweep's local process pool (:mod:`.sweep.executors`: ``jobs`` spawned workers, the cores
divided among them, each loading CIFAR-10 once), longest first so that the last run to
finish is a short one; the figures and the summary follow once every run is done.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

from .summary import write_summary
from ..training.loop import CHECKPOINT, config_differences, train
from ..records import load_run
from .plan import (AVERAGING_FIGURE, AVERAGING_RUNS, AVERAGING_TITLE, FIGURE_TITLES,
                   SOURCES_FIGURE, SOURCES_RUNS, SOURCES_TITLE, SUMMARY_WARMUP, Experiment, plan)
from ..training.tasks import CifarData
from .noise_plan import FIGURE as NOISE_FIGURE
from .noise_plan import TITLE as NOISE_TITLE
from .one_axis import FIGURE as ONE_AXIS_FIGURE
from .one_axis import TITLE as ONE_AXIS_TITLE
from .one_axis import WARMUP as ONE_AXIS_WARMUP
from .one_axis_numbers import one_axis_numbers
from .one_axis_report import one_axis_markdown
from .phase_map import load_phase_map, phase_map, save_phase_map
from .phase_map import summary as phase_summary
from .phase_report import phase_markdown

PHASE_FIGURE = "figure8"
PHASE_TITLE = "Figure 8: where Adam stops converging on f(x) = x² (full batch, x0 = 1)"

CIFAR_TRAIN, CIFAR_TEST = 50000, 10000  # images: the run length of an epoch, the evaluation


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


def _estimated_seconds(config) -> float:
    """A rough cost of a run (ms per step from the README's measurements on 2 cores), only to
    start the longest runs first."""
    if config.model != "cnn":
        return 0.3e-3 * config.steps
    steps = config.steps or math.ceil(config.epochs * CIFAR_TRAIN / config.batch_size)
    per_step = 1.5e-3 + 0.7e-3 * config.batch_size
    # --batch-spread: Figure 1's Adam runs took 2.9× (batch 100) and 3.2× (batch 16) as long as
    # Figure 2's in a --full run with the fast probe
    return steps * per_step * (3.0 if config.batch_spread else 1.0) + 0.7e-3 * CIFAR_TEST


def _run_in_parallel(experiments: list[Experiment], out: Path, jobs: int, data_dir,
                     quiet: bool) -> tuple[dict, Exception | None]:
    """The ``jobs > 1`` path: every unfinished run through the sweep's local pool; returns
    ({name: Run} of the finished runs, the missing-data error or None)."""
    from numpy_adam.datasets.cifar10 import load_cifar10
    from numpy_adam.datasets.errors import DatasetNotFoundError

    from .sweep.executors import LocalPool
    from .sweep.runner import Entry, SweepFailed, execute

    states = {e.name: _existing(out / e.name, e) for e in experiments}
    no_data = None
    if any(states[e.name] != "finished" and e.config.model == "cnn" for e in experiments):
        try:
            load_cifar10(data_dir, split="test")  # present, or downloaded here once
        except DatasetNotFoundError as error:
            no_data = error
    todo = [Entry(e.name, e.config, out / e.name) for e in experiments
            if states[e.name] != "finished" and not (no_data and e.config.model == "cnn")]
    todo.sort(key=lambda entry: -_estimated_seconds(entry.config))
    if todo:
        with LocalPool(jobs) as pool:
            if not quiet:
                print(f"{len(todo)} of {len(experiments)} runs to make, on {pool.describe()}",
                      flush=True)
            execute(todo, pool, data_dir=data_dir, quiet=quiet, desc="reproduce")
    failed = [e for e in todo if e.state != "finished"]
    if failed:
        listed = "; ".join(f"{e.name}: {e.error_type}: {e.error}" for e in failed)
        raise SweepFailed(f"{len(failed)} of the reproduction's runs failed ({listed}); the "
                          "others are kept: run the reproduction again once the cause is fixed")
    runs = {e.name: load_run(out / e.name) for e in experiments
            if states[e.name] == "finished" or any(t.name == e.name for t in todo)}
    return runs, no_data


def run_reproduction(mode: str, out, *, data_dir=None, seed: int = 0, formats=("png",),
                     quiet: bool = False, jobs: int = 1) -> dict:
    """Train every run of ``plan(mode, seed)`` into ``out`` and write figures 1–8 and summary.{md,json}.

    Without CIFAR-10 (not found, and no download possible) the CNN runs are skipped and
    everything that needs no data is still drawn (Figure 3 and its summary rows).
    jobs: runs at once; 1 runs them one after another here, more on the sweep's local pool.

    Returns {"figures": [paths], "summary": (json path, md path), "seconds": wall time,
    "skipped": {"runs": [names], "figures": [names], "reason": str} or None}.
    """
    from numpy_adam.datasets.errors import DatasetNotFoundError
    from numpy_adam.plots.averaging_figure import draw_averaging_figure
    from numpy_adam.plots.noise_figure import draw_noise_figure
    from numpy_adam.plots.one_axis_figure import draw_one_axis_figure
    from numpy_adam.plots.phase_figure import draw_phase_figure
    from numpy_adam.plots.sources_figure import draw_sources_figure
    from numpy_adam.plots.spread_figure import draw_spread_figure

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    experiments = plan(mode, seed)
    began = time.perf_counter()
    data, no_data = None, None
    runs = {}
    if jobs > 1:
        runs, no_data = _run_in_parallel(experiments, out.absolute(), jobs, data_dir, quiet)
    for i, experiment in enumerate(experiments if jobs == 1 else (), 1):
        run_dir = out / experiment.name
        state = _existing(run_dir, experiment)
        if state != "finished" and experiment.config.model == "cnn" and data is None \
                and no_data is None:
            try:
                data = CifarData.load(data_dir)
            except DatasetNotFoundError as error:
                no_data = error
        if state != "finished" and experiment.config.model == "cnn" and no_data is not None:
            state = "skipped: no CIFAR-10"
        if not quiet:
            print(f"[{i}/{len(experiments)}] {experiment.name}: {experiment.config.label} ({state})",
                  flush=True)
        if state == "finished":
            runs[experiment.name] = load_run(run_dir)
        elif not state.startswith("skipped"):
            runs[experiment.name] = train(experiment.config, run_dir, data=data,
                                          resume=state == "partial", quiet=quiet)

    figures, missing = [], []
    for figure, title in FIGURE_TITLES.items():
        members = [e for e in experiments if e.figure == figure]
        if not all(e.name in runs for e in members):
            missing.append(figure)
            continue
        n_rows = max(e.row for e in members) + 1
        rows = [[runs[e.name] for e in members if e.row == r] for r in range(n_rows)]
        figures += draw_spread_figure(rows, title, out / f"{figure}.png", formats=formats)
    if all(name in runs for name in AVERAGING_RUNS):
        figures += draw_averaging_figure([runs[name] for name in AVERAGING_RUNS],
                                         AVERAGING_TITLE, out / f"{AVERAGING_FIGURE}.png",
                                         warmup=SUMMARY_WARMUP, formats=formats)
    else:
        missing.append(AVERAGING_FIGURE)
    if all(name in runs for name in SOURCES_RUNS):
        figures += draw_sources_figure([runs[name] for name in SOURCES_RUNS], SOURCES_TITLE,
                                       out / f"{SOURCES_FIGURE}.png", warmup=SUMMARY_WARMUP,
                                       formats=formats)
    else:
        missing.append(SOURCES_FIGURE)
    noise = [runs[e.name] for e in experiments if e.figure == NOISE_FIGURE]
    figures += draw_noise_figure(noise, NOISE_TITLE, out / f"{NOISE_FIGURE}.png", formats=formats)
    sections = []
    axis = {e.name: runs[e.name] for e in experiments
            if e.figure == ONE_AXIS_FIGURE and e.name in runs}
    if axis and len(axis) == sum(e.figure == ONE_AXIS_FIGURE for e in experiments):
        # the warm-up left out: WARMUP steps, at most half of a (test-sized) run
        warmup = min(ONE_AXIS_WARMUP, min(r.metrics["step"].size for r in axis.values()) // 2)
        figures += draw_one_axis_figure(list(axis.values()), ONE_AXIS_TITLE,
                                        out / f"{ONE_AXIS_FIGURE}.png", formats=formats,
                                        warmup=warmup)
        axis_numbers = one_axis_numbers(axis, warmup=warmup)
        sections.append(("one_axis", axis_numbers, one_axis_markdown(axis_numbers)))
    else:
        missing.append(ONE_AXIS_FIGURE)
    # The x² phase map needs no data and takes seconds (one vectorised run); Figure 8 is drawn
    # from its saved record, like every other figure.
    phase = load_phase_map(save_phase_map(phase_map(mode), out / "phase_map.npz"))
    figures += draw_phase_figure(phase, PHASE_TITLE, out / f"{PHASE_FIGURE}.png", formats=formats)
    phase_numbers = phase_summary(phase)
    sections.append(("phase_map", phase_numbers, phase_markdown(phase_numbers)))
    summary = write_summary([runs[e.name] for e in experiments if e.name in runs], out,
                            stem="summary", warmup=SUMMARY_WARMUP, sections=sections)
    seconds = time.perf_counter() - began
    skipped = None
    if no_data is not None:
        skipped = {"runs": [e.name for e in experiments if e.name not in runs],
                   "figures": missing, "reason": str(no_data)}
    if not quiet:
        print(f"figures: {', '.join(str(p) for p in figures)}\nsummary: {summary[1]}\n"
              f"done in {seconds:.0f} s")
    return {"figures": figures, "summary": summary, "seconds": seconds, "skipped": skipped}
