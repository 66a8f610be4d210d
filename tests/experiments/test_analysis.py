"""Correlations, the fit to 1/√(γ²+1), the late-training trend, the sample identity check and
x² oscillation, on hand-made arrays with known answers."""
import math

import numpy as np
import pytest

from numpy_adam.experiments.analysis import (average_ranks, curve_fit, identity_curve, identity_residual,
                                 late_update_trend, pearson, quadratic_oscillation,
                                 sample_identity, spearman)


# --- correlations -------------------------------------------------------------------------

def test_pearson_of_a_perfect_line_is_one():
    x = np.linspace(-3, 5, 50)
    assert pearson(x, 2.5 * x - 7) == pytest.approx(1.0, abs=1e-12), "increasing line"
    assert pearson(x, -0.1 * x + 1) == pytest.approx(-1.0, abs=1e-12), "decreasing line"


def test_pearson_hand_value():
    # dx = dy-permuted: Σ dx dy = 4, Σ dx² = Σ dy² = 5 → r = 0.8
    assert pearson([1, 2, 3, 4], [1, 3, 2, 4]) == pytest.approx(0.8, abs=1e-12)


def test_pearson_drops_nonfinite_pairs_and_flags_degenerate_input():
    assert pearson([1, 2, np.nan, 3, 4], [1, 3, 100, 2, np.inf]) == pytest.approx(0.5, abs=1e-12), \
        "pairs (nan, 100) and (4, inf) dropped: r([1,2,3],[1,3,2]) = 0.5"
    assert math.isnan(pearson([1, 1, 1], [1, 2, 3])), "a constant series has no correlation"
    assert math.isnan(pearson([1], [2])), "one pair is not enough"
    with pytest.raises(ValueError, match="one length"):
        pearson([1, 2, 3], [1, 2])


def test_average_ranks_share_ties():
    np.testing.assert_allclose(average_ranks([10, 20, 20, 5]), [2, 3.5, 3.5, 1])
    np.testing.assert_allclose(average_ranks([7, 7, 7]), [2, 2, 2])


def test_spearman_with_ties_hand_value():
    # ranks x = [1, 2.5, 2.5, 4], y = [1, 2, 3, 4]: ρ = 4.5 / √(4.5 · 5) = 3/√10
    assert spearman([1, 2, 2, 3], [1, 2, 3, 4]) == pytest.approx(3 / math.sqrt(10), abs=1e-12)


def test_spearman_of_a_monotone_curve_is_one():
    x = np.geomspace(1e-3, 1e3, 40)
    assert spearman(x, np.log(x) ** 3) == pytest.approx(1.0, abs=1e-12)
    assert pearson(x, np.log(x) ** 3) < 0.9, "Pearson sees the nonlinearity, Spearman does not"


# --- identity residual -----------------------------------------------------------------------

def test_identity_residual_hand_values():
    # curve at γ = 0 is 1, at γ = √3 is 1/2: residuals 0 and 0.1
    res = identity_residual([0.0, math.sqrt(3), np.nan], [1.0, 0.4, 0.3])
    assert res["n"] == 2 and res["n_total"] == 3, res
    assert res["mean_abs"] == pytest.approx(0.05) and res["max_abs"] == pytest.approx(0.1), res
    assert res["rms"] == pytest.approx(math.sqrt(0.01 / 2)), res


def test_identity_curve_eps_form():
    # 1/(√(0+1) + ε/|m̂|) with ε = |m̂| = 1e-2 → 1/2
    got = identity_curve(np.array([0.0]), np.array([1e-2]), eps=1e-2)
    np.testing.assert_allclose(got, [0.5])
    with pytest.raises(ValueError, match="mean_abs_m"):
        identity_curve(np.array([0.0]), eps=1e-8)


def test_identity_residual_all_nan_is_nan_not_error():
    res = identity_residual([np.nan], [np.nan])
    assert res["n"] == 0 and math.isnan(res["max_abs"]), res


def test_per_element_identity_holds_for_adam_on_x_squared(adam_on_x_squared):
    _, _, m_abs, gamma, update = adam_on_x_squared()
    res = identity_residual(gamma, update, m_abs, eps=1e-12)
    assert res["max_abs"] < 1e-6, f"β1 = β2: |Δ|/α = 1/(√(γ²+1) + ε/|m̂|) per element, got {res}"


# --- quadratic oscillation -----------------------------------------------------------------

def test_oscillation_hand_counted_sequence():
    g = [4.0, 2.0, -1.0, -3.0, 1.0, 2.0, -1.0]  # |g| = 4 2 1 3 1 2 1
    o = quadratic_oscillation(g, x=np.array(g) / 2)
    expected = dict(sign_changes=3, min_abs_grad=1.0, min_index=2, sign_changes_after_min=2,
                    grows_back_after_min=True, max_abs_grad_after_min=3.0, regrowths=2,
                    first_regrowth_index=2, monotone_nonincreasing=False, final_abs_grad=1.0,
                    amplitude_grad=3.0, amplitude_x=1.5)
    assert o == expected, o


def test_oscillation_plateaus_are_not_regrowths():
    o = quadratic_oscillation([3.0, 2.0, 2.0, 2.0, 1.0])
    assert o["monotone_nonincreasing"] and o["regrowths"] == 0, o
    o = quadratic_oscillation([3.0, 1.0, 1.0, 2.0])
    assert o["regrowths"] == 1 and o["first_regrowth_index"] == 2, o


def test_damped_gd_versus_oscillating_adam(adam_on_x_squared):
    gd_grad = 2.0 * 0.8 ** np.arange(200)  # GD on x² with α = 0.1: g_t = 2 (1 − 2α)^t
    gd = quadratic_oscillation(gd_grad)
    assert gd["monotone_nonincreasing"] and gd["regrowths"] == 0, gd
    assert gd["sign_changes"] == 0 and not gd["grows_back_after_min"], gd
    assert gd["min_index"] == 199 and gd["final_abs_grad"] < 1e-6, gd

    x, g, *_ = adam_on_x_squared(steps=1500)
    adam = quadratic_oscillation(g, x)
    assert adam["regrowths"] >= 1 and adam["grows_back_after_min"], adam
    assert adam["sign_changes"] >= 2 and not adam["monotone_nonincreasing"], adam
    assert adam["amplitude_x"] > 1e-4, f"Adam does not settle on x²: {adam}"


@pytest.mark.parametrize("grad, x, match", [
    (np.zeros((5, 2)), None, "grad must be"),
    ([1.0], None, "T >= 2"),
    ([1.0, np.nan], None, "NaN or Inf"),
    ([1.0, 2.0], np.zeros(3), "x has 3 records"),
])
def test_oscillation_bad_inputs(grad, x, match):
    with pytest.raises(ValueError, match=match):
        quadratic_oscillation(grad, x)


# --- panel (c): the fit to the curve ------------------------------------------------------

def test_curve_fit_hand_values():
    # curve(0) = 1, curve(√3) = 1/2: U = 1 is on it, U = 0.4 is off by |0.4 − 0.5|/0.4 = 25 %
    fit = curve_fit([0.0, math.sqrt(3), np.nan, 1.0], [1.0, 0.4, 0.3, -1.0])
    assert fit["n"] == 2, "NaN γ and U ≤ 0 are skipped"
    assert fit["relative_residual"] == pytest.approx(0.125, abs=1e-12)
    gamma = np.geomspace(0.1, 100, 50)
    on = curve_fit(gamma, 1 / np.sqrt(gamma ** 2 + 1))
    assert on["relative_residual"] == pytest.approx(0.0, abs=1e-15)
    assert on["loglog_pearson"] == pytest.approx(1.0, abs=1e-12)
    shifted = curve_fit(gamma, 3 / np.sqrt(gamma ** 2 + 1))
    assert shifted["relative_residual"] == pytest.approx(2 / 3, abs=1e-12), "3× the curve is 2/3 off"
    assert shifted["loglog_pearson"] == pytest.approx(1.0, abs=1e-12), "but moves with it"
    assert math.isnan(curve_fit([np.nan], [1.0])["relative_residual"])


# --- late training: steady shrink or up and down -------------------------------------------------

def test_late_update_trend_tells_a_steady_shrink_from_a_cycle():
    t = np.arange(2000)
    shrink = late_update_trend(np.exp(-t / 1000))  # second half: e^-1 → e^-2
    assert shrink["steps"] == 1000 and shrink["window"] == 40
    assert shrink["trend"] == pytest.approx(math.expm1(-999 / 1000), rel=1e-9), shrink
    assert shrink["fluctuation"] == pytest.approx(0.0, abs=1e-9) and shrink["steadiness"] == 1.0
    # 4 periods of a cosine symmetric about the second half's middle: no trend at all
    cycle = late_update_trend(0.1 * np.exp(0.3 * np.cos(2 * np.pi * (t - 1499.5) / 250)))
    assert abs(cycle["trend"]) < 1e-3, cycle
    assert cycle["steadiness"] < 0.05, "up and down as much as it gets anywhere"
    gain = math.sin(math.pi * 40 / 250) / (40 * math.sin(math.pi / 250))  # 40-step average
    assert cycle["fluctuation"] == pytest.approx(gain * 0.3 / math.sqrt(2), rel=0.02), \
        "RMS of the smoothed cosine of amplitude 0.3"
    assert math.isnan(late_update_trend(np.ones(5))["trend"]), "too short"
    with pytest.raises(ValueError, match=r"\(T,\)"):
        late_update_trend(np.ones((4, 2)))


# --- the per-element identity on a recorded sample ------------------------------------------------

def _sample_from(m_hat, v_hat, lr=0.01, eps=1e-8, param=0.5):
    update = m_hat / (np.sqrt(v_hat) + eps)
    return dict(m_hat=m_hat, v_hat=v_hat, update=update, param=np.full_like(m_hat, param),
                lr=np.full(m_hat.shape[0], lr), eps=eps, dtype=np.float64)


def test_sample_identity_passes_exact_steps_and_flags_clamped_ones():
    rng = np.random.default_rng(3)
    m_hat = rng.normal(size=(50, 8))
    v_hat = m_hat ** 2 * (1 + rng.uniform(0, 10, size=(50, 8)))  # v̂ ≥ m̂²: β1 = β2-like
    ok = sample_identity(**_sample_from(m_hat, v_hat))
    assert ok["values"] == 400 and ok["violations"] == 0, ok
    assert ok["max_tolerance_ratio"] <= 1.0 and ok["neg_var_share"] == 0.0, ok
    assert ok["update_above_one_share"] == 0.0
    v_hat[0, :2] = 0.25 * m_hat[0, :2] ** 2  # v̂ < m̂²: σ̂² clamped, the step is 2α
    off = sample_identity(**_sample_from(m_hat, v_hat))
    assert off["violations"] == 2 and off["neg_var_share"] == pytest.approx(2 / 400), off
    assert off["update_above_one_share"] == pytest.approx(2 / 400)
    assert off["max_relative_residual"] == pytest.approx(1.0, rel=1e-6), "|u| = 2 against 1"


def test_sample_identity_detects_a_one_percent_error_but_not_rounding():
    rng = np.random.default_rng(4)
    m_hat = rng.normal(size=(20, 5))
    args = _sample_from(m_hat, 2 * m_hat ** 2)
    args["update"] = args["update"] * (1 + 1e-14)
    assert sample_identity(**args)["violations"] == 0, "float64 rounding passes"
    args["update"] = args["update"] * 1.01
    assert sample_identity(**args)["violations"] == 100, "a 1 % error does not"
    with pytest.raises(ValueError, match=r"\(T, N\) of one shape"):
        sample_identity(m_hat, m_hat[:, :2], m_hat, m_hat, np.ones(20), 0.0, np.float64)


