"""The reproduction summary: every run's numbers as JSON and Markdown, from run records."""
import json
from types import SimpleNamespace

import numpy as np
import pytest

from numpy_adam.records import MetricsLog, load_run, save_config, save_run_metrics, save_summary
from numpy_adam.experiments.summary import run_summary_numbers, to_markdown, write_summary


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
def runs(tmp_path, adam_on_x_squared):
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
    layer, element = adam_cnn["panel_c"]["layer"], adam_cnn["panel_c"]["element"]
    curve = 1 / np.sqrt(runs[1].metrics["gamma"][:, 0] ** 2 + 1)
    assert layer["relative_residual"] == pytest.approx(np.mean(0.01 / (curve + 0.01)), rel=1e-9), \
        "U = curve + 0.01 sits 0.01/U off the curve (σ̂/|m̂| = γ in this one-element record)"
    assert element["relative_residual"] == pytest.approx(layer["relative_residual"], rel=1e-9), \
        "one element per tensor: both aggregations are that element's γ"
    assert adam_cnn["sample_identity"] is None, "no element sample in this record"
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
    assert sum(line.startswith("| adam \\| quadratic") for line in lines) == 4, \
        "the quadratic run appears in the outcome, panel (c), quadratic and amplitude tables"
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


def test_sections_beside_the_runs_go_into_both_files_and_a_clash_is_refused(tmp_path):
    json_path, md_path = write_summary([], tmp_path, sections=[
        ("phase_map", {"share": 0.5}, "## The phase map\n\nhalf cycle\n")])
    assert json.loads(json_path.read_text()) == {"runs": [], "phase_map": {"share": 0.5}}
    assert md_path.read_text().endswith("\n\n## The phase map\n\nhalf cycle\n")
    with pytest.raises(ValueError, match="'runs'"):
        write_summary([], tmp_path, sections=[("runs", {}, "")])
