"""Optimizers over a flat parameter buffer: Adam, AdamW, SGD, with gradient-spread statistics.

Each optimizer module opens with its algorithm box and, right under it, the box in plain NumPy
(:func:`.adam.adam_update`, :func:`.sgd.sgd_update`, :func:`.probe.probe_update`); the
statistics are defined, and computed plainly, in :mod:`.stats`. A step runs all of that as one
fused Numba kernel pass per parameter group (:mod:`.kernels`; groups as in ``torch.optim``,
:mod:`.groups`), tested against the plain functions. Learning-rate schedules in the style of
``torch.optim.lr_scheduler`` are in :mod:`.lr_scheduler`.

    opt = Adam(model.named_parameters(), lr=1e-3)
    sched = lr_scheduler.CosineAnnealingLR(opt, T_max=1000)
    ...backward...
    opt.step()                       # compute_stats=True by default
    sched.step()
    stats = last_step_stats(opt)     # SpreadStats: names, mean_abs_m, sigma, gamma, update, ...
"""
from . import lr_scheduler
from .adam import Adam, AdamHyperparameters, AdamW, adam_update
from .optimizer import FlatOptimizer, NonFiniteGradientError
from .probe import SpreadProbe, probe_update
from .sgd import SGD, SGDHyperparameters, sgd_update
from .stats import SpreadStats, last_step_stats

__all__ = ["Adam", "AdamW", "SGD", "SpreadStats", "last_step_stats", "NonFiniteGradientError",
           "SpreadProbe", "FlatOptimizer", "AdamHyperparameters", "SGDHyperparameters",
           "adam_update", "sgd_update", "probe_update", "lr_scheduler"]
