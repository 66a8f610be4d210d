r"""Lion (Chen et al. 2023, "Symbolic Discovery of Optimization Algorithms"), Algorithm 2.

Inputs: α (lr), β1, β2 (betas), λ (weight_decay, decoupled), maximize; per parameter group
        (:mod:`.groups`).
State:  t = 0, m_0 = 0 (P,) in θ's dtype.

    for t = 1, 2, ...:
        g_t ← ±∇f(θ_{t−1})                           (− if maximize)
        c_t = β1 m_{t−1} + (1 − β1) g_t              the step's interpolation
        u_t = sign(c_t)                              −1, 0 or 1 (0 at c_t = 0)
        θ_t ← θ_{t−1} − α (u_t + λ θ_{t−1})          applied as (1 − αλ) θ_{t−1} − α u_t
        m_t ← β2 m_{t−1} + (1 − β2) g_t              the memory, with its own β2

The decay is decoupled (not part of g, so not part of m, c or u_t), and applied first as the
paper's reference code does (θ ← θ (1 − αλ), then θ ← θ − α sign(c_t)); the two forms of the
θ line agree up to rounding. There is no bias correction: m_0 = 0 makes early c_t lean on g_t.

Lion generalizes Signum (:mod:`.sign`): with β1 = β2 = β, c_t = m_t and Lion is Signum with
decoupled decay. With β1 < β2 (defaults 0.9, 0.99) the step weighs the current gradient more
than the memory it keeps. Either way the step size does not depend on the gradient's spread:
|u_t| = 1 on every element with c_t ≠ 0, the flat line of :func:`predicted_update` on the
note's axes, where Adam's is 1/√(γ²+1). The spread acts only through the sign of c_t, which
flips from step to step when γ is large.

Worked example: t = 1 gives c_1 = (1 − β1) g_1, so θ_1 = (1 − αλ) θ_0 − α sign(g_1), and
m_1 = (1 − β2) g_1. At t = 2, c_2 = β1 (1 − β2) g_1 + (1 − β1) g_2 (0.009 g_1 + 0.1 g_2 with
the defaults): the new gradient dominates.

:func:`lion_update` below is this box line by line in NumPy; :class:`Lion` does the same (and
the probe's update, :mod:`.probe`) in one fused Numba pass, the sign family's kernel
(:func:`~.kernels_sign.sign_step_kernel`), tested against it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .sign import SignFamilyOptimizer, SignScalars
from .validation import check_betas, check_flag, check_nonnegative


def lion_update(theta, g, m, lr: float, beta1: float, beta2: float, weight_decay: float = 0.0,
                maximize: bool = False):
    """Lion step of the box above on (P,) arrays; inputs are not modified.

    theta, g, m: (P,) arrays of one float dtype (m is m_{t−1}), scalars cast to it (as the
                 kernel gets them)
    returns: θ_t, m_t, u_t = sign(c_t) (the step in units of α, decoupled decay excluded),
             d_t (the gradient used: what a probe sees), all (P,)
    """
    dt = theta.dtype.type
    d = -g if maximize else g                              # maximize: ascend f
    c = dt(beta1) * m + dt(1.0 - beta1) * d                # c_t
    u = np.sign(c)                                         # u_t = sign(c_t)
    if weight_decay != 0.0:
        theta = theta * dt(1.0 - lr * weight_decay)        # θ_{t−1} ← (1 − αλ) θ_{t−1}
    theta = theta - dt(lr) * u                             # θ_t
    m = dt(beta2) * m + dt(1.0 - beta2) * d                # m_t
    return theta, m, u, d


def predicted_update(gamma, mean_abs_m=None) -> np.ndarray:
    """Lion's step size |Δθ|/α as a function of the relative spread γ: 1.

    Exact per element wherever c_t ≠ 0 (the step is 0 where c_t = 0), with the decoupled decay
    left out as in the ``update`` statistic. ``mean_abs_m`` is ignored (accepted so that every
    method's curve is called alike).

    gamma: array-like of γ values; returns float64 ones of its shape
    """
    return np.ones(np.shape(gamma), dtype=np.float64)


@dataclass(frozen=True)
class LionHyperparameters:
    """Validated Lion hyperparameters of one parameter group (see :class:`Lion`)."""

    lr: float
    beta1: float
    beta2: float
    weight_decay: float
    maximize: bool = False

    @classmethod
    def validated(cls, owner: str, lr, betas, weight_decay,
                  maximize=False) -> "LionHyperparameters":
        beta1, beta2 = check_betas(betas, owner)
        return cls(lr=check_nonnegative(lr, "lr", owner), beta1=beta1, beta2=beta2,
                   weight_decay=check_nonnegative(weight_decay, "weight_decay", owner),
                   maximize=check_flag(maximize, "maximize", owner))

    @property
    def decay_factor(self) -> float:
        """κ = 1 − αλ (θ_{t−1} ← κ θ_{t−1}); the element sample divides it out of the step."""
        return 1.0 - self.lr * self.weight_decay

    def as_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = (d.pop("beta1"), d.pop("beta2"))
        return d


def lion_scalars(h: LionHyperparameters, dtype) -> SignScalars:
    """Lion's scalars for a state of ``dtype`` (the same at every step).

    They are the sign family's :class:`~.sign.SignScalars` (Lion is their general form: its
    fields are Lion's β1, β2, the decoupled factor 1 − αλ and no L2 decay), so Signum and Lion
    run one compiled kernel.
    """
    dt = np.dtype(dtype).type
    return SignScalars(dt(h.lr), dt(h.beta1), dt(1.0 - h.beta1), dt(h.beta2), dt(1.0 - h.beta2),
                       dt(0.0), dt(h.decay_factor), dt(-1.0 if h.maximize else 1.0), True)


class Lion(SignFamilyOptimizer):
    r"""Lion: the box in :mod:`numpy_adam.optim.lion` (this module's docstring), step by step in
    :func:`lion_update`; one fused kernel pass per parameter group per step.

    Statistics: Lion has no v. With ``probe_betas=(β1, β2)`` a passive probe (see
    :mod:`numpy_adam.optim.probe`) keeps Adam's EMAs of g_t (decoupled decay not included),
    and ``last_stats`` reports its mean |m̂|, σ̂, γ, neg_var_frac; without one those four are
    NaN. ``update`` is Lion's mean |u_t| = |Δθ|/α with the decoupled decay excluded (as Adam
    does for AdamW): the fraction of elements that moved.

    params, track, sample_size, sample_seed: as for :class:`~numpy_adam.optim.Adam` (the
    sample's m̂, v̂ are the probe's, NaN without one; its step excludes the decay).
    lr, betas, weight_decay (decoupled), maximize: the defaults of every group; defaults as
    in the paper's reference code: α = 1e-4, (β1, β2) = (0.9, 0.99), λ = 0.
    """

    def __init__(self, params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0, *, maximize=False,
                 probe_betas=None, track=("weight",), sample_size=0, sample_seed=0):
        defaults = dict(lr=lr, betas=betas, weight_decay=weight_decay, maximize=maximize)
        super().__init__(params, defaults, probe_betas, track, sample_size, sample_seed)

    @staticmethod
    def _validated(owner, lr, betas, weight_decay, maximize):
        return LionHyperparameters.validated(owner, lr, betas, weight_decay, maximize)

    _scalars = staticmethod(lion_scalars)
