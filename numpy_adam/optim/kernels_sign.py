"""Fused Numba kernels of the sign family (signSGD, Signum, Lion) and of M-SVAG.

What a kernel computes is its optimizer's algorithm box, written out in NumPy by
:func:`~.sign.sign_sgd_update`, :func:`~.sign.signum_update`, :func:`~.lion.lion_update`,
:func:`~.msvag.msvag_update` and :func:`~.probe.probe_update` (the tests hold the kernels to
them) and, for the statistics, :func:`~.stats.spread_stats`. The design is :mod:`.kernels`'
(read its docstring): chunks that never cross a tensor, ``prange`` over chunks for large
buffers, statistics in BLOCK lanes of the state dtype through its ``_accumulate``, summed in a
fixed order (deterministic whatever the thread count), unsigned indices, ``error_model="numpy"``,
``cache=True`` and no fastmath. One step reads θ, g and the state once and writes them once.

One kernel serves the three sign methods, because they are one algorithm with other constants
(:class:`~.sign.SignScalars`):

    d = ±g + λ_L2 θ;  θ ← κ θ;  c = β1 m + (1 − β1) d;  m ← β2 m + (1 − β2) d;  θ ← θ − α sign(c)

Lion: its β1, β2, λ_L2 = 0, κ = 1 − αλ. Signum: β1 = β2 = β, so c is m_t itself (the same
expression evaluated twice gives the same bits), κ = 1. signSGD: no memory, c = d. ``np.sign``
is 0 at 0 (as ``torch.sign``) and compiles to selects, not branches.

Under ``NUMBA_DISABLE_JIT=1`` these functions run as plain Python with NumPy scalars and give
the same results (slowly).

Numba's on-disk cache (``cache=True``) checks only this file's own time stamp, not the files it
imports from: after a change to :mod:`.kernels`' shared functions or to the statistics columns
of :mod:`.stats` (``N_SUMS``, ``SUM_UPDATE``), a stale compiled kernel of this file would be
loaded with the old layout. Change this file too (its time stamp is enough) or clear
``__pycache__``.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .kernels import (_JIT, _accumulate, _lanes, _probe_and_stats, _reduce_partials,
                      _store_partial, as_dtype_of)

# -- signSGD, Signum, Lion ---------------------------------------------------------------


@njit(**_JIT)
def _sign_block(theta, g, m, probe_m, probe_v, acc, s, p, stats, a, e):
    """Update elements [a, e) of a sign method and its probe (:func:`~.probe.probe_update`) in
    place; element a + k adds its statistics to lane k. Indices as in kernels._adam_block."""
    for k in range(e - a):
        i = np.uint64(a + k)  # unsigned index: no negative-index wraparound, so it vectorizes
        d = s.grad_sign * g[i] + s.l2_decay * theta[i]          # d_t ← ±g_t + λ θ_{t−1} (L2)
        c = d                                                   # signSGD: c_t = d_t
        if s.use_memory:
            c = s.beta1 * m[i] + s.one_minus_beta1 * d          # c_t = β1 m_{t−1} + (1 − β1) d_t
            m[i] = s.beta2 * m[i] + s.one_minus_beta2 * d       # m_t = β2 m_{t−1} + (1 − β2) d_t
        u = np.sign(c)                                          # u_t = sign(c_t)
        theta[i] = theta[i] * s.decay_factor - s.lr * u         # θ_t = κ θ_{t−1} − α u_t
        _probe_and_stats(probe_m, probe_v, acc, i, k, d, u, p, stats)


@njit(**_JIT)
def _sign_chunk(c, theta, g, m, probe_m, probe_v, chunks, s, p, compute_stats):
    """Chunk c: its blocks in order, then its lane sums into partial[c] (when tracked)."""
    stats, block, acc = _lanes(chunks, c, compute_stats, theta)
    for a in range(chunks.start[c], chunks.stop[c], block):
        _sign_block(theta, g, m, probe_m, probe_v, acc, s, p, stats, a,
                    min(a + block, chunks.stop[c]))
    if stats:
        _store_partial(acc, chunks.partial, c)


@njit(parallel=True, **_JIT)
def sign_step_kernel(theta, g, m, probe_m, probe_v, chunks, scalars, probe, compute_stats,
                     parallel):
    """One signSGD, Signum or Lion step and probe update in place, in one pass.

    theta, g: (P,); m: (P,) memory if ``scalars.use_memory`` else (0,);
    probe_m, probe_v: (P,) if ``probe.active`` else (0,)
    scalars: :class:`~.sign.SignScalars` (from :func:`~.sign.sign_sgd_scalars`,
             :func:`~.sign.signum_scalars` or :func:`~.lion.lion_scalars`);
    probe:   :class:`~.probe.ProbeScalars` of step t
    chunks, compute_stats, parallel: as in :func:`~.kernels.adam_step_kernel`. Statistics use
    the probe's m, v and |u|; without a probe only Σ|u| is accumulated.
    """
    if parallel:
        for c in prange(chunks.start.shape[0]):
            _sign_chunk(c, theta, g, m, probe_m, probe_v, chunks, scalars, probe, compute_stats)
    else:
        for c in range(chunks.start.shape[0]):
            _sign_chunk(c, theta, g, m, probe_m, probe_v, chunks, scalars, probe, compute_stats)
    if compute_stats:
        _reduce_partials(chunks)


# -- M-SVAG ------------------------------------------------------------------------------

@njit(**_JIT)
def _msvag_element(theta, g, m, v, s):
    """One element of the M-SVAG box (:func:`~.msvag.msvag_update`); returns θ_t, m_t, v_t, u_t.
    ``s`` is the step's MSVAGScalars. The two guards are selects: σ̂² = max(v̂ − m̂², 0) and
    r = 0 where m̂² + κσ̂² = 0 (then m̂ = 0: nothing to scale)."""
    zero = as_dtype_of(0.0, theta)
    d = s.grad_sign * g + s.l2_decay * theta                    # g_t ← ±g_t + λ θ_{t−1}
    m = s.beta * m + s.one_minus_beta * d                       # m_t
    v = s.beta * v + s.one_minus_beta * d * d                   # v_t
    m_hat = s.c * m                                             # m̂_t
    m2 = m_hat * m_hat
    var = s.c * v - m2                                          # v̂_t − m̂_t²
    var = var if var > zero else zero                           # σ̂_t² (clamped at 0)
    denom = m2 + s.kappa * var                                  # m̂² + ρ s = m̂² + κ σ̂²
    r = m2 / denom if denom > zero else zero                    # r_t, 0 for 0/0
    u = r * m_hat                                               # u_t = r_t m̂_t
    return theta - s.lr * u, m, v, u                            # θ_t = θ_{t−1} − α u_t


@njit(**_JIT)
def _msvag_block(theta, g, m, v, acc, a, e, s, stats):
    """Update elements [a, e) in place; with ``stats`` element a + k adds its terms (M-SVAG's
    own m̂ = c m, v̂ = c v) to lane k."""
    if stats:  # two loops that differ only in what they touch, so each one vectorizes
        for k in range(e - a):
            i = np.uint64(a + k)
            theta[i], m[i], v[i], u = _msvag_element(theta[i], g[i], m[i], v[i], s)
            _accumulate(acc, k, m[i], v[i], s.c_stats, s.c_stats, u)
    else:
        for k in range(e - a):
            i = np.uint64(a + k)
            theta[i], m[i], v[i], _ = _msvag_element(theta[i], g[i], m[i], v[i], s)


@njit(**_JIT)
def _msvag_chunk(c, theta, g, m, v, chunks, s, compute_stats):
    """Chunk c: its blocks in order, then its lane sums into partial[c] (when tracked)."""
    stats, block, acc = _lanes(chunks, c, compute_stats, theta)
    for a in range(chunks.start[c], chunks.stop[c], block):
        _msvag_block(theta, g, m, v, acc, a, min(a + block, chunks.stop[c]), s, stats)
    if stats:
        _store_partial(acc, chunks.partial, c)


@njit(parallel=True, **_JIT)
def msvag_step_kernel(theta, g, m, v, chunks, scalars, compute_stats, parallel):
    """One M-SVAG step in place over the flat buffers: :func:`~.msvag.msvag_update` in one pass.

    theta, g, m, v: (P,) arrays of one float dtype
    scalars: the step's :class:`~.msvag.MSVAGScalars` (from :func:`~.msvag.msvag_scalars`)
    chunks, compute_stats, parallel: as in :func:`~.kernels.adam_step_kernel`; statistics use
    M-SVAG's own m, v (bias-corrected by 1/(1 − β^t)) and |u|.
    """
    if parallel:
        for c in prange(chunks.start.shape[0]):
            _msvag_chunk(c, theta, g, m, v, chunks, scalars, compute_stats)
    else:
        for c in range(chunks.start.shape[0]):
            _msvag_chunk(c, theta, g, m, v, chunks, scalars, compute_stats)
    if compute_stats:
        _reduce_partials(chunks)
