"""Fast tier: a Conv2d's forward and backward in the channel-major layout (C, N, H, W).

:class:`ChannelMajorConv2d` runs the equations of :class:`~numpy_adam.nn.conv.Conv2d` (read
its docstring for them) on the parameters of an existing Conv2d, with two differences in
how, not what, it computes:

* layout: input x (C, N, H, W) → output y (O, N, H', W'). The GEMM Y₂ = W₂ · X_col already
  produces (O, N·H'·W'), so chained convs need no transposes, and per-channel stages
  (batchnorm) read one contiguous block per channel.
* kernels: im2col and col2im are the Numba loops :func:`~.fast_kernels.im2col_cn` /
  :func:`~.fast_kernels.col2im_cn` (padding handled inline, no padded copy), and in training
  mode the two big matrices (X_col and dX_col) live in a workspace reused from step to step.

It is a plain object, not a :class:`~numpy_adam.nn.module.Module`: it owns no parameters
(it reads and writes ``conv.weight`` / ``conv.bias``), so a model using it keeps the
state_dict keys of its Conv2d. Tested equal to Conv2d in tests/nn/test_fast_tier.py.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import check_grad_output, forward_cache
from .conv import Conv2d, check_conv_for_stage, check_stage_input
from .fast_kernels import col2im_cn, im2col_cn
from .workspace import StepWorkspace


def swap_batch_and_channels(x: np.ndarray) -> np.ndarray:
    """(N, C, H, W) -> a contiguous (C, N, H, W), and back: the swap is its own inverse. A copy,
    so that im2col reads whole planes instead of gathering across a transposed view."""
    return np.ascontiguousarray(x.transpose(1, 0, 2, 3))


class ChannelMajorConvCache(NamedTuple):
    """What backward needs from forward.

    cols:         (C·kh·kw, N·H'·W') the im2col matrix (a workspace view in training mode)
    input_shape:  (C, N, H, W)
    output_shape: (O, N, H', W')
    """

    cols: np.ndarray
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]


class ChannelMajorConv2d:
    """The channel-major fast path of one :class:`~numpy_adam.nn.conv.Conv2d` (module doc).

    Args:
        conv: the Conv2d whose parameters, hyperparameters and mode (``conv.training``) are used.

    forward(x (C, N, H, W)) → y (O, N, H', W'), contiguous, the weight's dtype.
    backward(dy (O, N, H', W')) → dx (C, N, H, W); assigns conv.weight.grad, conv.bias.grad.
    backward_params_only(dy) → None: the same parameter gradients without dx, for a first
        layer whose input needs no gradient (it skips the GEMM dX_col = W₂ᵀ·dY₂ and col2im).
    Either backward consumes the forward's cache (one backward per forward).
    """

    def __init__(self, conv: Conv2d):
        self.conv = check_conv_for_stage(conv, "ChannelMajorConv2d")
        self._workspace = StepWorkspace(conv)  # the im2col matrices (workspace doc)
        self._cache: ChannelMajorConvCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (C, N, H, W), any strides → y (O, N, H', W') contiguous."""
        conv = self.conv
        w = conv.weight.data
        out_h, out_w = check_stage_input(conv, x, "ChannelMajorConv2d")
        c, n, height, width = x.shape
        (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
        cols = self._workspace.array("cols", (c, kh, kw, n, out_h, out_w), w.dtype)
        im2col_cn(x, kh, kw, sh, sw, ph, pw, cols)
        cols = cols.reshape(-1, n * out_h * out_w)  # (C·kh·kw, N·H'·W')
        y2 = w.reshape(conv.out_channels, -1) @ cols  # (O, N·H'·W')
        if conv.bias is not None:
            y2 += conv.bias.data[:, None]
        self._cache = ChannelMajorConvCache(cols, x.shape, (conv.out_channels, n, out_h, out_w))
        return y2.reshape(conv.out_channels, n, out_h, out_w)  # (O, N, H', W')

    def _parameter_grads(self, dy: np.ndarray) -> tuple[ChannelMajorConvCache, np.ndarray]:
        """Consume the cache, assign dW and db; return the cache and dY₂ (O, N·H'·W')."""
        cache = forward_cache(self)
        conv = self.conv
        w = conv.weight.data
        check_grad_output(dy, cache.output_shape, "ChannelMajorConv2d", w.dtype)
        self._cache = None
        dy2 = dy.reshape(conv.out_channels, -1)  # (O, N·H'·W')
        # dW₂ = dY₂·X_colᵀ computed as (X_col·dY₂ᵀ)ᵀ: OpenBLAS handles the long inner axis
        # N·H'·W' better in this orientation
        dw2 = (cache.cols @ dy2.T).T  # (O, C·kh·kw)
        conv.weight.grad[...] = dw2.reshape(w.shape)
        if conv.bias is not None:
            conv.bias.grad[...] = dy2.sum(axis=1)  # (O,)
        return cache, dy2

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (O, N, H', W') → dx (C, N, H, W); assigns the parameter gradients."""
        cache, dy2 = self._parameter_grads(dy)
        conv = self.conv
        c, n, height, width = cache.input_shape
        _, _, out_h, out_w = cache.output_shape
        (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
        dcols = self._workspace.array("dcols", (c * kh * kw, dy2.shape[1]), dy2.dtype)
        np.matmul(conv.weight.data.reshape(conv.out_channels, -1).T, dy2, out=dcols)  # (C·kh·kw, N·H'·W')
        dx = np.empty((c, n, height, width), dtype=dy2.dtype)
        col2im_cn(dcols.reshape(c, kh, kw, n, out_h, out_w), sh, sw, ph, pw, dx)
        return dx  # (C, N, H, W)

    def backward_params_only(self, dy: np.ndarray) -> None:
        """dy (O, N, H', W') → None; assigns the parameter gradients and computes no dx."""
        self._parameter_grads(dy)

    def __repr__(self) -> str:
        return f"ChannelMajorConv2d({self.conv.extra_repr()})"
