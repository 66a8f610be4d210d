"""Optimizers over a flat parameter buffer: Adam, AdamW, SGD, with gradient-spread statistics.

Each optimizer is one fused Numba kernel pass per step (:mod:`.kernels`) that also reduces the
note's per-tensor statistics (:mod:`.stats`); :mod:`.reference` is the plain NumPy oracle.

    opt = Adam(model.named_parameters(), lr=1e-3)
    ...backward...
    opt.step()                       # compute_stats=True by default
    stats = last_step_stats(opt)     # SpreadStats: names, mean_abs_m, sigma, gamma, update, ...
"""
from .adam import Adam, AdamHyperparameters, AdamW
from .optimizer import FlatOptimizer, NonFiniteGradientError
from .probe import SpreadProbe
from .sgd import SGD, SGDHyperparameters
from .stats import SpreadStats, last_step_stats

__all__ = ["Adam", "AdamW", "SGD", "SpreadStats", "last_step_stats", "NonFiniteGradientError",
           "SpreadProbe", "FlatOptimizer", "AdamHyperparameters", "SGDHyperparameters"]
