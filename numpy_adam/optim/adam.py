"""Adam and AdamW over a flat parameter buffer, with the gradient-spread statistics."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .kernels import adam_step_kernel
from .optimizer import FlatOptimizer
from .stats import bias_corrections
from .validation import check_betas, check_flag, check_nonnegative


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

    @classmethod
    def validated(cls, owner: str, lr, betas, eps, weight_decay, amsgrad,
                  decoupled_weight_decay) -> "AdamHyperparameters":
        beta1, beta2 = check_betas(betas, owner)
        return cls(lr=check_nonnegative(lr, "lr", owner), beta1=beta1, beta2=beta2,
                   eps=check_nonnegative(eps, "eps", owner),
                   weight_decay=check_nonnegative(weight_decay, "weight_decay", owner),
                   amsgrad=check_flag(amsgrad, "amsgrad", owner),
                   decoupled_weight_decay=check_flag(decoupled_weight_decay,
                                                     "decoupled_weight_decay", owner))

    def as_dict(self) -> dict:
        d = asdict(self)
        d["betas"] = (d.pop("beta1"), d.pop("beta2"))
        return d


class Adam(FlatOptimizer):
    r"""Adam (Kingma & Ba 2015) with PyTorch's options and semantics (``torch.optim.Adam``).

    Inputs: α (lr), β1, β2 (betas), ε (eps), λ (weight_decay), amsgrad, decoupled_weight_decay.
    State:  t = 0, m_0 = 0, v_0 = 0 (and v_max,0 = 0 with amsgrad), arrays (P,) in θ's dtype.

        for t = 1, 2, ...:
            g_t ← ∇f(θ_{t−1})
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

    Statistics (``step(compute_stats=True)``, then ``last_stats``; definitions in
    :mod:`numpy_adam.optim.stats`) use this optimizer's m̂_t and v̂_t and report
    update = mean |u_t| = mean |Δθ|/α of the step computed, so:

    * decoupled weight decay (the (1 − αλ) factor) is *excluded* from ``update``;
    * with L2 decay, g_t above (decay included) is the gradient m and v see, so it is included;
    * with amsgrad, σ̂, γ and neg_var_frac use v̂_t (the spread of recent gradients, not the
      running maximum), while the step uses v̄_t ≥ v̂_t: then |u| ≤ 1/√(γ²+1) per element.

    For β1 = β2 and ε = 0 the per-element identity |u_t| = 1/√(γ²+1) holds exactly, with
    γ = σ̂/|m̂|, σ̂² = v̂ − m̂²; with ε > 0 it reads u = sign(m̂)/(√(γ²+1) + ε/|m̂|).

    params:  Parameters, (name, Parameter) pairs (e.g. ``model.named_parameters()``) or a
             FlatParameters; flattened into one buffer (see :mod:`numpy_adam.nn.flat`)
    track:   parameter kinds or tensor names whose statistics are reported (default
             ``("weight",)``: conv and fc weights, as in the note)
    sample_size, sample_seed: keep K elements per tracked tensor at every step with
             statistics (``last_sample``: m̂, v̂, the step taken, θ; see
             :mod:`numpy_adam.optim.sample`); default 0, none
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0,
                 amsgrad=False, *, decoupled_weight_decay=False, track=("weight",),
                 sample_size=0, sample_seed=0):
        super().__init__(params, track, sample_size, sample_seed)
        self.hparams = self._validated(lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                                       amsgrad=amsgrad,
                                       decoupled_weight_decay=decoupled_weight_decay)
        self.m = self._zeros()  # (P,)
        self.v = self._zeros()  # (P,)
        self.v_max = self._zeros() if self.hparams.amsgrad else None  # (P,) or None

    # -- state format hooks ----------------------------------------------------------
    def _validated(self, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay):
        return AdamHyperparameters.validated(type(self).__name__, lr, betas, eps, weight_decay,
                                             amsgrad, decoupled_weight_decay)

    @staticmethod
    def _array_names(hparams: AdamHyperparameters) -> tuple[str, ...]:
        return ("m", "v", "v_max") if hparams.amsgrad else ("m", "v")

    def _arrays(self) -> dict:
        return {name: getattr(self, name) for name in self._array_names(self.hparams)}

    def _set_arrays(self, arrays: dict) -> None:
        self.m, self.v = arrays["m"], arrays["v"]
        self.v_max = arrays.get("v_max")

    # -- the step --------------------------------------------------------------------
    def step(self, compute_stats: bool = True) -> None:
        """One Adam step in place on the flat buffer (one fused kernel pass).

        Raises :class:`NonFiniteGradientError` (nothing changed) if g holds NaN or Inf.
        Afterwards ``last_stats`` is this step's :class:`SpreadStats` and ``last_sample``
        its :class:`~numpy_adam.optim.sample.ElementSample` (None without a sample), both
        None when ``compute_stats`` is False.
        """
        compute_stats = self._check_compute_stats(compute_stats)
        self._reject_nonfinite_gradients()
        theta_before = self._sample_before_step(compute_stats)
        self._apply_update(self.t + 1, compute_stats)
        self.t += 1
        self.last_stats = self._stats_of_last_step(has_spread=True) if compute_stats else None
        self.last_sample = self._sample_after_step(theta_before)

    def _spread_moments(self, t: int):
        return (self.m, self.v, *bias_corrections(self.hparams.beta1, self.hparams.beta2, t))

    def _decay_factor(self) -> float:
        h = self.hparams
        return 1.0 - h.lr * h.weight_decay if h.decoupled_weight_decay else 1.0

    def _apply_update(self, t: int, compute_stats: bool) -> None:
        """The kernel pass of step t (≥ 1): θ, m, v (and v_max) updated in place, the
        statistics sums in ``self._sums``; no gradient check, t and last_stats unchanged."""
        h = self.hparams
        c1, c2 = bias_corrections(h.beta1, h.beta2, t)  # float64, outside the loop
        decoupled = h.decoupled_weight_decay
        l2_decay = 0.0 if decoupled else h.weight_decay           # λ of g ← g + λθ, or 0
        decay_factor = 1.0 - h.lr * h.weight_decay if decoupled else 1.0  # 1 − αλ, or 1
        dt = self.dtype.type
        adam_step_kernel(self.flat.data, self.flat.grad, self.m, self.v,
                         self.v_max if h.amsgrad else self._empty,
                         *self._chunks, self._partial, self._sums,
                         dt(h.lr), dt(h.beta1), dt(1.0 - h.beta1), dt(h.beta2), dt(1.0 - h.beta2),
                         dt(c1), dt(c2), dt(h.eps), dt(l2_decay), dt(decay_factor), h.amsgrad,
                         np.float64(c1), np.float64(c2), compute_stats, self._parallel)


class AdamW(Adam):
    """Adam with decoupled weight decay (Loshchilov & Hutter 2019), as ``torch.optim.AdamW``.

    Exactly :class:`Adam` with ``decoupled_weight_decay=True`` and a default λ of 1e-2:
    θ_{t−1} ← (1 − αλ) θ_{t−1} before the Adam step; g_t is not decayed, so the decay is not
    part of m, v, nor of the reported ``update``.
    """

    def __init__(self, params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2,
                 amsgrad=False, *, track=("weight",), sample_size=0, sample_seed=0):
        super().__init__(params, lr=lr, betas=betas, eps=eps, weight_decay=weight_decay,
                         amsgrad=amsgrad, decoupled_weight_decay=True, track=track,
                         sample_size=sample_size, sample_seed=sample_seed)
