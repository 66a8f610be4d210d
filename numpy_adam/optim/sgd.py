"""SGD with (heavy-ball or Nesterov) momentum over a flat buffer, with an optional spread probe."""
from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from .kernels import sgd_step_kernel
from .optimizer import FlatOptimizer
from .probe import SpreadProbe
from .validation import (check_betas, check_flag, check_nesterov, check_nonnegative,
                         check_unit_interval)


@dataclass(frozen=True)
class SGDHyperparameters:
    """Validated SGD hyperparameters (see :class:`SGD`); probe_betas is None or (β1, β2)."""

    lr: float
    momentum: float
    dampening: float
    weight_decay: float
    nesterov: bool
    probe_betas: tuple[float, float] | None

    @classmethod
    def validated(cls, owner: str, lr, momentum, dampening, weight_decay, nesterov,
                  probe_betas) -> "SGDHyperparameters":
        momentum = check_nonnegative(momentum, "momentum", owner)
        dampening = check_unit_interval(dampening, "dampening", owner, closed=True)
        nesterov = check_flag(nesterov, "nesterov", owner)
        check_nesterov(nesterov, momentum, dampening, owner)
        if probe_betas is not None:
            probe_betas = check_betas(probe_betas, owner, name="probe_betas")
        return cls(lr=check_nonnegative(lr, "lr", owner), momentum=momentum, dampening=dampening,
                   weight_decay=check_nonnegative(weight_decay, "weight_decay", owner),
                   nesterov=nesterov, probe_betas=probe_betas)

    def as_dict(self) -> dict:
        return asdict(self)


class SGD(FlatOptimizer):
    r"""Stochastic gradient descent with momentum, as ``torch.optim.SGD``.

    Inputs: α (lr), μ (momentum), τ (dampening), λ (weight_decay), nesterov.
    State:  t = 0 and, when μ ≠ 0, the momentum buffer b (P,) in θ's dtype.

        for t = 1, 2, ...:
            d_t ← ∇f(θ_{t−1}) + λ θ_{t−1}                       (L2 decay; λ = 0 skips it)
            if μ ≠ 0:
                b_t ← d_t                          if t = 1     (no dampening on step 1)
                b_t ← μ b_{t−1} + (1 − τ) d_t      otherwise
                u_t = d_t + μ b_t                  if nesterov  (needs μ > 0, τ = 0)
                u_t = b_t                          otherwise
            else:
                u_t = d_t
            θ_t ← θ_{t−1} − α u_t

    Momentum convention: PyTorch's heavy ball, b ← μ b + (1−τ) g with step α b (not the
    "v ← μ v − α g" form; the two agree for constant α). With τ = μ the buffer is the EMA of
    the note: b_t = m_t + μ^t d_1 where m_t = μ m_{t−1} + (1 − μ) d_t, m_0 = 0 is Adam's
    (uncorrected) first moment with β1 = μ; the μ^t d_1 transient comes from b_1 = d_1 and
    fades. So "SGD with momentum = β1" means ``SGD(momentum=β1, dampening=β1)``.

    Worked example: the first step moves each element by α g_1 (plain or with momentum, as
    b_1 = g_1; with nesterov by α (1 + μ) g_1).

    Statistics: SGD has no v. With ``probe_betas=(β1, β2)`` a passive probe (see
    :mod:`numpy_adam.optim.probe`) keeps Adam's EMAs of d_t, and ``last_stats`` reports its
    mean |m̂|, σ̂, γ, neg_var_frac. ``update`` is this optimizer's mean |u_t| = |Δθ|/α (with L2
    decay included, as it is part of d_t). Without a probe only ``update`` is measured and the
    other four arrays of ``last_stats`` are NaN.

    params, track, sample_size, sample_seed: as for :class:`~numpy_adam.optim.Adam` (the
    sample's m̂, v̂ are the probe's, NaN without one).
    """

    def __init__(self, params, lr=1e-3, momentum=0.0, dampening=0.0, weight_decay=0.0,
                 nesterov=False, *, probe_betas=None, track=("weight",), sample_size=0,
                 sample_seed=0):
        super().__init__(params, track, sample_size, sample_seed)
        self.hparams = self._validated(lr=lr, momentum=momentum, dampening=dampening,
                                       weight_decay=weight_decay, nesterov=nesterov,
                                       probe_betas=probe_betas)
        self.b = self._zeros() if self.hparams.momentum != 0.0 else None  # (P,) or None
        self.probe = self._make_probe(self.hparams)

    def _make_probe(self, hparams: SGDHyperparameters) -> SpreadProbe | None:
        if hparams.probe_betas is None:
            return None
        return SpreadProbe(hparams.probe_betas, self.flat.data.shape[0], self.dtype,
                           owner=type(self).__name__)

    # -- state format hooks ----------------------------------------------------------
    def _validated(self, lr, momentum, dampening, weight_decay, nesterov, probe_betas):
        return SGDHyperparameters.validated(type(self).__name__, lr, momentum, dampening,
                                            weight_decay, nesterov, probe_betas)

    @staticmethod
    def _array_names(hparams: SGDHyperparameters) -> tuple[str, ...]:
        names = ("b",) if hparams.momentum != 0.0 else ()
        return names + (("probe_m", "probe_v") if hparams.probe_betas is not None else ())

    def _arrays(self) -> dict:
        arrays = {"b": self.b} if self.b is not None else {}
        if self.probe is not None:
            arrays.update(probe_m=self.probe.m, probe_v=self.probe.v)
        return arrays

    def _set_arrays(self, arrays: dict) -> None:
        self.b = arrays.get("b")
        self.probe = self._make_probe(self.hparams)
        if self.probe is not None:
            self.probe.m, self.probe.v = arrays["probe_m"], arrays["probe_v"]

    # -- the step --------------------------------------------------------------------
    def step(self, compute_stats: bool = True) -> None:
        """One SGD step (and probe update) in place on the flat buffer, one fused pass.

        Raises :class:`NonFiniteGradientError` (nothing changed) if g holds NaN or Inf.
        Afterwards ``last_stats`` is this step's :class:`SpreadStats` (see the class
        docstring for what is measured without a probe), or None when ``compute_stats`` is
        False.
        """
        compute_stats = self._check_compute_stats(compute_stats)
        self._reject_nonfinite_gradients()
        theta_before = self._sample_before_step(compute_stats)
        h = self.hparams
        t = self.t + 1
        probe = self.probe
        if probe is not None:
            c1, c2 = probe.bias_corrections(t)
            probe_args = (probe.m, probe.v)
            pb1, pb2 = probe.betas
        else:
            c1 = c2 = 1.0
            probe_args = (self._empty, self._empty)
            pb1 = pb2 = 0.0
        dt = self.dtype.type
        sgd_step_kernel(self.flat.data, self.flat.grad,
                        self.b if self.b is not None else self._empty, *probe_args,
                        *self._chunks, self._partial, self._sums,
                        dt(h.lr), dt(h.momentum), dt(1.0 - h.dampening), dt(h.weight_decay),
                        h.momentum != 0.0, self.t == 0, h.nesterov,
                        probe is not None, dt(pb1), dt(1.0 - pb1), dt(pb2), dt(1.0 - pb2),
                        np.float64(c1), np.float64(c2), compute_stats, self._parallel)
        self.t = t
        if compute_stats:
            self.last_stats = self._stats_of_last_step(has_spread=probe is not None)
        else:
            self.last_stats = None
        self.last_sample = self._sample_after_step(theta_before)

    def _spread_moments(self, t: int):
        probe = self.probe
        return None if probe is None else (probe.m, probe.v, *probe.bias_corrections(t))
