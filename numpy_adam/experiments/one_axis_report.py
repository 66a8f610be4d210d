"""Figure 7's numbers as the summary's Markdown section.

:func:`one_axis_markdown` formats the dict of :func:`.one_axis_numbers.one_axis_numbers`
({method: numbers}) and computes nothing itself, so ``summary.json["one_axis"]`` and the
section always agree. Per method: its curve in its own unit (|Δθ|/α, |Δθ|/(α|m̂|) or
√t·|Δθ|/α), the median γ, the exact per-element relation (element-steps within rounding of
it), the relative residual |measured − predicted|/predicted per element and per tensor (γ̄ =
mean σ̂/mean |m̂|, the note's aggregation), RMSprop's and Adagrad's RMS step against 1, and
how often the step's sign is sign(m̂).
"""
from __future__ import annotations

import math


def _g(value, digits: int = 2) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "–"
    return f"{value:.{digits}g}"


def _cell(text: str) -> str:
    """A table cell: the units' own bars (|Δθ|) escaped so they do not split the cell."""
    return text.replace("|", "\\|")


def _quantiles(residual: dict | None) -> str:
    return "–" if not residual else f"{_g(residual['median'])} / {_g(residual['p90'])}"


def _rms(rms: dict | None) -> str:
    return "–" if not rms else f"{rms['rms']:.3f} (worst γ bin {rms['max_bin_residual']:.2f} off)"


def one_axis_markdown(numbers: dict) -> str:
    """The Markdown section for ``summary.md`` from ``one_axis_numbers``'s dict."""
    first = next(iter(numbers.values()))
    out = [f"## One axis (Figure 7): each method's step against γ ({first['steps']} steps per "
           f"method, measured from step {first['warmup'] + 1})", "",
           "Exact: element-steps on the method's exact per-element relation within rounding. "
           "Residuals: |measured − predicted|/predicted, median / 90th percentile, per element "
           "and per tensor (γ̄ = mean σ̂/mean |m̂|). RMS: RMSprop's |Δθ|/α and Adagrad's "
           "√t·|Δθ|/α, predicted 1 at every γ.", "",
           "| method | unit | curve | median γ | exact | residual per element | "
           "residual per tensor | RMS step | sign(u) = sign(m̂) | test acc |",
           "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"]
    for method, n in numbers.items():
        exact = n["exact"]
        out.append("| " + " | ".join([
            n["label"], _cell(n["unit"]), _cell(n["curve"] or "–"), _g(n["median_gamma"], 3),
            f"{exact['passed']}/{exact['values']}", _quantiles(n["element_residual"]),
            _quantiles(n["layer_residual"]), _rms(n["rms"]),
            f"{100 * n['sign_agreement']:.0f} %", _g(n["test_accuracy"], 3)]) + " |")
    return "\n".join(out) + "\n"
