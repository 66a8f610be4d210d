r"""SGD with momentum, as ``torch.optim.SGD``, over a flat buffer, with an optional spread probe.

Inputs: α (lr), μ (momentum), τ (dampening), λ (weight_decay), nesterov, maximize; per
        parameter group (:mod:`.groups`).
State:  t = 0 and, when μ ≠ 0, the momentum buffer b (P,) in θ's dtype.

    for t = 1, 2, ...:
        d_t ← ±∇f(θ_{t−1}) + λ θ_{t−1}                      (− if maximize; λ = 0: no decay)
        if μ ≠ 0:
            b_t ← d_t                          if t = 1     (no dampening on step 1)
            b_t ← μ b_{t−1} + (1 − τ) d_t      otherwise
            u_t = d_t + μ b_t                  if nesterov  (needs μ > 0, τ = 0)
            u_t = b_t                          otherwise
        else:
            u_t = d_t
        θ_t ← θ_{t−1} − α u_t

Momentum convention (the one place it is stated): PyTorch's heavy ball above, whose buffer b
sums gradients and whose step is α b, not the "v ← μ v − α g" form with α inside the buffer
(the two agree for constant α). In terms of Adam's uncorrected first moment with β1 = μ,
m_t = μ m_{t−1} + (1 − μ) d_t, m_0 = 0:

* τ = 0 (the default): b_t = m_t/(1 − μ) exactly, so on a steady gradient d the step grows to
  α d/(1 − μ): α/(1 − μ) is the effective learning rate;
* τ = μ: b_t = m_t + μ^t d_1 (the transient comes from b_1 = d_1 and fades), the EMA itself.
  So "SGD with momentum = β1" in Adam's sense is ``SGD(momentum=β1, dampening=β1)``.

Worked example: the first step moves each element by α g_1 (plain or with momentum, as
b_1 = g_1; with nesterov by α (1 + μ) g_1).

:func:`sgd_update` below is this box line by line in NumPy; :class:`SGD` does the same (and
the probe's update, :mod:`.probe`) in one fused Numba pass (:func:`~.kernels.sgd_step_kernel`),
tested against it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from .kernels import sgd_step_kernel
from .optimizer import FlatOptimizer
from .probe import ProbedOptimizer
from .validation import (check_flag, check_nesterov, check_nonnegative,
                         check_unit_interval)


def sgd_update(theta, g, b, t: int, lr: float, momentum: float = 0.0, dampening: float = 0.0,
               weight_decay: float = 0.0, nesterov: bool = False, maximize: bool = False):
    """SGD step t ≥ 1 of the box above on (P,) arrays; inputs are not modified.

    theta, g: (P,) arrays of one float dtype, scalars are cast to it (as the kernel gets them)
    b: (P,) momentum buffer b_{t−1} (ignored when t = 1 or μ = 0) or None
    returns: θ_t, b_t (None when μ = 0), u_t = Δθ/α, d_t (the gradient used), all (P,)
    """
    dt = theta.dtype.type
    d = -g if maximize else g                              # maximize: ascend f
    if weight_decay != 0.0:
        d = d + dt(weight_decay) * theta                   # d_t ← ±g_t + λ θ_{t−1}
    if momentum != 0.0:
        if t == 1:
            b = d.copy()                                   # b_1 = d_1
        else:
            b = dt(momentum) * b + dt(1.0 - dampening) * d  # b_t = μ b_{t−1} + (1 − τ) d_t
        u = d + dt(momentum) * b if nesterov else b        # u_t
    else:
        b = None
        u = d
    theta = theta - dt(lr) * u                             # θ_t
    return theta, b, u, d


@dataclass(frozen=True)
class SGDHyperparameters:
    """Validated SGD hyperparameters of one parameter group (see :class:`SGD`)."""

    lr: float
    momentum: float
    dampening: float
    weight_decay: float
    nesterov: bool
    maximize: bool = False

    @classmethod
    def validated(cls, owner: str, lr, momentum, dampening, weight_decay, nesterov,
                  maximize=False) -> "SGDHyperparameters":
        momentum = check_nonnegative(momentum, "momentum", owner)
        dampening = check_unit_interval(dampening, "dampening", owner, closed=True)
        nesterov = check_flag(nesterov, "nesterov", owner)
        check_nesterov(nesterov, momentum, dampening, owner)
        return cls(lr=check_nonnegative(lr, "lr", owner), momentum=momentum, dampening=dampening,
                   weight_decay=check_nonnegative(weight_decay, "weight_decay", owner),
                   nesterov=nesterov, maximize=check_flag(maximize, "maximize", owner))

    def as_dict(self) -> dict:
        return asdict(self)


class SGDScalars(NamedTuple):
    """SGD's scalars of step t, as :func:`~.kernels.sgd_step_kernel` takes them."""

    lr: float                   # α, in the state dtype (as the next three)
    momentum: float             # μ
    one_minus_dampening: float  # 1 − τ
    l2_decay: float             # λ (0 without decay: d = g + 0·θ = g exactly, no branch)
    use_momentum: bool          # μ ≠ 0: the buffer b exists
    first_step: bool            # t = 1: b_1 = d_1
    nesterov: bool
    grad_sign: float            # −1 to maximize, else 1 (state dtype: 1·g = g exactly)


def sgd_scalars(h: SGDHyperparameters, t: int, dtype) -> SGDScalars:
    """The scalars of step t ≥ 1 for a state of ``dtype`` (positional, as in adam_scalars)."""
    dt = np.dtype(dtype).type
    return SGDScalars(dt(h.lr), dt(h.momentum), dt(1.0 - h.dampening), dt(h.weight_decay),
                      h.momentum != 0.0, t == 1, h.nesterov, dt(-1.0 if h.maximize else 1.0))


class SGD(ProbedOptimizer, FlatOptimizer):
    r"""Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

    Algorithm and momentum convention: the box in :mod:`numpy_adam.optim.sgd` (this module's
    docstring), step by step in :func:`sgd_update`; one fused kernel pass per parameter group
    per step.

    Statistics: SGD has no v. With ``probe_betas=(β1, β2)`` a passive probe (see
    :mod:`numpy_adam.optim.probe`) keeps Adam's EMAs of d_t, and ``last_stats`` reports its
    mean |m̂|, σ̂, γ, neg_var_frac. ``update`` is this optimizer's mean |u_t| = |Δθ|/α (with L2
    decay included, as it is part of d_t). Without a probe only ``update`` is measured and the
    other four arrays of ``last_stats`` are NaN. The probe is one for the whole optimizer,
    not per group.

    params, track, sample_size, sample_seed: as for :class:`~numpy_adam.optim.Adam` (the
    sample's m̂, v̂ are the probe's, NaN without one).
    lr, momentum, dampening, weight_decay, nesterov, maximize: the defaults of every group.
    A group's momentum cannot go from 0 to non-zero after the first step (the buffer b
    exists only when some group had momentum at construction).
    """

    _STATE = ("b",)

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, maximize=False, probe_betas=None, track=("weight",),
                 sample_size=0, sample_seed=0):
        owner = type(self).__name__
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening, weight_decay=weight_decay,
                        nesterov=nesterov, maximize=maximize)
        SGDHyperparameters.validated(owner, **defaults)  # the defaults first
        self._init_probe(probe_betas, owner)
        super().__init__(params, defaults, track, sample_size, sample_seed)

    # -- state format hooks (the probe's in ProbedOptimizer) -------------------------
    @staticmethod
    def _validated(owner, lr, momentum, dampening, weight_decay, nesterov, maximize):
        return SGDHyperparameters.validated(owner, lr, momentum, dampening, weight_decay,
                                            nesterov, maximize)

    @staticmethod
    def _own_array_names(hparams: list) -> tuple[str, ...]:
        return ("b",) if any(h.momentum != 0.0 for h in hparams) else ()

    # -- the step --------------------------------------------------------------------
    def _check_step(self, hparams: list) -> None:
        if self.b is None and any(h.momentum != 0.0 for h in hparams):
            raise ValueError(f"{type(self).__name__}: a parameter group's momentum went from 0 to "
                             "non-zero after construction; its buffer b does not exist: create "
                             "the optimizer with that momentum")

    def _step_group(self, i: int, h: SGDHyperparameters, t: int, compute_stats: bool) -> None:
        b = self.b if (self.b is not None and h.momentum != 0.0) else self._empty
        probe_m, probe_v, probe = self._probe_arguments(t)
        sgd_step_kernel(self.flat.data, self.flat.grad, b, probe_m, probe_v,
                        self._group_chunks[i], sgd_scalars(h, t, self.dtype), probe,
                        compute_stats, self._group_parallel[i])
