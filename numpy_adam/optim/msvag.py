r"""M-SVAG (Balles & Hennig 2018, "Dissecting Adam: The Sign, Magnitude and Variance of Stochastic
Gradients"): momentum SGD whose step is shrunk, per element, by the estimated variance of m̂.

Inputs: α (lr), β (beta, in (0, 1)), λ (weight_decay, L2), maximize; per parameter group.
State:  t = 0, m_0 = 0, v_0 = 0 (P,) in θ's dtype.

    for t = 1, 2, ...:
        g_t ← ±∇f(θ_{t−1}) + λ θ_{t−1}                   (− if maximize; λ = 0: no decay)
        m_t ← β m_{t−1} + (1 − β) g_t
        v_t ← β v_{t−1} + (1 − β) g_t²
        m̂_t = m_t/(1 − β^t),   v̂_t = v_t/(1 − β^t)
        σ̂_t² = max(v̂_t − m̂_t², 0)                      the spread, as in :mod:`.stats`
        ρ_t = (1 − β)(1 + β^t) / ((1 + β)(1 − β^t))
        s_t = σ̂_t² / (1 − ρ_t)                           the gradient variance estimate
        r_t = m̂_t² / (m̂_t² + ρ_t s_t)                   variance adaptation factor, 0 for 0/0
        u_t = r_t m̂_t
        θ_t ← θ_{t−1} − α u_t

Where ρ and s come from: m̂_t = Σ_{k≤t} w_k g_k with weights w_k = (1 − β) β^{t−k}/(1 − β^t)
summing to 1, and ρ_t = Σ w_k². For gradients with mean μ and variance σ² (independent),
Var(m̂_t) = ρ_t σ² and E[v̂_t − m̂_t²] = (1 − ρ_t) σ², so s_t estimates σ² without bias and
ρ_t s_t estimates the variance of m̂_t. The factor minimizing E[(r m̂_t − μ)²] is
μ²/(μ² + ρ_t σ²); r_t is that with m̂_t² for μ².

Computed as ρ_t s_t = κ_t σ̂_t², κ_t = ρ_t/(1 − ρ_t) = (1 − β)(1 + β^t) / (2β (1 − β^{t−1}))
(:func:`msvag_kappa`), which avoids forming 1 − ρ_t (it cancels, and it is 0 at t = 1).
At t = 1, ρ_1 = 1 and σ̂_1² = 0, so s_1 is 0/0: one gradient says nothing about its variance.
We take κ_1 = 0, so r_1 = 1, as the authors' code does (it caps ρ at 0.999, so s_1 = 0). The
paper's box has no clamp; σ̂² is clamped at 0 here as in :mod:`.stats` (v̂ ≥ m̂² up to rounding,
since m and v share β), so r stays in [0, 1]; the authors' code clips r to [0, 1] to the same
effect. β = 0 is refused: then ρ_t = 1 at every t and there is never a variance estimate.

The step against the relative spread γ = σ̂/|m̂| (exact per element, with M-SVAG's own m̂, v̂):

    r_t = m̂²/(m̂² + κ_t σ̂²) = 1/(1 + κ_t γ_t²)
    |Δθ|/α = |u_t| = |m̂_t| / (1 + κ_t γ_t²) = |m̂_t| / (1 + ρ_t γ̃_t²)
    with γ̃_t = √s_t/|m̂_t| = γ_t/√(1 − ρ_t)

(γ̃ is the relative spread measured with the unbiased variance s; t = 1: |u_1| = |m̂_1| = |g_1|).
So M-SVAG = magnitude |m̂| × a factor falling from 1 like 1/γ² (:func:`predicted_update`),
where Adam = sign(m̂) × 1/√(γ²+1) (falls like 1/γ) and the sign methods = sign × 1. As t grows,
κ_t → (1 − β)/(2β) (1/18 for β = 0.9): the momentum averages over ≈ (1 + β)/(1 − β) steps,
so its variance is small, and the factor halves only at γ = 1/√κ = √(2β/(1 − β)) ≈ 4.2
(Adam's 1/√(γ²+1) halves at γ = √3 ≈ 1.7).

Worked example: t = 1 gives m̂_1 = g_1, v̂_1 = g_1², r_1 = 1 (0 where g_1 = 0), so
θ_1 = θ_0 − α g_1, SGD's first step. At t = 2, m̂_2 = (β g_1 + g_2)/(1 + β),
σ̂_2² = β (g_1 − g_2)²/(1 + β)² and κ_2 = (1 + β²)/(2β), so
κ_2 σ̂_2² = (1 + β²)(g_1 − g_2)²/(2(1 + β)²).

:func:`msvag_update` below is this box line by line in NumPy; :class:`MSVAG` does the same in
one fused Numba pass (:func:`~.kernels_sign.msvag_step_kernel`), tested against it.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from .kernels_sign import msvag_step_kernel
from .optimizer import FlatOptimizer
from .stats import bias_corrections
from .validation import check_flag, check_nonnegative, check_open_unit_interval


def msvag_rho(beta: float, t: int) -> float:
    """ρ(β, t) = (1 − β)(1 + β^t)/((1 + β)(1 − β^t)) = Σ_k w_k², float64, for t ≥ 1."""
    return (1.0 - beta) * (1.0 + beta ** t) / ((1.0 + beta) * (1.0 - beta ** t))


def msvag_kappa(beta: float, t: int | None = None) -> float:
    """κ_t = ρ_t/(1 − ρ_t) = (1 − β)(1 + β^t)/(2β(1 − β^{t−1})) in float64 (β in (0, 1)).

    t = 1 gives 0 (no variance estimate from one gradient: r_1 = 1, see the module docstring);
    t = None the limit t → ∞, (1 − β)/(2β).
    """
    if t is None:
        return (1.0 - beta) / (2.0 * beta)
    if t == 1:
        return 0.0
    return (1.0 - beta) * (1.0 + beta ** t) / (2.0 * beta * (1.0 - beta ** (t - 1)))


def msvag_update(theta, g, m, v, t: int, lr: float, beta: float, weight_decay: float = 0.0,
                 maximize: bool = False):
    """M-SVAG step t ≥ 1 of the box above on (P,) arrays; inputs are not modified.

    theta, g, m, v: (P,) arrays of one float dtype (m, v are m_{t−1}, v_{t−1}), scalars cast to
                    it (as the kernel gets them)
    returns: θ_t, m_t, v_t, u_t (the step in units of α), all (P,)
    """
    dt = theta.dtype.type
    c = dt(bias_corrections(beta, beta, t)[0])              # 1/(1 − β^t), for m and v
    kappa = dt(msvag_kappa(beta, t))                       # ρ_t/(1 − ρ_t); 0 at t = 1
    d = -g if maximize else g                              # maximize: ascend f
    if weight_decay != 0.0:
        d = d + dt(weight_decay) * theta                   # g_t ← ±g_t + λ θ_{t−1}
    m = dt(beta) * m + dt(1.0 - beta) * d                  # m_t
    v = dt(beta) * v + dt(1.0 - beta) * d * d              # v_t
    m_hat = c * m                                          # m̂_t
    m2 = m_hat * m_hat
    var = c * v - m2                                       # v̂_t − m̂_t²
    var = np.where(var > 0, var, dt(0.0))                  # σ̂_t² = max(v̂_t − m̂_t², 0)
    denom = m2 + kappa * var                               # m̂² + ρ_t s_t = m̂² + κ_t σ̂²
    r = np.divide(m2, denom, out=np.zeros_like(m2), where=denom > 0)  # r_t (0 for 0/0)
    u = r * m_hat                                          # u_t = r_t m̂_t
    theta = theta - dt(lr) * u                             # θ_t
    return theta, m, v, u


def predicted_update(gamma, mean_abs_m, beta: float = 0.9, t: int | None = None) -> np.ndarray:
    """M-SVAG's step size |Δθ|/α against the relative spread γ: |m̂| / (1 + κ_t γ²).

    Exact per element with M-SVAG's own m̂, v̂ at step t (γ = σ̂/|m̂| as in :mod:`.stats`);
    0 where |m̂| = 0. Unlike Adam's and the sign methods' it is not scale-free: it carries the
    gradient's magnitude |m̂|, and ``predicted_update(γ, 1.0)`` is the factor r alone.

    gamma, mean_abs_m: array-likes broadcasting together (γ and |m̂|)
    beta, t: M-SVAG's β and the step (t = None: the limit κ = (1 − β)/(2β) of long runs)
    returns: float64 array of the broadcast shape
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    mean_abs_m = np.asarray(mean_abs_m, dtype=np.float64)
    factor = 1.0 / (1.0 + msvag_kappa(beta, t) * gamma * gamma)  # r = 1/(1 + κ γ²)
    return np.where(mean_abs_m > 0, mean_abs_m * factor, 0.0)


@dataclass(frozen=True)
class MSVAGHyperparameters:
    """Validated M-SVAG hyperparameters of one parameter group (see :class:`MSVAG`)."""

    lr: float
    beta: float
    weight_decay: float
    maximize: bool = False

    @classmethod
    def validated(cls, owner: str, lr, beta, weight_decay,
                  maximize=False) -> "MSVAGHyperparameters":
        return cls(lr=check_nonnegative(lr, "lr", owner), beta=check_open_unit_interval(beta, "beta", owner),
                   weight_decay=check_nonnegative(weight_decay, "weight_decay", owner),
                   maximize=check_flag(maximize, "maximize", owner))

    def as_dict(self) -> dict:
        return asdict(self)


class MSVAGScalars(NamedTuple):
    """M-SVAG's scalars of step t, as :func:`~.kernels_sign.msvag_step_kernel` takes them."""

    lr: float              # α, in the state dtype (as the next six)
    beta: float            # β
    one_minus_beta: float  # 1 − β
    c: float               # 1/(1 − β^t): m̂ = c m, v̂ = c v
    kappa: float           # κ_t = ρ_t/(1 − ρ_t), 0 at t = 1
    l2_decay: float        # λ (0 without decay: g + 0·θ = g exactly, no branch)
    grad_sign: float       # −1 to maximize, else 1
    c_stats: float         # c in float64, for the statistics


def msvag_scalars(h: MSVAGHyperparameters, t: int, dtype) -> MSVAGScalars:
    """The scalars of step t ≥ 1 for a state of ``dtype`` (positional, as in adam_scalars)."""
    dt = np.dtype(dtype).type
    c = bias_corrections(h.beta, h.beta, t)[0]  # float64, outside the loop
    return MSVAGScalars(dt(h.lr), dt(h.beta), dt(1.0 - h.beta), dt(c), dt(msvag_kappa(h.beta, t)),
                        dt(h.weight_decay), dt(-1.0 if h.maximize else 1.0), np.float64(c))


class MSVAG(FlatOptimizer):
    r"""M-SVAG: the box in :mod:`numpy_adam.optim.msvag` (this module's docstring), step by step
    in :func:`msvag_update`; one fused kernel pass per parameter group per step.

    Statistics (``step(compute_stats=True)``, then ``last_stats``; :mod:`numpy_adam.optim.stats`)
    use M-SVAG's own m̂_t, v̂_t (β1 = β2 = β, so no probe is needed) and report
    update = mean |u_t| = mean |Δθ|/α, here in units of the gradient (u_t = r_t m̂_t), not a
    number ≤ 1 as for Adam. With L2 decay g_t above (decay included) is what m, v see.

    params, track, sample_size, sample_seed: as for :class:`~numpy_adam.optim.Adam`.
    lr, beta (in (0, 1)), weight_decay (L2), maximize: the defaults of every group. Defaults
    α = 1e-2 (the step is SGD-sized, α r m̂) and the authors' β = 0.9.
    """

    def __init__(self, params, lr=1e-2, beta=0.9, weight_decay=0.0, *, maximize=False,
                 track=("weight",), sample_size=0, sample_seed=0):
        defaults = dict(lr=lr, beta=beta, weight_decay=weight_decay, maximize=maximize)
        MSVAGHyperparameters.validated(type(self).__name__, **defaults)  # the defaults first
        self.m = self.v = None
        super().__init__(params, defaults, track, sample_size, sample_seed)

    # -- state format hooks ----------------------------------------------------------
    @staticmethod
    def _validated(owner, lr, beta, weight_decay, maximize):
        return MSVAGHyperparameters.validated(owner, lr, beta, weight_decay, maximize)

    @staticmethod
    def _array_names(hparams: list) -> tuple[str, ...]:
        return ("m", "v")

    def _arrays(self) -> dict:
        return {name: getattr(self, name) for name in ("m", "v") if getattr(self, name) is not None}

    def _set_arrays(self, arrays: dict) -> None:
        self.m, self.v = arrays["m"], arrays["v"]

    # -- the step --------------------------------------------------------------------
    def _step_group(self, i: int, h: MSVAGHyperparameters, t: int, compute_stats: bool) -> None:
        msvag_step_kernel(self.flat.data, self.flat.grad, self.m, self.v, self._group_chunks[i],
                          msvag_scalars(h, t, self.dtype), compute_stats, self._group_parallel[i])

    def _spread_moments(self, t: int, hparams: list):
        c = np.array([bias_corrections(h.beta, h.beta, t)[0] for h in hparams])  # (G,)
        per_element = c[self._sample_groups]  # (N,)
        return self.m, self.v, per_element, per_element
