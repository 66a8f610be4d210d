"""The interleaved timer's bookkeeping (call counts, order, shapes), never its timings."""
from types import SimpleNamespace

import numpy as np
import pytest

from numpy_adam.experiments.bench import timing
from numpy_adam.experiments.bench.timing import (interleaved_medians, median_ms, median_ratio,
                                                 ratios_to, warm_up)


def _fake_clock(monkeypatch, seconds_per_call):
    """timing's clock made to advance only when the returned ``fn`` is called."""
    now = [0.0]
    monkeypatch.setattr(timing, "time", SimpleNamespace(perf_counter=lambda: now[0],
                                                        sleep=lambda s: None))
    calls = []

    def fn():
        calls.append(now[0])
        now[0] += seconds_per_call
    return fn, calls


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


def test_warm_up_calls_until_its_time_has_passed_and_at_least_calls_times(monkeypatch):
    fn, calls = _fake_clock(monkeypatch, 0.03)
    warm_up(fn, 0.1)
    assert calls == pytest.approx([0.0, 0.03, 0.06, 0.09]), calls  # 0.12 ≥ 0.1: done
    fn, calls = _fake_clock(monkeypatch, 0.03)
    warm_up(fn, 0.0, calls=2)
    assert len(calls) == 2, calls
    fn, calls = _fake_clock(monkeypatch, 0.5)
    warm_up(fn, 0.1)
    assert len(calls) == 1, "one call outlasting the time is enough"
    fn, calls = _fake_clock(monkeypatch, 0.03)
    warm_up(fn, 0.0, calls=0)
    assert calls == []


def test_each_timing_is_warmed_up_for_warm_seconds(monkeypatch):
    fn, calls = _fake_clock(monkeypatch, 0.03)
    times = interleaved_medians({"a": fn}, rounds=2, warmup=0, inner=3, warm_calls=1,
                                warm_seconds=0.1)
    assert len(calls) == 2 * (4 + 3), calls  # per round: 4 warm calls (0.12 s), then 3 timed
    assert times["a"] == pytest.approx([0.03, 0.03]), times


def test_a_self_timed_candidate_is_asked_to_warm_up_itself():
    asked = []
    candidate = SimpleNamespace(time_calls=lambda inner, warm: asked.append((inner, warm)) or 1.0)
    times = interleaved_medians({"t": candidate}, rounds=2, warmup=0, inner=3, warm_seconds=0.1)
    assert asked == [(3, 0.1), (3, 0.1)] and list(times["t"]) == [1.0, 1.0], asked


def test_cnn_step_rows_warm_up_before_each_timing(monkeypatch):
    """As the PyTorch worker does: each timing of 3 steps follows untimed steps for
    WARM_SECONDS (at least one)."""
    from numpy_adam.experiments.bench import cnn_step

    monkeypatch.setattr(cnn_step, "SETTLE_SECONDS", 0.0)
    monkeypatch.setattr(cnn_step, "WARM_SECONDS", 0.0)
    calls = []
    rows = cnn_step.batch_rows([4], lambda n: {"a": lambda: calls.append(n)}, None, "ratio",
                               rounds=2)
    assert len(calls) == 2 + 2 * (1 + 3), calls  # 2 warm-up rounds, then 1 untimed + 3 per round
    assert rows[0]["batch"] == 4 and set(rows[0]["ms"]) == {"a"}, rows
    fn, ticks = _fake_clock(monkeypatch, 0.03)
    monkeypatch.setattr(cnn_step, "WARM_SECONDS", 0.1)
    cnn_step.batch_rows([4], lambda n: {"a": fn}, None, "ratio", rounds=1)
    assert len(ticks) == 2 + 4 + 3, ticks  # 2 warm-up rounds, 4 untimed (0.12 s), 3 timed
