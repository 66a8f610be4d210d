"""The reproduction summary: every run's numbers, as JSON and as Markdown tables.

Each claim of the note that a figure shows is stated here as a number, computed from the run
records with :mod:`numpy_adam.experiments.analysis`:

* panel (b), "SGD's step follows the mean gradient, Adam's does not": Pearson and Spearman
  correlation of the update size with mean |m̂| over steps;
* panel (c), "Adam's update follows 1/√(γ²+1)": the fit to the curve under both
  aggregations of γ (the note's layer relative spread γ̄, and the element mean);
* "late in training Adam's updates move up and down rather than shrink steadily": the
  trend, slow fluctuation and steadiness of the update over the second half;
* the per-element identity on the recorded element sample (Adam runs);
* x²: does the gradient settle (GD) or pass through zero and grow back (Adam), and, under a
  learning-rate schedule, does the oscillation's amplitude follow α_t.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .analysis import (amplitude_per_lr, curve_fit, identity_residual, late_update_trend,
                       pearson, quadratic_oscillation, sample_identity, spearman)
from ..records.atomic import atomic_write_bytes, atomic_write_json
from .spread_sources import has_batch_spread, spread_sources
from .stationary import run_measures, sgd_comparison
from ..records import GAMMA_AGGREGATIONS, Run, aggregate, relative_spread

ADAM_LIKE = ("adam", "adamw")  # the identity is Adam's, not SGD's


def _sample_numbers(run: Run, warmup: int) -> dict | None:
    """sample_identity of an Adam-like run's element sample after ``warmup``, or None."""
    metrics, cfg = run.metrics, run.config
    if cfg.get("optimizer") not in ADAM_LIKE or "sample_m_hat" not in metrics:
        return None
    rows = slice(warmup, None)
    return sample_identity(metrics["sample_m_hat"][rows], metrics["sample_v_hat"][rows],
                           metrics["sample_update"][rows], metrics["sample_param"][rows],
                           metrics["lr"][rows], float(cfg.get("eps") or 0.0),
                           metrics["sample_m_hat"].dtype)


def run_numbers(run: Run, warmup: int = 0) -> dict:
    """The reproduction-summary entry of one run (plain Python values, JSON-ready).

    run:    a loaded run record
    warmup: number of leading records left out of the correlations, the curve fits, the
            sample check and mean_neg_var_frac (the EMAs' warm-up: SGD's b_t/m̂_t =
            (1−β1^t)/(1−β1) for μ = β1 still grows there); the quadratic's oscillation and
            per-element residual use every record

    Keys: run, label, model, optimizer, batch_size, lr, beta1, beta2, momentum, steps, warmup,
    final_loss, test_loss, test_accuracy, wall_seconds (from summary.json; final_loss falls
    back to the last recorded loss);
    pearson_update_vs_mean_abs_m, spearman_update_vs_mean_abs_m (panel (b));
    panel_c: {aggregation: curve_fit} for "layer" and "element" (panel (c));
    late_update: late_update_trend of the update (the whole run: it uses the second half);
    mean_neg_var_frac: mean over steps of the aggregated fraction with v̂ < m̂²;
    sample_identity: sample_identity of the element sample (Adam-like runs with one), or None;
    residual_per_element: for an Adam-like x² run with one element, identity_residual
    against the exact ε form, else None; oscillation: quadratic_oscillation of the recorded
    grad and x, else None; amplitude_per_lr: amplitude_per_lr of an Adam-like x² run's x and
    lr, else None.
    """
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ValueError(f"run_numbers: warmup must be a non-negative int, got {warmup!r}")
    cfg, summary, metrics = run.config, run.summary, run.metrics
    full_update = aggregate(run, "update")
    update = full_update[warmup:]  # (T - warmup,)
    mean_abs_m = aggregate(run, "mean_abs_m")[warmup:]
    neg = aggregate(run, "neg_var_frac")[warmup:]
    final_loss = summary.get("final_loss")
    if final_loss is None and metrics["loss"].size:
        final_loss = float(metrics["loss"][-1])
    per_element = oscillation = None
    x = metrics.get("x")
    one_element = x is not None and (x.ndim == 1 or x.shape[1] == 1)
    if cfg.get("optimizer") in ADAM_LIKE and cfg.get("model") == "quadratic" and \
            metrics["gamma"].shape[1] == 1 and one_element:
        per_element = identity_residual(metrics["gamma"][:, 0], metrics["update"][:, 0],
                                        metrics["mean_abs_m"][:, 0], float(cfg.get("eps") or 0.0))
    if "grad" in metrics and metrics["grad"].size and \
            (metrics["grad"].ndim == 1 or metrics["grad"].shape[1] == 1):
        oscillation = quadratic_oscillation(metrics["grad"], metrics.get("x"))
    amplitude = None
    if per_element is not None and metrics["step"].size >= 20:
        amplitude = amplitude_per_lr(metrics["x"], metrics["lr"])
    return {
        "run": run.name, "label": run.label,
        **{k: cfg.get(k) for k in ("model", "optimizer", "batch_size", "lr", "beta1", "beta2",
                                   "momentum")},
        "steps": int(metrics["step"].size), "warmup": int(warmup),
        "final_loss": final_loss,
        **{k: summary.get(k) for k in ("test_loss", "test_accuracy", "wall_seconds")},
        "pearson_update_vs_mean_abs_m": pearson(mean_abs_m, update),
        "spearman_update_vs_mean_abs_m": spearman(mean_abs_m, update),
        "panel_c": {a: curve_fit(relative_spread(run, a)[warmup:], update)
                    for a in GAMMA_AGGREGATIONS},
        "late_update": late_update_trend(full_update),
        "mean_neg_var_frac": float(np.nanmean(neg)) if np.any(~np.isnan(neg)) else math.nan,
        "sample_identity": _sample_numbers(run, warmup),
        "residual_per_element": per_element,
        "oscillation": oscillation,
        "lr_schedule": cfg.get("lr_schedule", "constant"),
        "spread_sources": spread_sources(run, warmup) if has_batch_spread(run) else None,
        "stationary": _stationary(run),
        "amplitude_per_lr": amplitude,
    }


def _stationary(run: Run) -> dict | None:
    """For a noisy-quadratic run (Figure 6): its steady state, SGD's beside the closed form."""
    cfg = run.config
    if cfg.get("model") != "quadratic" or not cfg.get("noise_std") and \
            not str(run.name).startswith("figure6"):
        return None
    if cfg.get("optimizer") == "sgd":
        comparison = sgd_comparison(run)
        return {**comparison["measured"], "closed_rms_x": comparison["closed_form"]["rms_x"],
                "rms_x_ratio": comparison["rms_x_ratio"], "variance_z": comparison["variance_z"]}
    return run_measures(run)


def run_summary_numbers(*runs: Run, warmup: int = 0) -> list[dict]:
    """:func:`run_numbers` of each run (same ``warmup``), in the given order."""
    for i, run in enumerate(runs):
        if not isinstance(run, Run):
            raise TypeError(f"run_summary_numbers: argument {i} must be a Run (load_run(path)), "
                            f"got {type(run).__name__}")
    return [run_numbers(r, warmup) for r in runs]


def _fmt(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return f"{float(value):.{digits}g}"
    return str(value).replace("|", "\\|")


def _table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def _outcome_table(numbers: list[dict]) -> str:
    header = ["run", "optimizer", "batch", "steps", "final loss", "test loss", "test acc",
              "(b) Pearson r (update, mean \\|m̂\\|)", "(b) Spearman ρ"]
    return _table(header, [[
        _fmt(n["label"]), _fmt(n["optimizer"]), _fmt(n["batch_size"]), _fmt(n["steps"]),
        _fmt(n["final_loss"]), _fmt(n["test_loss"]), _fmt(n["test_accuracy"]),
        _fmt(n["pearson_update_vs_mean_abs_m"]), _fmt(n["spearman_update_vs_mean_abs_m"])]
        for n in numbers])


def _panel_c_table(numbers: list[dict]) -> str:
    header = ["run", "(c) residual, γ̄ = mean σ̂/mean \\|m̂\\|", "(c) log–log r, γ̄",
              "(c) residual, element mean of γ", "(c) log–log r, element mean",
              "late trend of update", "late fluctuation", "late steadiness"]
    rows = []
    for n in numbers:
        layer, element, late = n["panel_c"]["layer"], n["panel_c"]["element"], n["late_update"]
        rows.append([_fmt(n["label"]), _fmt(layer["relative_residual"]),
                     _fmt(layer["loglog_pearson"]), _fmt(element["relative_residual"]),
                     _fmt(element["loglog_pearson"]), _fmt(late["trend"]),
                     _fmt(late["fluctuation"]), _fmt(late["steadiness"])])
    return _table(header, rows)


def _sample_table(numbers: list[dict]) -> str:
    header = ["run", "element-steps checked", "off the identity", "max \\|residual\\|/tolerance",
              "share v̂ < m̂²", "share \\|Δ\\|/α > 1"]
    rows = [[_fmt(n["label"]), _fmt(s["values"]), _fmt(s["violations"]),
             _fmt(s["max_tolerance_ratio"]), _fmt(s["neg_var_share"]),
             _fmt(s["update_above_one_share"])]
            for n in numbers if (s := n.get("sample_identity"))]
    return _table(header, rows)


def _quadratic_table(numbers: list[dict]) -> str:
    header = ["run", "max \\|residual\\| per element (ε form)", "sign changes of g",
              "sign changes after min \\|g\\|", "\\|g\\| grows back", "re-growths",
              "min \\|g\\| (record)", "final \\|g\\|", "amplitude \\|x\\| (last half)",
              "amplitude \\|g\\| (last half)"]
    rows = []
    for n in numbers:
        o, pe = n.get("oscillation"), n["residual_per_element"]
        if not o:
            continue
        rows.append([_fmt(n["label"]), _fmt(pe["max_abs"] if pe else None),
                     _fmt(o["sign_changes"]), _fmt(o["sign_changes_after_min"]),
                     _fmt(o["grows_back_after_min"]), _fmt(o["regrowths"]),
                     f"{_fmt(o['min_abs_grad'])} ({o['min_index']})",
                     _fmt(o["final_abs_grad"]), _fmt(o["amplitude_x"]),
                     _fmt(o["amplitude_grad"])])
    return _table(header, rows)


def _sources_table(numbers: list[dict]) -> str:
    rows = [n for n in numbers if n.get("spread_sources")]
    tensors = rows[0]["spread_sources"]["tensors"]
    header = ["run"] + [f"(S_sample/S)², {t.replace('.weight', '')}" for t in tensors] + [
        "all tensors", "γ̄ = S/M", "γ_s = S_sample/M", "(c) residual from γ̄",
        "(c) residual from γ_s"]
    out = []
    for n in rows:
        s = n["spread_sources"]
        out.append([_fmt(n["label"])] + [_fmt(v) for v in s["sampling_share"]] + [
            _fmt(s["sampling_share_all"]), _fmt(s["gamma_temporal"]), _fmt(s["gamma_sampling"]),
            _fmt(s["fit_temporal"]["relative_residual"]),
            _fmt(s["fit_sampling"]["relative_residual"])])
    return _table(header, out)


def _stationary_table(numbers: list[dict]) -> str:
    header = ["run", "noise s", "RMS x", "RMS step / α", "sign changes of x per step",
              "sampling share σ_ξ²/(E x² + σ_ξ²)", "median γ", "closed-form RMS x (SGD)",
              "measured / closed form", "z of E x²"]
    rows = []
    for n in numbers:
        st = n.get("stationary")
        if not st:
            continue
        rows.append([_fmt(n["label"]), _fmt(st["noise_std"]), _fmt(st["rms_x"]),
                     _fmt(st["rms_step_lr"]), _fmt(st["sign_change_rate_x"]),
                     _fmt(st["sampling_share"]), _fmt(st["gamma_median"]),
                     _fmt(st.get("closed_rms_x")), _fmt(st.get("rms_x_ratio")),
                     _fmt(st.get("variance_z"))])
    return _table(header, rows)


def _amplitude_table(numbers: list[dict]) -> str:
    rows = [n for n in numbers if n.get("amplitude_per_lr")]
    windows = len(rows[0]["amplitude_per_lr"]["ratio"])
    header = ["run", "schedule", "steps"] + [f"window {k} of {windows}"
                                             for k in range(2, windows + 1, 2)]
    return _table(header, [[_fmt(n["label"]), _fmt(n["lr_schedule"]), _fmt(n["steps"])]
                           + [_fmt(r, 2) for r in n["amplitude_per_lr"]["ratio"][1::2]]
                           for n in rows])


def to_markdown(numbers: list[dict]) -> str:
    """Markdown tables of :func:`run_summary_numbers` output.

    Outcome and panel (b) for every run; panel (c) and the late-training update for every
    run; the element-sample identity check for Adam runs that have a sample; x²'s
    oscillation for the quadratic runs. Missing or non-finite values print as "—".
    """
    parts = [_outcome_table(numbers)]
    skipped = sorted({n.get("warmup", 0) for n in numbers} - {0})
    if skipped:
        parts[0] += (f"\n\nCorrelations, curve fits and the sample check leave out the first "
                     f"{', '.join(map(str, skipped))} steps (EMA warm-up).")
    parts.append("Panel (c): mean over steps of \\|U − 1/√(γ²+1)\\|/U and the log–log correlation "
                 "of U with the curve, per aggregation of γ. Late: the update over the second "
                 "half of the run (trend: relative change of the fitted line; fluctuation: RMS "
                 "of the smoothed log update about it; steadiness: 1 for a monotone series, "
                 "near 0 for one that goes up and down).\n\n" + _panel_c_table(numbers))
    if any(n.get("sample_identity") for n in numbers):
        parts.append("Element sample (Adam runs): \\|Δ\\|/α = 1/(√(γ²+1) + ε/\\|m̂\\|) per "
                     "recorded element, within the rounding of θ.\n\n" + _sample_table(numbers))
    if any(n.get("oscillation") for n in numbers):
        parts.append(_quadratic_table(numbers))
    if any(n.get("spread_sources") for n in numbers):
        parts.append("Where Adam's spread comes from (runs with --batch-spread): the share of "
                     "Adam's variance S² that the within-batch sampling S_sample = mean s/√B "
                     "explains, per tensor (above 1 for tensors before a batchnorm, whose "
                     "per-sample gradients hold its statistics fixed), and the update predicted "
                     "by 1/√(γ²+1) from each γ.\n\n" + _sources_table(numbers))
    if any(n.get("stationary") for n in numbers):
        parts.append("The noisy quadratic f(x; ξ) = (x − ξ)² (Figure 6): the steady state over "
                     "the last half of each run; for SGD beside its closed form (z: the "
                     "measured E x² minus Var x, in standard errors of a correlated series)."
                     "\n\n" + _stationary_table(numbers))
    if any(n.get("amplitude_per_lr") for n in numbers):
        parts.append("x²: the oscillation's amplitude over the learning rate, max |x| / α in the "
                     "second half of windows of the run (constant while the amplitude follows "
                     "α).\n\n" + _amplitude_table(numbers))
    return "\n\n".join(parts) + "\n"


def write_summary(runs, out_dir, stem: str = "summary", warmup: int = 0,
                  sections=()) -> tuple:
    """Write ``<stem>.json`` (the :func:`run_summary_numbers` list, NaN → null) and
    ``<stem>.md`` (:func:`to_markdown`) into ``out_dir`` atomically; returns both paths.

    sections: (key, numbers, markdown) of results that are not per-run numbers (Figure 7's
    table, the x² phase map):
    ``numbers`` goes into the JSON under ``key``, ``markdown`` is appended to the Markdown, so
    both files always carry the same numbers."""
    numbers = run_summary_numbers(*runs, warmup=warmup)
    out = Path(out_dir)
    document = {"runs": numbers}
    text = to_markdown(numbers)
    for key, section_numbers, markdown in sections:
        if key in document:
            raise ValueError(f"summary section {key!r} given twice (or named like the runs)")
        document[key] = section_numbers
        text = text.rstrip("\n") + "\n\n" + markdown
    json_path = atomic_write_json(out / f"{stem}.json", document)
    md_path = atomic_write_bytes(out / f"{stem}.md", text.encode("utf-8"))
    return json_path, md_path
