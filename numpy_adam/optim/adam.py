r"""Adam (Kingma & Ba 2015) and AdamW, with PyTorch's options and semantics (``torch.optim.Adam``).

Inputs: α (lr), β1, β2 (betas), ε (eps), λ (weight_decay), amsgrad, decoupled_weight_decay,
        maximize; per parameter group (:mod:`.groups`).
State:  t = 0, m_0 = 0, v_0 = 0 (and v_max,0 = 0 with amsgrad), arrays (P,) in θ's dtype.

    for t = 1, 2, ...:
        g_t ← ∇f(θ_{t−1})
        g_t ← −g_t                               if maximize (ascend f)
        g_t ← g_t + λ θ_{t−1}                    if λ ≠ 0 and not decoupled   (L2 decay)
        θ_{t−1} ← (1 − αλ) θ_{t−1}               if λ ≠ 0 and decoupled       (AdamW)
        m_t ← β1 m_{t−1} + (1 − β1) g_t
        v_t ← β2 v_{t−1} + (1 − β2) g_t²
        m̂_t = m_t / (1 − β1^t)
        v̂_t = v_t / (1 − β2^t)
        amsgrad: v_max,t ← max(v_max,t−1, v_t);  v̄_t = v_max,t / (1 − β2^t)
        else:    v̄_t = v̂_t
        u_t = m̂_t / (√v̄_t + ε)                 ε outside the square root, as PyTorch
        θ_t ← θ_{t−1} − α u_t

Worked example: the first step (t = 1) has m̂_1 = g_1, v̂_1 = g_1², so each element moves by
α g_1/(|g_1| + ε) ≈ α sign(g_1), whatever the gradient's magnitude.

:func:`adam_update` below is this box line by line in NumPy; :class:`Adam` does the same in one
fused Numba pass (:func:`~.kernels.adam_step_kernel`, given :func:`adam_scalars`), tested
against it. Where γ comes from: :mod:`.stats` (σ̂² = v̂ − m̂², γ = σ̂/|m̂|, and why |u_t| is
1/√(γ²+1) for β1 = β2, ε = 0).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import NamedTuple

import numpy as np

from .kernels import adam_step_kernel
from .optimizer import FlatOptimizer
from .stats import bias_corrections
from .validation import check_betas, check_flag, check_nonnegative


def adam_update(theta, g, m, v, v_max, t: int, lr: float, beta1: float, beta2: float,
                eps: float, weight_decay: float = 0.0, amsgrad: bool = False,
                decoupled_weight_decay: bool = False, maximize: bool = False):
    """Adam step t ≥ 1 of the box above on (P,) arrays; inputs are not modified.

    theta, g, m, v: (P,) arrays of one float dtype, scalars are cast to it (as the kernel
                    gets them); v_max: (P,) with amsgrad, else None
    returns: θ_t, m_t, v_t, v_max,t (None without amsgrad), u_t (the step in units of α,
             decoupled decay excluded), all (P,)
    """
    dt = theta.dtype.type
    c1, c2 = bias_corrections(beta1, beta2, t)            # 1/(1 − β1^t), 1/(1 − β2^t): float64
    if maximize:
        g = -g                                             # g_t ← −g_t
    if weight_decay != 0.0 and not decoupled_weight_decay:
        g = g + dt(weight_decay) * theta                   # g_t ← g_t + λ θ_{t−1}
    if weight_decay != 0.0 and decoupled_weight_decay:
        theta = theta * dt(1.0 - lr * weight_decay)        # θ_{t−1} ← (1 − αλ) θ_{t−1}
    m = dt(beta1) * m + dt(1.0 - beta1) * g                # m_t
    v = dt(beta2) * v + dt(1.0 - beta2) * g * g            # v_t
    if amsgrad:
        v_max = np.maximum(v_max, v)                       # v_max,t
    v_bar = v_max if amsgrad else v
    u = (dt(c1) * m) / (np.sqrt(dt(c2) * v_bar) + dt(eps))  # u_t = m̂_t / (√v̄_t + ε)
    theta = theta - dt(lr) * u                             # θ_t
    return theta, m, v, (v_max if amsgrad else None), u


@dataclass(frozen=True)
class AdamHyperparameters:
    """Validated Adam hyperparameters (see :class:`Adam`)."""

    lr: float
    beta1: float
    beta2: float
    eps: float
    weight_decay: float
    amsgrad: bool
    decoupled_weight_decay: bool
    maximize: bool = False

    @classmethod
    def validated(cls, owner: str, lr, betas, eps, weight_decay, amsgrad,
                  decoupled_weight_decay, maximize=False) -> "AdamHyperparameters":
        beta1, beta2 = check_betas(betas, owner)
        return cls(lr=check_nonnegative(lr, "lr", owner), beta1=beta1, beta2=beta2,
                   eps=check_nonnegative(eps, "eps", owner),
                   weight_decay=check_nonnegative(weight_decay, "weight_decay", owner),
                   amsgrad=check_flag(amsgrad, "amsgrad", owner),
                   decoupled_weight_decay=check_flag(decoupled_weight_decay,
                                                     "decoupled_weight_decay", owner),
                   maximize=check_flag(maximize, "maximize", owner))

    @property
    def decay_factor(self) -> float:
        """κ = 1 − αλ with decoupled decay (θ_{t−1} ← κ θ_{t−1}), else 1."""
        return 1.0 - self.lr * self.weight_decay if self.decoupled_weight_decay else 1.0

    def as_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = (d.pop("beta1"), d.pop("beta2"))
        return d


class AdamScalars(NamedTuple):
    """Adam's scalars of step t, as :func:`~.kernels.adam_step_kernel` takes them."""

    lr: float               # α, in the state dtype (as the next nine)
    beta1: float            # β1
    one_minus_beta1: float  # 1 − β1
    beta2: float            # β2
    one_minus_beta2: float  # 1 − β2
    c1: float               # 1/(1 − β1^t): m̂ = c1 m
    c2: float               # 1/(1 − β2^t): v̂ = c2 v
    eps: float              # ε
    l2_decay: float         # λ with L2 decay, else 0 (g + 0·θ = g exactly: no branch)
    decay_factor: float     # 1 − αλ with decoupled decay, else 1
    c1_stats: float         # c1 in float64, for the statistics
    c2_stats: float         # c2 in float64
    amsgrad: bool
    grad_sign: float        # −1 to maximize, else 1 (in the state dtype: 1·g = g exactly)


def adam_scalars(h: AdamHyperparameters, t: int, dtype) -> AdamScalars:
    """The scalars of step t ≥ 1 for a state of ``dtype`` (positional: once per step, and
    NamedTuple keywords cost more than the kernel call on small buffers)."""
    dt = np.dtype(dtype).type
    c1, c2 = bias_corrections(h.beta1, h.beta2, t)  # float64, outside the loop
    l2_decay = 0.0 if h.decoupled_weight_decay else h.weight_decay
    return AdamScalars(dt(h.lr), dt(h.beta1), dt(1.0 - h.beta1), dt(h.beta2), dt(1.0 - h.beta2),
                       dt(c1), dt(c2), dt(h.eps), dt(l2_decay), dt(h.decay_factor),
                       np.float64(c1), np.float64(c2), h.amsgrad, dt(-1.0 if h.maximize else 1.0))


class Adam(FlatOptimizer):
    r"""Adam with PyTorch's options: the box in :mod:`numpy_adam.optim.adam` (this module's
    docstring), step by step in :func:`adam_update`; one fused kernel pass per parameter group
    per step.

    Statistics (``step(compute_stats=True)``, then ``last_stats``; definitions in
    :mod:`numpy_adam.optim.stats`) use this optimizer's m̂_t and v̂_t and report
    update = mean |u_t| = mean |Δθ|/α of the step computed, so:

    * decoupled weight decay (the (1 − αλ) factor) is *excluded* from ``update``;
    * with L2 decay, g_t above (decay included) is the gradient m and v see, so it is included;
    * with amsgrad, σ̂, γ and neg_var_frac use v̂_t (the spread of recent gradients, not the
      running maximum), while the step uses v̄_t ≥ v̂_t: then |u| ≤ 1/√(γ²+1) per element.

    params:  Parameters, (name, Parameter) pairs (e.g. ``model.named_parameters()``), dicts of
             parameter groups with their own hyperparameters (rules in :mod:`.groups`), or a
             FlatParameters; laid out in one flat buffer (see :mod:`numpy_adam.nn.flat`)
    lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay, maximize: the defaults of
             every group (``param_groups[i]`` holds each group's; amsgrad cannot be switched
             on after the first step)
    track:   parameter kinds or tensor names whose statistics are reported (default
             ``("weight",)``: conv and fc weights, as in the note)
    sample_size, sample_seed: keep K elements per tracked tensor at every step with
             statistics (``last_sample``: m̂, v̂, the step taken, θ; see
             :mod:`numpy_adam.optim.sample`); default 0, none
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, decoupled_weight_decay=False, maximize=False,
                 track=("weight",), sample_size=0, sample_seed=0):
        defaults = dict(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay, amsgrad=amsgrad,
                        decoupled_weight_decay=decoupled_weight_decay, maximize=maximize)
        AdamHyperparameters.validated(type(self).__name__, **defaults)  # the defaults first
        self.m = self.v = self.v_max = None
        super().__init__(params, defaults, track, sample_size, sample_seed)

    # -- state format hooks ----------------------------------------------------------
    @staticmethod
    def _validated(owner, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay,
                   maximize):
        return AdamHyperparameters.validated(owner, lr, betas, eps, weight_decay, amsgrad,
                                             decoupled_weight_decay, maximize)

    @staticmethod
    def _array_names(hparams: list) -> tuple[str, ...]:
        return ("m", "v", "v_max") if any(h.amsgrad for h in hparams) else ("m", "v")

    def _arrays(self) -> dict:
        return {name: getattr(self, name) for name in ("m", "v", "v_max")
                if getattr(self, name) is not None}

    def _set_arrays(self, arrays: dict) -> None:
        self.m, self.v = arrays["m"], arrays["v"]
        self.v_max = arrays.get("v_max")

    # -- the step --------------------------------------------------------------------
    def _check_step(self, hparams: list) -> None:
        if self.v_max is None and any(h.amsgrad for h in hparams):
            raise ValueError(f"{type(self).__name__}: amsgrad was switched on in a parameter "
                             "group after construction; its running maximum v_max does not "
                             "exist: create the optimizer with amsgrad=True for that group")

    def _step_group(self, i: int, h: AdamHyperparameters, t: int, compute_stats: bool) -> None:
        adam_step_kernel(self.flat.data, self.flat.grad, self.m, self.v,
                         self.v_max if h.amsgrad else self._empty, self._group_chunks[i],
                         adam_scalars(h, t, self.dtype), compute_stats, self._group_parallel[i])

    def _spread_moments(self, t: int, hparams: list):
        corrections = np.array([bias_corrections(h.beta1, h.beta2, t) for h in hparams])  # (G, 2)
        per_element = corrections[self._sample_groups]  # (N, 2)
        return self.m, self.v, per_element[:, 0], per_element[:, 1]


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``.

    Exactly :class:`Adam` with ``decoupled_weight_decay=True`` and a default λ of 1e-2:
    θ_{t−1} ← (1 − αλ) θ_{t−1} before the Adam step; g_t is not decayed, so the decay is not
    part of m, v, nor of the reported ``update``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, maximize=False, track=("weight",), sample_size=0,
                 sample_seed=0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, decoupled_weight_decay=True, maximize=maximize,
                         track=track, sample_size=sample_size, sample_seed=sample_seed)
