r"""Figure 7's exact per-element relations: the step each recorded element must take.

Every method of :mod:`.one_axis` takes, per element and step, a step u_t = Δθ/α that is an
exact function of quantities the run records (the element sample's m̂, v̂ and of g_t
recovered from them), not only a statistical tendency:

    Adam      u = m̂/(√v̂ + ε)                  = sign(m̂)/(√(γ²+1) + ε/|m̂|) where v̂ ≥ m̂²
    SGD       u = b_t = m̂ (1 − μ^t)/(1 − μ)    heavy ball, dampening 0, probe β1 = μ
    SignSGD   u = sign(g_t)
    Signum    u = sign(m̂)                      its m is the probe's m (β = β1)
    Lion      u = sign(c_t),  c_t = β1 m^L_{t−1} + (1 − β1) g_t,
                             m^L_t = β2 m^L_{t−1} + (1 − β2) g_t (its memory)
    RMSprop   u = g_t/(√((1 − α^t) v̂) + ε)     its v is the probe's v (α = β2)
    Adagrad   u = g_t/(√(Σ_{k≤t} g_k²) + ε)
    M-SVAG    u = m̂/(1 + κ_t γ²)               its own m̂, v̂

The measured u is the record's ``sample_update``, (θ_{t−1} − θ_t)/α from the stored
parameters, so a check against it tests the step that was applied. g_t itself is not
recorded: it is recovered from the probe's m̂ at consecutive steps (:func:`recovered_gradient`).

**Tolerance: rounding only.** An element-step passes when |u − û| ≤ update_tolerance (the
rounding of the stored θ and of the optimizer's arithmetic,
:func:`~numpy_adam.optim.sample.update_tolerance`) + the rounding of the prediction û itself
(:func:`exact_prediction`): the record stores m̂, v̂ in the parameters' dtype (ε/2 each), and
where û leans on a recursion the optimizer ran in that dtype (SGD's b, Adagrad's Σg², Lion's
memory) that recursion's accumulated rounding is bounded step by step, to first order in
ε = the dtype's machine epsilon. So float64 runs are checked to ≈ 1e-15 and float32 runs to
≈ 1e-6 relative; a wrong β, μ, ε or unit is off by far more. Where a sign relation's
argument (g_t, c_t) is within its own rounding bound of 0, its sign is not determined by the
record: such element-steps are counted as ``ambiguous`` and pass (Signum's m is the probe's m
bit for bit, so it has none).
"""
from __future__ import annotations

import math

import numpy as np

from ..optim.msvag import msvag_kappa
from ..optim.sample import update_tolerance
from ..optim.stats import element_spread
from ..records import Run
from .one_axis import method_of, predicted_curve, sample_metrics

RELATIONS = {"adam": "u = m̂/(√v̂ + ε)", "sgd": "u = m̂ (1−μ^t)/(1−μ)",
             "signsgd": "u = sign(g_t)", "signum": "u = sign(m̂)", "lion": "u = sign(c_t)",
             "rmsprop": "u = g_t/(√((1−α^t) v̂) + ε)", "adagrad": "u = g_t/(√Σg² + ε)",
             "msvag": "u = m̂/(1 + κ_t γ²)"}


def _steps(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.float64)[:, None]


def _previous(a: np.ndarray) -> np.ndarray:
    """a shifted one step later along axis 0, with 0 before the first step (the zero state)."""
    return np.vstack([np.zeros((1,) + a.shape[1:]), a[:-1]])


def _accumulated(decay: float, terms: np.ndarray) -> np.ndarray:
    """E_t = decay E_{t−1} + terms_t, E_0 = 0, along axis 0: how a recursion that rounds by
    terms_t at step t and multiplies its past by ``decay`` carries its rounding forward."""
    out = np.empty_like(terms)
    acc = np.zeros(terms.shape[1:])
    for k in range(terms.shape[0]):
        acc = decay * acc + terms[k]
        out[k] = acc
    return out


def recovered_gradient(m_hat, beta1: float) -> np.ndarray:
    """g_t of every sampled element from its EMA m̂ recorded at steps 1..T, (T, N) float64.

    m_t = (1 − β1^t) m̂_t and m_t = β1 m_{t−1} + (1 − β1) g_t with m_0 = 0, so
    g_t = (m_t − β1 m_{t−1})/(1 − β1); β1 = 0 gives g_t = m̂_t. Its rounding:
    :func:`gradient_rounding`.
    """
    m_hat = np.asarray(m_hat, dtype=np.float64)
    if m_hat.ndim != 2:
        raise ValueError(f"recovered_gradient: m_hat must be (T, N), got shape {m_hat.shape}")
    m = (1.0 - beta1 ** _steps(m_hat.shape[0])) * m_hat
    return (m - beta1 * _previous(m)) / (1.0 - beta1)


def gradient_rounding(m_hat, g, beta1: float, eps: float) -> np.ndarray:
    """A bound on |g_t − recovered g_t| from rounding, (T, N).

    The recovery inverts one step of the probe's recursion, so only that step's rounding
    enters (earlier steps' rounding is inside the recorded m_{t−1} it starts from): m_t and
    m_{t−1} were each stored with ε/2 relative error, the step's two products and its sum
    rounded by ε/2 of their size, and β1, 1 − β1 were cast to the dtype (ε/2 each). Summed
    and divided by 1 − β1: 2ε(|m_t| + |m_{t−1}|)/(1 − β1) + 2ε|g_t| bounds it.
    """
    m = (1.0 - beta1 ** _steps(np.shape(m_hat)[0])) * np.asarray(m_hat, dtype=np.float64)
    return 2.0 * eps * ((np.abs(m) + np.abs(_previous(m))) / (1.0 - beta1) + np.abs(g))


def lion_memory(g, beta2: float) -> np.ndarray:
    """Lion's memory m^L_t = β2 m^L_{t−1} + (1 − β2) g_t, m^L_0 = 0, from the gradients g (T, N)
    of steps 1..T (:mod:`numpy_adam.optim.lion`); (T, N) float64."""
    return _accumulated(beta2, (1.0 - beta2) * np.asarray(g, dtype=np.float64))


def lion_interpolation(g, beta1: float, beta2: float) -> np.ndarray:
    """Lion's c_t = β1 m^L_{t−1} + (1 − β1) g_t from the gradients g (T, N) of steps 1..T,
    with its memory :func:`lion_memory` (β2); (T, N) float64."""
    g = np.asarray(g, dtype=np.float64)
    return beta1 * _previous(lion_memory(g, beta2)) + (1.0 - beta1) * g


def exact_prediction(run: Run) -> dict:
    """The step û each recorded element must take (module docstring), signed, and the bound
    on û's own rounding; every array (T, N) float64 over all recorded steps.

    returns {"method", "predicted": û, "rounding": the bound, "ambiguous": bool, True where a
    sign relation's argument is within its rounding of 0 (False elsewhere)}
    """
    method = method_of(run)
    metrics, cfg = sample_metrics(run), run.config
    eps = float(np.finfo(metrics["sample_m_hat"].dtype).eps)
    m_hat = metrics["sample_m_hat"].astype(np.float64)
    v_hat = metrics["sample_v_hat"].astype(np.float64)
    eps_opt = float(cfg.get("eps") or 0.0)
    t = _steps(m_hat.shape[0])
    beta1 = float(cfg["beta1"])
    ambiguous = np.zeros(m_hat.shape, dtype=bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        if method == "adam":  # m̂, v̂ stored with ε/2 each; the rest is the optimizer's own
            predicted = m_hat / (np.sqrt(v_hat) + eps_opt)
            return _prediction(method, predicted, eps * np.abs(predicted), ambiguous)
        if method == "msvag":  # the kernel's v̂ − m̂² cancels: ≲ 8ε(1 + κ)|u| (κγ²r = 1 − r)
            _, gamma, _ = element_spread(m_hat, v_hat)
            r = predicted_curve("msvag", np.nan_to_num(gamma), cfg, t)
            predicted = m_hat * r
            kappa = np.array([msvag_kappa(beta1, int(s)) for s in t[:, 0]])[:, None]
            return _prediction(method, predicted, 8.0 * eps * (1.0 + kappa) * np.abs(predicted),
                               ambiguous)
        if method == "signum":  # Signum's m is the probe's m, same bits: no rounding at all
            return _prediction(method, np.sign(m_hat), np.zeros(m_hat.shape), ambiguous)
        g = recovered_gradient(m_hat, beta1)
        g_err = gradient_rounding(m_hat, g, beta1, eps)
        if method == "sgd":
            return _prediction(method, *_sgd(m_hat, g, t, float(cfg["momentum"]), beta1, eps),
                               ambiguous)
        if method == "signsgd":
            return _prediction(method, np.sign(g), np.zeros(g.shape), np.abs(g) <= g_err)
        if method == "lion":
            c, c_err = _lion(g, g_err, beta1, float(cfg["beta2"]), eps)
            return _prediction(method, np.sign(c), np.zeros(g.shape), np.abs(c) <= c_err)
        if method == "rmsprop":  # its v is the probe's v bit for bit: only v̂'s storage rounds
            denom = np.sqrt((1.0 - float(cfg["beta2"]) ** t) * v_hat) + eps_opt
            predicted = g / denom
            return _prediction(method, predicted, g_err / denom + eps * np.abs(predicted),
                               ambiguous)
        return _prediction(method, *_adagrad(g, g_err, eps_opt, eps), ambiguous)


def _prediction(method, predicted, rounding, ambiguous) -> dict:
    return {"method": method, "predicted": predicted, "rounding": rounding,
            "ambiguous": ambiguous}


def _sgd(m_hat, g, t, mu: float, beta1: float, eps: float):
    """b_t = m_t/(1 − μ) and its rounding: b's own recursion b_t = μ b_{t−1} + g_t rounds by
    ≤ ε(|b_{t−1}| + |b_t|) a step, the probe's m_t by ≤ ε(|m_{t−1}| + |m_t| + (1 − β1)|g_t|),
    each carried forward by its μ (β1); plus m̂'s storage."""
    m = (1.0 - beta1 ** t) * m_hat
    predicted = m_hat * (1.0 - mu ** t) / (1.0 - mu)
    b_err = _accumulated(mu, eps * (np.abs(_previous(predicted)) + np.abs(predicted)))
    m_err = _accumulated(beta1, eps * (np.abs(_previous(m)) + np.abs(m)
                                       + (1.0 - beta1) * np.abs(g)))
    return predicted, b_err + m_err / (1.0 - mu) + eps * np.abs(predicted)


def _lion(g, g_err, beta1: float, beta2: float, eps: float):
    """c_t and a bound on its rounding: the recovered g's (carried through the memory) and
    the optimizer's own, ≤ ε(|m^L_t| + |m^L_{t−1}| + (1 − β2)|g_t|) a step in its memory."""
    memory = lion_memory(g, beta2)
    before = _previous(memory)
    c = beta1 * before + (1.0 - beta1) * g
    own = eps * (np.abs(memory) + np.abs(before) + (1.0 - beta2) * np.abs(g))
    memory_err = _accumulated(beta2, (1.0 - beta2) * g_err + own)
    c_err = (beta1 * _previous(memory_err) + (1.0 - beta1) * g_err
             + eps * (np.abs(c) + np.abs(before) + np.abs(g)))
    return c, c_err


def _adagrad(g, g_err, eps_opt: float, eps: float):
    """g_t/(√s_t + ε) with s_t = Σ g_k², and its rounding: the recovered g's in the numerator
    and the sum, and the optimizer's own running sum (≤ ε(s_t + g_t²) a step, never decaying)."""
    s = np.cumsum(g * g, axis=0)
    root = np.sqrt(s) + eps_opt
    predicted = g / root
    s_err = np.cumsum(2.0 * np.abs(g) * g_err + eps * (s + g * g), axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        relative_s = np.where(s > 0, s_err / s, 0.0)
    return predicted, g_err / root + np.abs(predicted) * (0.5 * relative_s + eps)


def exact_check(run: Run, warmup: int = 0) -> dict:
    """The exact relation on every recorded element-step from step ``warmup`` + 1 on.

    An element-step passes when |u − û| ≤ update_tolerance + û's rounding (module docstring),
    or when û's sign is ambiguous. returns
    {"relation", "values": element-steps checked (u and û finite), "passed", "fraction",
     "ambiguous": how many passed as ambiguous, "max_tolerance_ratio": max |u − û|/tolerance
     over the others (≤ 1: every one within rounding), "max_abs_error": max |u − û| (in
     units of α), "median_relative_error": median |u − û|/|û| (û ≠ 0), "tolerance"}
    """
    prediction = exact_prediction(run)
    metrics = run.metrics
    rows = slice(warmup, None)
    dtype = metrics["sample_m_hat"].dtype
    u = metrics["sample_update"][rows].astype(np.float64)
    predicted = prediction["predicted"][rows]
    ambiguous = prediction["ambiguous"][rows]
    lr = np.asarray(metrics["lr"], dtype=np.float64)[rows].reshape(-1, 1)
    keep = np.isfinite(predicted) & np.isfinite(u)
    with np.errstate(divide="ignore", invalid="ignore"):
        tolerance = (update_tolerance(metrics["sample_param"][rows], u, lr, dtype)
                     + prediction["rounding"][rows])
        error = np.abs(u - predicted)
        ratio = error / tolerance
        relative = error / np.abs(predicted)
    within = keep & (ambiguous | (error <= tolerance))
    decided = keep & ~ambiguous
    n = int(np.count_nonzero(keep))
    relative = relative[decided & (predicted != 0)]
    return {"relation": RELATIONS[prediction["method"]], "values": n,
            "passed": int(np.count_nonzero(within)),
            "fraction": float(np.count_nonzero(within) / n) if n else math.nan,
            "ambiguous": int(np.count_nonzero(keep & ambiguous)),
            "max_tolerance_ratio": _max(ratio[decided]), "max_abs_error": _max(error[decided]),
            "median_relative_error": float(np.median(relative)) if relative.size else math.nan,
            "tolerance": "rounding: update_tolerance (θ's storage, the optimizer's arithmetic) "
                         "+ the prediction's own rounding bound"}


def _max(a) -> float:
    a = np.asarray(a, dtype=np.float64)
    a = a[np.isfinite(a)]
    return float(a.max()) if a.size else math.nan
