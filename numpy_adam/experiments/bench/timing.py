"""Interleaved repeated timing: every candidate once per round, medians over rounds.

Interleaving (A B C, A B C, ...) instead of blocks (A A A, B B B, ...) spreads slow phases
of a shared machine (other processes, frequency changes) over all candidates, so their
ratios stay meaningful even when absolute times drift. Ratios are taken per round and
their median is reported ("median of ratios").
"""
from __future__ import annotations

import time
from typing import Callable

import numpy as np

# the bench's pause before each timing (``settle``): long enough for idle OpenBLAS and OpenMP
# threads to stop spinning (up to ~0.1 s after their last task)
SETTLE_SECONDS = 0.3
# and the untimed calls after it (``warm_seconds``): a side is timed in its steady state,
# not while it recovers from the pause. One call was not enough: work after the pause ran
# slower for tens of milliseconds (PyTorch's step more than ours; README, Performance).
WARM_SECONDS = 0.1


def warm_up(fn: Callable[[], object], seconds: float, calls: int = 1) -> None:
    """Untimed calls of ``fn``: at least ``calls``, then more until ``seconds`` have passed
    since the first."""
    start = time.perf_counter()
    done = 0
    while done < calls or time.perf_counter() - start < seconds:
        fn()
        done += 1


def interleaved_medians(candidates: dict[str, Callable[[], object]], rounds: int,
                        warmup: int = 2, inner: int = 1, settle: float = 0.0,
                        warm_calls: int = 0, warm_seconds: float = 0.0
                        ) -> dict[str, np.ndarray]:
    """Time each candidate ``inner`` times per round over ``rounds`` interleaved rounds.

    Inputs
        candidates: name -> zero-argument callable (one unit of work, e.g. one training step)
        rounds: number of rounds (≥ 1); warmup: untimed rounds first (compile, caches)
        inner: calls per timing (for sub-millisecond work, or to let a candidate's own
            thread pools run warm as in a training loop)
        settle: seconds to sleep before each timing, so the previous candidate's idle
            threads (OpenBLAS, OpenMP spin for up to ~0.1 s after their last task) stop
            competing for the cores: without it, on 2 cores, whichever runs second is
            slowed by the other library's spinning threads
        warm_calls: untimed calls of the candidate right before its timed ones in every
            round, so each timing starts with the candidate's own threads awake and its
            data where its previous call left it (another way to leave the previous
            candidate's threads behind, without the pause's cold start)
        warm_seconds: after those, more untimed calls until this long has passed since the
            first (:func:`warm_up`; the bench uses :data:`WARM_SECONDS`)
    A candidate with a ``time_calls(inner, warm_seconds)`` method (:class:`.isolated.
    SelfTimed`, PyTorch in its own process) warms itself up and reports its own seconds per
    call instead of being timed here.

    Output
        name -> (rounds,) seconds per call, in round order (take medians and ratios from it)
    """
    if rounds < 1:
        raise ValueError(f"interleaved_medians: rounds must be >= 1, got {rounds}")
    for _ in range(warmup):
        for fn in candidates.values():
            fn()
    times = {name: np.empty(rounds) for name in candidates}
    for r in range(rounds):
        for name, fn in candidates.items():
            if settle:
                time.sleep(settle)
            if hasattr(fn, "time_calls"):  # times itself (elsewhere), warm calls included
                times[name][r] = fn.time_calls(inner, warm_seconds)
                continue
            if warm_calls or warm_seconds:
                warm_up(fn, warm_seconds, warm_calls)
            start = time.perf_counter()
            for _ in range(inner):
                fn()
            times[name][r] = (time.perf_counter() - start) / inner
    return times


def median_ratio(times: dict[str, np.ndarray], name: str, baseline: str) -> float:
    """Median over rounds of times[name] / times[baseline] (same-round pairs)."""
    return float(np.median(times[name] / times[baseline]))


def median_ms(times: dict[str, np.ndarray]) -> dict[str, float]:
    """{name: median milliseconds} of :func:`interleaved_medians`' output."""
    return {name: 1e3 * float(np.median(t)) for name, t in times.items()}


def ratios_to(times: dict[str, np.ndarray], baseline: str) -> dict[str, float]:
    """{name: :func:`median_ratio` to ``baseline``} for every candidate but the baseline."""
    return {name: median_ratio(times, name, baseline) for name in times if name != baseline}
