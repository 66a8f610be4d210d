"""What a run is built from: its seeds, its task (model, data, loss) and its optimizer."""
from __future__ import annotations

import math
import platform

import numpy as np

from .. import __version__
from ..optim import MSVAG, SGD, Adagrad, Adam, AdamW, Lion, RMSprop, SignSGD, Signum
from ..optim.lr_scheduler import CosineAnnealingLR, ExponentialLR, StepLR, warmup_cosine
from .config import TrainConfig
from .errors import SettingsError
from .tasks import CifarData, CifarTask, QuadraticTask


def run_seeds(config: TrainConfig) -> list[np.random.SeedSequence]:
    """Independent seeds for initialisation, data order and the element sample, from the seed."""
    return np.random.SeedSequence(config.seed).spawn(3)


def param_groups(config: TrainConfig, named_params) -> list:
    """One group of every parameter, or with ``weight_decay_on="weights"`` two: the conv and
    fc weights with the configured decay, then biases and batchnorm parameters without."""
    named = list(named_params)
    if config.weight_decay_on == "all":
        return named
    weights = [(n, p) for n, p in named if p.kind == "weight"]
    others = [(n, p) for n, p in named if p.kind != "weight"]
    return [{"params": weights}] + ([{"params": others, "weight_decay": 0.0}] if others else [])


def make_optimizer(config: TrainConfig, named_params):
    """The optimizer a config names, its settings mapped as the table in
    :mod:`numpy_adam.training.config` says; every method without Adam's moments gets a passive
    spread probe with (beta1, beta2)."""
    named_params = param_groups(config, named_params)
    betas = (config.beta1, config.beta2)
    common = dict(lr=config.lr, weight_decay=config.weight_decay,
                  sample_size=config.sample_per_tensor, sample_seed=run_seeds(config)[2])
    name = config.optimizer
    if name in ("adam", "adamw"):
        return (Adam if name == "adam" else AdamW)(named_params, betas=betas, eps=config.eps,
                                                   **common)
    if name == "msvag":
        return MSVAG(named_params, beta=config.beta1, **common)
    probed = dict(probe_betas=betas, **common)
    if name == "sgd":
        return SGD(named_params, momentum=config.momentum, dampening=config.dampening,
                   nesterov=config.nesterov, **probed)
    if name == "signsgd":
        return SignSGD(named_params, **probed)
    if name == "signum":
        return Signum(named_params, beta=config.beta1, **probed)
    if name == "lion":
        return Lion(named_params, betas=betas, **probed)
    if name == "rmsprop":
        return RMSprop(named_params, alpha=config.beta2, eps=config.eps,
                       momentum=config.momentum, centered=config.centered, **probed)
    if name == "adagrad":
        return Adagrad(named_params, eps=config.eps, **probed)
    raise ValueError(f"make_optimizer: no optimizer {name!r}")  # TrainConfig refuses it first


def check_schedule(config: TrainConfig, steps: int) -> None:
    """Refuse a schedule that does not fit the run's length (SettingsError)."""
    if config.lr_schedule == "warmup-cosine" and not config.lr_warmup_steps < steps:
        raise SettingsError(f"TrainConfig: lr_warmup_steps must be below the run's {steps} steps, "
                            f"got {config.lr_warmup_steps}")


def make_scheduler(config: TrainConfig, optimizer, steps: int):
    """The learning-rate schedule a config names, stepped once per optimizer step (None for
    a constant rate)."""
    name = config.lr_schedule
    if name == "step":
        return StepLR(optimizer, step_size=config.lr_step_size, gamma=config.lr_decay)
    if name == "exponential":
        return ExponentialLR(optimizer, gamma=config.lr_decay)
    if name == "cosine":
        return CosineAnnealingLR(optimizer, T_max=steps, eta_min=config.lr_min)
    if name == "warmup-cosine":
        check_schedule(config, steps)
        return warmup_cosine(optimizer, warmup_steps=config.lr_warmup_steps, total_steps=steps,
                             start_factor=config.lr_warmup_start, eta_min=config.lr_min)
    return None


def make_task(config: TrainConfig, data: CifarData | None = None, data_dir=None):
    """The task a config names; the CNN's data is loaded (unless given) and the batch size
    checked against it before anything is built."""
    init_seed, data_seed, _ = run_seeds(config)
    if config.model == "quadratic":
        return QuadraticTask(config, np.random.default_rng(data_seed))
    if data is None:
        data = CifarData.load(data_dir)
    n_train = data.train_labels.shape[0]
    if config.batch_size > n_train:
        raise SettingsError(f"TrainConfig: batch_size must be at most the {n_train} training images, "
                         f"got {config.batch_size}")
    return CifarTask(config, data, np.random.default_rng(init_seed), np.random.default_rng(data_seed))


def total_steps(config: TrainConfig, steps_per_epoch: int | None) -> int:
    """``steps``, or ``epochs`` × steps per epoch rounded up (at least 1)."""
    if config.steps is not None:
        return config.steps
    return max(1, math.ceil(config.epochs * steps_per_epoch))


def versions() -> dict:
    """The library versions a run records in its config.json."""
    import numba

    return {"numpy_adam": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "python": platform.python_version()}
