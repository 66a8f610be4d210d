"""Fused Numba kernels of RMSprop and Adagrad: one pass over θ, g and the state per step.

What a kernel computes is its optimizer's algorithm box, written out in NumPy by
:func:`~.rmsprop.rmsprop_update`, :func:`~.adagrad.adagrad_update` and, for the optional spread
probe, :func:`~.probe.probe_update` (the tests hold the kernels to them). The design is
:mod:`.kernels`' (read its docstring first), and so are the shared pieces imported from it:
chunks that never cross a tensor walked with ``prange``, statistics terms added by
:func:`~.kernels._accumulate` into BLOCK lanes of the state dtype (:func:`~.kernels._lanes`),
each chunk's lanes summed in float64 in a fixed order (:func:`~.kernels._store_partial`) and the
chunks added in chunk order (:func:`~.kernels._reduce_partials`), so statistics are
deterministic whatever the thread count. Loops index the whole arrays with unsigned indices.

Statistics exactly as the SGD kernel: with a probe, the probe's m, v (updated here, from the
gradient g_t the optimizer uses, decay included) and this optimizer's own |u_t|; without one
only Σ|u_t| (the other sums stay 0 and :func:`~.stats.stats_from_sums` reports NaN).

Every scalar comes in one NamedTuple already cast to the state dtype (:class:`~.rmsprop.
RMSpropScalars`, :class:`~.adagrad.AdagradScalars`, :class:`~.probe.ProbeScalars`); unused
state arrays are passed as empty (0,) arrays and never read.

Numba's on-disk cache (``cache=True``) checks only this file's own time stamp, not the files it
imports from: after a change to :mod:`.kernels`' shared functions or to the statistics columns
of :mod:`.stats` (``N_SUMS``, ``SUM_UPDATE``), a stale compiled kernel of this file would be
loaded with the old layout. Change this file too (its time stamp is enough) or clear
``__pycache__``.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import _JIT, _lanes, _probe_and_stats, _reduce_partials, _store_partial


# -- RMSprop -----------------------------------------------------------------------------

@njit(**_JIT)
def _rmsprop_block(theta, g, v, g_avg, b, probe_m, probe_v, acc, s, p, stats, a, e):
    """Update elements [a, e) of RMSprop (:func:`~.rmsprop.rmsprop_update`) and its probe in
    place; with ``stats`` (e − a ≤ BLOCK) element a + k adds its terms to lane k."""
    for k in range(e - a):
        i = np.uint64(a + k)  # unsigned index: no negative-index wraparound, so it vectorizes
        d = s.grad_sign * g[i] + s.l2_decay * theta[i]            # g_t ← ±g_t + λ θ_{t−1}
        vi = s.alpha * v[i] + s.one_minus_alpha * d * d           # v_t
        v[i] = vi
        if s.centered:
            gi = s.alpha * g_avg[i] + s.one_minus_alpha * d       # ḡ_t
            g_avg[i] = gi
            denom = np.sqrt(vi - gi * gi) + s.eps                 # D_t = √(v_t − ḡ_t²) + ε
        else:
            denom = np.sqrt(vi) + s.eps                           # D_t = √v_t + ε
        u = d / denom                                             # g_t/D_t
        if s.use_momentum:
            u = s.momentum * b[i] + u                             # b_t = μ b_{t−1} + g_t/D_t
            b[i] = u
        theta[i] = theta[i] - s.lr * u                            # θ_t = θ_{t−1} − η u_t
        _probe_and_stats(probe_m, probe_v, acc, i, k, d, u, p, stats)


@njit(**_JIT)
def _rmsprop_chunk(c, theta, g, v, g_avg, b, probe_m, probe_v, chunks, s, p, compute_stats):
    """Chunk c: its blocks in order, then its lane sums into partial[c] (when tracked)."""
    stats, block, acc = _lanes(chunks, c, compute_stats, theta)
    for a in range(chunks.start[c], chunks.stop[c], block):
        _rmsprop_block(theta, g, v, g_avg, b, probe_m, probe_v, acc, s, p, stats, a,
                       min(a + block, chunks.stop[c]))
    if stats:
        _store_partial(acc, chunks.partial, c)


@njit(parallel=True, **_JIT)
def rmsprop_step_kernel(theta, g, v, g_avg, b, probe_m, probe_v, chunks, scalars, probe,
                        compute_stats, parallel):
    """One RMSprop step and probe update in place: :func:`~.rmsprop.rmsprop_update` and
    :func:`~.probe.probe_update` in one pass.

    theta, g, v: (P,); g_avg: (P,) if ``scalars.centered`` else (0,); b: (P,) momentum buffer
    if ``scalars.use_momentum`` else (0,); probe_m, probe_v: (P,) if ``probe.active`` else (0,)
    chunks:  :class:`~.kernels.Chunks` of the buffer; the statistics land in ``chunks.sums``
    scalars: :class:`~.rmsprop.RMSpropScalars`; probe: :class:`~.probe.ProbeScalars` of step t
    compute_stats, parallel: as in :func:`~.kernels.adam_step_kernel`
    """
    if parallel:
        for c in prange(chunks.start.shape[0]):
            _rmsprop_chunk(c, theta, g, v, g_avg, b, probe_m, probe_v, chunks, scalars, probe,
                           compute_stats)
    else:
        for c in range(chunks.start.shape[0]):
            _rmsprop_chunk(c, theta, g, v, g_avg, b, probe_m, probe_v, chunks, scalars, probe,
                           compute_stats)
    if compute_stats:
        _reduce_partials(chunks)


# -- Adagrad -----------------------------------------------------------------------------

@njit(**_JIT)
def _adagrad_block(theta, g, state_sum, probe_m, probe_v, acc, s, p, stats, a, e):
    """Update elements [a, e) of Adagrad (:func:`~.adagrad.adagrad_update`) and its probe in
    place; indices and lanes as in _rmsprop_block."""
    for k in range(e - a):
        i = np.uint64(a + k)  # as in _rmsprop_block
        d = s.grad_sign * g[i] + s.l2_decay * theta[i]            # g_t ← ±g_t + λ θ_{t−1}
        si = state_sum[i] + d * d                                 # s_t = s_{t−1} + g_t²
        state_sum[i] = si
        u = d / (np.sqrt(si) + s.eps)                             # u_t = g_t/(√s_t + ε)
        theta[i] = theta[i] - s.lr * u                            # θ_t = θ_{t−1} − α_t u_t
        _probe_and_stats(probe_m, probe_v, acc, i, k, d, u, p, stats)


@njit(**_JIT)
def _adagrad_chunk(c, theta, g, state_sum, probe_m, probe_v, chunks, s, p, compute_stats):
    """Chunk c: its blocks in order, then its lane sums into partial[c] (when tracked)."""
    stats, block, acc = _lanes(chunks, c, compute_stats, theta)
    for a in range(chunks.start[c], chunks.stop[c], block):
        _adagrad_block(theta, g, state_sum, probe_m, probe_v, acc, s, p, stats, a,
                       min(a + block, chunks.stop[c]))
    if stats:
        _store_partial(acc, chunks.partial, c)


@njit(parallel=True, **_JIT)
def adagrad_step_kernel(theta, g, state_sum, probe_m, probe_v, chunks, scalars, probe,
                        compute_stats, parallel):
    """One Adagrad step and probe update in place: :func:`~.adagrad.adagrad_update` and
    :func:`~.probe.probe_update` in one pass.

    theta, g, state_sum: (P,); probe_m, probe_v: (P,) if ``probe.active`` else (0,)
    scalars: :class:`~.adagrad.AdagradScalars` of step t (its ``lr`` is the decayed α_t);
    probe: :class:`~.probe.ProbeScalars` of step t
    chunks, compute_stats, parallel: as in :func:`~.kernels.adam_step_kernel`
    """
    if parallel:
        for c in prange(chunks.start.shape[0]):
            _adagrad_chunk(c, theta, g, state_sum, probe_m, probe_v, chunks, scalars, probe,
                           compute_stats)
    else:
        for c in range(chunks.start.shape[0]):
            _adagrad_chunk(c, theta, g, state_sum, probe_m, probe_v, chunks, scalars, probe,
                           compute_stats)
    if compute_stats:
        _reduce_partials(chunks)
