"""Plain NumPy reference of every update rule and of the statistics: the kernels' oracle.

Each function is its optimizer's algorithm box (see the docstrings of :class:`Adam`,
:class:`SGD` and :mod:`.probe`, :mod:`.stats`) written line by line on whole arrays, without
chunks, threads or fusion. Functions take the state and return the new state as fresh arrays
(inputs are not modified). Scalars are cast to the arrays' dtype, as the kernels receive them,
so float32 follows the same rounding; bias corrections are computed in float64.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from ..nn.flat import Segment
from .stats import SpreadStats, bias_corrections


def adam_reference_step(theta, g, m, v, v_max, t: int, lr: float, beta1: float, beta2: float,
                        eps: float, weight_decay: float = 0.0, amsgrad: bool = False,
                        decoupled_weight_decay: bool = False):
    """Adam step t (t ≥ 1) on (P,) arrays.

    theta, g, m, v: (P,) arrays of one float dtype; v_max: (P,) or None (amsgrad only)
    returns: theta_t, m_t, v_t, v_max_t (None without amsgrad), u_t = Δθ/α (the step computed,
             decoupled decay excluded), all (P,)
    """
    dt = theta.dtype.type
    c1, c2 = bias_corrections(beta1, beta2, t)            # float64
    if weight_decay != 0.0 and not decoupled_weight_decay:
        g = g + dt(weight_decay) * theta                   # g_t ← g_t + λ θ_{t−1}
    if weight_decay != 0.0 and decoupled_weight_decay:
        theta = theta * dt(1.0 - lr * weight_decay)        # θ_{t−1} ← (1 − αλ) θ_{t−1}
    m = dt(beta1) * m + dt(1.0 - beta1) * g                # m_t
    v = dt(beta2) * v + dt(1.0 - beta2) * g * g            # v_t
    if amsgrad:
        v_max = np.maximum(v_max, v)                       # v_max,t
        v_bar = v_max
    else:
        v_bar = v
    u = (dt(c1) * m) / (np.sqrt(dt(c2) * v_bar) + dt(eps))  # m̂_t / (√v̄_t + ε)
    theta = theta - dt(lr) * u                             # θ_t
    return theta, m, v, (v_max if amsgrad else None), u


def sgd_reference_step(theta, g, b, t: int, lr: float, momentum: float = 0.0,
                       dampening: float = 0.0, weight_decay: float = 0.0, nesterov: bool = False):
    """SGD step t (t ≥ 1) on (P,) arrays.

    theta, g: (P,); b: (P,) momentum buffer b_{t−1} (ignored when t = 1 or μ = 0) or None
    returns: theta_t, b_t (None when μ = 0), u_t = Δθ/α, d_t (the gradient used), all (P,)
    """
    dt = theta.dtype.type
    d = g
    if weight_decay != 0.0:
        d = g + dt(weight_decay) * theta                   # d_t ← g_t + λ θ_{t−1}
    if momentum != 0.0:
        if t == 1:
            b = d.copy()                                   # b_1 = d_1
        else:
            b = dt(momentum) * b + dt(1.0 - dampening) * d  # b_t = μ b_{t−1} + (1 − τ) d_t
        u = d + dt(momentum) * b if nesterov else b
    else:
        b = None
        u = d
    theta = theta - dt(lr) * u                             # θ_t
    return theta, b, u, d


def probe_reference_step(d, m, v, beta1: float, beta2: float):
    """The probe's EMAs of the gradient d_t: returns m_p,t and v_p,t, (P,) each."""
    dt = d.dtype.type
    m = dt(beta1) * m + dt(1.0 - beta1) * d
    v = dt(beta2) * v + dt(1.0 - beta2) * d * d
    return m, v


def spread_stats_reference(m, v, u, t: int, beta1: float, beta2: float,
                           segments: Sequence[Segment], has_spread: bool = True) -> SpreadStats:
    """The statistics of :mod:`.stats` from m_t, v_t, u_t (P,) over the given (tracked) segments.

    m̂ = m/(1−β1^t), v̂ = v/(1−β2^t) in float64; per segment the means of |m̂|, σ̂, γ (over
    m̂ ≠ 0), |u| and [v̂ < m̂²]. Without a spread source (``has_spread=False``) only ``update``.
    """
    c1, c2 = bias_corrections(beta1, beta2, t)
    fields = {k: [] for k in ("mean_abs_m", "sigma", "gamma", "update", "neg_var_frac")}
    for s in segments:
        sl = slice(s.offset, s.stop)
        fields["update"].append(np.mean(np.abs(u[sl].astype(np.float64))))
        if not has_spread:
            for k in ("mean_abs_m", "sigma", "gamma", "neg_var_frac"):
                fields[k].append(np.nan)
            continue
        m_hat = m[sl].astype(np.float64) * c1
        v_hat = v[sl].astype(np.float64) * c2
        var = v_hat - m_hat ** 2
        sigma = np.sqrt(np.maximum(var, 0.0))              # σ̂ = √max(v̂ − m̂², 0)
        nonzero = np.abs(m_hat) > 0
        fields["mean_abs_m"].append(np.mean(np.abs(m_hat)))
        fields["sigma"].append(np.mean(sigma))
        fields["gamma"].append(np.mean(sigma[nonzero] / np.abs(m_hat[nonzero]))
                               if nonzero.any() else np.nan)
        fields["neg_var_frac"].append(np.mean(var < 0))
    return SpreadStats(names=tuple(s.name for s in segments), step=t,
                       **{k: np.array(x, dtype=np.float64) for k, x in fields.items()})
