"""im2col / col2im: sliding windows as a matrix, and the scatter-add that undoes it.

A 2-D sliding window of size (kh, kw), stride (sh, sw) and zero padding (ph, pw) over an
NCHW input x (N, C, H, W) visits H' × W' positions, with

    H' = (H + 2·ph − kh) // sh + 1,        W' = (W + 2·pw − kw) // sw + 1.

``im2col`` gathers every window into one array

    cols[c, u, v, n, i, j] = x_pad[n, c, i·sh + u, j·sw + v]        (C, kh, kw, N, H', W')

so that a convolution is one GEMM with cols reshaped to (C·kh·kw, N·H'·W'), and a max-pool
is a reduction over the (kh, kw) axes with cols reshaped to (C, kh·kw, N, H', W'). The
(u, v) axes come before (n, i, j) so each kernel offset fills one contiguous block.

``col2im`` is the adjoint (transpose) of ``im2col``: given dcols of the same shape it
returns

    dx[n, c, h, w] = Σ_{u, v, i, j : i·sh + u − ph = h,  j·sw + v − pw = w} dcols[c, u, v, n, i, j],

i.e. each column entry is added back to the input pixel it was read from. With stride <
kernel the windows overlap and a pixel receives several contributions; they are summed.

Both loop in Python over the kh·kw kernel offsets only (never over pixels): for a fixed
(u, v) the pixels read, x_pad[:, :, u : u + sh·H' : sh, v : v + sw·W' : sw], are distinct,
so a plain strided ``+=`` is an exact scatter-add without ``np.add.at``.
"""
from __future__ import annotations

import numpy as np


def output_size(size: int, kernel: int, stride: int, padding: int, layer: str, axis: str) -> int:
    """Number of window positions along one axis: (size + 2·padding − kernel) // stride + 1.

    Raises ``ValueError`` naming ``layer`` when the padded input is smaller than the kernel.
    """
    padded = size + 2 * padding
    if padded < kernel:
        raise ValueError(f"{layer}: input {axis} {size} (padded: {padded}) is smaller than the "
                         f"kernel {axis} {kernel}; the output would be empty")
    return (padded - kernel) // stride + 1


def output_shape(input_shape: tuple[int, int, int, int], kernel_size: tuple[int, int],
                 stride: tuple[int, int], padding: tuple[int, int],
                 layer: str) -> tuple[int, int]:
    """(H', W') of a sliding window over an input of shape (N, C, H, W)."""
    _, _, height, width = input_shape
    out_h = output_size(height, kernel_size[0], stride[0], padding[0], layer, "height")
    out_w = output_size(width, kernel_size[1], stride[1], padding[1], layer, "width")
    return out_h, out_w


def im2col(x: np.ndarray, kernel_size: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int], layer: str = "im2col") -> np.ndarray:
    """Gather every (kh, kw) window of the zero-padded input into one array.

    Inputs
        x:           (N, C, H, W) float array
        kernel_size: (kh, kw)
        stride:      (sh, sw)
        padding:     (ph, pw) zeros added on each side of H and W
        layer:       name used in error messages

    Output
        cols: (C, kh, kw, N, H', W'), same dtype as x, with
              cols[c, u, v, n, i, j] = x_pad[n, c, i·sh + u, j·sw + v]
    """
    n, c, _, _ = x.shape
    kh, kw = kernel_size
    sh, sw = stride
    ph, pw = padding
    out_h, out_w = output_shape(x.shape, kernel_size, stride, padding, layer)
    if ph or pw:
        x = np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))  # (N, C, H + 2ph, W + 2pw)
    x_c = x.transpose(1, 0, 2, 3)  # (C, N, Hp, Wp): a view; each copy below reads it strided
    cols = np.empty((c, kh, kw, n, out_h, out_w), dtype=x.dtype)
    for u in range(kh):
        for v in range(kw):
            # pixels (i·sh + u, j·sw + v) for i < H', j < W'
            cols[:, u, v] = x_c[:, :, u:u + sh * out_h:sh, v:v + sw * out_w:sw]  # (C, N, H', W')
    return cols


def col2im(cols: np.ndarray, input_shape: tuple[int, int, int, int],
           kernel_size: tuple[int, int], stride: tuple[int, int],
           padding: tuple[int, int]) -> np.ndarray:
    """Scatter-add columns back onto the input grid: the adjoint of :func:`im2col`.

    Inputs
        cols:        (C, kh, kw, N, H', W') gradients with respect to im2col's output
        input_shape: (N, C, H, W) of the unpadded input
        kernel_size, stride, padding: as given to :func:`im2col`

    Output
        dx: (N, C, H, W), same dtype as cols, with
            dx[n, c, h, w] = Σ over all (u, v, i, j) with i·sh + u − ph = h and
                             j·sw + v − pw = w of cols[c, u, v, n, i, j]
            (overlapping windows accumulate; padded positions are dropped).
    """
    n, c, height, width = input_shape
    kh, kw = kernel_size
    sh, sw = stride
    ph, pw = padding
    _, _, _, _, out_h, out_w = cols.shape
    dx_c = np.zeros((c, n, height + 2 * ph, width + 2 * pw), dtype=cols.dtype)  # (C, N, Hp, Wp)
    for u in range(kh):
        for v in range(kw):
            # distinct pixels for a fixed (u, v), so += is an exact scatter-add
            dx_c[:, :, u:u + sh * out_h:sh, v:v + sw * out_w:sw] += cols[:, u, v]  # (C, N, H', W')
    dx_c = dx_c[:, :, ph:ph + height, pw:pw + width]  # drop the padding: (C, N, H, W)
    return np.ascontiguousarray(dx_c.transpose(1, 0, 2, 3))  # (N, C, H, W)
