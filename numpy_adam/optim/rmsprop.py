r"""RMSprop (Hinton's lecture 6e; the centered form from Graves 2013), with PyTorch's options and
semantics (``torch.optim.RMSprop``), over a flat buffer, with an optional spread probe.

Inputs: η (lr), α (alpha, the smoothing constant: PyTorch's name. Here α is *not* the learning
        rate, as it is in the Adam and SGD boxes), ε (eps), λ (weight_decay), μ (momentum),
        centered, maximize; per parameter group (:mod:`.groups`).
State:  v_0 = 0; ḡ_0 = 0 if centered; b_0 = 0 if μ > 0; arrays (P,) in θ's dtype. Nothing
        depends on t: RMSprop has no bias correction.

    for t = 1, 2, ...:
        g_t ← ±∇f(θ_{t−1}) + λ θ_{t−1}            (− if maximize; λ = 0: no decay)
        v_t ← α v_{t−1} + (1 − α) g_t²
        if centered:
            ḡ_t ← α ḡ_{t−1} + (1 − α) g_t
            D_t = √(v_t − ḡ_t²) + ε              ε outside the square root, as PyTorch
        else:
            D_t = √v_t + ε
        if μ > 0:
            b_t ← μ b_{t−1} + g_t/D_t
            u_t = b_t
        else:
            u_t = g_t/D_t
        θ_t ← θ_{t−1} − η u_t

(PyTorch writes ḡ_t with ``lerp``, ḡ + (1 − α)(g − ḡ): the same EMA up to rounding.)

Worked example: the first step has v_1 = (1 − α) g_1², so each element moves by
η g_1/(√(1 − α)|g_1| + ε) ≈ η sign(g_1)/√(1 − α): 10η for α = 0.99, not Adam's η, because v_1
is not bias-corrected. Centered: ḡ_1 = (1 − α) g_1, v_1 − ḡ_1² = α(1 − α) g_1², a step of
≈ η sign(g_1)/√(α(1 − α)) ≈ 10.05η sign(g_1).

Where γ comes in (statistics: ``update`` = mean |u_t| = mean |Δθ|/η; m̂, σ̂, γ from a probe,
:mod:`.probe`, as for SGD). Adam divides m̂_t, the *mean* of recent gradients, by √v̂_t; RMSprop
divides the current g_t. With a probe of β2 = α, v_t = (1 − α^t) v̂_t exactly (the same
recursion), and v̂ = m̂²(γ² + 1) where v̂ ≥ m̂², so with μ = 0 and ε = 0, per element,

    |u_t| = (|g_t|/|m̂_t|) / √((1 − α^t)(γ_t² + 1))        not centered, probe β2 = α
    |u_t| = (|g_t|/|m̂_t|) / √((1 − α^t)(γ_t² + α^t))      centered, probe β1 = β2 = α

(centered: ḡ_t = (1 − α^t) m̂_t, so v_t − ḡ_t² = (1 − α^t) m̂_t²(γ_t² + α^t)). The step depends
on γ only beside the ratio |g_t|/|m̂_t|, whose square averages to about γ² + 1 over a steady
stretch: RMSprop's root-mean-square step stays near 1 (centered: near √(1 + 1/γ²)) whatever
the spread, where Adam's |u| = 1/√(γ² + 1) shrinks with it. A steady gradient (γ → 0) takes
the centered D_t = |m̂_t|√((1 − α^t)(γ_t² + α^t)) + ε down toward ε: the step grows toward
η g/ε, and v_t − ḡ_t² can round below 0 (a NaN step), as in PyTorch.

:func:`rmsprop_update` below is this box line by line in NumPy; :class:`RMSprop` does the same
(and the probe's update) in one fused Numba pass (:func:`~.kernels_rms.rmsprop_step_kernel`),
tested against it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from .kernels_rms import rmsprop_step_kernel
from .optimizer import FlatOptimizer
from .probe import ProbedOptimizer
from .validation import check_flag, check_nonnegative, check_unit_interval


def rmsprop_update(theta, g, v, g_avg, b, lr: float, alpha: float, eps: float,
                   weight_decay: float = 0.0, momentum: float = 0.0, centered: bool = False,
                   maximize: bool = False):
    """RMSprop step of the box above on (P,) arrays; inputs are not modified.

    theta, g, v: (P,) arrays of one float dtype, scalars are cast to it (as the kernel gets them)
    g_avg: (P,) ḡ_{t−1} when centered, else None; b: (P,) b_{t−1} when μ > 0, else None
    returns: θ_t, v_t, ḡ_t (None unless centered), b_t (None unless μ > 0), u_t = Δθ/η,
             g_t (the gradient used, decay included), all (P,)
    """
    dt = theta.dtype.type
    d = -g if maximize else g                               # maximize: ascend f
    if weight_decay != 0.0:
        d = d + dt(weight_decay) * theta                    # g_t ← ±g_t + λ θ_{t−1}
    v = dt(alpha) * v + dt(1.0 - alpha) * d * d             # v_t
    if centered:
        g_avg = dt(alpha) * g_avg + dt(1.0 - alpha) * d     # ḡ_t
        denom = np.sqrt(v - g_avg * g_avg) + dt(eps)        # D_t = √(v_t − ḡ_t²) + ε
    else:
        g_avg = None
        denom = np.sqrt(v) + dt(eps)                        # D_t = √v_t + ε
    u = d / denom                                           # g_t/D_t
    if momentum != 0.0:
        b = dt(momentum) * b + u                            # b_t = μ b_{t−1} + g_t/D_t
        u = b                                               # u_t = b_t
    else:
        b = None
    theta = theta - dt(lr) * u                              # θ_t
    return theta, v, g_avg, b, u, d


@dataclass(frozen=True)
class RMSpropHyperparameters:
    """Validated RMSprop hyperparameters of one parameter group (see :class:`RMSprop`).

    PyTorch checks lr, eps, weight_decay, momentum, alpha ≥ 0; alpha > 1 is refused here too
    (1 − α < 0 would subtract g² from v, whose square root then fails)."""

    lr: float
    alpha: float
    eps: float
    weight_decay: float
    momentum: float
    centered: bool
    maximize: bool = False

    @classmethod
    def validated(cls, owner: str, lr, alpha, eps, weight_decay, momentum, centered,
                  maximize=False) -> "RMSpropHyperparameters":
        return cls(lr=check_nonnegative(lr, "lr", owner),
                   alpha=check_unit_interval(alpha, "alpha", owner, closed=True),
                   eps=check_nonnegative(eps, "eps", owner),
                   weight_decay=check_nonnegative(weight_decay, "weight_decay", owner),
                   momentum=check_nonnegative(momentum, "momentum", owner),
                   centered=check_flag(centered, "centered", owner),
                   maximize=check_flag(maximize, "maximize", owner))

    def as_dict(self) -> dict:
        return asdict(self)


class RMSpropScalars(NamedTuple):
    """RMSprop's scalars, as :func:`~.kernels_rms.rmsprop_step_kernel` takes them."""

    lr: float               # η, in the state dtype (as the next six)
    alpha: float            # α
    one_minus_alpha: float  # 1 − α
    eps: float              # ε
    l2_decay: float         # λ (0 without decay: g + 0·θ = g exactly, no branch)
    momentum: float         # μ
    grad_sign: float        # −1 to maximize, else 1 (state dtype: 1·g = g exactly)
    centered: bool          # ḡ exists and D_t = √(v_t − ḡ_t²) + ε
    use_momentum: bool      # μ ≠ 0: the buffer b exists


def rmsprop_scalars(h: RMSpropHyperparameters, dtype) -> RMSpropScalars:
    """The scalars of every step for a state of ``dtype`` (positional, as in adam_scalars)."""
    dt = np.dtype(dtype).type
    return RMSpropScalars(dt(h.lr), dt(h.alpha), dt(1.0 - h.alpha), dt(h.eps), dt(h.weight_decay),
                          dt(h.momentum), dt(-1.0 if h.maximize else 1.0), h.centered,
                          h.momentum != 0.0)


class RMSprop(ProbedOptimizer, FlatOptimizer):
    r"""RMSprop with PyTorch's options: the box in :mod:`numpy_adam.optim.rmsprop` (this
    module's docstring), step by step in :func:`rmsprop_update`; one fused kernel pass per
    parameter group per step.

    Statistics: RMSprop keeps no m̂. With ``probe_betas=(β1, β2)`` a passive probe (see
    :mod:`numpy_adam.optim.probe`) keeps Adam's EMAs of g_t (decay included) and
    ``last_stats`` reports its mean |m̂|, σ̂, γ, neg_var_frac; ``probe_betas=(alpha, alpha)``
    makes the probe's v (and m, when centered) RMSprop's own v (ḡ). ``update`` is this
    optimizer's mean |u_t| = |Δθ|/η. Without a probe only ``update`` is measured and the other
    four arrays are NaN.

    params, track, sample_size, sample_seed: as for :class:`~numpy_adam.optim.Adam` (the
    sample's m̂, v̂ are the probe's, NaN without one).
    lr, alpha, eps, weight_decay, momentum, centered, maximize: the defaults of every group
    (PyTorch's positional order up to ``centered``). A group cannot switch momentum from 0 to
    non-zero, nor centered on, after construction (the buffer b, ḡ would not exist).
    """

    _STATE = ("v", "g_avg", "b")

    def __init__(self, params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0.0, momentum=0.0,
                 centered=False, *, maximize=False, probe_betas=None, track=("weight",),
                 sample_size=0, sample_seed=0):
        owner = type(self).__name__
        defaults = dict(lr=lr, alpha=alpha, eps=eps, weight_decay=weight_decay,
                        momentum=momentum, centered=centered, maximize=maximize)
        RMSpropHyperparameters.validated(owner, **defaults)  # the defaults first
        self._init_probe(probe_betas, owner)
        super().__init__(params, defaults, track, sample_size, sample_seed)

    # -- state format hooks (the probe's in ProbedOptimizer) -------------------------
    @staticmethod
    def _validated(owner, lr, alpha, eps, weight_decay, momentum, centered, maximize):
        return RMSpropHyperparameters.validated(owner, lr, alpha, eps, weight_decay, momentum,
                                                centered, maximize)

    @staticmethod
    def _own_array_names(hparams: list) -> tuple[str, ...]:
        return (("v",) + (("g_avg",) if any(h.centered for h in hparams) else ())
                + (("b",) if any(h.momentum != 0.0 for h in hparams) else ()))

    # -- the step --------------------------------------------------------------------
    def _check_step(self, hparams: list) -> None:
        owner = type(self).__name__
        if self.b is None and any(h.momentum != 0.0 for h in hparams):
            raise ValueError(f"{owner}: a parameter group's momentum went from 0 to non-zero "
                             "after construction; its buffer b does not exist: create the "
                             "optimizer with that momentum")
        if self.g_avg is None and any(h.centered for h in hparams):
            raise ValueError(f"{owner}: centered was switched on in a parameter group after "
                             "construction; its gradient average does not exist: create the "
                             "optimizer with centered=True for that group")

    def _step_group(self, i: int, h: RMSpropHyperparameters, t: int, compute_stats: bool) -> None:
        empty = self._empty
        probe_m, probe_v, probe = self._probe_arguments(t)
        rmsprop_step_kernel(self.flat.data, self.flat.grad, self.v,
                            self.g_avg if h.centered else empty,
                            self.b if h.momentum != 0.0 else empty, probe_m, probe_v,
                            self._group_chunks[i], rmsprop_scalars(h, self.dtype), probe,
                            compute_stats, self._group_parallel[i])
