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
import pickle
import sys

from ..datasets.errors import DatasetError
from ..records import RecordError
from ..training.errors import (CheckpointError, RunLocked, SettingsError, TrainingDiverged)
from .train import add_train_options, config_from_args

# expected failures of bad data or state (exit 1); SettingsError is bad usage (exit 2)
STATE_ERRORS = (TrainingDiverged, RunLocked, CheckpointError, RecordError, DatasetError,
                pickle.UnpicklingError, OSError)


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
                      help="the full runs (under an hour on 2 cores)")
    p.add_argument("--out", default="runs",
                   help="folder for the run folders, figures and summary (default runs/)")
    p.add_argument("--data-dir", default=None,
                   help="CIFAR-10 root (default $NUMPY_ADAM_DATA, else ~/.cache/numpy-adam)")
    p.add_argument("--seed", type=int, default=0, help="seed of every run (default 0)")
    p.add_argument("--pdf", action="store_true", help="also write PDF figures (default PNG only)")
    p.add_argument("--quiet", action="store_true", help="no progress output (default shown)")
    p.set_defaults(run=_run_reproduce, mode="quick", parser=p)


def _run_reproduce(args, parser) -> int:
    from ..experiments.reproduce import run_reproduction

    if args.seed < 0:
        parser.error(f"--seed must be >= 0, got {args.seed}")
    result = run_reproduction(args.mode, args.out, data_dir=args.data_dir, seed=args.seed,
                              formats=("png", "pdf") if args.pdf else ("png",), quiet=args.quiet)
    skipped = result["skipped"]
    if skipped is None:
        return 0
    print(f"numpy-adam reproduce: skipped {', '.join(skipped['figures'])} and their runs "
          f"({len(skipped['runs'])}): {skipped['reason']}", file=sys.stderr)
    return 1


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
                   help="fewer rounds, about 1.5 minutes (default: the full rounds, about 5)")
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
    for add in (_add_train, _add_reproduce, _add_plot, _add_gradcheck, _add_bench):
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
    return ""
