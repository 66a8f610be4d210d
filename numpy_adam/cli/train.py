"""``numpy-adam train``: its options, and the :class:`TrainConfig` they describe.

Every option's default is the :class:`~numpy_adam.training.config.TrainConfig` field's, stated
in its help. Options are parsed with no default of their own (``argparse.SUPPRESS``), so the
command knows which ones were given: a new run fills the others from TrainConfig, while
``--resume`` fills them from the run's saved config.json, and a given option that
contradicts the saved run is refused with the list of differences (``--extend`` allows a
new ``--steps``/``--epochs``, to continue a finished run further).
"""
from __future__ import annotations

import argparse
import dataclasses

from ..training.config import LR_SCHEDULES, MODELS, OPTIMIZERS, TrainConfig

DEFAULTS = {f.name: f.default for f in dataclasses.fields(TrainConfig)
            if f.default is not dataclasses.MISSING}
QUADRATIC_STEPS = 1000  # a new quadratic run without --steps
CNN_EPOCHS = 1.0        # a new CNN run without --steps or --epochs


def _shown(value) -> str:
    if isinstance(value, tuple):
        return " ".join(map(str, value))
    return repr(value) if isinstance(value, str) else f"{value:g}" if isinstance(value, float) \
        else str(value)


def add_train_options(p: argparse.ArgumentParser) -> None:
    def option(flag, text, **kwargs):
        field = flag[2:].replace("-", "_")
        p.add_argument(flag, dest=field, default=argparse.SUPPRESS,
                       help=f"{text} (default {_shown(DEFAULTS[field])})", **kwargs)

    option("--model", "what to train", choices=MODELS)
    option("--optimizer", "the update rule (which of the options below each one uses: "
           "numpy_adam.training.config)", choices=OPTIMIZERS)
    option("--lr", "learning rate α", type=float)
    option("--beta1", "β1 of Adam and Lion, the β of Signum and M-SVAG; β1 of the passive "
           "spread probe of the methods without Adam's moments", type=float)
    option("--beta2", "β2 of Adam and Lion, RMSprop's α; β2 of the passive spread probe",
           type=float)
    option("--eps", "ε of Adam, RMSprop and Adagrad, added outside the √", type=float)
    option("--momentum", "heavy-ball momentum μ of SGD and RMSprop (convention: "
           "numpy_adam.optim.sgd)", type=float)
    option("--dampening", "SGD dampening τ", type=float)
    p.add_argument("--nesterov", action="store_true", default=argparse.SUPPRESS,
                   help="SGD Nesterov momentum (default off)")
    p.add_argument("--centered", action="store_true", default=argparse.SUPPRESS,
                   help="centered RMSprop: divide by the root of the gradient's variance, not of "
                        "its mean square (default off)")
    option("--weight-decay", "weight decay λ (decoupled for adamw and lion, L2 for the others)",
           type=float)
    option("--lr-schedule", "the learning-rate schedule, stepped every step: step (α ← ρα every "
           "--lr-step-size steps), exponential (α ← ρα every step), cosine (to --lr-min at the "
           "last step), warmup-cosine (linear from --lr-warmup-start·α over --lr-warmup-steps, "
           "then cosine)", choices=LR_SCHEDULES)
    option("--lr-step-size", "steps between decays of the step schedule", type=int)
    option("--lr-decay", "the decay factor ρ of the step and exponential schedules", type=float)
    option("--lr-min", "the final learning rate of the cosine schedules", type=float)
    option("--lr-warmup-steps", "warm-up steps of warmup-cosine", type=int)
    option("--lr-warmup-start", "warmup-cosine's first rate, as a fraction of --lr", type=float)
    option("--weight-decay-on", "which parameters decay: all, or only the conv and fc weights "
           "(biases and batchnorm then form a second parameter group without decay)",
           choices=("all", "weights"))
    option("--batch-size", "images per step (CNN; at least 2)", type=int)
    length = p.add_mutually_exclusive_group()
    length.add_argument("--steps", type=int, default=argparse.SUPPRESS,
                        help=f"number of optimizer steps (default {QUADRATIC_STEPS} for the "
                             f"quadratic; the CNN runs {CNN_EPOCHS:g} epoch by default)")
    length.add_argument("--epochs", type=float, default=argparse.SUPPRESS,
                        help=f"number of epochs, CNN only (default {CNN_EPOCHS:g})")
    option("--seed", "seed of initialisation, data order and the element sample", type=int)
    p.add_argument("--eval-every", dest="eval_every", type=int, default=argparse.SUPPRESS,
                   help="steps between test evaluations (default every epoch and at the end)")
    option("--checkpoint-every", "steps between checkpoints", type=int)
    option("--sample-per-tensor", "elements per tracked tensor whose m̂, v̂, step and θ are "
           "recorded at every step, and over which the gamma statistic is averaged; 0 records "
           "none (gamma is then NaN)", type=int)
    option("--x0", "quadratic start point", type=float, nargs="+")
    option("--noise-std", "quadratic: the noise s of f(x; ξ) = (x − ξ)², ξ the mean of "
           "--batch-size draws from N(0, s²) per step; 0 is the noise-free x²", type=float)
    p.add_argument("--batch-spread", action="store_true", default=argparse.SUPPRESS,
                   help="CNN: also record the spread of the per-sample gradients within each "
                        "batch, every step (slower; default off)")
    option("--label", "a name for legends", type=str)
    p.add_argument("--out", required=True, help="run folder to write (required)")
    p.add_argument("--data-dir", default=None,
                   help="CIFAR-10 root (default $NUMPY_ADAM_DATA, else ~/.cache/numpy-adam)")
    p.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its checkpoint, with its saved settings")
    p.add_argument("--extend", action="store_true",
                   help="with --resume: accept a new --steps/--epochs to run further")
    p.add_argument("--quiet", action="store_true", help="no progress bar (default shown)")


def given_settings(args: argparse.Namespace) -> dict:
    """The TrainConfig fields given on the command line (tuples where TrainConfig has them)."""
    given = {k: v for k, v in vars(args).items() if k in DEFAULTS or k in ("steps", "epochs")}
    if "x0" in given:
        given["x0"] = tuple(given["x0"])
    return given


def config_from_args(args: argparse.Namespace, saved: TrainConfig | None) -> TrainConfig:
    """The run's TrainConfig: ``saved`` (resume) or the defaults, overridden by what was given.

    Raises ValueError naming a setting TrainConfig refuses.
    """
    given = given_settings(args)
    settings = saved.to_json() if saved is not None else {}
    if "steps" in given:
        settings["epochs"] = None
    if "epochs" in given:
        settings["steps"] = None
    settings.update(given)
    if saved is None and settings.get("steps") is None and settings.get("epochs") is None:
        quadratic = settings.get("model", DEFAULTS["model"]) == "quadratic"
        settings["steps" if quadratic else "epochs"] = QUADRATIC_STEPS if quadratic else CNN_EPOCHS
    return TrainConfig.from_json(settings)
