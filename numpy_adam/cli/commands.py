"""``numpy-adam`` command line: one subcommand per job (``python -m numpy_adam`` is the same).

One error path for every command (:func:`main`): an expected failure prints one short
paragraph — what went wrong, which file or value, what to do — and exits non-zero, 2 for bad
usage (unknown options, out-of-range values, settings that cannot work) and 1 for bad data
or state (missing or damaged data, a damaged checkpoint or record, a diverged run, a folder
another process writes, a full or read-only disk). Tracebacks are for genuine bugs, or with
``--debug``.
"""
from __future__ import annotations

import argparse
import os
import pickle
import sys

from ..datasets.errors import DatasetError
from ..experiments.sweep.executors import DaskUnavailable
from ..experiments.sweep.runner import SweepFailed
from ..records import RecordError
from ..training.errors import (CheckpointError, RunLocked, SettingsError, TrainingDiverged)
from .train import add_train_options, config_from_args

# expected failures of bad data or state (exit 1); SettingsError is bad usage (exit 2)
STATE_ERRORS = (TrainingDiverged, RunLocked, CheckpointError, RecordError, DatasetError,
                pickle.UnpicklingError, OSError, SweepFailed, DaskUnavailable)
# `numpy-adam reproduce --jobs`: 2 worker processes of one thread each finished a --quick
# reproduction faster on the 2-core reference machine than one process with two threads
# (README, "Sweeps"); the default is the measured faster one, capped at the cores here.
REPRODUCE_JOBS = 2


def _cores() -> int:
    """The cores this process may use (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def _add_train(sub, common) -> None:
    p = sub.add_parser("train", parents=[common], help="train one run and write its run folder")
    add_train_options(p)
    p.set_defaults(run=_run_train, parser=p)


def _run_train(args, parser) -> int:
    from ..training.loop import saved_config, train

    if args.extend and not args.resume:
        parser.error("--extend continues a saved run: give it with --resume")
    saved = saved_config(args.out) if args.resume else None
    try:
        config = config_from_args(args, saved)
    except ValueError as error:
        parser.error(str(error))
    run = train(config, args.out, data_dir=args.data_dir, resume=args.resume,
                extend=args.extend, quiet=args.quiet)
    print(f"{args.out}: {run.summary['steps']} steps, final loss {run.summary['final_loss']:.6g}, "
          f"test loss {run.summary['test_loss']}, test accuracy {run.summary['test_accuracy']}")
    return 0


def _add_reproduce(sub, common) -> None:
    p = sub.add_parser("reproduce", parents=[common],
                       help="run the note's experiments and draw Figures 1-4")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="short runs (the default; a few minutes on 2 cores)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="the full runs (under an hour on 2 cores; default --quick)")
    p.add_argument("--out", default="runs",
                   help="folder for the run folders, figures and summary (default runs/)")
    p.add_argument("--data-dir", default=None,
                   help="CIFAR-10 root (default $NUMPY_ADAM_DATA, else ~/.cache/numpy-adam)")
    p.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    p.add_argument("--pdf", action="store_true", help="also write PDF figures (default PNG only)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help="runs at once, each in its own worker process with the cores divided "
                        "among them (1: one after another in this process; default "
                        f"{min(REPRODUCE_JOBS, _cores())}, the faster on 2 cores, at most the "
                        "cores)")
    p.add_argument("--quiet", action="store_true", help="no progress output (default shown)")
    p.set_defaults(run=_run_reproduce, mode="quick", parser=p)


def _run_reproduce(args, parser) -> int:
    from ..experiments.reproduce import run_reproduction

    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    if args.jobs is not None and args.jobs < 1:
        parser.error(f"--jobs must be >= 1, got {args.jobs}")
    jobs = args.jobs if args.jobs is not None else min(REPRODUCE_JOBS, _cores())
    result = run_reproduction(args.mode, args.out, data_dir=args.data_dir, seed=args.seed,
                              formats=("png", "pdf") if args.pdf else ("png",), quiet=args.quiet,
                              jobs=jobs)
    skipped = result["skipped"]
    if skipped is None:
        return 0
    print(f"numpy-adam reproduce: skipped {', '.join(skipped['figures'])} and their runs "
          f"({len(skipped['runs'])}): {skipped['reason']}", file=sys.stderr)
    return 1


def _add_sweep(sub, common) -> None:
    p = sub.add_parser("sweep", parents=[common],
                       help="many train runs over a grid or list of settings, in parallel on this "
                            "machine or on a Dask cluster")
    p.add_argument("spec", nargs="?", default=None, metavar="SPEC",
                   help="spec file, JSON or TOML: {base: {...}, grid: {setting: [values]}, "
                        "points: [{...}]} (numpy_adam.experiments.sweep.spec; default none: the "
                        "points come from --set/--grid/--point, or from the sweep already in "
                        "--out)")
    p.add_argument("--out", required=True,
                   help="the sweep folder: one run folder per point, named by its settings, and "
                        "sweep.json with every point's state (required)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="a train setting of every point, e.g. --set model=quadratic (repeatable; "
                        "default: train's defaults)")
    p.add_argument("--grid", action="append", default=[], metavar="KEY=V1,V2,...",
                   help="a swept setting, e.g. --grid seed=0,1,2; several give their product "
                        "(repeatable; default none)")
    p.add_argument("--point", action="append", default=[], metavar="'KEY=VALUE ...'",
                   help="one listed point, e.g. --point 'optimizer=sgd lr=0.1', crossed with the "
                        "grid (repeatable; default none)")
    p.add_argument("--jobs", type=int, default=None, metavar="N",
                   help=f"worker processes of the local pool (default {_cores()}, the number of "
                        "cores)")
    p.add_argument("--threads-per-run", type=int, default=None, metavar="N",
                   help="BLAS and Numba threads of each run (default: the cores divided among "
                        "the runs that share a machine, at least 1)")
    cluster = p.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", default=None, metavar="ADDRESS",
                         help="run on the Dask cluster whose scheduler is at ADDRESS, e.g. "
                              "tcp://127.0.0.1:8786; workers must see --out at the same path "
                              "(default: no cluster, the local pool; needs the [sweep] extra)")
    cluster.add_argument("--dask-local", type=int, default=None, metavar="N",
                         help="start a Dask LocalCluster of N single-threaded worker processes "
                              "here and run on it (default: none; needs the [sweep] extra)")
    p.add_argument("--data-dir", default=None,
                   help="CIFAR-10 root (default $NUMPY_ADAM_DATA, else ~/.cache/numpy-adam)")
    p.add_argument("--dry-run", action="store_true",
                   help="list the points and their state in sweep.json, run nothing (default off)")
    p.add_argument("--quiet", action="store_true",
                   help="no progress bar and no status lines (default shown)")
    p.set_defaults(run=_run_sweep, parser=p)


def _run_sweep(args, parser) -> int:
    from ..experiments.sweep import executors, runner, spec as specs

    for name in ("jobs", "threads_per_run", "dask_local"):
        value = getattr(args, name)
        if value is not None and value < 1:
            parser.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.jobs is not None and (args.scheduler or args.dask_local):
        parser.error("--jobs sets the local pool's processes; with --scheduler or --dask-local "
                     "the cluster's worker processes set how many runs go at once")
    given = specs.normalise_spec(specs.spec_from_options(args.set, args.grid, args.point),
                                 "the command line")
    spec = specs.load_spec(args.spec) if args.spec else None
    if any(given.values()):
        spec = given if spec is None else specs.merge_specs(spec, given)
    if spec is not None:
        specs.expand(spec)  # refuse a bad point before connecting to anything
    executor = executors.make_executor(args.jobs, args.scheduler, args.dask_local,
                                       args.threads_per_run)
    entries = runner.run_sweep(spec, args.out, executor, data_dir=args.data_dir,
                               quiet=args.quiet, dry_run=args.dry_run)
    counts = {s: sum(e.state == s for e in entries) for s in runner.STATES}
    state_file = os.path.join(args.out, runner.STATE_FILE)
    if args.dry_run:
        for entry in entries:
            print(f"{entry.state:9s} {entry.name}")
    print(f"{args.out}: {len(entries)} points: " + ", ".join(f"{n} {s}" for s, n in counts.items()
                                                             if n) + f" ({state_file})")
    failed = [e for e in entries if e.state == "failed"]
    if failed and not args.dry_run:
        listed = "; ".join(f"{e.name}: {e.error_type}: {e.error}" for e in failed[:3])
        more = f"; and {len(failed) - 3} more" if len(failed) > 3 else ""
        raise runner.SweepFailed(f"{len(failed)} of {len(entries)} points failed ({listed}{more}); "
                                 f"the others ran; every error is in {state_file}")
    return 0


def _add_summarize(sub, common) -> None:
    from ..experiments.plan import SUMMARY_WARMUP

    p = sub.add_parser("summarize", parents=[common],
                       help="a sweep's table, seed averages and figure (never retrains)")
    p.add_argument("sweep_dir", metavar="SWEEP_DIR", help="a folder numpy-adam sweep wrote")
    p.add_argument("--warmup", type=int, default=SUMMARY_WARMUP,
                   help="leading steps of each run left out of the correlations and curve fits, "
                        f"at most half the run (default {SUMMARY_WARMUP}, the reproduction's)")
    p.add_argument("--x", default=None, metavar="SETTING",
                   help="the swept setting on the figure's x axis (default: the first swept "
                        "numeric setting other than the seed)")
    p.add_argument("--pdf", action="store_true", help="also write a PDF figure (default PNG only)")
    p.set_defaults(run=_run_summarize, parser=p)


def _run_summarize(args, parser) -> int:
    from ..experiments.sweep.summarize import summarize_sweep

    if args.warmup < 0:
        parser.error(f"--warmup must be >= 0, got {args.warmup}")
    result = summarize_sweep(args.sweep_dir, warmup=args.warmup, x=args.x,
                             formats=("png", "pdf") if args.pdf else ("png",))
    print(f"{args.sweep_dir}: {result['finished']} of {result['points']} points finished; "
          f"{result['markdown']}, {result['json']}"
          + "".join(f", {p}" for p in result["figures"]))
    return 0


def _add_plot(sub, common) -> None:
    p = sub.add_parser("plot", parents=[common],
                       help="draw the spread figure from run folders (never retrains)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    p.add_argument("--out", default="figure.png", help="output PNG path (default figure.png)")
    p.add_argument("--title", default="", help="figure title (default: the runs' settings)")
    p.add_argument("--pdf", action="store_true",
                   help="also write a PDF next to the PNG (default PNG only)")
    p.add_argument("--gamma", choices=("layer", "element"), default="layer",
                   help="panel (c)'s relative spread: 'layer', the note's mean σ̂ / mean |m̂| per "
                        "tensor (default), or 'element', the element mean of σ̂/|m̂| over the "
                        "recorded element sample")
    p.set_defaults(run=_run_plot, parser=p)


def _run_plot(args, parser) -> int:
    from ..plots.spread_figure import main as plot_main

    plot_main(args.runs, args.out, args.title, formats=("png", "pdf") if args.pdf else ("png",),
              gamma=args.gamma)
    print(args.out)
    return 0


def _add_gradcheck(sub, common) -> None:
    p = sub.add_parser("gradcheck", parents=[common], help="check every layer's backward against finite differences "
                                         "(float64) and print a report")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.set_defaults(run=_run_gradcheck, parser=p)


def _run_gradcheck(args, parser) -> int:
    from ..gradcheck.report import run_report

    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    return run_report(seed=args.seed)


def _add_bench(sub, common) -> None:
    p = sub.add_parser("bench", parents=[common], help="time the CNN step, the Adam core and memory; ratios vs "
                                     "PyTorch when installed")
    p.add_argument("--json", action="store_true", help="print the report as JSON (default text)")
    p.add_argument("--quick", action="store_true",
                   help="fewer rounds, about 5 minutes (default: the full rounds, about 14)")
    p.add_argument("--data-dir", default=None,
                   help="CIFAR-10 root for the load/memory rows (default $NUMPY_ADAM_DATA)")
    p.set_defaults(run=_run_bench, parser=p)


def _run_bench(args, parser) -> int:
    from ..experiments.bench import main as bench_main

    return bench_main(json=args.json, quick=args.quick, data_dir=args.data_dir)


class ShortErrorParser(argparse.ArgumentParser):
    """argparse, but a usage error prints one line and where to look, not the whole usage."""

    def error(self, message):
        self.exit(2, f"{self.prog}: error: {message}\n(see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--debug", action="store_true",
                        help="show the full traceback of an error (default a one-line message)")
    parser = ShortErrorParser(
        prog="numpy-adam",
        description="A from-scratch NumPy reference of Adam and SGD with momentum.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_reproduce, _add_sweep, _add_summarize, _add_plot, _add_gradcheck,
                _add_bench):
        add(sub, common)
    return parser


def main(argv=None) -> int:
    """Run one command; returns its exit status (argparse exits 2 itself on bad usage)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.run(args, args.parser)
    except KeyboardInterrupt:
        print(f"numpy-adam {args.command}: interrupted{_resume_hint(args)}", file=sys.stderr)
        return 130
    except (SettingsError, *STATE_ERRORS) as error:
        if args.debug:
            raise
        print(f"numpy-adam {args.command}: error: {error}", file=sys.stderr)
        return 2 if isinstance(error, SettingsError) else 1


def _resume_hint(args) -> str:
    """For an interrupted train whose folder holds a checkpoint: how to continue it."""
    from pathlib import Path

    if args.command == "train" and (Path(args.out) / "checkpoint.npz").exists():
        return f"; the last checkpoint is kept: continue with numpy-adam train --out {args.out} --resume"
    if args.command == "sweep" and (Path(args.out) / "sweep.json").exists():
        return (f"; finished runs are kept and interrupted ones resume from their checkpoints: "
                f"continue with numpy-adam sweep --out {args.out}")
    if args.command == "reproduce":
        return "; finished runs are kept and interrupted ones resume: run the same command again"
    return ""
