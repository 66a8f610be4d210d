"""The interleaved timer's bookkeeping (call counts, order, shapes), never its timings."""
import numpy as np
import pytest

from numpy_adam.experiments.bench.timing import interleaved_medians, median_ms, median_ratio, ratios_to


def test_calls_are_interleaved_and_counted():
    calls = []
    candidates = {"a": lambda: calls.append("a"), "b": lambda: calls.append("b")}
    times = interleaved_medians(candidates, rounds=3, warmup=1, inner=2, warm_calls=1)
    # warmup round: a b; then each round: a (1 warm + 2 timed), b (1 warm + 2 timed)
    assert calls == ["a", "b"] + (["a"] * 3 + ["b"] * 3) * 3, calls
    assert set(times) == {"a", "b"} and all(t.shape == (3,) for t in times.values()), times


def test_median_ratio_pairs_rounds():
    times = {"x": np.array([2.0, 4.0, 9.0]), "base": np.array([1.0, 2.0, 3.0])}
    assert median_ratio(times, "x", "base") == 2.0  # ratios 2, 2, 3
    assert ratios_to(times, "base") == {"x": 2.0}, "every candidate but the baseline"
    assert median_ms(times) == {"x": 4000.0, "base": 2000.0}


def test_rounds_must_be_positive():
    with pytest.raises(ValueError, match="rounds"):
        interleaved_medians({"a": lambda: None}, rounds=0)


def test_cnn_step_rows_take_one_untimed_step_before_each_timing(monkeypatch):
    """As the PyTorch worker does: each timing of 3 steps follows one untimed step."""
    from numpy_adam.experiments.bench import cnn_step

    monkeypatch.setattr(cnn_step, "SETTLE_SECONDS", 0.0)
    calls = []
    rows = cnn_step.batch_rows([4], lambda n: {"a": lambda: calls.append(n)}, None, "ratio",
                               rounds=2)
    assert len(calls) == 2 + 2 * (1 + 3), calls  # 2 warm-up rounds, then 1 untimed + 3 per round
    assert rows[0]["batch"] == 4 and set(rows[0]["ms"]) == {"a"}, rows
