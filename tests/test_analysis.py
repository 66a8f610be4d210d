"""Correlations, the 1/√(γ²+1) residual, x² oscillation and the reproduction summary."""
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest

from numpy_adam.analysis import (average_ranks, identity_curve, identity_residual, pearson,
                                 quadratic_oscillation, run_summary_numbers, spearman,
                                 to_markdown, write_summary)
from numpy_adam.records import MetricsLog, load_run, save_config, save_run_metrics, save_summary


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


def adam_on_x_squared(steps=600, lr=1e-2, beta=0.99, eps=1e-12):
    """Per-step (x, g, |m̂|, γ, |Δ|/α) of Adam with β1 = β2 on f(x) = x² from x = 1."""
    x, m, v, rows = 1.0, 0.0, 0.0, []
    for t in range(1, steps + 1):
        g = 2 * x
        m, v = beta * m + (1 - beta) * g, beta * v + (1 - beta) * g * g
        m_hat, v_hat = m / (1 - beta ** t), v / (1 - beta ** t)
        delta = -lr * m_hat / (math.sqrt(v_hat) + eps)
        x += delta
        gamma = math.sqrt(max(v_hat - m_hat * m_hat, 0.0)) / abs(m_hat)
        rows.append((x, g, abs(m_hat), gamma, abs(delta) / lr))
    return np.array(rows).T


def test_per_element_identity_holds_for_adam_on_x_squared():
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


def test_damped_gd_versus_oscillating_adam():
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


# --- per-run numbers and the markdown table ---------------------------------------------------

def write_run(folder, model, optimizer, mean_abs_m, gamma, update, extras=None, test_accuracy=None,
              eps=1e-12):
    """A run record whose one tracked tensor has the given per-step statistics."""
    T = len(update)
    log = MetricsLog(["w"])
    for t in range(T):
        stats = SimpleNamespace(mean_abs_m=[mean_abs_m[t]], sigma=[gamma[t] * mean_abs_m[t]],
                                gamma=[gamma[t]], update=[update[t]], neg_var_frac=[0.0])
        log.append(t + 1, 1.0 / (t + 1), 0.01, stats,
                   **{k: v[t] for k, v in (extras or {}).items()})
    folder.mkdir(parents=True)
    save_config(folder, dict(model=model, optimizer=optimizer, lr=0.01, beta1=0.99, beta2=0.99,
                             eps=eps, momentum=0.0, batch_size=1 if model == "quadratic" else 16,
                             steps=T, seed=0, label=f"{optimizer} | {model}"))
    save_run_metrics(folder, log)
    save_summary(folder, dict(final_loss=1.0 / T, test_loss=None, test_accuracy=test_accuracy,
                              wall_seconds=1.0, steps=T))
    return load_run(folder)


@pytest.fixture
def runs(tmp_path):
    rng = np.random.default_rng(0)
    m_abs = rng.uniform(0.01, 1.0, 300)
    gamma = rng.uniform(0.0, 5.0, 300)
    sgd = write_run(tmp_path / "sgd", "cnn", "sgd", m_abs, gamma, 30.0 * m_abs, test_accuracy=0.4)
    adam_cnn = write_run(tmp_path / "adam", "cnn", "adam", m_abs, gamma,
                         1 / np.sqrt(gamma ** 2 + 1) + 0.01, test_accuracy=0.6)
    x, g, m_q, gamma_q, update_q = adam_on_x_squared()
    quad = write_run(tmp_path / "quad", "quadratic", "adam", m_q, gamma_q, update_q,
                     extras=dict(x=x, grad=g))
    return sgd, adam_cnn, quad


def test_run_summary_numbers(runs):
    sgd, adam_cnn, quad = run_summary_numbers(*runs)
    assert sgd["pearson_update_vs_mean_abs_m"] == pytest.approx(1.0, abs=1e-12), \
        "SGD's step α·b follows |m̂|"
    assert abs(adam_cnn["spearman_update_vs_mean_abs_m"]) < 0.2, "Adam's does not (random here)"
    assert adam_cnn["residual_aggregated"]["max_abs"] == pytest.approx(0.01, abs=1e-12)
    assert adam_cnn["test_accuracy"] == 0.6 and adam_cnn["residual_per_element"] is None
    assert quad["residual_per_element"]["max_abs"] < 1e-6, quad["residual_per_element"]
    assert quad["oscillation"]["regrowths"] >= 1 and sgd["oscillation"] is None
    assert quad["test_accuracy"] is None and quad["steps"] == 600 and quad["run"] == "quad"


def test_summary_files_are_valid_json_and_markdown(runs, tmp_path):
    json_path, md_path = write_summary(runs, tmp_path, stem="repro")
    data = json.loads(json_path.read_text(encoding="utf-8"),
                      parse_constant=lambda c: pytest.fail(f"invalid JSON constant {c}"))
    assert [r["run"] for r in data["runs"]] == ["sgd", "adam", "quad"], data
    text = md_path.read_text(encoding="utf-8")
    assert text == to_markdown(run_summary_numbers(*runs)), "the .md is to_markdown's output"
    lines = text.splitlines()
    assert lines[0].startswith("| run | optimizer |") and lines[1].startswith("|---|"), lines[:2]
    assert "sgd \\| cnn" in text, "a '|' inside a label must be escaped"
    assert sum(line.startswith("| adam \\| quadratic") for line in lines) == 2, \
        "the quadratic run appears in both tables"
    assert "| — |" in text, "missing test loss prints as a dash"


def test_run_summary_numbers_refuses_non_runs():
    with pytest.raises(TypeError, match="argument 0 must be a Run"):
        run_summary_numbers("runs/adam")


def test_warmup_leaves_out_the_first_records(tmp_path):
    m_abs = np.linspace(1.0, 0.1, 100)
    update = 30.0 * m_abs
    update[:10] = 0.5  # momentum buffer still filling: b_t/m̂_t = (1−β1^t)/(1−β1) grows
    run = write_run(tmp_path / "sgd", "cnn", "sgd", m_abs, np.ones(100), update)
    (full,) = run_summary_numbers(run)
    (late,) = run_summary_numbers(run, warmup=10)
    assert full["pearson_update_vs_mean_abs_m"] < 0.99, full
    assert late["pearson_update_vs_mean_abs_m"] == pytest.approx(1.0, abs=1e-12), late
    assert late["warmup"] == 10 and "first 10 steps" in to_markdown([late])
    with pytest.raises(ValueError, match="warmup must be a non-negative int"):
        run_summary_numbers(run, warmup=-1)
