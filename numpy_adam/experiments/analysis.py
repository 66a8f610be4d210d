"""The measures behind the figures: correlations, the fit to 1/√(γ²+1), the late-training
trend of the update, the per-element identity, x² oscillation.

Pure NumPy (no SciPy). Every function ignores non-finite entries where it says so and
returns NaN (not an error) when too few values remain, so one odd run does not stop a
whole reproduction summary; shape errors are raised loudly.

Reading guide. Adam's per-element step is u = sign(m̂)/(√(γ²+1) + ε/|m̂|) with γ = σ̂/|m̂|,
σ̂² = v̂ − m̂² (exact wherever v̂ ≥ m̂², which β1 = β2 guarantees). So Adam's update size should
follow 1/√(γ²+1) and correlate weakly with the gradient mean |m̂|, while SGD's step α·b tracks
|m̂| closely (the note's panels (b) and (c)). A figure's dot is a mean over a tensor's elements,
then over tensors; how γ is averaged decides whether the dots can sit on the curve
(:mod:`numpy_adam.optim.stats`): the note's layer relative spread γ̄ = mean σ̂ / mean |m̂| puts
Adam's dots near it, the element mean of σ̂/|m̂| does not. :func:`curve_fit` measures both;
:func:`sample_identity` checks the identity itself on the recorded element sample. For the
1-D quadratic each "tensor" is one element, so there every aggregation is the identity.
"""
from __future__ import annotations

import math

import numpy as np

from ..optim.sample import update_tolerance
from ..optim.stats import element_spread


def _pair(x, y, fn: str) -> tuple[np.ndarray, np.ndarray]:
    """x, y as float64 1-D arrays of one length, restricted to pairs finite in both."""
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(y, dtype=np.float64)
    if x.ndim != 1 or y.ndim != 1 or x.shape != y.shape:
        raise ValueError(f"{fn}: x and y must be 1-D arrays of one length, got shapes "
                         f"{x.shape} and {y.shape}")
    keep = np.isfinite(x) & np.isfinite(y)
    return x[keep], y[keep]


def _pearson_finite(x: np.ndarray, y: np.ndarray) -> float:
    if x.size < 2:
        return math.nan
    dx, dy = x - x.mean(), y - y.mean()
    denom = math.sqrt(float(dx @ dx) * float(dy @ dy))
    if denom == 0.0:  # a constant series has no correlation
        return math.nan
    return float(np.clip((dx @ dy) / denom, -1.0, 1.0))


def pearson(x, y) -> float:
    """Pearson correlation r = Σ(x−x̄)(y−ȳ) / √(Σ(x−x̄)² Σ(y−ȳ)²).

    x, y: (n,) arrays; pairs where either value is NaN/±Inf are dropped
    returns: r in [−1, 1]; NaN if fewer than 2 pairs remain or either series is constant
    """
    return _pearson_finite(*_pair(x, y, "pearson"))


def average_ranks(a) -> np.ndarray:
    """1-based ranks of a (n,) array, ties sharing the average of their ranks.

    Example: [10, 20, 20, 5] → [2, 3.5, 3.5, 1].
    """
    a = np.asarray(a, dtype=np.float64)
    if a.ndim != 1:
        raise ValueError(f"average_ranks: expected a 1-D array, got shape {a.shape}")
    n = a.size
    order = np.argsort(a, kind="stable")
    sorted_a = a[order]
    starts_group = np.r_[True, sorted_a[1:] != sorted_a[:-1]]  # (n,) first of each tie group
    group = np.cumsum(starts_group) - 1  # (n,) tie-group id in sorted order
    starts = np.flatnonzero(starts_group)  # (G,)
    stops = np.r_[starts[1:], n]  # (G,)
    mean_rank = (starts + stops - 1) / 2.0 + 1.0  # (G,) average of ranks starts+1 .. stops
    ranks = np.empty(n)
    ranks[order] = mean_rank[group]
    return ranks


def spearman(x, y) -> float:
    """Spearman rank correlation ρ: Pearson's r of the average ranks (ties averaged).

    x, y: (n,) arrays; pairs where either value is NaN/±Inf are dropped before ranking
    returns: ρ in [−1, 1]; NaN if fewer than 2 pairs remain or either series is constant
    """
    x, y = _pair(x, y, "spearman")
    return _pearson_finite(average_ranks(x), average_ranks(y))


def identity_curve(gamma, mean_abs_m=None, eps: float = 0.0) -> np.ndarray:
    """Adam's predicted update size |Δ|/α for relative spread γ.

    gamma:      (T,) relative spread γ = σ̂/|m̂|
    mean_abs_m: (T,) |m̂|, only needed with eps > 0
    eps:        Adam's ε; with eps > 0 the exact per-element form 1/(√(γ²+1) + ε/|m̂|)
    returns:    (T,) 1/√(γ²+1) (eps = 0) or the ε form
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    root = np.sqrt(gamma * gamma + 1.0)
    if eps == 0.0:
        return 1.0 / root
    if eps < 0 or mean_abs_m is None:
        raise ValueError(f"identity_curve: eps={eps!r} needs eps >= 0 and mean_abs_m")
    m_abs = np.asarray(mean_abs_m, dtype=np.float64)
    if m_abs.shape != gamma.shape:
        raise ValueError(f"identity_curve: mean_abs_m shape {m_abs.shape} differs from gamma "
                         f"shape {gamma.shape}")
    with np.errstate(divide="ignore"):
        return 1.0 / (root + eps / m_abs)


def identity_residual(gamma, update, mean_abs_m=None, eps: float = 0.0) -> dict:
    """How far update sizes sit from Adam's curve: r_t = update_t − 1/√(γ_t²+1).

    gamma:      (T,) relative spread γ (aggregated, or one element's)
    update:     (T,) |Δθ|/α (same aggregation)
    mean_abs_m: (T,) |m̂|, with eps > 0: compare against 1/(√(γ²+1) + ε/|m̂|) instead
                (exact per element for β1 = β2; meaningless for tensor averages)
    eps:        Adam's ε for that exact form; 0 for the plain curve
    returns:    {"mean_abs": mean |r|, "max_abs": max |r|, "rms": √mean r², "n": steps used,
                 "n_total": T}; steps where r is not finite are skipped; NaN stats if none left
    """
    gamma = np.asarray(gamma, dtype=np.float64)
    update = np.asarray(update, dtype=np.float64)
    if gamma.ndim != 1 or gamma.shape != update.shape:
        raise ValueError(f"identity_residual: gamma and update must be 1-D of one length, got "
                         f"shapes {gamma.shape} and {update.shape}")
    r = update - identity_curve(gamma, mean_abs_m, eps)  # (T,)
    r = np.abs(r[np.isfinite(r)])
    if r.size == 0:
        return {"mean_abs": math.nan, "max_abs": math.nan, "rms": math.nan, "n": 0,
                "n_total": int(gamma.size)}
    return {"mean_abs": float(r.mean()), "max_abs": float(r.max()),
            "rms": float(np.sqrt(np.mean(r * r))), "n": int(r.size), "n_total": int(gamma.size)}


def curve_fit(gamma, update) -> dict:
    """How closely dots (γ_t, U_t) follow the curve f(γ) = 1/√(γ²+1).

    gamma, update: (T,) per-step relative spread and update size |Δθ|/α (one aggregation)
    returns: {"relative_residual": mean_t |U_t − f(γ_t)| / U_t,
              "loglog_pearson": Pearson r of (log U_t, log f(γ_t)), "n": steps used};
             steps where γ or U is not finite, γ < 0 or U ≤ 0 are skipped; NaN if none remain

    The relative residual says how far the dots sit from the curve (0: on it); the log–log
    correlation says whether they move with it, whatever the offset.
    """
    gamma, update = _pair(gamma, update, "curve_fit")
    keep = (gamma >= 0) & (update > 0)
    gamma, update = gamma[keep], update[keep]
    if update.size == 0:
        return {"relative_residual": math.nan, "loglog_pearson": math.nan, "n": 0}
    curve = identity_curve(gamma)
    return {"relative_residual": float(np.mean(np.abs(update - curve) / update)),
            "loglog_pearson": _pearson_finite(np.log(update), np.log(curve)),
            "n": int(update.size)}


def late_update_trend(update, window_fraction: float = 0.04) -> dict:
    """Does the update shrink steadily over the second half of training, or move up and down?

    update: (T,) per-step update size (non-finite or ≤ 0 entries are dropped)
    window_fraction: width of the moving average, as a fraction of the second half's steps

    With y = log U over the last half of the steps (n of them, position s from 0 to 1):

    * ``trend``: exp(b) − 1 for the least-squares line y ≈ a + b s, the relative change of
      U across the second half the line implies (−0.3: shrinks by 30 %);
    * ``fluctuation``: RMS of the moving average ȳ (window w = max(3, n·window_fraction), so
      step-to-step noise is averaged out) about that line, in log units (≈ relative): slow
      swings the trend does not explain;
    * ``steadiness``: |ȳ_last − ȳ_first| / Σ|Δȳ|, 1 for a monotone series, near 0 when ȳ
      goes up and down as much as it gets anywhere;
    * ``steps``: n, ``window``: w. NaN values when fewer than 2w usable steps remain.
    """
    u = np.asarray(update, dtype=np.float64)
    if u.ndim != 1:
        raise ValueError(f"late_update_trend: update must be (T,), got shape {u.shape}")
    u = u[u.size // 2:]
    y = np.log(u[np.isfinite(u) & (u > 0)])
    n = y.size
    w = max(3, int(round(n * window_fraction)))
    nan = {"trend": math.nan, "fluctuation": math.nan, "steadiness": math.nan, "steps": n,
           "window": w}
    if n < 2 * w:
        return nan
    s = np.linspace(0.0, 1.0, n)
    b, a = np.polyfit(s, y, 1)
    window = np.full(w, 1.0 / w)
    smooth = np.convolve(y, window, mode="valid")  # (n − w + 1,)
    s_smooth = np.convolve(s, window, mode="valid")  # each window's centre, even w included
    travel = float(np.sum(np.abs(np.diff(smooth))))
    return {"trend": float(np.expm1(b)),
            "fluctuation": float(np.sqrt(np.mean((smooth - (a + b * s_smooth)) ** 2))),
            "steadiness": float(abs(smooth[-1] - smooth[0]) / travel) if travel > 0 else math.nan,
            "steps": n, "window": w}


def sample_identity(m_hat, v_hat, update, param, lr, eps: float, dtype) -> dict:
    """The note's identity checked on every recorded element: |u| = 1/(√(γ²+1) + ε/|m̂|).

    m_hat, v_hat, update, param: (T, N) a run record's ``sample_*`` arrays
    lr:    (T,) the learning rate of each step; eps: Adam's ε
    dtype: the dtype the values were computed in (sets the rounding tolerance)

    An element passes when ||u| − 1/(√(γ²+1) + ε/|m̂|)| is within
    :func:`~numpy_adam.optim.sample.update_tolerance` (the rounding of θ and of the
    optimizer's arithmetic). The identity is algebra wherever v̂ ≥ m̂², so with β1 = β2 every
    element must pass; with β1 ≠ β2 the elements with v̂ < m̂² (σ̂² clamped at 0) step by
    |u| = |m̂|/(√v̂ + ε), more than the curve allows, and can exceed 1.

    returns: {"values": element-steps checked, "violations": how many fail,
              "max_tolerance_ratio": max of |residual|/tolerance (≤ 1 passes),
              "max_relative_residual": max |residual|/curve, "neg_var_share": share with
              v̂ < m̂², "update_above_one_share": share with |u| > 1}
    """
    update = np.abs(np.asarray(update, dtype=np.float64))
    m_hat = np.asarray(m_hat, dtype=np.float64)
    shapes = {np.shape(a) for a in (m_hat, v_hat, update, param)}
    if len(shapes) != 1 or update.ndim != 2:
        raise ValueError(f"sample_identity: m_hat, v_hat, update, param must be (T, N) of one "
                         f"shape, got {sorted(shapes)}")
    lr = np.asarray(lr, dtype=np.float64).reshape(-1, 1)  # (T, 1)
    _, gamma, negative = element_spread(m_hat, v_hat)
    keep = np.isfinite(update) & np.isfinite(gamma) & (lr > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        curve = 1.0 / (np.sqrt(gamma * gamma + 1.0) + eps / np.abs(m_hat))
        tolerance = update_tolerance(param, update, lr, dtype)
    residual = np.abs(update - curve)[keep]
    if residual.size == 0:
        return {"values": 0, "violations": 0, "max_tolerance_ratio": math.nan,
                "max_relative_residual": math.nan, "neg_var_share": math.nan,
                "update_above_one_share": math.nan}
    ratio = residual / tolerance[keep]
    return {"values": int(residual.size), "violations": int(np.count_nonzero(ratio > 1.0)),
            "max_tolerance_ratio": float(ratio.max()),
            "max_relative_residual": float(np.max(residual / curve[keep])),
            "neg_var_share": float(np.mean(negative[keep])),
            "update_above_one_share": float(np.mean(update[keep] > 1.0))}


def amplitude_per_lr(x, lr, windows: int = 10) -> dict:
    """Does the oscillation's amplitude follow the learning rate? |x| against α, window by window.

    x, lr: (T,) the parameter after each step of a 1-D run and the α of that step
    windows: the run is cut into this many equal windows; in each, the amplitude is max |x|
             over the window's second half (the first half lets a change of α settle in) and
             α is the mean rate over the same steps

    returns {"amplitude": [...], "lr": [...], "ratio": [amplitude / α], "last_step": [...]},
    one entry per window. A ratio that stays put while α falls is an amplitude that follows α.
    """
    x = np.abs(np.asarray(x, dtype=np.float64).reshape(-1))
    lr = np.asarray(lr, dtype=np.float64).reshape(-1)
    if x.shape != lr.shape or x.size < 2 * windows:
        raise ValueError(f"amplitude_per_lr: x and lr must be (T,) with T >= {2 * windows}, got "
                         f"shapes {x.shape} and {lr.shape}")
    edges = np.linspace(0, x.size, windows + 1).astype(int)
    out = {"amplitude": [], "lr": [], "ratio": [], "last_step": []}
    for a, b in zip(edges[:-1], edges[1:]):
        half = slice((a + b) // 2, b)
        amplitude, rate = float(np.max(x[half])), float(np.mean(lr[half]))
        out["amplitude"].append(amplitude)
        out["lr"].append(rate)
        out["ratio"].append(amplitude / rate if rate > 0 else math.nan)
        out["last_step"].append(int(b))
    return out


def _sign_changes(g: np.ndarray) -> np.ndarray:
    """Indices k where the sign of g differs from the last non-zero sign before k."""
    nonzero = np.flatnonzero(g != 0)
    s = np.sign(g[nonzero])
    return nonzero[1:][s[1:] != s[:-1]]


def quadratic_oscillation(grad, x=None) -> dict:
    """Does the gradient settle at 0 (GD) or pass through and grow back (Adam)?

    grad: (T,) gradient g_t at record t = 0..T−1 (or (T, 1)); must be finite
    x:    optional (T,) or (T, D) parameter after each step, for the x amplitude

    With a_t = |g_t|:

    * ``sign_changes``: number of records k where sign(g_k) differs from the last non-zero
      sign before it (exact zeros carry no sign);
    * ``min_abs_grad``, ``min_index``: min_t a_t and the first record t* reaching it;
    * ``sign_changes_after_min``: sign changes at records k > t*;
    * ``grows_back_after_min``: max_{t>t*} a_t > a_{t*}; ``max_abs_grad_after_min`` that max
      (NaN when t* is the last record);
    * ``regrowths``: number of local minima of a followed by growth — with
      d_t = sign(a_{t+1} − a_t) and zeros (plateaus) dropped, the number of −1 → +1
      transitions; 0 for a non-increasing sequence;
    * ``first_regrowth_index``: the record t of the first such turn, from which |g| grows
      again (a_{t+1} > a_t, the last record of a plateau at a minimum); None if none;
    * ``monotone_nonincreasing``: a_{t+1} ≤ a_t for all t;
    * ``final_abs_grad``: a_{T−1};
    * ``amplitude_grad``, ``amplitude_x``: max |g_t| and max |x_t| over the last half of the
      run (t ≥ T//2), the oscillation amplitude once transients have passed (x: None if
      not given).
    """
    g = np.asarray(grad, dtype=np.float64)
    if g.ndim == 2 and g.shape[1] == 1:
        g = g[:, 0]
    if g.ndim != 1 or g.size < 2:
        raise ValueError(f"quadratic_oscillation: grad must be (T,) with T >= 2 (one coordinate "
                         f"of a D-dim run: pass grad[:, j]), got shape {g.shape}")
    if not np.all(np.isfinite(g)):
        raise ValueError("quadratic_oscillation: grad contains NaN or Inf")
    T = g.size
    a = np.abs(g)  # (T,)
    changes = _sign_changes(g)
    t_min = int(np.argmin(a))
    after = a[t_min + 1:]
    d = np.sign(np.diff(a))  # (T-1,) direction of |g| from t to t+1
    nz = np.flatnonzero(d)
    turns = nz[1:][(d[nz[1:]] > 0) & (d[nz[:-1]] < 0)]  # indices t with a_t a local minimum
    half = T // 2
    amplitude_x = None
    if x is not None:
        xs = np.asarray(x, dtype=np.float64)
        if xs.shape[0] != T:
            raise ValueError(f"quadratic_oscillation: x has {xs.shape[0]} records, grad has {T}")
        amplitude_x = float(np.max(np.abs(xs[half:])))
    return {
        "sign_changes": int(changes.size),
        "min_abs_grad": float(a[t_min]),
        "min_index": t_min,
        "sign_changes_after_min": int(np.count_nonzero(changes > t_min)),
        "grows_back_after_min": bool(after.size and after.max() > a[t_min]),
        "max_abs_grad_after_min": float(after.max()) if after.size else math.nan,
        "regrowths": int(turns.size),
        "first_regrowth_index": int(turns[0]) if turns.size else None,
        "monotone_nonincreasing": bool(np.all(np.diff(a) <= 0)),
        "final_abs_grad": float(a[-1]),
        "amplitude_grad": float(np.max(a[half:])),
        "amplitude_x": amplitude_x,
    }


