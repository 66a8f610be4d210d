"""Fused Numba kernels: one pass over the flat buffers per optimizer step.

Layout. The flat buffer (P,) is cut into chunks of at most ``CHUNK_SIZE`` elements that never
cross a tensor (segment) boundary: ``chunk_start``, ``chunk_stop`` (n_chunks,) int64 and
``chunk_slot`` (n_chunks,) int64 = the index of the chunk's tensor among the *tracked* tensors,
or -1 when the tensor is not tracked. The kernel runs ``prange`` over chunks. Without statistics
a chunk is one loop over its elements; with statistics (``compute_stats`` and a tracked tensor)
it walks its elements in blocks of ``BLOCK``, and element i of a block adds its statistics terms
(:mod:`.stats`) into lane i of a small (N_SUMS, BLOCK) accumulator in the state dtype: lanes are
independent, so the loop vectorizes without reordering any floating-point sum (no fastmath). At
the end of the chunk its lanes are summed in float64, in order, into ``partial[c]``
(n_chunks, N_SUMS), and a serial tail adds the chunks into ``sums`` (L, N_SUMS) in chunk order,
so statistics are deterministic whatever the thread count. One step therefore reads θ, g, m, v
and writes θ, m, v once; the statistics cost no extra pass over memory (the accumulator stays in
L1). The only other pass is the optimizer's finite check of g before the step
(``count_nonfinite``, one read of g), so a bad gradient is refused before anything is written.
Buffers smaller than ``PARALLEL_MIN_SIZE`` run the same chunks in order on the calling thread:
waking the thread pool costs more than updating them.

Loops index the whole arrays (unsigned indices, so Numba emits no negative-index wraparound and
LLVM vectorizes) rather than slicing a view per block: every view is a new array object with its
reference counting, and per-block views doubled the time of the loop without statistics.

Precision. Element updates run in the dtype of the state (float32 for training, float64 for
checks): the caller passes every scalar already cast to that dtype. Bias corrections
c1 = 1/(1−β1^t), c2 = 1/(1−β2^t) are computed in float64 outside the loop (and cast for the
update). Statistics (policy in :mod:`.stats`): σ̂² = v̂ − m̂² is formed in float64 from m, v and
the float64 c1, c2 (no float32 cancellation), then |m̂|, σ̂² are rounded to the state dtype and
√, ÷ and the lane sums run in that dtype (8 float32 lanes per AVX2 register instead of 4
float64); the lanes go into float64 at the end of each chunk. For float64 state this is the
float64 computation throughout; for float32 each term carries a few float32 roundings and each
lane sums at most CHUNK_SIZE/BLOCK = 16 nonnegative terms, so a tensor's means are within
≈ 20·2⁻²⁴ ≈ 1.2e-6 (relative) of the float64 values; counts are exact.

``error_model="numpy"`` gives IEEE results for 0/0 (e.g. ε = 0 and g = 0 gives NaN, as in
PyTorch) instead of a ZeroDivisionError. Under ``NUMBA_DISABLE_JIT=1`` these functions run as
plain Python with NumPy scalars and give the same results (slowly).
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange, types
from numba.extending import overload

from .stats import COUNT_GAMMA, COUNT_NEG_VAR, N_SUMS, SUM_ABS_M, SUM_GAMMA, SUM_SIGMA, SUM_UPDATE

CHUNK_SIZE = 16384  # elements per chunk: 64 KiB of float32 per array, enough work per task
# (a float32 statistics lane sums at most CHUNK_SIZE/BLOCK = 16 terms: see Precision above)
BLOCK = 1024        # statistics lanes: element i of a block adds into lane i
LANE_GROUP = 64     # lane sums run as 64 float64 chains (see _store_partial)
assert BLOCK % LANE_GROUP == 0, "_store_partial sums whole groups of lanes"
PARALLEL_MIN_SIZE = 1 << 16  # smaller buffers run on the calling thread (no thread wake-up)

_JIT = dict(cache=True, fastmath=False, error_model="numpy")


def build_chunks(bounds: np.ndarray, tracked: tuple[int, ...],
                 chunk_size: int = CHUNK_SIZE) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Cut every segment [offset, stop) into chunks of ≤ ``chunk_size`` elements.

    bounds:  (S, 2) int64 [offset, stop) of every segment, in order
    tracked: indices of the tracked segments; slot k is tracked[k]
    returns: chunk_start, chunk_stop, chunk_slot, each (n_chunks,) int64
    """
    slot_of = {seg: k for k, seg in enumerate(tracked)}
    start, stop, slot = [], [], []
    for seg, (lo, hi) in enumerate(bounds):
        for a in range(int(lo), int(hi), chunk_size):
            start.append(a)
            stop.append(min(a + chunk_size, int(hi)))
            slot.append(slot_of.get(seg, -1))
    as_int = lambda x: np.array(x, dtype=np.int64)  # noqa: E731
    return as_int(start), as_int(stop), as_int(slot)


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

    m, v, u and ``acc`` share the state dtype; c1, c2 are float64. Terms: |m̂|, σ̂, γ, [m̂ ≠ 0],
    |u|, [v̂ < m̂²] with m̂ = c1 m, v̂ = c2 v, σ̂ = √max(v̂ − m̂², 0), γ = σ̂/|m̂| (0 where m̂ = 0).
    Only σ̂² = v̂ − m̂² is formed in float64 (the one cancellation); it is then rounded to the state
    dtype, so √ and ÷ run in that dtype (8 lanes per AVX2 register for float32, not 4).
    Written as selects, not branches, so the loop vectorizes.
    """
    zero = as_dtype_of(0.0, m)
    one = as_dtype_of(1.0, m)
    m_hat = np.float64(m) * c1
    v_hat = np.float64(v) * c2
    var = v_hat - m_hat * m_hat  # float64: free of the float32 cancellation
    negative = var < 0.0  # only for β1 ≠ β2 (or by rounding): clamp policy of stats.py
    abs_m_hat = as_dtype_of(abs(m_hat), m)
    sigma = np.sqrt(as_dtype_of(0.0 if negative else var, m))
    nonzero = abs_m_hat > zero
    acc[SUM_ABS_M, i] += abs_m_hat
    acc[SUM_SIGMA, i] += sigma
    acc[SUM_GAMMA, i] += sigma / abs_m_hat if nonzero else zero
    acc[COUNT_GAMMA, i] += one if nonzero else zero
    acc[SUM_UPDATE, i] += abs(u)
    acc[COUNT_NEG_VAR, i] += one if negative else zero


@njit(**_JIT)
def _store_partial(acc, partial, c):
    """partial[c, k] = Σ_lanes acc[k, lane] in float64, in a fixed order: lane l goes into
    running sum l mod LANE_GROUP, and those are then added in order. The LANE_GROUP running
    sums are independent chains the loop vectorizes over; one running sum per k (or six kept
    in ``partial``) is a chain of dependent float64 additions, which cost 0.27 ns per element
    of the chunk (a quarter of the statistics' cost) against 0.08 ns with 64 chains."""
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
def _reduce_partials(partial, chunk_slot, sums):
    """sums[slot] = Σ over the slot's chunks of partial[chunk], in chunk order (serial, tiny)."""
    sums[:, :] = 0.0
    for c in range(chunk_slot.shape[0]):
        s = chunk_slot[c]
        if s >= 0:
            for k in range(N_SUMS):
                sums[s, k] += partial[c, k]


# -- Adam --------------------------------------------------------------------------------

@njit(**_JIT)
def _adam_element(theta, g, m, v, v_max_old, lr, beta1, one_minus_beta1, beta2, one_minus_beta2,
                  c1, c2, eps, l2_decay, decay_factor, amsgrad):
    """One element of the algorithm box; returns θ_t, m_t, v_t, v_max,t (or v_t), u_t.

    ``l2_decay`` is λ for L2 decay and 0 otherwise; ``decay_factor`` is 1 − αλ for decoupled
    decay and 1 otherwise (g + 0·θ = g and 1·θ = θ exactly: no branch in the loop).
    """
    g = g + l2_decay * theta                         # g_t ← g_t + λ θ_{t−1}
    theta = theta * decay_factor                     # θ_{t−1} ← (1 − αλ) θ_{t−1}
    m = beta1 * m + one_minus_beta1 * g              # m_t
    v = beta2 * v + one_minus_beta2 * g * g          # v_t
    v_bar = v
    if amsgrad:
        v_bar = v_max_old if v_max_old > v else v    # v_max,t = max(v_max,t−1, v_t)
    u = (c1 * m) / (np.sqrt(c2 * v_bar) + eps)       # u_t = m̂_t / (√v̄_t + ε)
    return theta - lr * u, m, v, v_bar, u            # θ_t = θ_{t−1} − α u_t


@njit(**_JIT)
def _adam_block(theta, g, m, v, v_max, acc, a, b, lr, beta1, one_minus_beta1, beta2,
                one_minus_beta2, c1, c2, eps, l2_decay, decay_factor, amsgrad, c1_stats, c2_stats,
                stats):
    """Update elements [a, b) of the full arrays in place; with ``stats`` (b − a ≤ BLOCK)
    element a + k adds its terms to lane k. Indices, not per-block views (see module docstring)."""
    if amsgrad:
        for k in range(b - a):
            i = np.uint64(a + k)  # unsigned index: no negative-index wraparound, so it vectorizes
            theta[i], m[i], v[i], v_max[i], u = _adam_element(
                theta[i], g[i], m[i], v[i], v_max[i], lr, beta1, one_minus_beta1, beta2,
                one_minus_beta2, c1, c2, eps, l2_decay, decay_factor, True)
            if stats:
                _accumulate(acc, k, m[i], v[i], c1_stats, c2_stats, u)
    elif stats:  # the three loops differ only in what they touch, so each one vectorizes
        for k in range(b - a):
            i = np.uint64(a + k)
            theta[i], m[i], v[i], _, u = _adam_element(
                theta[i], g[i], m[i], v[i], v[i], lr, beta1, one_minus_beta1, beta2,
                one_minus_beta2, c1, c2, eps, l2_decay, decay_factor, False)
            _accumulate(acc, k, m[i], v[i], c1_stats, c2_stats, u)
    else:
        for k in range(b - a):
            i = np.uint64(a + k)
            theta[i], m[i], v[i], _, _ = _adam_element(
                theta[i], g[i], m[i], v[i], v[i], lr, beta1, one_minus_beta1, beta2,
                one_minus_beta2, c1, c2, eps, l2_decay, decay_factor, False)


@njit(**_JIT)
def _adam_chunk(c, theta, g, m, v, v_max, chunk_start, chunk_stop, chunk_slot, partial, lr,
                beta1, one_minus_beta1, beta2, one_minus_beta2, c1, c2, eps, l2_decay,
                decay_factor, amsgrad, c1_stats, c2_stats, compute_stats):
    """Chunk c: its blocks in order, then its lane sums into partial[c] (when tracked)."""
    stats = compute_stats and chunk_slot[c] >= 0
    lanes = BLOCK if stats else 1
    acc = np.zeros((N_SUMS, lanes), dtype=theta.dtype)  # per-lane sums: the loop vectorizes
    block = BLOCK if stats else chunk_stop[c] - chunk_start[c]  # no lanes: one block
    for a in range(chunk_start[c], chunk_stop[c], max(block, 1)):
        b = min(a + block, chunk_stop[c])
        _adam_block(theta, g, m, v, v_max, acc, a, b, lr, beta1,
                    one_minus_beta1, beta2, one_minus_beta2, c1, c2, eps, l2_decay,
                    decay_factor, amsgrad, c1_stats, c2_stats, stats)
    if stats:
        _store_partial(acc, partial, c)


@njit(parallel=True, **_JIT)
def adam_step_kernel(theta, g, m, v, v_max, chunk_start, chunk_stop, chunk_slot, partial, sums,
                     lr, beta1, one_minus_beta1, beta2, one_minus_beta2, c1, c2, eps,
                     l2_decay, decay_factor, amsgrad, c1_stats, c2_stats, compute_stats,
                     parallel):
    """One Adam step in place over the flat buffers (see :class:`~numpy_adam.optim.Adam`).

    theta, g, m, v: (P,) arrays of one float dtype; v_max: (P,) if ``amsgrad``, else (0,)
    lr, beta1, one_minus_beta1, beta2, one_minus_beta2, eps: scalars of that dtype
    c1 = 1/(1−β1^t), c2 = 1/(1−β2^t): that dtype; c1_stats, c2_stats: the same in float64
    l2_decay: λ if L2 decay else 0; decay_factor: 1 − αλ if decoupled decay else 1 (that dtype)
    amsgrad, compute_stats: bools; parallel: chunks over threads (prange) or in order on
    the calling thread (small buffers, where waking threads costs more than the work)
    partial: (n_chunks, N_SUMS) float64 scratch; sums: (L, N_SUMS) float64 output

    Per element:   g ← g + λθ (L2)             θ ← (1 − αλ)θ (decoupled)
                   m ← β1 m + (1−β1) g         v ← β2 v + (1−β2) g²
                   v_max ← max(v_max, v) and v̄ = v_max (amsgrad), else v̄ = v
                   u = (c1 m)/(√(c2 v̄) + ε)     θ ← θ − α u
    Statistics use m, v (not v_max) and |u|.
    """
    if parallel:
        for c in prange(chunk_start.shape[0]):
            _adam_chunk(c, theta, g, m, v, v_max, chunk_start, chunk_stop, chunk_slot, partial,
                        lr, beta1, one_minus_beta1, beta2, one_minus_beta2, c1, c2, eps,
                        l2_decay, decay_factor, amsgrad, c1_stats, c2_stats, compute_stats)
    else:
        for c in range(chunk_start.shape[0]):
            _adam_chunk(c, theta, g, m, v, v_max, chunk_start, chunk_stop, chunk_slot, partial,
                        lr, beta1, one_minus_beta1, beta2, one_minus_beta2, c1, c2, eps,
                        l2_decay, decay_factor, amsgrad, c1_stats, c2_stats, compute_stats)
    if compute_stats:
        _reduce_partials(partial, chunk_slot, sums)


# -- SGD ---------------------------------------------------------------------------------

@njit(**_JIT)
def _sgd_block(theta, g, b, probe_m, probe_v, acc, lr, momentum, one_minus_dampening, l2_decay,
               use_momentum, first_step, nesterov, has_probe, probe_beta1,
               probe_one_minus_beta1, probe_beta2, probe_one_minus_beta2, c1_stats, c2_stats,
               stats, a, e):
    """Update elements [a, e) of SGD and its probe in place (indices as in _adam_block)."""
    for k in range(e - a):
        i = np.uint64(a + k)  # as in _adam_block
        d = g[i] + l2_decay * theta[i]                               # d_t ← g_t + λ θ_{t−1}
        u = d
        if use_momentum:
            bi = d if first_step else momentum * b[i] + one_minus_dampening * d  # b_t
            b[i] = bi
            u = d + momentum * bi if nesterov else bi                # u_t
        theta[i] = theta[i] - lr * u                                 # θ_t = θ_{t−1} − α u_t
        if has_probe:
            mi = probe_beta1 * probe_m[i] + probe_one_minus_beta1 * d      # m_p,t
            vi = probe_beta2 * probe_v[i] + probe_one_minus_beta2 * d * d  # v_p,t
            probe_m[i] = mi
            probe_v[i] = vi
            if stats:
                _accumulate(acc, k, mi, vi, c1_stats, c2_stats, u)
        elif stats:
            acc[SUM_UPDATE, k] += abs(u)


@njit(**_JIT)
def _sgd_chunk(c, theta, g, b, probe_m, probe_v, chunk_start, chunk_stop, chunk_slot, partial,
               lr, momentum, one_minus_dampening, l2_decay, use_momentum, first_step, nesterov,
               has_probe, probe_beta1, probe_one_minus_beta1, probe_beta2,
               probe_one_minus_beta2, c1_stats, c2_stats, compute_stats):
    """Chunk c: its blocks in order, then its lane sums into partial[c] (when tracked)."""
    stats = compute_stats and chunk_slot[c] >= 0
    lanes = BLOCK if stats else 1
    acc = np.zeros((N_SUMS, lanes), dtype=theta.dtype)  # per-lane sums, as in _adam_chunk
    block = BLOCK if stats else chunk_stop[c] - chunk_start[c]  # no lanes: one block
    for a in range(chunk_start[c], chunk_stop[c], max(block, 1)):
        e = min(a + block, chunk_stop[c])
        _sgd_block(theta, g, b, probe_m, probe_v, acc, lr,
                   momentum, one_minus_dampening, l2_decay, use_momentum, first_step,
                   nesterov, has_probe, probe_beta1, probe_one_minus_beta1, probe_beta2,
                   probe_one_minus_beta2, c1_stats, c2_stats, stats, a, e)
    if stats:
        _store_partial(acc, partial, c)


@njit(parallel=True, **_JIT)
def sgd_step_kernel(theta, g, b, probe_m, probe_v, chunk_start, chunk_stop, chunk_slot, partial,
                    sums, lr, momentum, one_minus_dampening, l2_decay, use_momentum, first_step,
                    nesterov, has_probe, probe_beta1, probe_one_minus_beta1, probe_beta2,
                    probe_one_minus_beta2, c1_stats, c2_stats, compute_stats, parallel):
    """One SGD step (and probe update) in place (see :class:`~numpy_adam.optim.SGD`).

    theta, g: (P,); b: (P,) momentum buffer if ``use_momentum`` else (0,); probe_m, probe_v:
    (P,) if ``has_probe`` else (0,); scalars lr, momentum (μ), one_minus_dampening (1−τ),
    l2_decay (λ, 0 without decay) and the probe's β's in the arrays' dtype; c1_stats,
    c2_stats: the probe's bias corrections in float64; parallel: as in adam_step_kernel.

    Per element:   d ← g + λθ
                   b ← d on the first step, else b ← μ b + (1−τ) d        (use_momentum)
                   u = d + μ b (nesterov), b (momentum), d (plain)       θ ← θ − α u
    Probe:         m_p ← β1 m_p + (1−β1) d,  v_p ← β2 v_p + (1−β2) d²
    Statistics use m_p, v_p and |u|; without a probe only Σ|u| is accumulated.
    """
    if parallel:
        for c in prange(chunk_start.shape[0]):
            _sgd_chunk(c, theta, g, b, probe_m, probe_v, chunk_start, chunk_stop, chunk_slot,
                       partial, lr, momentum, one_minus_dampening, l2_decay, use_momentum,
                       first_step, nesterov, has_probe, probe_beta1, probe_one_minus_beta1,
                       probe_beta2, probe_one_minus_beta2, c1_stats, c2_stats, compute_stats)
    else:
        for c in range(chunk_start.shape[0]):
            _sgd_chunk(c, theta, g, b, probe_m, probe_v, chunk_start, chunk_stop, chunk_slot,
                       partial, lr, momentum, one_minus_dampening, l2_decay, use_momentum,
                       first_step, nesterov, has_probe, probe_beta1, probe_one_minus_beta1,
                       probe_beta2, probe_one_minus_beta2, c1_stats, c2_stats, compute_stats)
    if compute_stats:
        _reduce_partials(partial, chunk_slot, sums)


@njit(**_JIT)
def _count_nonfinite_range(x, a, b):
    """Number of NaN/±Inf among x[a:b] (|x| < ∞ is False exactly for those; a comparison, so
    no floating-point warning when run as Python). An int32 count of 0/1 terms, summed without
    a branch, so the loop vectorizes (b − a < 2³¹)."""
    n = np.int32(0)
    for k in range(b - a):
        i = np.uint64(a + k)  # as in _adam_block
        n += np.int32(not abs(x[i]) < np.inf)
    return n


@njit(parallel=True, **_JIT)
def count_nonfinite(x, parallel):
    """Number of NaN/±Inf entries of the 1-D array ``x``, counted in CHUNK_SIZE pieces (over
    threads when ``parallel``). One read of x: 0.14 ns per element here (one thread, in
    cache), against 0.22 ns for a per-element branch into one int64 total."""
    size = x.shape[0]
    n_chunks = (size + CHUNK_SIZE - 1) // CHUNK_SIZE
    n = 0
    if parallel:
        for c in prange(n_chunks):
            n += _count_nonfinite_range(x, c * CHUNK_SIZE, min((c + 1) * CHUNK_SIZE, size))
    else:
        for c in range(n_chunks):
            n += _count_nonfinite_range(x, c * CHUNK_SIZE, min((c + 1) * CHUNK_SIZE, size))
    return n
