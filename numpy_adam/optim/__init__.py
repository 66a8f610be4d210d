"""Optimizers over a flat parameter buffer, with gradient-spread statistics: Adam and AdamW; SGD;
the sign methods SignSGD, Signum and Lion; RMSprop and Adagrad; M-SVAG (variance-adapted SGD).

Each optimizer module opens with its algorithm box and, right under it, the box in plain NumPy
(:func:`.adam.adam_update`, :func:`.sgd.sgd_update`, :func:`.probe.probe_update`, ...); the
statistics are defined, and computed plainly, in :mod:`.stats`. A method without moments of
its own (SGD, the sign methods, Lion, RMSprop, Adagrad) reports them from a passive probe
(:mod:`.probe`) that keeps Adam's EMAs of the gradient it uses. A step runs all of that as one
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
from .adagrad import Adagrad, adagrad_update
from .adam import Adam, AdamHyperparameters, AdamW, adam_update
from .lion import Lion, lion_update
from .msvag import MSVAG, msvag_update
from .optimizer import FlatOptimizer, NonFiniteGradientError
from .probe import SpreadProbe, probe_update
from .rmsprop import RMSprop, rmsprop_update
from .sgd import SGD, SGDHyperparameters, sgd_update
from .sign import SignSGD, Signum, sign_sgd_update, signum_update
from .stats import SpreadStats, last_step_stats

__all__ = ["Adam", "AdamW", "SGD", "SignSGD", "Signum", "Lion", "RMSprop", "Adagrad", "MSVAG",
           "SpreadStats", "last_step_stats", "NonFiniteGradientError", "SpreadProbe",
           "FlatOptimizer", "AdamHyperparameters", "SGDHyperparameters", "adam_update",
           "sgd_update", "probe_update", "sign_sgd_update", "signum_update", "lion_update",
           "rmsprop_update", "adagrad_update", "msvag_update", "lr_scheduler"]
