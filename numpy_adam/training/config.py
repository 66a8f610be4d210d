"""Every setting of a training run in one validated, JSON-serialisable record.

The same :class:`TrainConfig` is built by the CLI (``numpy-adam train``), by the
reproduction (``numpy-adam reproduce``) and by tests, and is written verbatim to the run's
``config.json``.

Momentum convention (PyTorch's heavy ball): b_t = μ b_{t−1} + (1 − τ) g_t, θ_t = θ_{t−1} − α b_t
with μ = ``momentum`` and τ = ``dampening``. With τ = 0 (the default) the effective step
on a constant gradient is α/(1 − μ); with τ = μ, b_t is the exponential moving average
m_t of Adam's first moment without bias correction, so "momentum = β1" means the same thing
in both optimizers. For SGD runs, ``beta1``/``beta2`` are the betas of the passive spread
probe (the compared Adam run's), so SGD's m̂, v̂, σ̂ and γ sit on the same axes.
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

MODELS = ("cnn", "quadratic")
OPTIMIZERS = ("adam", "adamw", "sgd")


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
    weight_decay: float = 0.0
    batch_size: int = 100
    steps: int | None = None
    epochs: float | None = None
    seed: int = 0
    eval_every: int | None = None  # steps between test evaluations; None: every epoch and at the end
    checkpoint_every: int = 500
    x0: tuple[float, ...] = (1.0,)  # quadratic start
    channels: tuple[int, int] = (16, 32)
    kernel_size: int = 5
    hidden: int = 128
    sample_per_tensor: int = 32  # elements per tracked tensor recorded at every step (0: none)
    label: str = ""
    extra: dict = field(default_factory=dict)  # free-form notes recorded with the run

    def __post_init__(self):
        def fail(name, expected):
            raise ValueError(f"invalid {name}={getattr(self, name)!r}: expected {expected}")

        if self.model not in MODELS:
            fail("model", f"one of {MODELS}")
        if self.optimizer not in OPTIMIZERS:
            fail("optimizer", f"one of {OPTIMIZERS}")
        for name in ("lr", "eps", "weight_decay", "momentum", "dampening", "beta1", "beta2"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or isinstance(value, bool) or not math.isfinite(value) \
                    or value < 0:
                fail(name, "a finite number ≥ 0")
        for name in ("beta1", "beta2", "momentum"):
            if getattr(self, name) >= 1:
                fail(name, "a number in [0, 1)")
        if self.dampening > 1:
            fail("dampening", "a number in [0, 1]")
        for name in ("batch_size", "checkpoint_every", "kernel_size", "hidden"):
            if not _positive_int(getattr(self, name)):
                fail(name, "a positive integer")
        if not isinstance(self.sample_per_tensor, int) or isinstance(self.sample_per_tensor, bool) \
                or self.sample_per_tensor < 0:
            fail("sample_per_tensor", "a non-negative integer")
        if not isinstance(self.seed, int) or self.seed < 0:
            fail("seed", "a non-negative integer")
        if (self.steps is None) == (self.epochs is None):
            raise ValueError(f"give exactly one of steps or epochs, got steps={self.steps!r}, "
                             f"epochs={self.epochs!r}")
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
        if not self.x0 or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in self.x0):
            fail("x0", "one or more finite numbers")
        if self.nesterov and (self.optimizer != "sgd" or self.momentum <= 0 or self.dampening != 0):
            fail("nesterov", "only with --optimizer sgd, momentum > 0 and dampening 0")

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
