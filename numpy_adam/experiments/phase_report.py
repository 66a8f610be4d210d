"""The x² phase map's numbers as the summary's Markdown section (Figure 8's table).

:func:`phase_markdown` formats the dict of :func:`.phase_map.summary` — it computes nothing
itself, so the section and ``summary.json["phase_map"]`` always carry the same numbers:

* the share of grid points per class, for every ε, over the whole grid and split into
  β1 ≤ β2 and β1 > β2 (where Adam's v̂ can fall below m̂² and the step |m̂|/√v̂ exceed 1);
* on the diagonal β1 = β2 = β, the cycle's amplitude A/α (median over α) and A/α/(1 − β);
* the convergent points, and how many of them end at x = 0.0 exactly (float64's zero);
* the exact 2-cycle x = ±(α r − ε)/2, r = (1 − β1)/(1 + β1): the points that land on it (β2 > 0;
  at β2 = 0, sign descent, period-2 orbits are neutral and their amplitude is set by x0/α), the
  largest relative gap between their amplitude and r/2, and the β1 up to which it attracts;
* the ε sweep: the largest ε/(α r) with a cycle and the smallest that converges.
"""
from __future__ import annotations

import math

from .phase_classify import CLASS_NAMES


def _g(value, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}"


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def _fractions_table(summary: dict, eps_keys: list[str]) -> list[str]:
    lines = [_row(["ε", "points"] + list(CLASS_NAMES)), _row(["---"] * (2 + len(CLASS_NAMES)))]
    for key in eps_keys:
        rec = summary[key]
        for part, label in (("fractions", "all"), ("fractions_b1_le_b2", "β1 ≤ β2"),
                            ("fractions_b1_gt_b2", "β1 > β2")):
            shares = [f"{100 * rec[part][name]:.1f} %" for name in CLASS_NAMES]
            lines.append(_row([key.removeprefix("eps="), label] + shares))
    return lines


def _diagonal_table(rec: dict) -> list[str]:
    lines = [_row(["β1 = β2", "classes over α", "median A/α", "A/α/(1 − β)", "max/min A/α"]),
             _row(["---"] * 5)]
    for beta, d in rec["diagonal"].items():
        cycles = [a for a, c in zip(d["amplitude"], d["cls"]) if c == "cycle"]
        median = sorted(cycles)[len(cycles) // 2] if cycles else math.nan
        classes = ", ".join(sorted(set(d["cls"])))
        lines.append(_row([beta, classes, _g(median), _g(d["per_one_minus_beta"]),
                           _g(d["spread_over_lr"], 6)]))
    return lines


def phase_markdown(summary: dict) -> str:
    """The Markdown section for ``summary.md`` from :func:`.phase_map.summary`'s dict."""
    eps_keys = [k for k in summary if k.startswith("eps=")]
    main = summary[eps_keys[0]]
    out = [f"## Adam on x²: the phase map (Figure 8, {summary['mode']}, {summary['steps']} "
           "full-batch steps from x0 = 1)", "",
           "Share of the (β1, β2, α) grid points per long-run class:", ""]
    out += _fractions_table(summary, eps_keys)
    out += ["", f"The diagonal β1 = β2 ({eps_keys[0]}): the cycle's amplitude A = max |x| over "
            "the tail, in units of α.", ""]
    out += _diagonal_table(main)
    two = main["two_cycle_points"]
    # β2 = 0 is sign descent, whose 2-cycles are neutral: any amplitude set by x0/α, not r/2
    gap = max((abs(a / r - 1) for _, b2, _, a, r in two if b2 > 0), default=math.nan)
    sign_descent = sum(1 for _, b2, *_ in two if b2 == 0)
    converging = main["converging"]
    out += ["",
            f"* Convergent points ({eps_keys[0]}): {len(converging)}, of which "
            f"{main['converging_exact_zero']} end at x = 0.0 exactly.",
            f"* Points with period 2: {len(two)}; where β2 > 0 they are the exact 2-cycle "
            f"x = ±(α r − ε)/2 (largest relative gap of A/α from r/2 = (1 − β1)/(2(1 + β1)): "
            f"{_g(gap)}); {sign_descent} at β2 = 0 (sign descent, whose 2-cycles are neutral).",
            "* The 2-cycle attracts (probe, per β2) up to β1 = "
            + ", ".join(f"{_g(b1)} (β2 = {b2})"
                        for b2, b1 in summary["two_cycle_attracts_up_to_beta1"].items()) + "."]
    sweep = summary.get("eps_sweep", {})
    if sweep:
        out.append("* ε sweep at α = 1e-2 (β1 = β2 = β): largest ε/(α r) with a cycle, smallest "
                   "that converges: " + "; ".join(
                       f"β = {beta}: {_g(s['largest_factor_with_cycle'])}, "
                       f"{_g(s['smallest_factor_converging'])}" for beta, s in sweep.items())
                   + ".")
    return "\n".join(out) + "\n"
