"""``numpy-adam`` command line: one subcommand per job (``python -m numpy_adam`` is the same).

Unknown options and out-of-range values exit with status 2 and a message naming them
(argparse's convention).
"""
from __future__ import annotations

import argparse
import sys


def _add_gradcheck(sub) -> None:
    p = sub.add_parser("gradcheck", help="check every layer's backward against finite differences "
                                         "(float64) and print a report")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.set_defaults(run=_run_gradcheck)


def _run_gradcheck(args) -> int:
    from .gradcheck_report import run_report
    return run_report(seed=args.seed)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="numpy-adam",
        description="A from-scratch NumPy reference of Adam and SGD with momentum.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_gradcheck(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())
