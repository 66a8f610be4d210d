"""The machine's memory bandwidth, measured in the same run as the optimizer kernels.

A STREAM-style triad a = b + s·c over float32 arrays far larger than the caches, with
Numba's threads (as the optimizer kernel uses them): 3 × 4 bytes per element (2 reads,
1 write; write-allocate traffic not counted, as in STREAM).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .timing import interleaved_medians

TRIAD_BYTES_PER_ELEMENT = 12


@njit(parallel=True, cache=True)
def triad(a, b, c, s):
    """a[i] = b[i] + s·c[i] for every i; a, b, c: (n,) float32, s: float32 scalar."""
    for i in prange(a.shape[0]):
        a[i] = b[i] + s * c[i]


def measure_bandwidth(n: int = 20_000_000, rounds: int = 7) -> float:
    """Best triad bandwidth in bytes/s over ``rounds`` runs on (n,) float32 arrays (the
    best, as STREAM reports: the limit, not a typical value, on a machine shared with
    other work)."""
    rng = np.random.default_rng(0)
    b = rng.standard_normal(n, dtype=np.float32)
    c = rng.standard_normal(n, dtype=np.float32)
    a = np.empty_like(b)
    s = np.float32(0.5)
    times = interleaved_medians({"triad": lambda: triad(a, b, c, s)}, rounds=rounds, warmup=1)
    return TRIAD_BYTES_PER_ELEMENT * n / float(np.min(times["triad"]))
