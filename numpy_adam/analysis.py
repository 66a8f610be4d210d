"""The numbers behind the figures: correlations, the 1/√(γ²+1) residual, x² oscillation.

Pure NumPy (no SciPy). Every function ignores non-finite entries where it says so and
returns NaN (not an error) when too few values remain, so one odd run does not stop a
whole reproduction summary; shape errors are raised loudly.

Reading guide (DESIGN §1): Adam's per-element step is Δ/α = sign(m̂)/(√(γ²+1) + ε/|m̂|)
with γ = σ̂/|m̂| (exact for β1 = β2). So Adam's update size should follow 1/√(γ²+1) and
correlate weakly with the gradient mean |m̂|, while SGD's step α·b tracks |m̂| closely.
The per-step values in a run record are averages over a tensor's elements and then over
tensors; by Jensen's inequality those averages leave the curve even where the identity is
exact per element, so the *aggregated* residual is not zero for Adam on the CNN. For the
1-D quadratic each "tensor" is one element, so there the residual tests the identity itself.
"""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from .atomic import atomic_write_bytes, atomic_write_json
from .records import Run, aggregate


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


def run_numbers(run: Run, warmup: int = 0) -> dict:
    """The reproduction-summary entry of one run (plain Python values, JSON-ready).

    run:    a loaded run record
    warmup: number of leading records left out of the correlations, the aggregated residual
            and mean_neg_var_frac (the EMAs' warm-up: SGD's b_t/m̂_t = (1−β1^t)/(1−β1) for
            μ = β1 still grows there); the quadratic's per-element numbers use every record

    Keys: run, label, model, optimizer, batch_size, lr, beta1, beta2, momentum, steps, warmup,
    final_loss, test_loss, test_accuracy, wall_seconds (from summary.json; final_loss falls
    back to the last recorded loss), pearson_update_vs_mean_abs_m and
    spearman_update_vs_mean_abs_m (tensor-aggregated per-step series),
    residual_aggregated (identity_residual of aggregated γ and update),
    mean_neg_var_frac (mean over steps of the aggregated fraction with v̂ < m̂²),
    and, for an Adam run of the quadratic with one tracked tensor and a 1-element x,
    residual_per_element (against the exact ε form) and oscillation
    (quadratic_oscillation of the recorded grad and x); None otherwise.
    """
    if isinstance(warmup, bool) or not isinstance(warmup, (int, np.integer)) or warmup < 0:
        raise ValueError(f"run_numbers: warmup must be a non-negative int, got {warmup!r}")
    cfg, summary, metrics = run.config, run.summary, run.metrics
    update = aggregate(run, "update")[warmup:]  # (T - warmup,)
    mean_abs_m = aggregate(run, "mean_abs_m")[warmup:]
    gamma = aggregate(run, "gamma")[warmup:]
    neg = aggregate(run, "neg_var_frac")[warmup:]
    final_loss = summary.get("final_loss")
    if final_loss is None and metrics["loss"].size:
        final_loss = float(metrics["loss"][-1])
    per_element = oscillation = None
    x = metrics.get("x")
    one_element = x is not None and (x.ndim == 1 or x.shape[1] == 1)
    adam_like = cfg.get("optimizer") in ("adam", "adamw")  # the identity is Adam's, not SGD's
    if adam_like and cfg.get("model") == "quadratic" and metrics["gamma"].shape[1] == 1 and one_element:
        per_element = identity_residual(metrics["gamma"][:, 0], metrics["update"][:, 0],
                                        metrics["mean_abs_m"][:, 0], float(cfg.get("eps") or 0.0))
    if "grad" in metrics and metrics["grad"].size and \
            (metrics["grad"].ndim == 1 or metrics["grad"].shape[1] == 1):
        oscillation = quadratic_oscillation(metrics["grad"], metrics.get("x"))
    return {
        "run": run.name, "label": run.label,
        **{k: cfg.get(k) for k in ("model", "optimizer", "batch_size", "lr", "beta1", "beta2",
                                   "momentum")},
        "steps": int(metrics["step"].size), "warmup": int(warmup),
        "final_loss": final_loss,
        **{k: summary.get(k) for k in ("test_loss", "test_accuracy", "wall_seconds")},
        "pearson_update_vs_mean_abs_m": pearson(mean_abs_m, update),
        "spearman_update_vs_mean_abs_m": spearman(mean_abs_m, update),
        "residual_aggregated": identity_residual(gamma, update),
        "mean_neg_var_frac": float(np.nanmean(neg)) if np.any(~np.isnan(neg)) else math.nan,
        "residual_per_element": per_element,
        "oscillation": oscillation,
    }


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


def to_markdown(numbers: list[dict]) -> str:
    """Markdown tables of :func:`run_summary_numbers` output.

    One table for every run (losses, accuracy, correlations, aggregated residual) and, when
    any run has an ``oscillation`` entry, a second one for the quadratic runs. Missing or
    non-finite values print as "—".
    """
    header = ["run", "optimizer", "batch", "steps", "final loss", "test loss", "test acc",
              "Pearson r (update, mean \\|m̂\\|)", "Spearman ρ", "mean \\|residual\\| (agg.)",
              "max \\|residual\\| (agg.)"]
    rows = [[_fmt(n["label"]), _fmt(n["optimizer"]), _fmt(n["batch_size"]), _fmt(n["steps"]),
             _fmt(n["final_loss"]), _fmt(n["test_loss"]), _fmt(n["test_accuracy"]),
             _fmt(n["pearson_update_vs_mean_abs_m"]), _fmt(n["spearman_update_vs_mean_abs_m"]),
             _fmt(n["residual_aggregated"]["mean_abs"]),
             _fmt(n["residual_aggregated"]["max_abs"])] for n in numbers]
    text = _table(header, rows)
    skipped = sorted({n.get("warmup", 0) for n in numbers} - {0})
    if skipped:
        text += (f"\n\nCorrelations and aggregated residuals leave out the first "
                 f"{', '.join(map(str, skipped))} steps (EMA warm-up).")
    quad = [n for n in numbers if n.get("oscillation")]
    if quad:
        header = ["run", "max \\|residual\\| per element (ε form)", "sign changes of g",
                  "sign changes after min \\|g\\|", "\\|g\\| grows back", "re-growths",
                  "min \\|g\\| (record)", "final \\|g\\|", "amplitude \\|x\\| (last half)",
                  "amplitude \\|g\\| (last half)"]
        rows = []
        for n in quad:
            o, pe = n["oscillation"], n["residual_per_element"]
            rows.append([_fmt(n["label"]), _fmt(pe["max_abs"] if pe else None),
                         _fmt(o["sign_changes"]), _fmt(o["sign_changes_after_min"]),
                         _fmt(o["grows_back_after_min"]), _fmt(o["regrowths"]),
                         f"{_fmt(o['min_abs_grad'])} ({o['min_index']})",
                         _fmt(o["final_abs_grad"]), _fmt(o["amplitude_x"]),
                         _fmt(o["amplitude_grad"])])
        text += "\n\n" + _table(header, rows)
    return text + "\n"


def write_summary(runs, out_dir, stem: str = "summary", warmup: int = 0) -> tuple:
    """Write ``<stem>.json`` (the :func:`run_summary_numbers` list, NaN → null) and
    ``<stem>.md`` (:func:`to_markdown`) into ``out_dir`` atomically; returns both paths."""
    numbers = run_summary_numbers(*runs, warmup=warmup)
    out = Path(out_dir)
    json_path = atomic_write_json(out / f"{stem}.json", {"runs": numbers})
    md_path = atomic_write_bytes(out / f"{stem}.md", to_markdown(numbers).encode("utf-8"))
    return json_path, md_path
