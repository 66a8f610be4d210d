"""Every setting of a training run in one validated, JSON-serialisable record.

The same :class:`TrainConfig` is built by the CLI (``numpy-adam train``), by the
reproduction (``numpy-adam reproduce``) and by tests, and is written verbatim to the run's
``config.json``.

Optimizer settings mean what they mean to the optimizers and are checked by the optimizers'
own functions (:mod:`numpy_adam.optim.validation`): a value is refused here exactly when the
optimizer would refuse it, with the same message after the owner's name. Which setting is
what, per optimizer (lr and weight_decay are every method's; L2 decay, decoupled for adamw
and lion):

    adam, adamw   beta1, beta2, eps                      (numpy_adam.optim.adam)
    sgd           momentum, dampening, nesterov          (convention: numpy_adam.optim.sgd)
    signsgd       –
    signum        beta1 = its momentum β
    lion          beta1 (interpolation), beta2 (memory)
    rmsprop       beta2 = its α, eps, momentum, centered
    adagrad       eps
    msvag         beta1 = its β, in (0, 1) (m and v share it; beta2 is not used)

A method without Adam's moments (sgd, signsgd, signum, lion, rmsprop, adagrad) carries a
passive spread probe with (beta1, beta2), the compared Adam run's, so its m̂, v̂, σ̂ and γ sit
on the same axes as Adam's (:mod:`numpy_adam.optim.probe`). With these choices Signum's m and
RMSprop's v are the probe's own m and v (same recursion), so their steps relate exactly to the
probe's γ.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from ..optim.validation import (check_beta, check_count, check_flag, check_nesterov,
                                check_nonnegative, check_open_unit_interval, check_unit_interval)

OWNER = "TrainConfig"
MODELS = ("cnn", "quadratic")
OPTIMIZERS = ("adam", "adamw", "sgd", "signsgd", "signum", "lion", "rmsprop", "adagrad", "msvag")
LR_SCHEDULES = ("constant", "step", "exponential", "cosine", "warmup-cosine")
DECAY_ON = ("all", "weights")  # weight decay on every parameter, or on conv/fc weights only


@dataclass(frozen=True)
class TrainConfig:
    """One run. ``steps`` or ``epochs`` (CNN only) sets the length; the other stays None."""

    model: str = "cnn"
    optimizer: str = "adam"
    lr: float = 1e-3
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    momentum: float = 0.0
    dampening: float = 0.0
    nesterov: bool = False
    centered: bool = False  # RMSprop: divide by the root of the variance, not of the mean square
    weight_decay: float = 0.0
    weight_decay_on: str = "all"  # "weights": biases and batchnorm in a second group without decay
    batch_size: int = 100
    steps: int | None = None
    epochs: float | None = None
    seed: int = 0
    eval_every: int | None = None  # steps between test evaluations; None: every epoch and at the end
    checkpoint_every: int = 500
    x0: tuple[float, ...] = (1.0,)  # quadratic start
    noise_std: float = 0.0  # quadratic: s of f(x; ξ) = (x − ξ)², ξ the mean of batch_size N(0, s²) draws
    batch_spread: bool = False  # CNN: also measure the per-sample gradients' spread every step
    channels: tuple[int, int] = (16, 32)
    kernel_size: int = 5
    hidden: int = 128
    sample_per_tensor: int = 32  # elements per tracked tensor recorded at every step (0: none)
    # the learning-rate schedule (numpy_adam.optim.lr_scheduler), stepped once per step:
    lr_schedule: str = "constant"  # one of LR_SCHEDULES
    lr_step_size: int = 1000      # step: α ← ρ α every lr_step_size steps
    lr_decay: float = 0.1         # step and exponential: the factor ρ (exponential: per step)
    lr_min: float = 0.0           # cosine, warmup-cosine: the final rate η
    lr_warmup_steps: int = 100    # warmup-cosine: linear warm-up steps, then cosine to the end
    lr_warmup_start: float = 0.01  # warmup-cosine: the warm-up's first rate, as a fraction of α
    label: str = ""
    extra: dict = field(default_factory=dict)  # free-form notes recorded with the run

    def __post_init__(self):
        def fail(name, expectation):
            raise ValueError(f"{OWNER}: {name} must be {expectation}, got {getattr(self, name)!r}")

        def keep(name, value):  # the checked value (float, bool or int), as the optimizer uses it
            object.__setattr__(self, name, value)

        if self.model not in MODELS:
            fail("model", f"one of {MODELS}")
        if self.optimizer not in OPTIMIZERS:
            fail("optimizer", f"one of {OPTIMIZERS}")
        # the optimizers' hyperparameters: their own checks (numpy_adam.optim.validation)
        for name in ("lr", "eps", "weight_decay", "momentum"):
            keep(name, check_nonnegative(getattr(self, name), name, OWNER))
        keep("dampening", check_unit_interval(self.dampening, "dampening", OWNER, closed=True))
        for name in ("beta1", "beta2"):
            keep(name, check_beta(getattr(self, name), name, OWNER))
        keep("nesterov", check_flag(self.nesterov, "nesterov", OWNER))
        if self.nesterov and self.optimizer != "sgd":
            raise ValueError(f"{OWNER}: nesterov must be False unless optimizer is 'sgd', got "
                             f"nesterov=True with optimizer={self.optimizer!r}")
        check_nesterov(self.nesterov, self.momentum, self.dampening, OWNER)
        keep("centered", check_flag(self.centered, "centered", OWNER))
        if self.centered and self.optimizer != "rmsprop":
            raise ValueError(f"{OWNER}: centered must be False unless optimizer is 'rmsprop', got "
                             f"centered=True with optimizer={self.optimizer!r}")
        if self.optimizer == "msvag":
            keep("beta1", check_open_unit_interval(self.beta1, "beta1", OWNER))
        keep("sample_per_tensor",  # the optimizers' sample_size
             check_count(self.sample_per_tensor, "sample_per_tensor", OWNER))
        if self.weight_decay_on not in DECAY_ON:
            fail("weight_decay_on", f"one of {DECAY_ON}")
        if self.lr_schedule not in LR_SCHEDULES:
            fail("lr_schedule", f"one of {LR_SCHEDULES}")
        if not _positive_int(self.lr_step_size):
            fail("lr_step_size", "a positive integer")
        if not isinstance(self.lr_decay, (int, float)) or isinstance(self.lr_decay, bool) or \
                not 0 < self.lr_decay < math.inf:
            fail("lr_decay", "a finite number > 0")
        keep("lr_min", check_nonnegative(self.lr_min, "lr_min", OWNER))
        if not _positive_int(self.lr_warmup_steps):
            fail("lr_warmup_steps", "a positive integer")
        if not isinstance(self.lr_warmup_start, (int, float)) or \
                isinstance(self.lr_warmup_start, bool) or not 0 < self.lr_warmup_start <= 1:
            fail("lr_warmup_start", "a number in (0, 1]")
        # the run's own settings
        for name in ("batch_size", "checkpoint_every", "kernel_size", "hidden"):
            if not _positive_int(getattr(self, name)):
                fail(name, "a positive integer")
        if self.model == "cnn" and self.batch_size < 2:
            fail("batch_size", "at least 2 for the CNN (its batchnorm needs 2 samples per "
                               "feature to normalise over the batch)")
        if not isinstance(self.seed, int) or self.seed < 0:
            fail("seed", "an integer >= 0")
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(f"{OWNER}: exactly one of steps and epochs must be given, got "
                             f"steps={self.steps!r}, epochs={self.epochs!r}")
        if self.steps is not None and not _positive_int(self.steps):
            fail("steps", "a positive integer")
        if self.epochs is not None:
            if self.model != "cnn":
                fail("epochs", "None for the quadratic (full batch: use steps)")
            if not isinstance(self.epochs, (int, float)) or not 0 < self.epochs < 1e6:
                fail("epochs", "a positive number")
        if self.eval_every is not None and not _positive_int(self.eval_every):
            fail("eval_every", "a positive integer or None")
        if len(self.channels) != 2 or not all(_positive_int(c) for c in self.channels):
            fail("channels", "two positive integers")
        keep("noise_std", check_nonnegative(self.noise_std, "noise_std", OWNER))
        keep("batch_spread", check_flag(self.batch_spread, "batch_spread", OWNER))
        if self.batch_spread and self.model != "cnn":
            fail("batch_spread", "False for the quadratic (it has no samples to spread)")
        if not self.x0 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in self.x0):
            fail("x0", "one or more finite numbers")

    def to_json(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict) -> "TrainConfig":
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown config keys {unknown}")
        data = dict(data)
        for name in ("x0", "channels"):
            if name in data:
                data[name] = tuple(data[name])
        return cls(**data)


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0
