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
