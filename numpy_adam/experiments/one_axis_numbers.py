r"""Figure 7's numbers: each method's steps in its natural unit, against its own prediction.

What the figure draws and the summary reports, read from the run records of
:func:`~.one_axis.one_axis_experiments` (never trains):

* per recorded element-step (the element sample, 32 elements of each tracked weight): γ,
  the step y in the method's natural unit (:data:`~.one_axis.UNITS`) and the method's curve
  f(γ, t) (:func:`~.one_axis.predicted_curve`): :func:`element_values`;
* per tracked tensor and step: the layer relative spread γ̄_l = S_l/M_l against the tensor's
  mean step U_l (÷ M_l when gradient-scaled, × √t for Adagrad): :func:`layer_values`;
* the residual of each against the method's own curve, |y − f|/f (:func:`relative_residual`).
  Per element it is rounding wherever the curve is the method's exact relation (Adam with
  β1 = β2, the sign methods, SGD, M-SVAG); per tensor it measures what averaging over a
  tensor does to the relation (a mean of steps is not the curve at a ratio of means);
* RMSprop and Adagrad, which have no curve, against their RMS statement (:func:`rms_check`):
  the root-mean-square step, ≈ 1 in their natural unit, overall and per γ quintile;
* the exact per-element relation (:func:`~.one_axis_exact.exact_check`).
"""
from __future__ import annotations

import math

import numpy as np

from ..optim.stats import element_spread, layer_relative_spread
from ..records import Run
from .one_axis import (CURVE_FORMULAS, RMS_STATEMENTS, UNITS, WARMUP, method_of,
                       predicted_curve, sample_metrics, unit_of)
from .one_axis_exact import exact_check

QUANTILES = 5  # γ bins of the RMS step (quintiles of the element γ)


def natural_step(method: str, update, m_abs, step) -> np.ndarray:
    """|u| in the method's natural unit: |u| (|Δθ|/α), |u|/|m̂| (SGD, M-SVAG; NaN where m̂ = 0)
    or √t |u| (Adagrad). update, m_abs, step broadcast together; float64."""
    update = np.abs(np.asarray(update, dtype=np.float64))
    unit = unit_of(method)
    if unit == "alpha_m":
        m_abs = np.asarray(m_abs, dtype=np.float64)
        return np.divide(update, m_abs, out=np.full(np.broadcast(update, m_abs).shape, np.nan),
                         where=m_abs > 0)
    if unit == "alpha_sqrt_t":
        return update * np.sqrt(np.asarray(step, dtype=np.float64))
    return update


def element_values(run: Run, warmup: int = 0) -> dict:
    """The element sample from step ``warmup`` + 1 on, each (T', N) float64:

    step t; gamma γ (NaN where m̂ = 0; 0 where v̂ < m̂², clamped); m_abs |m̂|; update |u|;
    y the step in the method's natural unit (:func:`natural_step`); curve the method's
    :func:`~.one_axis.predicted_curve` at (γ, t), or None (RMSprop, Adagrad); agree:
    1 where sign(u) = sign(m̂), 0 where not (NaN where u or m̂ is 0). Also method and unit
    (strings).
    """
    method = method_of(run)
    metrics = sample_metrics(run)
    rows = slice(warmup, None)
    m_hat = metrics["sample_m_hat"][rows].astype(np.float64)
    _, gamma, _ = element_spread(m_hat, metrics["sample_v_hat"][rows])
    u = metrics["sample_update"][rows].astype(np.float64)
    step = np.broadcast_to(metrics["step"][rows].astype(np.float64)[:, None], u.shape)
    m_abs = np.abs(m_hat)
    moved = (u != 0) & (m_hat != 0)
    agree = np.where(moved, (np.sign(u) == np.sign(m_hat)).astype(np.float64), np.nan)
    return {"method": method, "unit": unit_of(method), "step": step, "gamma": gamma,
            "m_abs": m_abs, "update": np.abs(u), "y": natural_step(method, u, m_abs, step),
            "agree": agree,
            "curve": predicted_curve(method, np.nan_to_num(gamma), run.config, step)}


def layer_values(run: Run, warmup: int = 0) -> dict:
    """The layer aggregates from step ``warmup`` + 1 on, each (T', L) float64: step t; gamma
    γ̄_l = S_l/M_l (mean σ̂ over mean |m̂|, :func:`~numpy_adam.optim.stats.layer_relative_spread`);
    y the tensor's mean step U_l in the natural unit (U_l/M_l for SGD and M-SVAG, √t U_l for
    Adagrad); curve the method's curve at (γ̄_l, t), or None."""
    method = method_of(run)
    metrics, rows = run.metrics, slice(warmup, None)
    sigma = np.asarray(metrics["sigma"], dtype=np.float64)[rows]
    mean_abs_m = np.asarray(metrics["mean_abs_m"], dtype=np.float64)[rows]
    gamma = layer_relative_spread(sigma, mean_abs_m)
    update = np.asarray(metrics["update"], dtype=np.float64)[rows]
    step = np.broadcast_to(metrics["step"][rows].astype(np.float64)[:, None], update.shape)
    return {"method": method, "unit": unit_of(method), "step": step, "gamma": gamma,
            "y": natural_step(method, update, mean_abs_m, step),
            "curve": predicted_curve(method, np.nan_to_num(gamma), run.config, step)}


def relative_residual(y, curve) -> dict | None:
    """|y − f|/f over the finite entries: {"median", "p90", "n"}; None without a curve."""
    if curve is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.abs(np.asarray(y, dtype=np.float64) - curve) / curve
    r = r[np.isfinite(r)]
    if r.size == 0:
        return {"median": math.nan, "p90": math.nan, "n": 0}
    return {"median": float(np.median(r)), "p90": float(np.percentile(r, 90)), "n": int(r.size)}


def rms_by_gamma(gamma, z, bins: int = QUANTILES) -> dict:
    """RMS of z overall and within each of ``bins`` equal-count γ bins (entries with γ > 0
    and both finite): {"rms", "gamma_median": [bins], "rms_by_bin": [bins]}, NaN when fewer
    than ``bins`` entries are left."""
    gamma = np.asarray(gamma, dtype=np.float64).ravel()
    z = np.asarray(z, dtype=np.float64).ravel()
    keep = np.isfinite(gamma) & np.isfinite(z) & (gamma > 0)
    gamma, z = gamma[keep], z[keep]
    if z.size < bins:
        return {"rms": math.nan, "gamma_median": [math.nan] * bins,
                "rms_by_bin": [math.nan] * bins}
    order = np.argsort(gamma, kind="stable")
    parts = np.array_split(order, bins)
    return {"rms": float(np.sqrt(np.mean(z * z))),
            "gamma_median": [float(np.median(gamma[p])) for p in parts],
            "rms_by_bin": [float(np.sqrt(np.mean(z[p] ** 2))) for p in parts]}


def rms_check(values: dict, bins: int = QUANTILES) -> dict | None:
    """RMSprop's and Adagrad's statistical prediction on :func:`element_values`: the RMS of y
    (|u| for RMSprop, √t |u| for Adagrad) is 1, overall and per γ bin. Adds the residuals
    against it: "residual" |rms − 1| and "max_bin_residual" max over bins |rms_bin − 1|.
    None for the other methods."""
    method = values["method"]
    if method not in RMS_STATEMENTS:
        return None
    binned = rms_by_gamma(values["gamma"], values["y"], bins)
    return {"statement": RMS_STATEMENTS[method], "predicted": 1.0, **binned,
            "residual": abs(binned["rms"] - 1.0),
            "max_bin_residual": float(np.max(np.abs(np.asarray(binned["rms_by_bin"]) - 1.0)))}


def _finite(a) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    return a[np.isfinite(a)]


def _median(a) -> float:
    a = _finite(a)
    return float(np.median(a)) if a.size else math.nan


def _mean(a) -> float:
    a = _finite(a)
    return float(a.mean()) if a.size else math.nan


def run_one_axis_numbers(run: Run, warmup: int = WARMUP) -> dict:
    """Figure 7's numbers of one run (plain Python values; see :func:`one_axis_numbers`)."""
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ValueError(f"one_axis_numbers: warmup must be a non-negative int, got {warmup!r}")
    steps = int(np.size(run.metrics["step"]))
    if warmup >= steps:
        raise ValueError(f"one_axis_numbers: warmup must be below the {steps} steps of "
                         f"{run.path}, got {warmup}")
    elements, layers = element_values(run, warmup), layer_values(run, warmup)
    method = elements["method"]
    loss = np.asarray(run.metrics["loss"], dtype=np.float64)
    tenth = max(1, steps // 10)
    final = run.summary.get("final_loss")
    gamma = elements["gamma"]
    return {
        "method": method, "label": run.label, "unit": UNITS[elements["unit"]],
        "curve": CURVE_FORMULAS[method], "steps": steps, "warmup": int(warmup),
        "lr": run.config.get("lr"), "beta1": run.config.get("beta1"),
        "beta2": run.config.get("beta2"),
        "final_loss": float(final if final is not None else loss[-1]),
        "loss_first_tenth": float(np.mean(loss[:tenth])),
        "loss_last_tenth": float(np.mean(loss[-tenth:])),
        "test_loss": run.summary.get("test_loss"),
        "test_accuracy": run.summary.get("test_accuracy"),
        "median_gamma": _median(gamma), "median_layer_gamma": _median(layers["gamma"]),
        "median_step": _median(elements["y"]), "median_layer_step": _median(layers["y"]),
        "zero_gamma_share": float(np.mean(~(gamma > 0))),
        "element_residual": relative_residual(elements["y"], elements["curve"]),
        "layer_residual": relative_residual(layers["y"], layers["curve"]),
        "rms": rms_check(elements),
        "exact": exact_check(run, warmup),
        "sign_agreement": _mean(elements["agree"]),
    }


def one_axis_numbers(runs: dict, warmup: int = WARMUP) -> dict:
    """Figure 7's numbers, per run: ``{key: numbers}`` for ``runs`` = ``{key: Run}`` (keys as
    given, e.g. the method or the run name), each from step ``warmup`` + 1 on.

    Per run: method, label, unit (the natural unit), curve (its formula, None for RMSprop
    and Adagrad), steps, warmup, lr, beta1, beta2; final_loss (summary.json, else the last
    batch), loss_first_tenth, loss_last_tenth (mean batch loss of the first and last tenth
    of the steps: did it fall), test_loss, test_accuracy;
    median_gamma (element γ), median_layer_gamma (γ̄_l), median_step, median_layer_step (in
    the natural unit); zero_gamma_share (element-steps with γ = 0 or undefined, not on a
    log axis);
    element_residual, layer_residual: {"median", "p90", "n"} of |measured − f(γ)|/f(γ)
    against the method's own curve f (per element-step, and per tracked tensor and step
    with γ̄_l), None without a curve;
    rms: RMSprop's and Adagrad's RMS prediction with its residuals (:func:`rms_check`),
    else None;
    exact: the exact per-element relation (:func:`~.one_axis_exact.exact_check`): relation,
    values, passed, fraction, ambiguous, max_tolerance_ratio, max_abs_error,
    median_relative_error, tolerance;
    sign_agreement: share of element-steps with sign(u) = sign(m̂) (1 where the step follows
    m̂; below 1 where it follows g_t or c_t).
    """
    if not isinstance(runs, dict) or not runs:
        raise TypeError("one_axis_numbers: runs must be a non-empty dict {name: Run}, got "
                        f"{type(runs).__name__}")
    for key, run in runs.items():
        if not isinstance(run, Run):
            raise TypeError(f"one_axis_numbers: runs[{key!r}] must be a Run (load_run(path)), "
                            f"got {type(run).__name__}")
    return {key: run_one_axis_numbers(run, warmup) for key, run in runs.items()}
