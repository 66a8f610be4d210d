"""The phase map's Markdown section carries exactly the numbers of its summary dict."""
import math

from numpy_adam.experiments.phase_report import phase_markdown


def _summary():
    shares = {"converges": 0.25, "cycle": 0.5, "spikes": 0.125, "grows": 0.125, "unsettled": 0.0}
    rec = {"fractions": shares, "fractions_b1_le_b2": shares,
           "fractions_b1_gt_b2": dict(shares, converges=0.0, cycle=0.75),
           "diagonal": {"0.9": {"cls": ["cycle", "cycle", "cycle"],
                                "amplitude": [0.0426, 0.0427, 0.0425],
                                "per_one_minus_beta": 0.426, "spread_over_lr": 1.0047}},
           "converging": [(0.0, 0.999, 1e-3), (0.1, 0.999, 1e-3)], "converging_exact_zero": 2,
           # (β1, β2, α, A/α, r/2): one point 1e-3 off r/2
           "two_cycle_points": [(0.0, 0.9, 1e-2, 0.5, 0.5), (0.2, 0.9, 1e-2, 0.3336667, 1 / 3),
                                # sign descent: neutral, not on r/2, left out of the gap
                                (0.2, 0.0, 1e-2, 0.9, 1 / 3)]}
    return {"mode": "quick", "steps": 40000, "eps=1e-12": rec, "eps=1e-08": rec,
            "eps_sweep": {"0.9": {"largest_factor_with_cycle": 0.99,
                                  "smallest_factor_converging": 1.01}},
            "two_cycle_attracts_up_to_beta1": {"0.9": 0.15}}


def test_the_section_states_the_summary_numbers():
    text = phase_markdown(_summary())
    assert "Figure 8, quick, 40000 full-batch steps" in text
    assert "| 1e-12 | all | 25.0 % | 50.0 % | 12.5 % | 12.5 % | 0.0 % |" in text
    assert "| 1e-08 | β1 > β2 | 0.0 % | 75.0 % |" in text
    assert "| 0.9 | cycle | 0.0426 | 0.426 | 1.0047 |" in text, "median A/α over α"
    assert "Convergent points (eps=1e-12): 2, of which 2 end at x = 0.0 exactly" in text
    assert "Points with period 2: 3; where β2 > 0 they are the exact 2-cycle" in text
    assert f"from r/2 = (1 − β1)/(2(1 + β1)): {abs(0.3336667 * 3 - 1):.3g}); 1 at β2 = 0" in text
    assert "up to β1 = 0.15 (β2 = 0.9)" in text and "β = 0.9: 0.99, 1.01" in text


def test_a_diagonal_without_a_cycle_and_no_sweep_print_dashes_not_nan():
    summary = _summary()
    summary["eps=1e-12"] = dict(summary["eps=1e-12"], diagonal={"0.1": {
        "cls": ["converges"], "amplitude": [0.0], "per_one_minus_beta": math.nan,
        "spread_over_lr": math.nan}}, two_cycle_points=[])
    del summary["eps_sweep"]
    text = phase_markdown(summary)
    assert "| 0.1 | converges | – | – | – |" in text and "nan" not in text.lower()
    assert "ε sweep" not in text
