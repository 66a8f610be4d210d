"""The memory-bandwidth limit of an Adam step, measured in the same run as the optimizer.

An Adam step reads θ, g, m, v and writes θ, m, v back in place: 7 × 4 bytes per float32
element. :func:`adam_traffic` makes exactly those transfers with one addition per array
(θ += g, m += g, v += g), over Numba's threads as the optimizer kernel uses them, on arrays
as large as the largest optimizer row (10⁷ elements, 160 MB in all: far beyond a core's L2,
so "bandwidth" is that of wherever such arrays stream from, a large L3 or memory). Its best
time estimates the limit for an Adam kernel over them; it is an estimate, not a bound (a
well-tuned fused Adam can beat it, all the more on a machine whose speed drifts), so read
"% of bandwidth" as a comparison with this probe.

Why not a STREAM triad a = b + s·c counted as 12 B/element: it writes a into lines it has
not read, so the cache first reads them (write-allocate) and 16 B move per element, not 12.
Counted as 12 it underestimates the bandwidth an in-place update sees; in-place updates
have no write-allocate traffic.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .timing import interleaved_medians

ADAM_BYTES_PER_ELEMENT = 7 * 4  # read θ, g, m, v; write θ, m, v (float32)


@njit(parallel=True, cache=True)
def adam_traffic(theta, g, m, v):
    """θ += g, m += g, v += g in place; all (n,) float32: Adam's 7 transfers per element."""
    for i in prange(theta.shape[0]):
        gi = g[i]
        theta[i] += gi
        m[i] += gi
        v[i] += gi


def measure_bandwidth(n: int = 10_000_000, rounds: int = 7) -> float:
    """Best :func:`adam_traffic` bandwidth in bytes/s over ``rounds`` runs on (n,) float32
    arrays (the best, as STREAM reports: the limit, not a typical value, on a machine
    shared with other work). g is zero, so the arrays keep their values."""
    theta, m, v = (np.ones(n, dtype=np.float32) for _ in range(3))
    g = np.zeros(n, dtype=np.float32)
    times = interleaved_medians({"adam_traffic": lambda: adam_traffic(theta, g, m, v)},
                                rounds=rounds, warmup=1)
    return ADAM_BYTES_PER_ELEMENT * n / float(np.min(times["adam_traffic"]))
