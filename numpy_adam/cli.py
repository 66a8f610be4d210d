"""``numpy-adam`` command line: one subcommand per job (``python -m numpy_adam`` is the same).

Unknown options and out-of-range values exit with status 2 and a message naming them
(argparse's convention); a diverged run or missing data exits with status 1.
"""
from __future__ import annotations

import argparse
import sys

from .training.config import MODELS, OPTIMIZERS, TrainConfig


def _add_train(sub) -> None:
    p = sub.add_parser("train", help="train one run and write its record directory")
    p.add_argument("--model", choices=MODELS, default="cnn")
    p.add_argument("--optimizer", choices=OPTIMIZERS, default="adam")
    p.add_argument("--lr", type=float, default=1e-3, help="learning rate α (default 1e-3)")
    p.add_argument("--beta1", type=float, default=0.9,
                   help="β1 of Adam, or of SGD's passive spread probe (default 0.9)")
    p.add_argument("--beta2", type=float, default=0.999,
                   help="β2 of Adam, or of SGD's passive spread probe (default 0.999)")
    p.add_argument("--eps", type=float, default=1e-8, help="Adam's ε, added outside the √ (default 1e-8)")
    p.add_argument("--momentum", type=float, default=0.0, help="SGD heavy-ball momentum μ (default 0)")
    p.add_argument("--dampening", type=float, default=0.0,
                   help="SGD dampening τ; τ = μ gives the EMA form of momentum (default 0)")
    p.add_argument("--nesterov", action="store_true", help="SGD Nesterov momentum")
    p.add_argument("--weight-decay", type=float, default=0.0)
    p.add_argument("--batch-size", type=int, default=100)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, help="number of optimizer steps")
    length.add_argument("--epochs", type=float, help="number of epochs (CNN only)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--eval-every", type=int, default=None,
                   help="steps between test evaluations (default: every epoch and at the end)")
    p.add_argument("--checkpoint-every", type=int, default=500)
    p.add_argument("--sample-per-tensor", type=int, default=32,
                   help="elements per tracked tensor whose m̂, v̂, step and θ are recorded at "
                        "every step (default 32; 0 records none)")
    p.add_argument("--x0", type=float, nargs="+", default=[1.0], help="quadratic start point")
    p.add_argument("--label", default="", help="a name for legends")
    p.add_argument("--out", required=True, help="run directory to write")
    p.add_argument("--data-dir", default=None, help="CIFAR-10 root (default $NUMPY_ADAM_DATA or the cache)")
    p.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=_run_train)


def _config_from_args(args, parser) -> TrainConfig:
    steps, epochs = args.steps, args.epochs
    if steps is None and epochs is None:
        steps = 1000 if args.model == "quadratic" else None
        epochs = None if steps else 1.0
    try:
        return TrainConfig(model=args.model, optimizer=args.optimizer, lr=args.lr, beta1=args.beta1,
                           beta2=args.beta2, eps=args.eps, momentum=args.momentum,
                           dampening=args.dampening, nesterov=args.nesterov,
                           weight_decay=args.weight_decay, batch_size=args.batch_size, steps=steps,
                           epochs=epochs, seed=args.seed, eval_every=args.eval_every,
                           checkpoint_every=args.checkpoint_every, x0=tuple(args.x0),
                           sample_per_tensor=args.sample_per_tensor,
                           label=args.label)
    except ValueError as error:
        parser.error(str(error))


def _run_train(args, parser) -> int:
    from .training.loop import train

    config = _config_from_args(args, parser)
    run = train(config, args.out, data_dir=args.data_dir, resume=args.resume, quiet=args.quiet)
    print(f"{args.out}: {run.summary['steps']} steps, final loss {run.summary['final_loss']:.6g}, "
          f"test loss {run.summary['test_loss']}, test accuracy {run.summary['test_accuracy']}")
    return 0


def _add_reproduce(sub) -> None:
    p = sub.add_parser("reproduce", help="run the note's experiments and draw Figures 1-3")
    mode = p.add_mutually_exclusive_group()
    mode.add_argument("--quick", dest="mode", action="store_const", const="quick",
                      help="short runs (default; a few minutes on 2 cores)")
    mode.add_argument("--full", dest="mode", action="store_const", const="full",
                      help="the full runs (under an hour on 2 cores)")
    p.add_argument("--out", default="runs", help="folder for the run directories and figures (default runs/)")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--pdf", action="store_true", help="also write PDF figures")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(run=_run_reproduce, mode="quick")


def _run_reproduce(args, parser) -> int:
    from .experiments.reproduce import run_reproduction

    if args.seed < 0:
        parser.error(f"--seed must be ≥ 0, got {args.seed}")
    run_reproduction(args.mode, args.out, data_dir=args.data_dir, seed=args.seed,
                     formats=("png", "pdf") if args.pdf else ("png",), quiet=args.quiet)
    return 0


def _add_plot(sub) -> None:
    p = sub.add_parser("plot", help="draw the spread figure from run directories (never retrains)")
    p.add_argument("runs", nargs="+", metavar="RUN", help="run directories")
    p.add_argument("--out", default="figure.png", help="output PNG path (default figure.png)")
    p.add_argument("--title", default="", help="figure title")
    p.add_argument("--pdf", action="store_true", help="also write a PDF next to the PNG")
    p.add_argument("--gamma", choices=("layer", "element"), default="layer",
                   help="panel (c)'s relative spread: 'layer', the note's mean σ̂ / mean |m̂| per "
                        "tensor (default), or 'element', the element mean of σ̂/|m̂|")
    p.set_defaults(run=_run_plot)


def _run_plot(args, parser) -> int:
    from numpy_adam.plots.spread_figure import main as plot_main

    plot_main(args.runs, args.out, args.title, formats=("png", "pdf") if args.pdf else ("png",),
              gamma=args.gamma)
    print(args.out)
    return 0


def _add_gradcheck(sub) -> None:
    p = sub.add_parser("gradcheck", help="check every layer's backward against finite differences "
                                         "(float64) and print a report")
    p.add_argument("--seed", type=int, default=0, help="seed of the random inputs (default 0)")
    p.set_defaults(run=_run_gradcheck)


def _run_gradcheck(args, parser) -> int:
    from .gradcheck.report import run_report

    return run_report(seed=args.seed)


def _add_bench(sub) -> None:
    p = sub.add_parser("bench", help="time the CNN step, the Adam core and memory; ratios vs "
                                     "PyTorch when installed")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--quick", action="store_true", help="fewer rounds (about 1.5 minutes)")
    p.add_argument("--data-dir", default=None,
                   help="CIFAR-10 root for the load/memory rows (default $NUMPY_ADAM_DATA)")
    p.set_defaults(run=_run_bench)


def _run_bench(args, parser) -> int:
    from .experiments.bench import main as bench_main

    return bench_main(json=args.json, quick=args.quick, data_dir=args.data_dir)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="numpy-adam",
        description="A from-scratch NumPy reference of Adam and SGD with momentum.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for add in (_add_train, _add_reproduce, _add_plot, _add_gradcheck, _add_bench):
        add(sub)
    return parser


def main(argv=None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    from .training.loop import TrainingDiverged

    try:
        return args.run(args, parser)
    except (TrainingDiverged, FileNotFoundError, FileExistsError) as error:
        print(f"numpy-adam {args.command}: error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"numpy-adam {args.command}: interrupted; the last checkpoint is kept "
              "(continue with --resume)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
