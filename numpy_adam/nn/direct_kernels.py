"""Fast tier: a stride-1 convolution computed directly on zero-padded rows, without im2col.

Why. im2col copies every input value k_h·k_w times into a (C·k_h·k_w, N·H'·W') matrix
(41 MB for conv2 at batch 100), and its adjoint col2im reads such a matrix back: the
convolution then costs more in memory traffic than in arithmetic. This module computes
the same sums from the input itself.

The wide-row trick. Pad each (H, W) plane by (p_h, p_w) to (H_p, W_p) and lay it out as one
flat row of H_p·W_p values (plus k_w − 1 trailing zeros). For stride 1, output pixel (h, w)
reads input (h + u, w + v), i.e. flat index h·W_p + w + u·W_p + v. So with a *wide* output
of H'·W_p positions, i = h·W_p + w,

    y_wide[o, n, i] = b_o + Σ_{c,u,v} W[o, c, u, v] · x_wide[c, n, i + u·W_p + v]      (1)

is, for every shift (c, u, v), one long contiguous multiply-add (an axpy over i) that a
compiler vectorises. The columns w ≥ W' of the wide output are computed and thrown away
(k_w − 1 of every W_p: 20 % of the work at W = 16, k = 5); the rows are that long so the
loop needs no boundary tests.

The two gradients are the same kind of sum:

    ∂L/∂W[o, c, u, v] = Σ_{n,i} dy_wide[o, n, i] · x_wide[c, n, i + u·W_p + v]          (2)

with dy_wide zero in the thrown-away columns, and ∂L/∂x is (1) again, run on dy_wide with
the kernel flipped and its channels swapped, W'[c, o, u, v] = W[o, c, k_h−1−u, k_w−1−v],
over the padded grid, of which the interior is dx (:func:`input_grad_weights`). dy_wide
then needs (k_h − 1)·W_p + k_w − 1 leading zeros so that every shifted read is in bounds;
the shifted reads that wrap into the previous row land in thrown-away columns, which are 0.

These are the plain kernels, for any float dtype: each multiply-add reads and writes its
sum in memory. Their register-blocked float32 twins are in :mod:`.direct_kernels_simd`.
Kernels take arrays and scalars and write into arrays the caller allocates (the layout and
buffers are :class:`~numpy_adam.nn.fast_direct_conv.DirectChannelMajorConv2d`'s). Both are
parallel over independent blocks, with a fixed split, so results do not depend on the
thread count. Tested against the reference :class:`~numpy_adam.nn.conv.Conv2d` in float64
and float32 in tests/nn/test_fast_tier.py and tests/nn/test_direct_conv.py.
"""
from __future__ import annotations

import numpy as np
from numba import njit, prange

# output channels per parallel job of (1): their wide rows (8 × 1152 floats for conv1) stay
# in the L1/L2 cache while every shifted input row is read once per block
CHANNEL_BLOCK = 8
# (2) sums over the batch in fixed chunks of this many images, one partial ∂L/∂W each, added
# in order: parallel, and the same rounding whatever the number of threads; a chunk's rows
# of x and dy for one tap fit the L1 cache
IMAGES_PER_CHUNK = 4


@njit(parallel=True, cache=True, nogil=True, fastmath={"contract"})
def correlate_rows(x_wide, weight, bias, row_width, y_wide):
    """Equation (1) of the module doc.

    x_wide:  (C, N, L_x) flat zero-padded planes, L_x ≥ L + (k_h − 1)·W_p + k_w − 1
    weight:  (O, C, k_h, k_w);  bias: (O,)
    row_width: W_p, the padded plane's width
    y_wide:  (O, N, L) output, y_wide[o, n, i] = bias[o] + Σ weight[o,c,u,v]·x_wide[c, n, i + u·W_p + v]

    fastmath "contract" only: a multiply and its add become one fused multiply-add.
    """
    n_out, n_in, kh, kw = weight.shape
    n_img = x_wide.shape[1]
    length = y_wide.shape[2]
    n_blocks = (n_out + CHANNEL_BLOCK - 1) // CHANNEL_BLOCK
    for job in prange(n_img * n_blocks):
        n = job // n_blocks
        first = (job % n_blocks) * CHANNEL_BLOCK
        last = min(n_out, first + CHANNEL_BLOCK)
        for o in range(first, last):
            b = bias[o]
            for i in range(length):
                y_wide[o, n, i] = b
        for c in range(n_in):
            for u in range(kh):
                for v in range(kw):
                    # a view from the shift on: indexed by the loop counter alone, which
                    # the compiler knows is ≥ 0, so the loop vectorises
                    x_row = x_wide[c, n, u * row_width + v:]
                    for o in range(first, last):
                        w = weight[o, c, u, v]
                        y_row = y_wide[o, n]
                        for i in range(length):
                            y_row[i] += w * x_row[i]


@njit(parallel=True, cache=True, nogil=True, fastmath={"contract", "reassoc"})
def correlate_weight_grad(x_wide, dy_wide, start, length, row_width, kh, kw, partial):
    """Equation (2) of the module doc, in partial.shape[0] fixed chunks of the batch (the
    caller uses one per IMAGES_PER_CHUNK images).

    x_wide:  (C, N, L_x) the forward's flat zero-padded input
    dy_wide: (O, N, L_dy) with dy_wide[o, n, start + i] the wide output gradient for
             i < length (zero in thrown-away columns)
    partial: (chunks, O, C, k_h, k_w) output; partial[t] = Σ over chunk t's images of
             Σ_i dy_wide[o, n, start + i] · x_wide[c, n, i + u·W_p + v]

    Four output channels share each load of x (four dot products at once); fastmath
    "reassoc" lets the dot products be summed in vector lanes, "contract" fuses the
    multiply-adds.
    """
    n_chunks = partial.shape[0]
    n_out, n_img = dy_wide.shape[0], dy_wide.shape[1]
    n_in = x_wide.shape[0]
    zero = partial.dtype.type(0)
    for t in prange(n_chunks):
        partial[t] = 0
        for n in range(t * n_img // n_chunks, (t + 1) * n_img // n_chunks):
            for c in range(n_in):
                for u in range(kh):
                    for v in range(kw):
                        x_row = x_wide[c, n, u * row_width + v:]  # (view: see correlate_rows)
                        o = 0
                        while o + 4 <= n_out:
                            d0, d1 = dy_wide[o, n, start:], dy_wide[o + 1, n, start:]
                            d2, d3 = dy_wide[o + 2, n, start:], dy_wide[o + 3, n, start:]
                            a0, a1, a2, a3 = zero, zero, zero, zero
                            for i in range(length):
                                xv = x_row[i]
                                a0 += d0[i] * xv
                                a1 += d1[i] * xv
                                a2 += d2[i] * xv
                                a3 += d3[i] * xv
                            partial[t, o, c, u, v] += a0
                            partial[t, o + 1, c, u, v] += a1
                            partial[t, o + 2, c, u, v] += a2
                            partial[t, o + 3, c, u, v] += a3
                            o += 4
                        while o < n_out:
                            d0 = dy_wide[o, n, start:]
                            a0 = zero
                            for i in range(length):
                                a0 += d0[i] * x_row[i]
                            partial[t, o, c, u, v] += a0
                            o += 1


def input_grad_weights(weight: np.ndarray) -> np.ndarray:
    """W (O, C, k_h, k_w) → W' (C, O, k_h, k_w), W'[c, o, u, v] = W[o, c, k_h−1−u, k_w−1−v]:
    the kernel with which (1), run on dy_wide, gives ∂L/∂x (module doc)."""
    return np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
