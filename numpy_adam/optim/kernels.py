"""Fused Numba kernels: one pass over the flat buffers per optimizer step.

What a kernel computes is its optimizer's algorithm box, written out in NumPy by
:func:`~.adam.adam_update`, :func:`~.sgd.sgd_update` and :func:`~.probe.probe_update` (the
tests hold the kernels to them) and, for the statistics, :func:`~.stats.spread_stats`. This
module is only about doing that in one pass. Every scalar comes in one NamedTuple
(:class:`~.adam.AdamScalars`, :class:`~.sgd.SGDScalars`, :class:`~.probe.ProbeScalars`),
already cast to the state's dtype by one small function beside the box.

Layout (:class:`Chunks`). The flat buffer (P,) is cut into chunks of at most ``CHUNK_SIZE``
elements that never cross a tensor (segment) boundary; each chunk knows its tensor's slot among
the *tracked* tensors, or -1. The kernel runs ``prange`` over chunks. Without statistics a chunk
is one loop over its elements; with statistics (``compute_stats`` and a tracked tensor) it walks
its elements in blocks of ``BLOCK``, and element i of a block adds its statistics terms into lane
i of a small (N_SUMS, BLOCK) accumulator in the state dtype: lanes are independent, so the loop
vectorizes without reordering any floating-point sum (no fastmath). At the end of the chunk its
lanes are summed in float64, in order, into ``partial[c]``, and a serial tail adds the chunks
into ``sums`` (L, N_SUMS) in chunk order, so statistics are deterministic whatever the thread
count. One step therefore reads θ, g, m, v and writes θ, m, v once; the statistics cost no extra
pass over memory (the accumulator stays in L1). The only other pass is the optimizer's finite
check of g before the step (``count_nonfinite``, one read of g), so a bad gradient is refused
before anything is written. Buffers smaller than ``PARALLEL_MIN_SIZE`` run the same chunks in
order on the calling thread: waking the thread pool (its idle threads sleep, see
:mod:`numpy_adam.nn.threads`) costs more than two threads save on them. The threshold is where
the two crossed on this 2-core machine (README, Performance, has the measurements;
``numpy-adam bench`` times the CNN's step with the threaded kernels as a ratio to ours): the
CNN's 278k parameters, for one, update on the calling thread.

Loops index the whole arrays (unsigned indices, so Numba emits no negative-index wraparound and
LLVM vectorizes) rather than slicing a view per block: every view is a new array object with
its own reference counting, paid once per block.

Precision. Element updates run in the dtype of the state (float32 for training, float64 for
checks). Bias corrections c1 = 1/(1−β1^t), c2 = 1/(1−β2^t) come from
:func:`~.stats.bias_corrections` in float64, outside the loop, and are cast for the update;
the statistics get them in float64 (their precision policy is in :mod:`.stats`).

``error_model="numpy"`` gives IEEE results for 0/0 (e.g. ε = 0 and g = 0 gives NaN, as in
PyTorch) instead of a ZeroDivisionError. Under ``NUMBA_DISABLE_JIT=1`` these functions run as
plain Python with NumPy scalars and give the same results (slowly). Numba's on-disk cache checks
only each file's own time stamp: a change to the statistics columns of :mod:`.stats` must come
with a change here, in :mod:`.kernels_rms` and in :mod:`.kernels_sign` (or a cleared
``__pycache__``), or stale kernels with the old layout are loaded.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .stats import COUNT_NEG_VAR, N_SUMS, SUM_ABS_M, SUM_SIGMA, SUM_UPDATE

CHUNK_SIZE = 16384  # elements per chunk: 64 KiB of float32 per array, enough work per task
# (a float32 statistics lane sums at most CHUNK_SIZE/BLOCK = 16 terms: see .stats, Precision)
BLOCK = 1024        # statistics lanes: element i of a block adds into lane i
LANE_GROUP = 64     # lane sums run as 64 float64 chains (see _store_partial)
assert BLOCK % LANE_GROUP == 0, "_store_partial sums whole groups of lanes"
PARALLEL_MIN_SIZE = 1 << 21  # smaller buffers run on the calling thread (no thread wake-up)

_JIT = dict(cache=True, fastmath=False, error_model="numpy")


def runs_parallel(size: int) -> bool:
    """Whether a buffer of ``size`` elements runs its chunks over threads (``parallel``)."""
    return size >= PARALLEL_MIN_SIZE


class Chunks(NamedTuple):
    """The chunks a kernel walks, and where their statistics sums go.

    start, stop: (n_chunks,) int64, chunk c is elements [start[c], stop[c]) of the flat buffer
    slot:        (n_chunks,) int64 index of the chunk's tensor among the tracked ones, or -1
    partial:     (n_chunks, N_SUMS) float64 scratch: each chunk's statistics sums
    sums:        (L, N_SUMS) float64 output: per tracked tensor, added in chunk order
    """

    start: np.ndarray
    stop: np.ndarray
    slot: np.ndarray
    partial: np.ndarray
    sums: np.ndarray


def build_chunks(bounds: np.ndarray, tracked: tuple[int, ...],
                 chunk_size: int = CHUNK_SIZE, segments=None) -> Chunks:
    """Cut segments [offset, stop) into chunks of ≤ ``chunk_size`` elements.

    bounds:   (S, 2) int64 [offset, stop) of every segment, in order
    tracked:  indices of the tracked segments; slot k is tracked[k]
    segments: the segment indices to cut (default all): one parameter group's, whose kernel
              call then updates only them, with the statistics slots of the whole optimizer
    """
    slot_of = {seg: k for k, seg in enumerate(tracked)}
    start, stop, slot = [], [], []
    for seg in (range(len(bounds)) if segments is None else segments):
        lo, hi = bounds[seg]
        for a in range(int(lo), int(hi), chunk_size):
            start.append(a)
            stop.append(min(a + chunk_size, int(hi)))
            slot.append(slot_of.get(seg, -1))
    as_int = lambda x: np.array(x, dtype=np.int64)  # noqa: E731
    return Chunks(start=as_int(start), stop=as_int(stop), slot=as_int(slot),
                  partial=np.zeros((len(start), N_SUMS)), sums=np.zeros((len(tracked), N_SUMS)))


def as_dtype_of(x, like):
    """x cast to the float type of the scalar ``like`` (float32 or float64), as plain Python."""
    return type(like)(x)


@overload(as_dtype_of, jit_options=dict(cache=True))
def _as_dtype_of_jit(x, like):
    """The compiled form of :func:`as_dtype_of`, chosen from ``like``'s type at compile time."""
    if like == types.float32:
        return lambda x, like: np.float32(x)
    if like == types.float64:
        return lambda x, like: np.float64(x)
    return None


@njit(**_JIT)
def _accumulate(acc, i, m, v, c1, c2, u):
    """Add one element's statistics terms to lane i of ``acc`` (N_SUMS, BLOCK).

    m, v, u and ``acc`` share the state dtype; c1, c2 are float64. Terms: |m̂|, σ̂, |u|,
    [v̂ < m̂²] with m̂ = c1 m, v̂ = c2 v, σ̂ = √max(v̂ − m̂², 0): sums only, so one √ and no
    division per element (the element mean of γ = σ̂/|m̂| comes from the sample, :mod:`.stats`).
    Only σ̂² = v̂ − m̂² is formed in float64 (the one cancellation); it is then rounded to the state
    dtype, so the √ runs in that dtype (8 lanes per AVX2 register for float32, not 4).
    Written as selects, not branches, so the loop vectorizes.
    """
    zero = as_dtype_of(0.0, m)
    one = as_dtype_of(1.0, m)
    m_hat = np.float64(m) * c1
    v_hat = np.float64(v) * c2
    var = v_hat - m_hat * m_hat  # float64: free of the float32 cancellation
    negative = var < 0.0  # only for β1 ≠ β2 (or by rounding): clamp policy of stats.py
    acc[SUM_ABS_M, i] += as_dtype_of(abs(m_hat), m)
    acc[SUM_SIGMA, i] += np.sqrt(as_dtype_of(0.0 if negative else var, m))
    acc[SUM_UPDATE, i] += abs(u)
    acc[COUNT_NEG_VAR, i] += one if negative else zero


@njit(**_JIT)
def _probe_and_stats(probe_m, probe_v, acc, i, k, d, u, p, stats):
    """Element i's probe update (:func:`~.probe.probe_update` of d) and, with ``stats``, its
    statistics terms into lane k: the probe's m̂, v̂ and the step's |u| (without a probe only
    Σ|u|). Shared by the kernels of every method that has no moments of its own (SGD here,
    RMSprop in :mod:`.kernels_rms`, the sign methods in :mod:`.kernels_sign`)."""
    if p.active:
        mi = p.beta1 * probe_m[i] + p.one_minus_beta1 * d        # m_p,t
        vi = p.beta2 * probe_v[i] + p.one_minus_beta2 * d * d    # v_p,t
        probe_m[i] = mi
        probe_v[i] = vi
        if stats:
            _accumulate(acc, k, mi, vi, p.c1_stats, p.c2_stats, u)
    elif stats:
        acc[SUM_UPDATE, k] += abs(u)


@njit(**_JIT)
def _store_partial(acc, partial, c):
    """partial[c, k] = Σ_lanes acc[k, lane] in float64, in a fixed order: lane l goes into
    running sum l mod LANE_GROUP, and those are then added in order. The LANE_GROUP running
    sums are independent chains the loop vectorizes over; a single running sum per k would be
    one chain of dependent float64 additions, which the CPU cannot overlap."""
    for k in range(N_SUMS):
        run = np.zeros(LANE_GROUP)
        for base in range(0, acc.shape[1], LANE_GROUP):  # acc.shape[1] = BLOCK
            for j in range(LANE_GROUP):
                run[j] += np.float64(acc[k, base + j])
        total = 0.0
        for j in range(LANE_GROUP):
            total += run[j]
        partial[c, k] = total


@njit(**_JIT)
def _reduce_partials(chunks):
    """sums[slot] = Σ over the slot's chunks of partial[chunk], in chunk order (serial, tiny)."""
    sums, partial = chunks.sums, chunks.partial
    sums[:, :] = 0.0
    for c in range(chunks.slot.shape[0]):
        s = chunks.slot[c]
        if s >= 0:
            for k in range(N_SUMS):
                sums[s, k] += partial[c, k]


@njit(**_JIT)
def _lanes(chunks, c, compute_stats, theta):
    """(stats, block, acc) of chunk c: statistics only for tracked chunks, in BLOCK lanes of
    the state dtype (θ's)."""
    stats = compute_stats and chunks.slot[c] >= 0
    lanes = BLOCK if stats else 1
    acc = np.zeros((N_SUMS, lanes), dtype=theta.dtype)  # per-lane sums: the loop vectorizes
    block = BLOCK if stats else chunks.stop[c] - chunks.start[c]  # no lanes: one block
    return stats, max(block, 1), acc


# -- Adam --------------------------------------------------------------------------------

@njit(**_JIT)
def _adam_element(theta, g, m, v, v_max_old, s, amsgrad):
    """One element of the box (:func:`~.adam.adam_update`); returns θ_t, m_t, v_t, v_max,t
    (or v_t), u_t. ``s`` is the step's AdamScalars; ``amsgrad`` a constant of the caller's
    loop. Decay without a branch: g + 0·θ = g and 1·θ = θ exactly."""
    g = s.grad_sign * g + s.l2_decay * theta             # g_t ← ±g_t + λ θ_{t−1}
    theta = theta * s.decay_factor                       # θ_{t−1} ← (1 − αλ) θ_{t−1}
    m = s.beta1 * m + s.one_minus_beta1 * g              # m_t
    v = s.beta2 * v + s.one_minus_beta2 * g * g          # v_t
    v_bar = v
    if amsgrad:
        v_bar = v_max_old if v_max_old > v else v        # v_max,t = max(v_max,t−1, v_t)
    u = (s.c1 * m) / (np.sqrt(s.c2 * v_bar) + s.eps)     # u_t = m̂_t / (√v̄_t + ε)
    return theta - s.lr * u, m, v, v_bar, u              # θ_t = θ_{t−1} − α u_t


@njit(**_JIT)
def _adam_block(theta, g, m, v, v_max, acc, a, b, s, stats):
    """Update elements [a, b) of the full arrays in place; with ``stats`` (b − a ≤ BLOCK)
    element a + k adds its terms to lane k. Indices, not per-block views (module docstring)."""
    if s.amsgrad:
        for k in range(b - a):
            i = np.uint64(a + k)  # unsigned index: no negative-index wraparound, so it vectorizes
            theta[i], m[i], v[i], v_max[i], u = _adam_element(
                theta[i], g[i], m[i], v[i], v_max[i], s, True)
            if stats:
                _accumulate(acc, k, m[i], v[i], s.c1_stats, s.c2_stats, u)
    elif stats:  # the three loops differ only in what they touch, so each one vectorizes
        for k in range(b - a):
            i = np.uint64(a + k)
            theta[i], m[i], v[i], _, u = _adam_element(theta[i], g[i], m[i], v[i], v[i], s, False)
            _accumulate(acc, k, m[i], v[i], s.c1_stats, s.c2_stats, u)
    else:
        for k in range(b - a):
            i = np.uint64(a + k)
            theta[i], m[i], v[i], _, _ = _adam_element(theta[i], g[i], m[i], v[i], v[i], s, False)


@njit(**_JIT)
def _adam_chunk(c, theta, g, m, v, v_max, chunks, s, compute_stats):
    """Chunk c: its blocks in order, then its lane sums into partial[c] (when tracked)."""
    stats, block, acc = _lanes(chunks, c, compute_stats, theta)
    for a in range(chunks.start[c], chunks.stop[c], block):
        _adam_block(theta, g, m, v, v_max, acc, a, min(a + block, chunks.stop[c]), s, stats)
    if stats:
        _store_partial(acc, chunks.partial, c)


@njit(parallel=True, **_JIT)
def adam_step_kernel(theta, g, m, v, v_max, chunks, scalars, compute_stats, parallel):
    """One Adam step in place over the flat buffers: :func:`~.adam.adam_update` in one pass.

    theta, g, m, v: (P,) arrays of one float dtype; v_max: (P,) if ``scalars.amsgrad``, else (0,)
    chunks:  :class:`Chunks` of the buffer; the statistics land in ``chunks.sums``
    scalars: the step's :class:`~.adam.AdamScalars` (from :func:`~.adam.adam_scalars`)
    compute_stats: bool; statistics use m, v (not v_max) and |u|
    parallel: chunks over threads (prange) or in order on the calling thread (small buffers)
    """
    if parallel:
        for c in prange(chunks.start.shape[0]):
            _adam_chunk(c, theta, g, m, v, v_max, chunks, scalars, compute_stats)
    else:
        for c in range(chunks.start.shape[0]):
            _adam_chunk(c, theta, g, m, v, v_max, chunks, scalars, compute_stats)
    if compute_stats:
        _reduce_partials(chunks)


# -- SGD ---------------------------------------------------------------------------------

@njit(**_JIT)
def _sgd_block(theta, g, b, probe_m, probe_v, acc, s, p, stats, a, e):
    """Update elements [a, e) of SGD (:func:`~.sgd.sgd_update`) and its probe
    (:func:`~.probe.probe_update`) in place; indices as in _adam_block."""
    for k in range(e - a):
        i = np.uint64(a + k)  # as in _adam_block
        d = s.grad_sign * g[i] + s.l2_decay * theta[i]               # d_t ← ±g_t + λ θ_{t−1}
        u = d
        if s.use_momentum:
            bi = d if s.first_step else s.momentum * b[i] + s.one_minus_dampening * d  # b_t
            b[i] = bi
            u = d + s.momentum * bi if s.nesterov else bi            # u_t
        theta[i] = theta[i] - s.lr * u                               # θ_t = θ_{t−1} − α u_t
        _probe_and_stats(probe_m, probe_v, acc, i, k, d, u, p, stats)


@njit(**_JIT)
def _sgd_chunk(c, theta, g, b, probe_m, probe_v, chunks, s, p, compute_stats):
    """Chunk c: its blocks in order, then its lane sums into partial[c] (when tracked)."""
    stats, block, acc = _lanes(chunks, c, compute_stats, theta)
    for a in range(chunks.start[c], chunks.stop[c], block):
        _sgd_block(theta, g, b, probe_m, probe_v, acc, s, p, stats, a,
                   min(a + block, chunks.stop[c]))
    if stats:
        _store_partial(acc, chunks.partial, c)


@njit(parallel=True, **_JIT)
def sgd_step_kernel(theta, g, b, probe_m, probe_v, chunks, scalars, probe, compute_stats,
                    parallel):
    """One SGD step and probe update in place: :func:`~.sgd.sgd_update` and
    :func:`~.probe.probe_update` in one pass.

    theta, g: (P,); b: (P,) momentum buffer if ``scalars.use_momentum`` else (0,);
    probe_m, probe_v: (P,) if ``probe.active`` else (0,)
    scalars: :class:`~.sgd.SGDScalars`; probe: :class:`~.probe.ProbeScalars` (both of step t)
    chunks, compute_stats, parallel: as in :func:`adam_step_kernel`. Statistics use the
    probe's m, v and |u|; without a probe only Σ|u| is accumulated.
    """
    if parallel:
        for c in prange(chunks.start.shape[0]):
            _sgd_chunk(c, theta, g, b, probe_m, probe_v, chunks, scalars, probe, compute_stats)
    else:
        for c in range(chunks.start.shape[0]):
            _sgd_chunk(c, theta, g, b, probe_m, probe_v, chunks, scalars, probe, compute_stats)
    if compute_stats:
        _reduce_partials(chunks)


SCAN_STREAMS = 4    # the finite check reads blocks of g as this many interleaved streams,
SCAN_PIECE = 4096   # each this long (constants the compiler sees: see _count_nonfinite_range)
assert CHUNK_SIZE == SCAN_STREAMS * SCAN_PIECE, "a whole chunk is one block of streams"


@njit(**_JIT)
def _is_nonfinite(x, i):
    """1 if x[i] is NaN or ±Inf, else 0, as int32 (|x| < ∞ is False exactly for those; a
    comparison, so no floating-point warning when run as Python)."""
    return np.int32(not abs(x[np.uint64(i)]) < np.inf)  # unsigned index: as in _adam_block


@njit(**_JIT)
def _count_nonfinite_range(x, a, b):
    """Number of NaN/±Inf among x[a:b]: an int32 count of 0/1 terms, summed without a branch,
    so the loop vectorizes (b − a < 2³¹).

    The range is read in blocks of SCAN_STREAMS·SCAN_PIECE elements (a whole chunk), each as
    SCAN_STREAMS interleaved streams (piece q of the block at offset k, for every q, then
    k + 1), and what is left after the last whole block as one stream: a single stream is not
    enough to keep memory busy, since one core's prefetcher follows each stream on its own,
    and this check reads only g, where the update kernels read four arrays at once. The block
    is made of constants so that the compiler unrolls and vectorizes the streams (with a piece
    length known only at run time it did neither). Every element is read
    once whatever the range's length, so the count does not depend on the chunk size."""
    n = np.int32(0)
    block = SCAN_STREAMS * SCAN_PIECE
    start = a
    while start + block <= b:
        for k in range(SCAN_PIECE):
            for q in range(SCAN_STREAMS):
                n += _is_nonfinite(x, start + q * SCAN_PIECE + k)
        start += block
    for i in range(start, b):
        n += _is_nonfinite(x, i)
    return n


@njit(parallel=True, **_JIT)
def _count_nonfinite_chunks(x, chunk, parallel):
    """Number of NaN/±Inf entries of the 1-D array ``x``, counted in pieces of ``chunk``
    elements (over threads when ``parallel``): one read of x, branch-free, so it vectorizes."""
    size = x.shape[0]
    n_chunks = (size + chunk - 1) // chunk
    n = 0
    if parallel:
        for c in prange(n_chunks):
            n += _count_nonfinite_range(x, c * chunk, min((c + 1) * chunk, size))
    else:
        for c in range(n_chunks):
            n += _count_nonfinite_range(x, c * chunk, min((c + 1) * chunk, size))
    return n


def count_nonfinite(x: np.ndarray, parallel: bool) -> int:
    """Number of NaN/±Inf entries of the 1-D array ``x``, counted in CHUNK_SIZE pieces.

    CHUNK_SIZE is read here, at call time, and passed to the compiled count: read inside it,
    Numba would compile it in as a constant and ``cache=True`` would keep that constant on
    disk for every later process, a value a test had patched in included
    (tests/optim/test_kernel_cache.py)."""
    return _count_nonfinite_chunks(x, CHUNK_SIZE, parallel)
