r"""Near the optimum of the noisy quadratic: SGD's steady state in closed form, and the measures
that put Adam's stationary behaviour beside it.

The problem (:mod:`numpy_adam.models.quadratic`): f(x; ξ) = (x − ξ)² per coordinate, ξ_t drawn
afresh each step with variance σ_ξ² = s²/B, so the gradient is g_t = h (x_{t−1} − ξ_t) with
curvature h = f'' = 2. ξ_t is independent of everything before step t.

**Plain SGD (μ = 0).** x_t = x_{t−1} − α g_t = (1 − αh) x_{t−1} + αh ξ_t, an AR(1) process. It
is stable iff |1 − αh| < 1, i.e. 0 < αh < 2 (for h = 2: 0 < α < 1), and then, taking the
variance of both sides at stationarity (x_{t−1} ⟂ ξ_t),

    V = (1 − αh)² V + α²h² σ_ξ²   ⇒   V = Var(x) = αh σ_ξ² / (2 − αh)  = α σ_ξ² / (1 − α)  (h = 2).

**Heavy-ball momentum μ** (PyTorch's, :mod:`numpy_adam.optim.sgd`, dampening 0):
b_t = μ b_{t−1} + g_t, x_t = x_{t−1} − α b_t. The state s_t = (x_t, b_t)ᵀ is linear,

    s_t = A s_{t−1} + c ξ_t,   A = [[1 − αh, −αμ], [h, μ]],   c = (αh, −h)ᵀ

(PyTorch's b_1 = g_1 is this recursion with b_0 = 0), so its stationary covariance
P = [[p, q], [q, r]] (p = Var x, q = Cov(x, b), r = Var b) solves the discrete Lyapunov equation
P = A P Aᵀ + σ_ξ² c cᵀ. Its three distinct entries, written as moments (x_{t−1}, b_{t−1} ⟂ ξ_t,
and Cov(x_{t−1}, b_t) = μq + hp):

    (p)  p = p − 2α(μq + hp) + α² r                  ⇒  μq + hp = α r / 2
    (q)  q = (μq + hp) − α r                         ⇒  q = −α r / 2
    (r)  r = μ² r + h² p + 2μh q + h² σ_ξ²

From (p) and (q): hp = α r (1 + μ)/2. Into (r): r (1 − μ²) = h α r (1 − μ)/2 + h² σ_ξ², so with
D = (1 − μ)(2(1 + μ) − αh):

    r = Var(b)    = 2 h² σ_ξ² / D
    q = Cov(x, b) = −α h² σ_ξ² / D
    p = Var(x)    = (1 + μ) αh σ_ξ² / D
                  = (1 + μ) α σ_ξ² / ((1 − μ)(1 + μ − α))            (h = 2)

μ = 0 gives back αhσ_ξ²/(2 − αh). Stability: A has trace 1 + μ − αh and determinant μ, so
(Jury) its eigenvalues lie inside the unit circle iff |μ| < 1, 1 − tr + det = αh > 0 and
1 + tr + det = 2(1 + μ) − αh > 0: **0 ≤ μ < 1 and 0 < αh < 2(1 + μ)** (h = 2: 0 < α < 1 + μ).
Exactly there D > 0 and pr − q² = αh³σ_ξ⁴(2(1 + μ) − αh)/D² > 0, so P is a covariance. (The same
p follows from the AR(2) form x_t = (1 + μ − αh) x_{t−1} − μ x_{t−2} + αh ξ_t.)

Consequences used by the figure: the step is Δx_t = −α b_t, so its RMS is α√r (√r in units of
α; for μ = 0, √r = RMS g = h √(σ_ξ² + V)); the lag-1 autocorrelation of x is
ρ_1 = (1 + μ − αh)/(1 + μ), and since x is a stationary Gaussian process, the chance that
consecutive x differ in sign is arccos(ρ_1)/π (Sheppard's orthant formula): SGD's sign-change
rate does not depend on s at all (μ = 0, α = 0.01: ρ_1 = 0.98, 0.0638 per step).

**Sampling error of a measured variance.** V̂ = (1/nK) Σ x_t² over n consecutive stationary
steps of K independent chains (the mean 0 is known, so no mean is subtracted). For Gaussian x,
Cov(x_t², x_{t+k}²) = 2γ_k² (Isserlis), hence exactly

    Var(V̂) = (2V²/(nK)) [1 + 2 Σ_{k=1}^{n−1} (1 − k/n) ρ_k²],   ρ_k = (A^k P)_{11} / p.

For μ = 0, ρ_k = (1 − αh)^k and the bracket tends to (1 + ρ_1²)/(1 − ρ_1²): at α = 0.01 about 50
steps, so a single run's last 3000 steps pin V down to ±18 % (one standard error).
:func:`variance_standard_error` computes it; tests and :func:`sgd_comparison` quote deviations
in these units.

**Adam's stationary measures** (:func:`stationary_measures`, :func:`run_measures`): over the
stationary part of a run (the last half by default), the RMS of x about the optimum's mean 0,
the RMS of the step |Δx| (absolute and in units of α, from the recorded |Δθ|/α), the
sign-change rate of x and of g per step and the period 2/rate they imply (one full swing has
two sign changes), and the sampling share σ_ξ²/(E x² + σ_ξ²) of the gradient's second moment
E g² = h²(E x² + σ_ξ²): near 0 the spread Adam sees comes from its own movement, near 1 from
sampling. Pure NumPy, no SciPy.
"""
from __future__ import annotations

import math

import numpy as np

CURVATURE = 2.0  # h = f'' of (x − ξ)²


def _number(value, name: str, fn: str, low: float = 0.0, low_open: bool = False) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise TypeError(f"{fn}: {name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value) or value < low or (low_open and value == low):
        raise ValueError(f"{fn}: {name} must be a finite number {'>' if low_open else '>='} "
                         f"{low:g}, got {value!r}")
    return value


def noise_variance(noise_std, batch_size) -> float:
    """σ_ξ² = s²/B, the variance of ξ (the mean of B draws from N(0, s²))."""
    s = _number(noise_std, "noise_std", "noise_variance")
    if isinstance(batch_size, bool) or not isinstance(batch_size, (int, np.integer)) or \
            batch_size < 1:
        raise ValueError(f"noise_variance: batch_size must be a positive integer, got "
                         f"{batch_size!r}")
    return s * s / int(batch_size)


def sgd_transition(lr, momentum=0.0, *, curvature=CURVATURE) -> tuple[np.ndarray, np.ndarray]:
    """A (2, 2) and c (2,) of s_t = A s_{t−1} + c ξ_t for s = (x, b), as derived above."""
    a = _number(lr, "lr", "sgd_transition")
    mu = _number(momentum, "momentum", "sgd_transition")
    h = _number(curvature, "curvature", "sgd_transition", low_open=True)
    return (np.array([[1.0 - a * h, -a * mu], [h, mu]]), np.array([a * h, -h]))


def sgd_is_stable(lr, momentum=0.0, *, curvature=CURVATURE) -> bool:
    """0 ≤ μ < 1 and 0 < αh < 2(1 + μ): the eigenvalues of A inside the unit circle."""
    a = _number(lr, "lr", "sgd_is_stable")
    mu = _number(momentum, "momentum", "sgd_is_stable")
    h = _number(curvature, "curvature", "sgd_is_stable", low_open=True)
    return mu < 1.0 and 0.0 < a * h < 2.0 * (1.0 + mu)


def _check_stable(lr, momentum, curvature, fn: str) -> None:
    if not sgd_is_stable(lr, momentum, curvature=curvature):
        raise ValueError(f"{fn}: lr={lr!r}, momentum={momentum!r} (curvature {curvature:g}) has "
                         "no steady state: expected 0 <= momentum < 1 and "
                         "0 < lr·curvature < 2(1 + momentum)")


def sgd_stationary_covariance(lr, noise_var, momentum=0.0, *, curvature=CURVATURE) -> np.ndarray:
    """P = [[Var x, Cov(x, b)], [Cov(x, b), Var b]] of SGD's steady state, the closed form above.

    lr: α; noise_var: σ_ξ² ≥ 0; momentum: μ (heavy ball, dampening 0); curvature: h.
    Raises ValueError when (α, μ) is unstable (no steady state).
    """
    sigma2 = _number(noise_var, "noise_var", "sgd_stationary_covariance")
    _check_stable(lr, momentum, curvature, "sgd_stationary_covariance")
    a, mu, h = float(lr), float(momentum), float(curvature)
    d = (1.0 - mu) * (2.0 * (1.0 + mu) - a * h)
    p = (1.0 + mu) * a * h * sigma2 / d
    q = -a * h * h * sigma2 / d
    r = 2.0 * h * h * sigma2 / d
    return np.array([[p, q], [q, r]])


def sgd_stationary_variance(lr, noise_var, momentum=0.0, *, curvature=CURVATURE) -> float:
    """Var(x) = (1 + μ) αh σ_ξ² / ((1 − μ)(2(1 + μ) − αh)); μ = 0, h = 2: α σ_ξ²/(1 − α)."""
    return float(sgd_stationary_covariance(lr, noise_var, momentum, curvature=curvature)[0, 0])


def sgd_step_rms(lr, noise_var, momentum=0.0, *, curvature=CURVATURE) -> float:
    """RMS of the step Δx = −α b in steady state: α √Var(b) (divide by α for units of α)."""
    r = sgd_stationary_covariance(lr, noise_var, momentum, curvature=curvature)[1, 1]
    return float(lr) * math.sqrt(r)


def sgd_lag1_correlation(lr, momentum=0.0, *, curvature=CURVATURE) -> float:
    """ρ_1 = Corr(x_t, x_{t−1}) = (1 + μ − αh)/(1 + μ) in steady state (any σ_ξ² > 0)."""
    _check_stable(lr, momentum, curvature, "sgd_lag1_correlation")
    return (1.0 + float(momentum) - float(lr) * float(curvature)) / (1.0 + float(momentum))


def sgd_sign_change_rate(lr, momentum=0.0, *, curvature=CURVATURE) -> float:
    """P(sign x_t ≠ sign x_{t−1}) = arccos(ρ_1)/π for the stationary Gaussian x (σ_ξ² > 0)."""
    return math.acos(sgd_lag1_correlation(lr, momentum, curvature=curvature)) / math.pi


def discrete_lyapunov(A, Q) -> np.ndarray:
    """The P with P = A P Aᵀ + Q, by one linear solve: (I − A ⊗ A) vec P = vec Q.

    A, Q: (n, n); needs every product of two eigenvalues of A ≠ 1 (true when A is stable).
    A numerical check of the closed form, independent of its algebra.
    """
    A = np.asarray(A, dtype=np.float64)
    Q = np.asarray(Q, dtype=np.float64)
    if A.ndim != 2 or A.shape[0] != A.shape[1] or Q.shape != A.shape:
        raise ValueError(f"discrete_lyapunov: A and Q must be square of one shape, got {A.shape} "
                         f"and {Q.shape}")
    n = A.shape[0]
    vec_p = np.linalg.solve(np.eye(n * n) - np.kron(A, A), Q.reshape(-1))  # row-major vec
    return vec_p.reshape(n, n)


def _component(component, fn: str) -> int:
    if component not in (0, 1) or isinstance(component, bool):
        raise ValueError(f"{fn}: component must be 0 (x) or 1 (the buffer b), got {component!r}")
    return int(component)


def sgd_autocorrelation(lr, momentum=0.0, lags: int = 100, *, component: int = 0,
                        curvature=CURVATURE) -> np.ndarray:
    """ρ_k = Corr(y_{t+k}, y_t), k = 0..lags, of y = x (component 0) or b (1), from
    Cov(s_{t+k}, s_t) = A^k P (any σ_ξ² > 0)."""
    i = _component(component, "sgd_autocorrelation")
    A, _ = sgd_transition(lr, momentum, curvature=curvature)
    P = sgd_stationary_covariance(lr, 1.0, momentum, curvature=curvature)  # ρ does not need σ_ξ²
    rho = np.empty(int(lags) + 1)
    C = P.copy()
    for k in range(rho.size):
        rho[k] = C[i, i] / P[i, i]
        C = A @ C
    return rho


def variance_standard_error(lr, noise_var, momentum=0.0, *, n: int, chains: int = 1,
                            component: int = 0, curvature=CURVATURE) -> float:
    """Standard error of V̂ = mean of y² (y = x for component 0, b for 1) over n consecutive
    stationary steps of ``chains`` independent chains:
    V √((2/(nK)) [1 + 2 Σ_{k<n} (1 − k/n) ρ_k²]) (Gaussian y, see above).

    The sum stops at k = n − 1 or two lags after ρ(A)^k < 1e-18 (ρ(A) the spectral radius of
    A, which bounds |ρ_k| up to a constant): the tail left out is below 1e-36 of the bracket.
    """
    i = _component(component, "variance_standard_error")
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
        raise ValueError(f"variance_standard_error: n must be a positive integer, got {n!r}")
    if isinstance(chains, bool) or not isinstance(chains, (int, np.integer)) or chains < 1:
        raise ValueError(f"variance_standard_error: chains must be a positive integer, got "
                         f"{chains!r}")
    V = sgd_stationary_covariance(lr, noise_var, momentum, curvature=curvature)[i, i]
    A, _ = sgd_transition(lr, momentum, curvature=curvature)
    radius = float(np.max(np.abs(np.linalg.eigvals(A))))
    # + 2: a nilpotent A (radius 0, e.g. αh = 1, μ = 0) still correlates b over 2×2 = 2 lags
    lags = min(int(n) - 1, 2 + (int(math.ceil(-41.5 / math.log(radius))) if radius > 0 else 0))
    rho = sgd_autocorrelation(lr, momentum, max(lags, 0), component=i, curvature=curvature)[1:]
    k = np.arange(1, rho.size + 1)
    bracket = 1.0 + 2.0 * float(np.sum((1.0 - k / n) * rho * rho))
    return float(V) * math.sqrt(2.0 * bracket / (int(n) * int(chains)))


# -- measures of a recorded run ---------------------------------------------------------------

def stationary_slice(T: int, fraction: float = 0.5) -> slice:
    """The last ``fraction`` of T records (at least 2): the part taken as stationary."""
    fraction = _number(fraction, "fraction", "stationary_slice", low_open=True)
    if fraction > 1:
        raise ValueError(f"stationary_slice: fraction must be in (0, 1], got {fraction!r}")
    if T < 2:
        raise ValueError(f"stationary_slice: T must be at least 2 records, got {T}")
    n = min(T, max(2, int(round(T * fraction))))
    return slice(T - n, T)


def sign_change_rate(series) -> float:
    """Sign changes per step of a (T,) or (T, D) series, averaged over coordinates.

    A change at k is sign(y_k) differing from the last non-zero sign before k (exact zeros carry
    no sign); the count is divided by the T − 1 transitions. NaN when T < 2.
    Examples: (+, −, +, −) → 1; (+, +, −, −) → 1/3; sin(2πt/P) sampled densely → 2/P.
    """
    y = np.asarray(series, dtype=np.float64)
    if y.ndim == 1:
        y = y[:, None]
    if y.ndim != 2:
        raise ValueError(f"sign_change_rate: series must be (T,) or (T, D), got shape {y.shape}")
    T = y.shape[0]
    if T < 2:
        return math.nan
    rates = []
    for column in y.T:
        s = np.sign(column[column != 0])
        rates.append(np.count_nonzero(s[1:] != s[:-1]) / (T - 1))
    return float(np.mean(rates))


def period_from_rate(rate: float) -> float:
    """The oscillation period 2/rate in steps (two sign changes per full swing); inf at rate 0."""
    if not math.isfinite(rate):
        return math.nan
    return math.inf if rate == 0 else 2.0 / rate


def _rms(a: np.ndarray) -> float:
    return float(np.sqrt(np.mean(a * a))) if a.size else math.nan


def stationary_measures(x, update, lr, grad=None, *, fraction: float = 0.5,
                        noise_var: float | None = None) -> dict:
    """Stationary behaviour over the last ``fraction`` of a run's records.

    x:      (T,) or (T, D) parameter after each step (the optimum's mean is 0)
    update: (T,) |Δθ|/α of each step (a record's ``update[:, 0]``)
    lr:     α, a number or the (T,) per-step rates (``metrics["lr"]``)
    grad:   optional (T,) or (T, D) gradient of each step
    noise_var: optional σ_ξ², for ``sampling_share``

    returns {"rms_x", "mean_x", "rms_step" (RMS of α·update), "rms_step_lr" (RMS of update),
             "sign_change_rate_x", "period_x", "sign_change_rate_grad", "period_grad"
             (NaN without grad), "sampling_share" = σ_ξ²/(rms_x² + σ_ξ²) (NaN without
             noise_var or when both are 0), "first_step" (0-based record index), "n"}
    """
    x = np.asarray(x, dtype=np.float64)
    update = np.asarray(update, dtype=np.float64)
    T = x.shape[0] if x.ndim else 0
    if x.ndim not in (1, 2) or update.shape != (T,):
        raise ValueError(f"stationary_measures: x must be (T,) or (T, D) and update (T,), got "
                         f"shapes {x.shape} and {update.shape}")
    lr = np.broadcast_to(np.asarray(lr, dtype=np.float64), (T,))
    window = stationary_slice(T, fraction)
    xs, us, rates = x[window], update[window], lr[window]
    out = {"rms_x": _rms(xs), "mean_x": float(np.mean(xs)), "rms_step": _rms(us * rates),
           "rms_step_lr": _rms(us), "sign_change_rate_x": sign_change_rate(xs)}
    out["period_x"] = period_from_rate(out["sign_change_rate_x"])
    if grad is not None:
        g = np.asarray(grad, dtype=np.float64)
        if g.shape[0] != T:
            raise ValueError(f"stationary_measures: grad has {g.shape[0]} records, x has {T}")
        out["sign_change_rate_grad"] = sign_change_rate(g[window])
    else:
        out["sign_change_rate_grad"] = math.nan
    out["period_grad"] = period_from_rate(out["sign_change_rate_grad"])
    total = (out["rms_x"] ** 2 + noise_var) if noise_var is not None else 0.0
    out["sampling_share"] = noise_var / total if total > 0 else math.nan
    out["first_step"], out["n"] = int(window.start), int(window.stop - window.start)
    return out


def _quadratic_series(run) -> tuple[np.ndarray, np.ndarray]:
    metrics = run.metrics
    if run.config.get("model") != "quadratic" or "x" not in metrics:
        raise ValueError(f"run {getattr(run, 'path', '?')} must be a quadratic run with recorded "
                         f"x, got model={run.config.get('model')!r}")
    x = np.asarray(metrics["x"], dtype=np.float64)
    if x.ndim == 2 and x.shape[1] == 1:
        x = x[:, 0]
    if x.ndim != 1 or metrics["update"].shape[1] != 1:
        raise ValueError(f"run {getattr(run, 'path', '?')} must be 1-D (x of shape (T,)) so that "
                         f"|Δθ|/α is one element's step, got x of shape {x.shape}")
    return x, np.asarray(metrics["update"][:, 0], dtype=np.float64)


def run_measures(run, fraction: float = 0.5) -> dict:
    """:func:`stationary_measures` of a recorded 1-D quadratic run (a
    :class:`~numpy_adam.records.Run`), plus its settings and, over the same window, the median
    relative spread γ = σ̂/|m̂| and the mean update |Δθ|/α (Adam's, or SGD's probe for γ).

    Adds {"optimizer", "lr", "momentum", "noise_std", "batch_size", "noise_var",
    "gamma_median", "update_mean"}.
    """
    x, update = _quadratic_series(run)
    cfg = run.config
    s = float(cfg.get("noise_std") or 0.0)
    batch = int(cfg.get("batch_size") or 1)
    sigma2 = noise_variance(s, batch)
    out = stationary_measures(x, update, run.metrics["lr"], run.metrics.get("grad"),
                              fraction=fraction, noise_var=sigma2)
    window = slice(out["first_step"], out["first_step"] + out["n"])
    sigma = np.asarray(run.metrics["sigma"][window, 0], dtype=np.float64)
    abs_m = np.asarray(run.metrics["mean_abs_m"][window, 0], dtype=np.float64)
    gamma = np.divide(sigma, abs_m, out=np.full(sigma.shape, np.nan), where=abs_m > 0)
    finite = gamma[np.isfinite(gamma)]
    out.update(optimizer=str(cfg.get("optimizer")), lr=float(cfg.get("lr")),
               momentum=float(cfg.get("momentum") or 0.0), noise_std=s, batch_size=batch,
               noise_var=sigma2, gamma_median=float(np.median(finite)) if finite.size else math.nan,
               update_mean=float(np.mean(update[window])))
    return out


def sgd_comparison(run, fraction: float = 0.5) -> dict:
    """An SGD run's measured steady state beside the closed form.

    run: a 1-D quadratic SGD run (constant lr, dampening 0, no nesterov, no weight decay)
    returns {"measured": :func:`run_measures`, "closed_form": {"rms_x", "rms_step",
             "rms_step_lr", "sign_change_rate_x", "period_x"}, "rms_x_ratio": measured /
             closed form, "variance_stderr": SE of the measured E x² (one chain, n steps),
             "variance_z": (measured E x² − Var x)/SE, "transient": |x_0| ρ(A)^first_step (a
             bound, up to a constant, on what remains of the start)}; for s = 0 the closed form is
             0 and the ratio and z are NaN.
    """
    cfg = run.config
    bad = {k: cfg.get(k) for k, ok in (("optimizer", cfg.get("optimizer") == "sgd"),
                                       ("dampening", not cfg.get("dampening")),
                                       ("nesterov", not cfg.get("nesterov")),
                                       ("weight_decay", not cfg.get("weight_decay")),
                                       ("lr_schedule", cfg.get("lr_schedule", "constant")
                                        == "constant")) if not ok}
    if bad:
        raise ValueError(f"sgd_comparison: the closed form is for plain heavy-ball SGD with a "
                         f"constant lr, no dampening, nesterov or weight decay; run "
                         f"{getattr(run, 'path', '?')} has {bad}")
    measured = run_measures(run, fraction)
    a, mu, sigma2 = measured["lr"], measured["momentum"], measured["noise_var"]
    var = sgd_stationary_variance(a, sigma2, mu)
    closed = {"rms_x": math.sqrt(var), "rms_step": sgd_step_rms(a, sigma2, mu),
              "rms_step_lr": sgd_step_rms(a, sigma2, mu) / a,
              "sign_change_rate_x": sgd_sign_change_rate(a, mu) if sigma2 > 0 else 0.0}
    closed["period_x"] = period_from_rate(closed["sign_change_rate_x"])
    A, _ = sgd_transition(a, mu)
    radius = float(np.max(np.abs(np.linalg.eigvals(A))))
    x0 = float(np.max(np.abs(cfg.get("x0") or [1.0])))
    out = {"measured": measured, "closed_form": closed,
           "transient": x0 * radius ** measured["first_step"]}
    if sigma2 > 0:
        se = variance_standard_error(a, sigma2, mu, n=measured["n"])
        out.update(rms_x_ratio=measured["rms_x"] / closed["rms_x"], variance_stderr=se,
                   variance_z=(measured["rms_x"] ** 2 - var) / se)
    else:
        out.update(rms_x_ratio=math.nan, variance_stderr=0.0, variance_z=math.nan)
    return out
