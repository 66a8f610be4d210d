r"""signSGD and Signum (Bernstein et al. 2018): the step keeps only the sign of its direction.

Inputs: α (lr), β (beta, Signum only), λ (weight_decay, L2), maximize; per parameter group
        (:mod:`.groups`).
State:  t = 0 and, for Signum, m_0 = 0 (P,) in θ's dtype; signSGD keeps nothing.

    for t = 1, 2, ...:
        g_t ← ±∇f(θ_{t−1}) + λ θ_{t−1}              (− if maximize; λ = 0: no decay)
        signSGD:  u_t = sign(g_t)
        Signum:   m_t ← β m_{t−1} + (1 − β) g_t
                  u_t = sign(m_t)
        θ_t ← θ_{t−1} − α u_t

sign(x) is −1, 0 or 1 (0 at x = 0, as ``np.sign`` and ``torch.sign``), so |u_t| = 1 on every
element whose sign argument is not 0: each element moves by exactly α, whatever |g| or the
gradient's spread.

Momentum convention (Signum): the paper's m_t = β m_{t−1} + (1 − β) g_t, the exponential
moving average, not PyTorch's heavy ball b_t = β b_{t−1} + g_t (see :mod:`.sgd`). Both give
the same sign, b_t = m_t/(1 − β), but the EMA is Adam's first moment: with Adam's β1 = β (and
a probe with β1 = β) the m_t here *is* Adam's m_t, and the bias correction m̂_t = m_t/(1 − β^t)
is a positive factor, so sign(m_t) = sign(m̂_t). Signum therefore steps in Adam's direction at
unit size, where Adam (β1 = β2, ε = 0) steps by 1/√(γ²+1) with γ = σ̂/|m̂| (:mod:`.stats`):

    Adam:    u_t = sign(m̂_t) / √(γ_t² + 1)
    Signum:  u_t = sign(m̂_t)                      (and signSGD is Signum with β = 0)

On the note's axes (update size against relative spread γ) both sign methods are the flat
line |Δθ|/α = 1 (:func:`predicted_update`). The spread does not shrink their step: it shows
instead in the direction, since for large γ the sign of m_t (or of g_t) flips from step to
step and the steps cancel over time.

Worked example: the first step has m_1 = (1 − β) g_1, so both methods move every element by
α sign(g_1): like Adam's first step α g_1/(|g_1| + ε), without the ε.

:func:`sign_sgd_update` and :func:`signum_update` below are this box line by line in NumPy;
:class:`SignSGD` and :class:`Signum` do the same (and the probe's update, :mod:`.probe`) in one
fused Numba pass (:func:`~.kernels_sign.sign_step_kernel`, which also runs :mod:`.lion`),
tested against them.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from .kernels_sign import sign_step_kernel
from .optimizer import FlatOptimizer
from .probe import ProbedOptimizer
from .validation import check_beta, check_flag, check_nonnegative


def sign_sgd_update(theta, g, lr: float, weight_decay: float = 0.0, maximize: bool = False):
    """signSGD step of the box above on (P,) arrays; inputs are not modified.

    theta, g: (P,) arrays of one float dtype, scalars are cast to it (as the kernel gets them)
    returns: θ_t, u_t = Δθ/α, d_t (the gradient used, decay included: what a probe sees)
    """
    dt = theta.dtype.type
    d = -g if maximize else g                              # maximize: ascend f
    if weight_decay != 0.0:
        d = d + dt(weight_decay) * theta                   # g_t ← ±g_t + λ θ_{t−1}
    u = np.sign(d)                                         # u_t = sign(g_t)
    theta = theta - dt(lr) * u                             # θ_t
    return theta, u, d


def signum_update(theta, g, m, lr: float, beta: float, weight_decay: float = 0.0,
                  maximize: bool = False):
    """Signum step of the box above on (P,) arrays; inputs are not modified.

    theta, g, m: (P,) arrays of one float dtype (m is m_{t−1}), scalars cast to it
    returns: θ_t, m_t, u_t = Δθ/α, d_t (the gradient used), all (P,)
    """
    dt = theta.dtype.type
    d = -g if maximize else g
    if weight_decay != 0.0:
        d = d + dt(weight_decay) * theta                   # g_t ← ±g_t + λ θ_{t−1}
    m = dt(beta) * m + dt(1.0 - beta) * d                  # m_t
    u = np.sign(m)                                         # u_t = sign(m_t)
    theta = theta - dt(lr) * u                             # θ_t
    return theta, m, u, d


def predicted_update(gamma, mean_abs_m=None) -> np.ndarray:
    """The sign methods' step size |Δθ|/α as a function of the relative spread γ: 1.

    Exact per element wherever the sign argument (g_t for signSGD, m_t for Signum, c_t for
    Lion) is not 0; where it is 0 the step is 0. A tensor's mean step is therefore the
    fraction of its elements with a non-zero argument (1 for real gradients). ``mean_abs_m``
    is ignored: it is accepted so that every method's curve is called alike.

    gamma: array-like of γ values; returns float64 ones of its shape
    """
    return np.ones(np.shape(gamma), dtype=np.float64)


@dataclass(frozen=True)
class SignSGDHyperparameters:
    """Validated signSGD hyperparameters of one parameter group (see :class:`SignSGD`)."""

    lr: float
    weight_decay: float
    maximize: bool = False

    @classmethod
    def validated(cls, owner: str, lr, weight_decay, maximize=False) -> "SignSGDHyperparameters":
        return cls(lr=check_nonnegative(lr, "lr", owner),
                   weight_decay=check_nonnegative(weight_decay, "weight_decay", owner),
                   maximize=check_flag(maximize, "maximize", owner))

    def as_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class SignumHyperparameters:
    """Validated Signum hyperparameters of one parameter group (see :class:`Signum`)."""

    lr: float
    beta: float
    weight_decay: float
    maximize: bool = False

    @classmethod
    def validated(cls, owner: str, lr, beta, weight_decay,
                  maximize=False) -> "SignumHyperparameters":
        return cls(lr=check_nonnegative(lr, "lr", owner), beta=check_beta(beta, "beta", owner),
                   weight_decay=check_nonnegative(weight_decay, "weight_decay", owner),
                   maximize=check_flag(maximize, "maximize", owner))

    def as_dict(self) -> dict:
        return asdict(self)


class SignScalars(NamedTuple):
    """The sign family's scalars, as :func:`~.kernels_sign.sign_step_kernel` takes them.

    The kernel runs the general form, Lion's (:mod:`.lion`): c = β1 m + (1 − β1) d, u = sign(c),
    m ← β2 m + (1 − β2) d. Signum is β1 = β2 = β (then c is m_t itself); signSGD keeps no
    memory (c = d). One tuple type for the three, so one compiled kernel.
    """

    lr: float               # α, in the state dtype (as the next seven)
    beta1: float            # β of the step's c (Signum: β; Lion: β1)
    one_minus_beta1: float  # 1 − β1
    beta2: float            # β of the memory m (Signum: β; Lion: β2)
    one_minus_beta2: float  # 1 − β2
    l2_decay: float         # λ with L2 decay (signSGD, Signum), else 0 (d = g + 0·θ = g exactly)
    decay_factor: float     # 1 − αλ with decoupled decay (Lion), else 1
    grad_sign: float        # −1 to maximize, else 1
    use_memory: bool        # m exists (Signum, Lion); False: c = d (signSGD)


def sign_sgd_scalars(h: SignSGDHyperparameters, dtype) -> SignScalars:
    """signSGD's scalars for a state of ``dtype`` (the same at every step)."""
    dt = np.dtype(dtype).type
    return SignScalars(dt(h.lr), dt(0.0), dt(1.0), dt(0.0), dt(1.0), dt(h.weight_decay), dt(1.0),
                       dt(-1.0 if h.maximize else 1.0), False)


def signum_scalars(h: SignumHyperparameters, dtype) -> SignScalars:
    """Signum's scalars for a state of ``dtype``: β1 = β2 = β, no decoupled decay."""
    dt = np.dtype(dtype).type
    return SignScalars(dt(h.lr), dt(h.beta), dt(1.0 - h.beta), dt(h.beta), dt(1.0 - h.beta),
                       dt(h.weight_decay), dt(1.0), dt(-1.0 if h.maximize else 1.0), True)


class SignFamilyOptimizer(ProbedOptimizer, FlatOptimizer):
    """What :class:`SignSGD`, :class:`Signum` and :class:`~.lion.Lion` share: the one kernel,
    the memory m (if the method keeps one) and the passive spread probe, exactly as
    :class:`~.sgd.SGD` has it (:class:`~.probe.ProbedOptimizer`).

    A subclass sets ``_MEMORY`` (keeps m) and defines ``_validated`` and ``_scalars(h, dtype)``.
    """

    _MEMORY = True
    _STATE = ("m",)

    def __init__(self, params, defaults: dict, probe_betas, track, sample_size, sample_seed):
        owner = type(self).__name__
        self._validated(owner, **defaults)  # the defaults first
        self._init_probe(probe_betas, owner)
        super().__init__(params, defaults, track, sample_size, sample_seed)

    # -- state format hooks (the probe's in ProbedOptimizer) -------------------------
    def _own_array_names(self, hparams: list) -> tuple[str, ...]:
        return ("m",) if self._MEMORY else ()

    # -- the step --------------------------------------------------------------------
    def _step_group(self, i: int, h, t: int, compute_stats: bool) -> None:
        probe_m, probe_v, probe = self._probe_arguments(t)
        sign_step_kernel(self.flat.data, self.flat.grad,
                         self.m if self.m is not None else self._empty, probe_m, probe_v,
                         self._group_chunks[i], self._scalars(h, self.dtype), probe,
                         compute_stats, self._group_parallel[i])


class SignSGD(SignFamilyOptimizer):
    r"""signSGD: θ ← θ − α sign(g), the box in :mod:`numpy_adam.optim.sign`, step by step in
    :func:`sign_sgd_update`; one fused kernel pass per parameter group per step.

    Statistics: a sign method has no v. With ``probe_betas=(β1, β2)`` a passive probe (see
    :mod:`numpy_adam.optim.probe`) keeps Adam's EMAs of the gradient the method uses (L2 decay
    included), and ``last_stats`` reports its mean |m̂|, σ̂, γ, neg_var_frac; without one those
    four are NaN. ``update`` is always this method's mean |u_t| = |Δθ|/α: the fraction of
    elements that moved.

    params, track, sample_size, sample_seed: as for :class:`~numpy_adam.optim.Adam` (the
    sample's m̂, v̂ are the probe's, NaN without one).
    lr, weight_decay (L2), maximize: the defaults of every group. The default α = 1e-4 is
    Lion's: a sign step moves every element by the full α, Adam's by α/√(γ²+1) ≤ α.
    """

    _MEMORY = False

    def __init__(self, params, lr=1e-4, weight_decay=0.0, *, maximize=False, probe_betas=None,
                 track=("weight",), sample_size=0, sample_seed=0):
        defaults = dict(lr=lr, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, probe_betas, track, sample_size, sample_seed)

    @staticmethod
    def _validated(owner, lr, weight_decay, maximize):
        return SignSGDHyperparameters.validated(owner, lr, weight_decay, maximize)

    _scalars = staticmethod(sign_sgd_scalars)


class Signum(SignFamilyOptimizer):
    r"""Signum, the sign of the momentum: the box in :mod:`numpy_adam.optim.sign` (with the EMA
    convention stated there), step by step in :func:`signum_update`; one fused kernel pass per
    parameter group per step.

    Statistics, params, track, sample_size, sample_seed, probe_betas: as for :class:`SignSGD`
    (a probe with β1 = β keeps exactly Signum's m).
    lr, beta (β of m_t = β m_{t−1} + (1 − β) g_t, in [0, 1); 0 is signSGD), weight_decay (L2),
    maximize: the defaults of every group. Default α = 1e-4 as :class:`SignSGD`, β = 0.9.
    """

    def __init__(self, params, lr=1e-4, beta=0.9, weight_decay=0.0, *, maximize=False,
                 probe_betas=None, track=("weight",), sample_size=0, sample_seed=0):
        defaults = dict(lr=lr, beta=beta, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, probe_betas, track, sample_size, sample_seed)

    @staticmethod
    def _validated(owner, lr, beta, weight_decay, maximize):
        return SignumHyperparameters.validated(owner, lr, beta, weight_decay, maximize)

    _scalars = staticmethod(signum_scalars)
