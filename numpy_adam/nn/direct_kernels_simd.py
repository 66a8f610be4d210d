"""Register-blocked float32 twins of :mod:`~numpy_adam.nn.direct_kernels`, equations (1), (2).

The plain kernels add each shifted input row into the output rows in memory: every
multiply-add loads and stores its sum, so they run at the speed of the L1 cache, not of the
multiply-add units. These twins keep the sums in registers (eight-lane values of
:mod:`~numpy_adam.nn.simd`) for a whole block and touch memory once per block:

    correlate_rows_simd          a block = 4 output channels × 32 wide positions: 16 vector
                                 sums; per tap (c, u, v), 4 loads of x and 4 broadcast
                                 weights feed 16 fused multiply-adds
    correlate_weight_grad_simd   a block = 4 output channels × 4 taps: 16 vector sums over
                                 a chunk of images; per 8 positions, 4 loads of dy and 4
                                 of x feed 16 fused multiply-adds

Same arguments and results as the plain kernels, with three requirements the caller
(:class:`~numpy_adam.nn.fast_direct_conv.DirectChannelMajorConv2d`) meets by padding its
buffers: float32 arrays, C-contiguous; the number of output channels a multiple of 4; the
wide length a multiple of ROW_BLOCK (32). Nothing is bounds-checked: a caller that breaks
these reads or writes past its arrays. correlate_rows_simd adds the taps in the plain
kernel's order, one fused multiply-add each, so the two agree bit for bit;
correlate_weight_grad_simd sums in lanes, so it agrees to float32 rounding. For a given input
both give the same bits on every run and every thread count (fixed blocks and chunks).
Tested against the plain kernels in tests/nn/test_direct_conv.py.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

from .simd import fma8, hsum8, load8, splat8, store8

CHANNEL_BLOCK = 4  # output channels per block (both kernels)
ROW_BLOCK = 32     # wide positions per block of correlate_rows_simd: 4 vectors of 8


@njit(parallel=True, cache=True, nogil=True)
def correlate_rows_simd(x_wide, weight, bias, row_width, y_wide):
    """Equation (1): y_wide[o, n, i] = bias[o] + Σ_{c,u,v} weight[o,c,u,v]·x_wide[c, n, i + u·W_p + v].

    x_wide (C, N, L_x) with L_x ≥ L + (k_h − 1)·W_p + k_w − 1;  weight (O, C, k_h, k_w),
    O % 4 == 0;  bias (O,);  y_wide (O, N, L) output, L % 32 == 0. All float32.
    """
    n_out, n_in, kh, kw = weight.shape
    n_img, length = x_wide.shape[1], y_wide.shape[2]
    n_blocks, n_tiles = n_out // CHANNEL_BLOCK, length // ROW_BLOCK
    for job in prange(n_img * n_blocks * n_tiles):
        n = job // (n_blocks * n_tiles)
        o = (job // n_tiles % n_blocks) * CHANNEL_BLOCK
        i = (job % n_tiles) * ROW_BLOCK
        b0, b1, b2, b3 = splat8(bias[o]), splat8(bias[o + 1]), splat8(bias[o + 2]), splat8(bias[o + 3])
        s00, s01, s02, s03 = b0, b0, b0, b0  # s{channel}{vector}: the block's 16 sums
        s10, s11, s12, s13 = b1, b1, b1, b1
        s20, s21, s22, s23 = b2, b2, b2, b2
        s30, s31, s32, s33 = b3, b3, b3, b3
        for c in range(n_in):
            for u in range(kh):
                for v in range(kw):
                    x_row = x_wide[c, n, i + u * row_width + v:]
                    x0, x1, x2, x3 = load8(x_row, 0), load8(x_row, 8), load8(x_row, 16), load8(x_row, 24)
                    w = splat8(weight[o, c, u, v])
                    s00, s01, s02, s03 = fma8(w, x0, s00), fma8(w, x1, s01), fma8(w, x2, s02), fma8(w, x3, s03)
                    w = splat8(weight[o + 1, c, u, v])
                    s10, s11, s12, s13 = fma8(w, x0, s10), fma8(w, x1, s11), fma8(w, x2, s12), fma8(w, x3, s13)
                    w = splat8(weight[o + 2, c, u, v])
                    s20, s21, s22, s23 = fma8(w, x0, s20), fma8(w, x1, s21), fma8(w, x2, s22), fma8(w, x3, s23)
                    w = splat8(weight[o + 3, c, u, v])
                    s30, s31, s32, s33 = fma8(w, x0, s30), fma8(w, x1, s31), fma8(w, x2, s32), fma8(w, x3, s33)
        _store_block(y_wide[o, n, i:], s00, s01, s02, s03)
        _store_block(y_wide[o + 1, n, i:], s10, s11, s12, s13)
        _store_block(y_wide[o + 2, n, i:], s20, s21, s22, s23)
        _store_block(y_wide[o + 3, n, i:], s30, s31, s32, s33)


@njit(cache=True, nogil=True, inline="always")
def _store_block(y_row, t0, t1, t2, t3):
    """y_row[0:32] = the four vectors t0..t3."""
    store8(y_row, 0, t0)
    store8(y_row, 8, t1)
    store8(y_row, 16, t2)
    store8(y_row, 24, t3)


@njit(cache=True, nogil=True, inline="always")
def _tap(q, taps, kh, kw):
    """Tap number min(q, taps − 1) as (c, u, v): a block's taps past the last repeat it."""
    q = min(q, taps - 1)
    return q // (kh * kw), q // kw % kh, q % kw


@njit(parallel=True, cache=True, nogil=True)
def correlate_weight_grad_simd(x_wide, dy_wide, start, length, row_width, kh, kw, partial):
    """Equation (2), in partial.shape[0] fixed chunks of the batch (as the plain kernel):
    partial[t, o, c, u, v] = Σ_{n in chunk t} Σ_{i<L} dy_wide[o, n, start + i]·x_wide[c, n, i + u·W_p + v].

    x_wide (C, N, L_x);  dy_wide (O, N, L_dy), O % 4 == 0;  length L % 8 == 0;
    partial (chunks, O, C, k_h, k_w) output. All float32.

    A block is 4 output channels × 4 taps (c, u, v): 16 vector sums over the chunk's images
    and positions, reduced across lanes once per block; per 8 positions, 4 loads of dy and
    4 of x feed 16 fused multiply-adds. (A chunk of a few images keeps the block's rows of
    dy and x in the L1 cache while every group of taps reads them.)
    """
    n_chunks = partial.shape[0]
    n_out, n_img = dy_wide.shape[0], dy_wide.shape[1]
    taps = x_wide.shape[0] * kh * kw
    z = splat8(np.float32(0))
    for t in prange(n_chunks):
        first, last = t * n_img // n_chunks, (t + 1) * n_img // n_chunks
        for o in range(0, n_out, CHANNEL_BLOCK):
            for q in range(0, taps, 4):
                ca, ua, va = _tap(q, taps, kh, kw)
                cb, ub, vb = _tap(q + 1, taps, kh, kw)
                cc, uc, vc = _tap(q + 2, taps, kh, kw)
                cd, ud, vd = _tap(q + 3, taps, kh, kw)
                s0a, s1a, s2a, s3a = z, z, z, z  # s{channel}{tap}
                s0b, s1b, s2b, s3b = z, z, z, z
                s0c, s1c, s2c, s3c = z, z, z, z
                s0d, s1d, s2d, s3d = z, z, z, z
                for n in range(first, last):
                    d0, d1 = dy_wide[o, n, start:], dy_wide[o + 1, n, start:]
                    d2, d3 = dy_wide[o + 2, n, start:], dy_wide[o + 3, n, start:]
                    xa = x_wide[ca, n, ua * row_width + va:]
                    xb = x_wide[cb, n, ub * row_width + vb:]
                    xc = x_wide[cc, n, uc * row_width + vc:]
                    xd = x_wide[cd, n, ud * row_width + vd:]
                    for i in range(0, length, 8):
                        g0, g1, g2, g3 = load8(d0, i), load8(d1, i), load8(d2, i), load8(d3, i)
                        x = load8(xa, i)
                        s0a, s1a, s2a, s3a = fma8(g0, x, s0a), fma8(g1, x, s1a), fma8(g2, x, s2a), fma8(g3, x, s3a)
                        x = load8(xb, i)
                        s0b, s1b, s2b, s3b = fma8(g0, x, s0b), fma8(g1, x, s1b), fma8(g2, x, s2b), fma8(g3, x, s3b)
                        x = load8(xc, i)
                        s0c, s1c, s2c, s3c = fma8(g0, x, s0c), fma8(g1, x, s1c), fma8(g2, x, s2c), fma8(g3, x, s3c)
                        x = load8(xd, i)
                        s0d, s1d, s2d, s3d = fma8(g0, x, s0d), fma8(g1, x, s1d), fma8(g2, x, s2d), fma8(g3, x, s3d)
                # taps past the last (q + j ≥ taps) repeat the last tap: written again, same value
                _store_sums(partial, t, o, cd, ud, vd, s0d, s1d, s2d, s3d)
                _store_sums(partial, t, o, cc, uc, vc, s0c, s1c, s2c, s3c)
                _store_sums(partial, t, o, cb, ub, vb, s0b, s1b, s2b, s3b)
                _store_sums(partial, t, o, ca, ua, va, s0a, s1a, s2a, s3a)


@njit(cache=True, nogil=True, inline="always")
def _store_sums(partial, t, o, c, u, v, s0, s1, s2, s3):
    """partial[t, o + k, c, u, v] = the lane sum of s_k, for the block's 4 channels."""
    partial[t, o, c, u, v] = hsum8(s0)
    partial[t, o + 1, c, u, v] = hsum8(s1)
    partial[t, o + 2, c, u, v] = hsum8(s2)
    partial[t, o + 3, c, u, v] = hsum8(s3)
