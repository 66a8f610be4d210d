r"""Adagrad (Duchi, Hazan & Singer 2011), with PyTorch's options and semantics
(``torch.optim.Adagrad``), over a flat buffer, with an optional spread probe.

Inputs: α (lr), δ (lr_decay), λ (weight_decay), s_0 (initial_accumulator_value), ε (eps),
        maximize; per parameter group (:mod:`.groups`).
State:  t = 0, s_0 (P,) filled with the group's initial_accumulator_value, in θ's dtype.

    for t = 1, 2, ...:
        g_t ← ±∇f(θ_{t−1}) + λ θ_{t−1}            (− if maximize; λ = 0: no decay)
        α_t = α / (1 + (t − 1) δ)                 (float64, as PyTorch's clr)
        s_t ← s_{t−1} + g_t²
        u_t = g_t / (√s_t + ε)                    ε outside the square root, as PyTorch
        θ_t ← θ_{t−1} − α_t u_t

Worked example: the first step has s_1 = s_0 + g_1², so each element moves by
α g_1/(√(s_0 + g_1²) + ε), ≈ α sign(g_1) when s_0 = 0 (as Adam's first step). On a constant
gradient s_t = s_0 + t g², so the step decays as α_t/√t even with δ = 0: s sums every gradient
ever seen, it never forgets, where RMSprop's and Adam's v average the recent ones.

Which α: the statistics' ``update`` and the element sample's update are u_t = Δθ/α_t, the step
in units of the *decayed* rate α_t of that step, so lr_decay, like a learning-rate schedule
(:mod:`.lr_scheduler`), does not show in ``update``; the 1/√t of the growing sum does.

γ: Adagrad keeps no m̂ of its own; with ``probe_betas`` a passive probe (:mod:`.probe`) keeps
Adam's EMAs of g_t for m̂, σ̂, γ, as for SGD. There is no exact relation between the step and
the probe's γ: s_t weighs all t gradients equally, an EMA (β2 < 1) forgets. In terms of the
whole history's own mean ḡ and relative spread γ̄ (uniform weights), with s_0 = ε = 0,
s_t = t ḡ²(γ̄² + 1), so |u_t| = (|g_t|/|ḡ|)/√(t(γ̄² + 1)).

:func:`adagrad_update` below is this box line by line in NumPy; :class:`Adagrad` does the same
(and the probe's update) in one fused Numba pass (:func:`~.kernels_rms.adagrad_step_kernel`),
tested against it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from typing import NamedTuple

import numpy as np

from .kernels_rms import adagrad_step_kernel
from .optimizer import FlatOptimizer
from .probe import ProbedOptimizer
from .validation import check_flag, check_nonnegative


def decayed_lr(lr: float, lr_decay: float, t: int) -> float:
    """α_t = α/(1 + (t − 1) δ) for step t ≥ 1, in float64 (PyTorch's clr)."""
    return lr / (1 + (t - 1) * lr_decay)


def adagrad_update(theta, g, s, t: int, lr: float, lr_decay: float = 0.0,
                   weight_decay: float = 0.0, eps: float = 1e-10, maximize: bool = False):
    """Adagrad step t ≥ 1 of the box above on (P,) arrays; inputs are not modified.

    theta, g, s: (P,) θ_{t−1}, the gradient and s_{t−1} (s_0 = initial_accumulator_value) of
                 one float dtype; scalars are cast to it (as the kernel gets them)
    returns: θ_t, s_t, u_t = Δθ/α_t, g_t (the gradient used, decay included), all (P,)
    """
    dt = theta.dtype.type
    d = -g if maximize else g                               # maximize: ascend f
    if weight_decay != 0.0:
        d = d + dt(weight_decay) * theta                    # g_t ← ±g_t + λ θ_{t−1}
    clr = decayed_lr(lr, lr_decay, t)                       # α_t (float64)
    s = s + d * d                                           # s_t
    u = d / (np.sqrt(s) + dt(eps))                          # u_t = g_t/(√s_t + ε)
    theta = theta - dt(clr) * u                             # θ_t
    return theta, s, u, d


@dataclass(frozen=True)
class AdagradHyperparameters:
    """Validated Adagrad hyperparameters of one parameter group (see :class:`Adagrad`)."""

    lr: float
    lr_decay: float
    weight_decay: float
    initial_accumulator_value: float
    eps: float
    maximize: bool = False

    @classmethod
    def validated(cls, owner: str, lr, lr_decay, weight_decay, initial_accumulator_value, eps,
                  maximize=False) -> "AdagradHyperparameters":
        return cls(lr=check_nonnegative(lr, "lr", owner),
                   lr_decay=check_nonnegative(lr_decay, "lr_decay", owner),
                   weight_decay=check_nonnegative(weight_decay, "weight_decay", owner),
                   initial_accumulator_value=check_nonnegative(
                       initial_accumulator_value, "initial_accumulator_value", owner),
                   eps=check_nonnegative(eps, "eps", owner),
                   maximize=check_flag(maximize, "maximize", owner))

    def lr_at(self, t: int) -> float:
        """α_t, the decayed rate of step t ≥ 1."""
        return decayed_lr(self.lr, self.lr_decay, t)

    def as_dict(self) -> dict:
        return asdict(self)


class AdagradScalars(NamedTuple):
    """Adagrad's scalars of step t, as :func:`~.kernels_rms.adagrad_step_kernel` takes them."""

    lr: float         # α_t = α/(1 + (t − 1) δ), in the state dtype (as the next three)
    eps: float        # ε
    l2_decay: float   # λ (0 without decay: g + 0·θ = g exactly, no branch)
    grad_sign: float  # −1 to maximize, else 1 (state dtype: 1·g = g exactly)


def adagrad_scalars(h: AdagradHyperparameters, t: int, dtype) -> AdagradScalars:
    """The scalars of step t ≥ 1 for a state of ``dtype`` (positional, as in adam_scalars)."""
    dt = np.dtype(dtype).type
    return AdagradScalars(dt(h.lr_at(t)), dt(h.eps), dt(h.weight_decay),
                          dt(-1.0 if h.maximize else 1.0))


class Adagrad(ProbedOptimizer, FlatOptimizer):
    r"""Adagrad with PyTorch's options: the box in :mod:`numpy_adam.optim.adagrad` (this module's
    docstring), step by step in :func:`adagrad_update`; one fused kernel pass per parameter
    group per step.

    Statistics: as for :class:`~numpy_adam.optim.SGD`: m̂, σ̂, γ, neg_var_frac from the optional
    probe (``probe_betas``), NaN without one; ``update`` is this optimizer's mean
    |u_t| = |Δθ|/α_t with the decayed rate α_t of the step (so is the sample's update).

    params, track, sample_size, sample_seed: as for :class:`~numpy_adam.optim.Adam`.
    lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize: the defaults of every
    group. Each group's s starts at its own initial_accumulator_value (also for a group added
    later); changing that value afterwards has no effect. (PyTorch fills every accumulator with
    the constructor's value and ignores a group's own.)
    """

    _STATE = ("s",)

    def __init__(self, params, lr=1e-2, lr_decay=0.0, weight_decay=0.0,
                 initial_accumulator_value=0.0, eps=1e-10, *, maximize=False, probe_betas=None,
                 track=("weight",), sample_size=0, sample_seed=0):
        owner = type(self).__name__
        defaults = dict(lr=lr, lr_decay=lr_decay, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, eps=eps,
                        maximize=maximize)
        AdagradHyperparameters.validated(owner, **defaults)  # the defaults first
        self._init_probe(probe_betas, owner)
        super().__init__(params, defaults, track, sample_size, sample_seed)

    # -- state format hooks (the probe's in ProbedOptimizer) -------------------------
    @staticmethod
    def _validated(owner, lr, lr_decay, weight_decay, initial_accumulator_value, eps, maximize):
        return AdagradHyperparameters.validated(owner, lr, lr_decay, weight_decay,
                                                initial_accumulator_value, eps, maximize)

    @staticmethod
    def _own_array_names(hparams: list) -> tuple[str, ...]:
        return ("s",)

    def _initial_arrays(self) -> dict:
        """Zero arrays, but s filled with each group's initial_accumulator_value."""
        arrays = super()._initial_arrays()
        bounds = self.flat.segment_bounds()
        for i, segments in enumerate(self._group_segments):
            start, stop = bounds[segments[0], 0], bounds[segments[-1], 1]
            arrays["s"][start:stop] = self.group_hparams(i).initial_accumulator_value
        return arrays

    def _loaded_arrays(self, arrays, hparams: list, extra: dict, owner: str) -> dict:
        arrays = super()._loaded_arrays(arrays, hparams, extra, owner)
        if (arrays["s"] < 0).any():
            raise ValueError(f"{owner}: state array 's' holds negative values; it is a sum of "
                             "squared gradients, so it must be >= 0")
        return arrays

    # -- the step --------------------------------------------------------------------
    def _step_group(self, i: int, h: AdagradHyperparameters, t: int, compute_stats: bool) -> None:
        probe_m, probe_v, probe = self._probe_arguments(t)
        adagrad_step_kernel(self.flat.data, self.flat.grad, self.s, probe_m, probe_v,
                            self._group_chunks[i], adagrad_scalars(h, t, self.dtype), probe,
                            compute_stats, self._group_parallel[i])

    def _sample_after_step(self, theta_before, hparams: list, moments):
        # the sample's update is Δθ/α_t, as the statistics' (the base divides by each h.lr)
        return super()._sample_after_step(theta_before,
                                          [replace(h, lr=h.lr_at(self.t)) for h in hparams],
                                          moments)
