"""Gradient-spread statistics of one optimizer step, per tracked tensor.

Per element i of a tracked tensor, with the optimizer's own bias-corrected moments
m̂ = m/(1−β1^t), v̂ = v/(1−β2^t) (for SGD: the probe's, see :mod:`.probe`) and the step
actually computed, u = Δθ/α:

    σ̂²  = max(v̂ − m̂², 0)          spread of recent gradients (clamped at 0, see below)
    σ̂   = √σ̂²
    γ   = σ̂/|m̂|                    relative spread, only where m̂ ≠ 0
    |u| = |Δθ|/α                    step size in units of the learning rate

and per tensor the means over its elements:

    mean_abs_m   = mean |m̂|
    sigma        = mean σ̂
    update       = mean |u|
    neg_var_frac = fraction of elements with v̂ < m̂²
    gamma        = mean γ over the tensor's *sampled* elements with m̂ ≠ 0 (NaN if there are
                   none, and NaN without an element sample: ``sample_size=0``, :mod:`.sample`)

The first four are sums over every element, accumulated inside the update's own pass (see
:mod:`.kernels`): they cost one √ per element beside the update's. ``gamma`` is the one
statistic that needs a division per element, so it is not accumulated there but estimated
from the element sample (K elements per tensor, the same ones at every step), in float64 from
the state: a division per *sampled* element. It estimates a mean that its few smallest |m̂_i|
dominate (below), so it is noisy from step to step; the figures plot γ̄, and show this element
mean only to say why not (recomputed from the recorded sample, :mod:`numpy_adam.records`).

Why these: for β1 = β2 the EMA weights of m̂ and v̂ are the same probability weights, so
v̂ ≥ m̂² (Cauchy–Schwarz) and, per element,

    u = m̂/(√v̂ + ε) = sign(m̂) / (√(γ²+1) + ε/|m̂|)          (the note's identity)

γ is the *relative* spread σ̂/|m̂|, not σ̂: scaling the loss by c scales σ̂ and |m̂| but not γ
nor Adam's step. σ̂ and |m̂| are recorded separately so either can be plotted.

Clamp policy: for β1 ≠ β2, v̂ < m̂² happens; γ is undefined there and |u| can exceed 1.
Those elements get σ̂ = 0 and γ = 0 (they stay in the sigma and gamma means) and are counted
in ``neg_var_frac``, so a plot can tell how much of a mean rests on clamped elements.
Rounding can also push v̂ − m̂² slightly below 0 when β1 = β2 where γ is tiny: at t = 1
(v̂ = m̂² exactly in theory) and, with float32 state, wherever γ ≲ 1e-3 (m and v carry 24 bits).
There ``neg_var_frac`` counts rounding, not β1 ≠ β2; σ̂, γ and |u| are unaffected beyond rounding.

Precision: σ̂² = v̂ − m̂² is always formed in float64 (the clamp and ``neg_var_frac`` see exactly
the float64 value). With float64 state everything else is float64 too. With float32 state the
kernels round |m̂| and σ̂² to float32, take √ in float32 and sum at most 16 terms per float32
lane before going to float64 (see :mod:`.kernels`): the means are within ≈ 1.2e-6 (relative)
of the all-float64 values, counts are exact. Outside float32's range (σ̂² below ~1e-45 or v̂
above ~3e38, where the float32 update itself under- or overflows) σ̂ follows float32, not
float64. ``gamma`` is computed in float64 throughout (from the sampled m, v).

Aggregation, as the note describes its figures: each dot is "the mean absolute value of
gradient mean or spread, first taken within each layer, then across layers". So per tracked
tensor l (conv and fc weights) and step,

    M_l = mean_i |m̂_i|,   S_l = mean_i σ̂_i,   U_l = mean_i |u_i|,
    γ̄_l = S_l / M_l                           the layer relative spread (a ratio of means)

and the dot is (mean_l γ̄_l, mean_l U_l). :func:`layer_relative_spread` is γ̄_l;
:func:`numpy_adam.records.relative_spread` takes the mean across tensors.

The statistic ``gamma`` above is a different quantity, the element mean of γ_i = σ̂_i/|m̂_i|
(a mean of ratios). It is dominated by the few elements whose |m̂_i| is nearly zero: one
element with |m̂| = 0.01 and σ̂ = 1 contributes γ = 100, a hundred elements with γ = 1 cannot
balance it. Its dots therefore sit far right of the curve 1/√(γ²+1) even where every element
lies on it, while γ̄_l weighs each element's spread by the same 1/M_l and puts Adam's dots close to
the curve (the README compares the two). Both are kept; figures use γ̄.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Columns of the per-segment sums the kernels accumulate, (L, N_SUMS) float64. The kernels
# compile them in: changing them needs the kernel files changed too (Numba's cache, .kernels).
SUM_ABS_M, SUM_SIGMA, SUM_UPDATE, COUNT_NEG_VAR = range(4)
N_SUMS = 4

FIELDS = ("mean_abs_m", "sigma", "gamma", "update", "neg_var_frac")


def bias_corrections(beta1: float, beta2: float, t: int) -> tuple[float, float]:
    """c1 = 1/(1 − β1^t) and c2 = 1/(1 − β2^t) in float64, for step t ≥ 1: m̂ = c1 m, v̂ = c2 v.

    Computed in float64 even for float32 state: 1 − β^t cancels badly for β near 1 and small t.
    """
    return 1.0 / (1.0 - beta1 ** t), 1.0 / (1.0 - beta2 ** t)


@dataclass(frozen=True, eq=False)
class SpreadStats:
    """Statistics of one step, one entry per tracked tensor (L of them).

    names:        (L,) tuple of tensor names, in flat-buffer order
    step:         the optimizer step t these statistics belong to (t counts from 1)
    mean_abs_m:   (L,) float64 mean |m̂|
    sigma:        (L,) float64 mean σ̂
    gamma:        (L,) float64 mean γ = σ̂/|m̂| over the sampled elements with m̂ ≠ 0
    update:       (L,) float64 mean |Δθ|/α
    neg_var_frac: (L,) float64 fraction of elements with v̂ < m̂²

    For SGD without a probe only ``update`` is measured; the other four arrays are NaN.
    Without an element sample ``gamma`` is NaN.
    """

    names: tuple[str, ...]
    step: int
    mean_abs_m: np.ndarray
    sigma: np.ndarray
    gamma: np.ndarray
    update: np.ndarray
    neg_var_frac: np.ndarray

    def as_dict(self) -> dict[str, np.ndarray]:
        """The five arrays by field name (the keys a run record stores per step)."""
        return {f: getattr(self, f) for f in FIELDS}


def layer_relative_spread(sigma, mean_abs_m) -> np.ndarray:
    """γ̄_l = S_l / M_l: a tensor's mean spread over its mean |gradient mean| (a ratio of means).

    sigma, mean_abs_m: arrays of one shape (e.g. (T, L) from a run record, or (L,) from a
                       :class:`SpreadStats`) of S_l = mean σ̂ and M_l = mean |m̂|
    returns: float64 array of that shape; NaN where M_l = 0 or either input is NaN
    """
    sigma = np.asarray(sigma, dtype=np.float64)
    mean_abs_m = np.asarray(mean_abs_m, dtype=np.float64)
    if sigma.shape != mean_abs_m.shape:
        raise ValueError(f"layer_relative_spread: sigma {sigma.shape} and mean_abs_m "
                         f"{mean_abs_m.shape} must have one shape")
    return np.divide(sigma, mean_abs_m, out=np.full(sigma.shape, np.nan),
                     where=mean_abs_m > 0)


def element_spread(m_hat, v_hat) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per element, as the kernels compute it: σ̂ = √max(v̂ − m̂², 0), γ = σ̂/|m̂|, [v̂ < m̂²].

    m_hat, v_hat: arrays of one shape (e.g. a run record's ``sample_m_hat``, ``sample_v_hat``)
    returns: σ̂, γ (NaN where m̂ = 0), negative (bool), each of that shape, in float64
    """
    m_hat = np.asarray(m_hat, dtype=np.float64)
    v_hat = np.asarray(v_hat, dtype=np.float64)
    var = v_hat - m_hat * m_hat
    sigma = np.sqrt(np.maximum(var, 0.0))
    abs_m = np.abs(m_hat)
    gamma = np.divide(sigma, abs_m, out=np.full(sigma.shape, np.nan), where=abs_m > 0)
    return sigma, gamma, var < 0


def sample_gamma(slot, m_hat, v_hat, n_tensors: int) -> np.ndarray:
    """Per tensor, the mean of γ_i = σ̂_i/|m̂_i| over its sampled elements with m̂_i ≠ 0.

    slot:         (N,) int, each sampled element's tensor among the tracked ones (0 … L−1)
    m_hat, v_hat: (..., N) the sampled elements' m̂, v̂: one step's (the optimizer, in float64
                  from its state) or a record's (T, N) ``sample_m_hat``, ``sample_v_hat``
    returns: (..., L) float64; NaN for a tensor none of whose sampled elements has m̂ ≠ 0
             and a finite v̂ (a record of SGD without a probe stores NaN for v̂)
    """
    slot = np.asarray(slot, dtype=np.int64)
    _, gamma, _ = element_spread(m_hat, v_hat)  # NaN where m̂ = 0
    counted = np.isfinite(gamma)
    member = (slot[:, None] == np.arange(n_tensors)).astype(np.float64)  # (N, L)
    total = np.where(counted, gamma, 0.0) @ member  # (..., L)
    count = counted.astype(np.float64) @ member
    return np.divide(total, count, out=np.full(count.shape, np.nan), where=count > 0)


def spread_stats(m, v, u, t: int, beta1: float, beta2: float, segments,
                 has_spread: bool = True, gamma_at=None) -> SpreadStats:
    """The statistics defined above, computed plainly per tensor: what the kernels' sums and
    the sample's γ give.

    m, v, u:  (P,) m_t, v_t and u_t = Δθ/α over the flat buffer
    t, beta1, beta2: m̂ = c1 m, v̂ = c2 v with c1, c2 from :func:`bias_corrections` (float64)
    segments: the tracked :class:`~numpy_adam.nn.flat.Segment` s, one result each
    has_spread: False without m̂, v̂ (SGD without a probe): only ``update``, the rest NaN
    gamma_at: per segment, the element indices (within it) whose γ is averaged, as the
              optimizer's element sample (``sample_layout.element`` of each slot); None: no
              sample, ``gamma`` is NaN. Pass ``np.arange(s.size)`` for the mean over all.
    """
    c1, c2 = bias_corrections(beta1, beta2, t)
    fields = {f: [] for f in FIELDS}
    for k, s in enumerate(segments):
        part = slice(s.offset, s.stop)
        fields["update"].append(np.mean(np.abs(u[part].astype(np.float64))))  # mean |u|
        if not has_spread:
            for f in ("mean_abs_m", "sigma", "gamma", "neg_var_frac"):
                fields[f].append(np.nan)
            continue
        m_hat = m[part].astype(np.float64) * c1
        v_hat = v[part].astype(np.float64) * c2
        sigma, gamma, negative = element_spread(m_hat, v_hat)  # σ̂, γ (NaN where m̂ = 0), v̂ < m̂²
        fields["mean_abs_m"].append(np.mean(np.abs(m_hat)))
        fields["sigma"].append(np.mean(sigma))
        fields["neg_var_frac"].append(np.mean(negative))
        chosen = gamma[np.asarray(gamma_at[k], dtype=np.int64)] if gamma_at is not None \
            else np.empty(0)
        chosen = chosen[np.isfinite(chosen)]  # the elements with m̂ ≠ 0
        fields["gamma"].append(np.mean(chosen) if chosen.size else np.nan)
    return SpreadStats(names=tuple(s.name for s in segments), step=int(t),
                       **{f: np.array(x, dtype=np.float64) for f, x in fields.items()})


def stats_from_sums(sums: np.ndarray, sizes: np.ndarray, names: tuple[str, ...], step: int,
                    has_spread: bool = True, gamma=None) -> SpreadStats:
    """Turn the kernels' per-segment sums into means.

    sums:       (L, N_SUMS) float64, columns SUM_ABS_M … COUNT_NEG_VAR
    sizes:      (L,) element count of each tracked tensor
    has_spread: False when no m̂, v̂ exist (SGD without a probe): only ``update`` is filled
    gamma:      (L,) the sample's mean γ (:func:`sample_gamma`), or None (NaN)
    """
    sizes = np.asarray(sizes, dtype=np.float64)  # (L,)
    nan = np.full(len(names), np.nan)

    def mean(column: int) -> np.ndarray:
        return sums[:, column] / sizes if has_spread else nan.copy()

    gamma = nan.copy() if gamma is None or not has_spread else np.asarray(gamma, np.float64)
    return SpreadStats(names=tuple(names), step=int(step), mean_abs_m=mean(SUM_ABS_M),
                       sigma=mean(SUM_SIGMA), gamma=gamma,
                       update=sums[:, SUM_UPDATE] / sizes, neg_var_frac=mean(COUNT_NEG_VAR))


def last_step_stats(optimizer) -> SpreadStats:
    """The :class:`SpreadStats` of the optimizer's most recent ``step()``.

    Raises ``RuntimeError`` when there are none: no step yet, the last step ran with
    ``compute_stats=False``, or the state was just loaded.
    """
    stats = getattr(optimizer, "last_stats", None)
    if stats is None:
        raise RuntimeError(f"{type(optimizer).__name__} has no statistics for its last step: "
                           "call step(compute_stats=True) first")
    return stats
