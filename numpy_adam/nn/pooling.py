"""MaxPool2d: max over sliding windows (PyTorch's MaxPool2d), gradient routed to the argmax."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import check_float_input, check_grad_output, check_pair, forward_cache
from .im2col import col2im, im2col, output_shape
from .module import Module

_NO_PADDING = (0, 0)


class MaxPoolCache(NamedTuple):
    """What backward needs from forward.

    argmax:       (C, N, H', W') intp, flat in-window index u·kw + v of each window's maximum
    input_shape:  (N, C, H, W)
    output_shape: (N, C, H', W')
    dtype:        dtype of the input, and so of dx
    """

    argmax: np.ndarray
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]
    dtype: np.dtype


class MaxPool2d(Module):
    """2-D max pooling (PyTorch's ``nn.MaxPool2d`` without padding, dilation or ceil_mode), NCHW.

    Parameters
        kernel_size (kh, kw): positive int or (h, w) pair
        stride (sh, sw): positive int or pair; ``None`` (default) means stride = kernel_size.
            Any stride is allowed, including overlapping windows (stride < kernel).

    Forward, x (N, C, H, W) → y (N, C, H', W') with floor output size
    H' = (H − kh)//sh + 1, W' = (W − kw)//sw + 1 (trailing rows/columns that do not fill a
    window are ignored):

        y[n,c,i,j] = max_{u < kh, v < kw} x[n, c, i·sh + u, j·sw + v]

    Backward, dy (N, C, H', W') → dx (N, C, H, W): each window's gradient goes to its argmax

        (u*, v*)[n,c,i,j] = argmax_{u,v} x[n, c, i·sh + u, j·sw + v]
        dx[n, c, h, w]    = Σ_{i,j : i·sh + u* = h, j·sw + v* = w} dy[n,c,i,j]

    so with overlapping windows an input that is the maximum of several windows receives
    the sum of their gradients, and every other input receives 0.

    Ties: the argmax is the FIRST maximum in row-major window order (u, then v), exactly
    ``np.argmax`` over the window flattened as u·kw + v. (A NaN in a window is its argmax,
    as in ``np.argmax``, so NaN propagates as in PyTorch.)

    No parameters; works in float32 and float64 (the output has the input's dtype).
    Reference tier: tested equal to :func:`numpy_adam.nn.definitions.maxpool2d_forward` /
    ``maxpool2d_backward`` (ties included).
    """

    def __init__(self, kernel_size, stride=None):
        super().__init__()
        layer = "MaxPool2d"
        self.kernel_size = check_pair(kernel_size, "kernel_size", layer)
        self.stride = self.kernel_size if stride is None else check_pair(stride, "stride", layer)
        self._cache: MaxPoolCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, H, W) → y (N, C, H', W'), same dtype as x."""
        x = check_float_input(x, "MaxPool2d", ndim=4, layout="(N, C, H, W)")
        n, c, _, _ = x.shape
        out_h, out_w = output_shape(x.shape, self.kernel_size, self.stride, _NO_PADDING, "MaxPool2d")
        kh, kw = self.kernel_size
        cols = im2col(x, self.kernel_size, self.stride, _NO_PADDING, "MaxPool2d")  # (C, kh, kw, N, H', W')
        cols = cols.reshape(c, kh * kw, n, out_h, out_w)  # window flattened row-major: u·kw + v
        argmax = np.argmax(cols, axis=1)  # (C, N, H', W'), first maximum on ties
        y_c = np.take_along_axis(cols, argmax[:, None], axis=1)[:, 0]  # (C, N, H', W')
        y = np.ascontiguousarray(y_c.transpose(1, 0, 2, 3))  # (N, C, H', W')
        self._cache = MaxPoolCache(argmax, x.shape, y.shape, x.dtype)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, C, H', W') → dx (N, C, H, W), each window's gradient at its argmax."""
        cache = forward_cache(self)
        dy = check_grad_output(dy, cache.output_shape, "MaxPool2d", cache.dtype)
        self._cache = None
        n, c, _, _ = cache.input_shape
        _, _, out_h, out_w = cache.output_shape
        kh, kw = self.kernel_size
        dcols = np.zeros((c, kh * kw, n, out_h, out_w), dtype=cache.dtype)
        dy_c = dy.transpose(1, 0, 2, 3)[:, None]  # (C, 1, N, H', W')
        np.put_along_axis(dcols, cache.argmax[:, None], dy_c, axis=1)  # one entry per window
        dcols = dcols.reshape(c, kh, kw, n, out_h, out_w)
        return col2im(dcols, cache.input_shape, self.kernel_size, self.stride, _NO_PADDING)

    def extra_repr(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}"
