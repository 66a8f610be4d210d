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
from .lanes import Lanes, shared_lanes
from .workspace import StepWorkspace


def swap_batch_and_channels(x: np.ndarray, lanes: Lanes | None = None) -> np.ndarray:
    """(N, C, H, W) -> a contiguous (C, N, H, W), and back: the swap is its own inverse. A copy,
    so that im2col reads whole planes instead of gathering across a transposed view; with
    ``lanes``, the lanes copy a share of the images each."""
    swapped = x.transpose(1, 0, 2, 3)
    out = np.empty(swapped.shape, dtype=x.dtype)
    if lanes is None:
        np.copyto(out, swapped)
    else:
        lanes.split(lambda n0, n1: np.copyto(out[:, n0:n1], swapped[:, n0:n1]), out.shape[1],
                    cost=2 * x[0].size)
    return out


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
        lanes: the threads that share the work (default: the process's shared
            :class:`~.lanes.Lanes`): forward and dx by images, dW by rows of X_col.
            They run in parallel only inside ``lanes.parallel()``; elsewhere in one call.

    forward(x (C, N, H, W)) → y (O, N, H', W'), contiguous, the weight's dtype.
    backward(dy (O, N, H', W')) → dx (C, N, H, W); assigns conv.weight.grad, conv.bias.grad.
    backward_params_only(dy) → None: the same parameter gradients without dx, for a first
        layer whose input needs no gradient (it skips the GEMM dX_col = W₂ᵀ·dY₂ and col2im).
    Either backward consumes the forward's cache (one backward per forward).
    """

    def __init__(self, conv: Conv2d, lanes: Lanes | None = None):
        self.conv = check_conv_for_stage(conv, "ChannelMajorConv2d")
        self.lanes = shared_lanes() if lanes is None else lanes
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
        cols2 = cols.reshape(-1, n * out_h * out_w)  # (C·kh·kw, N·H'·W')
        w2 = w.reshape(conv.out_channels, -1)
        y2 = np.empty((conv.out_channels, n * out_h * out_w), dtype=w.dtype)  # (O, N·H'·W')
        bias, plane = conv.bias, out_h * out_w

        def images(n0, n1):  # each lane: its images' columns of X_col, then of Y₂ = W₂·X_col
            im2col_cn(x, kh, kw, sh, sw, ph, pw, cols, n0, n1)
            part = slice(n0 * plane, n1 * plane)
            np.matmul(w2, cols2[:, part], out=y2[:, part])
            if bias is not None:
                y2[:, part] += bias.data[:, None]

        self.lanes.split(images, n, cost=(2 * cols2.shape[0] + conv.out_channels) * plane)
        self._cache = ChannelMajorConvCache(cols2, x.shape, (conv.out_channels, n, out_h, out_w))
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
        # N·H'·W' better in this orientation; each lane computes a block of X_col's rows
        cols, dy2_t = cache.cols, dy2.T
        dw2_t = np.empty((cols.shape[0], conv.out_channels), dtype=w.dtype)  # (C·kh·kw, O)
        self.lanes.split(lambda k0, k1: np.matmul(cols[k0:k1], dy2_t, out=dw2_t[k0:k1]),
                         cols.shape[0], cost=cols.shape[1])
        conv.weight.grad[...] = dw2_t.T.reshape(w.shape)
        if conv.bias is not None:
            bias_grad = conv.bias.grad
            self.lanes.split(lambda o0, o1: np.sum(dy2[o0:o1], axis=1, out=bias_grad[o0:o1]),
                             conv.out_channels, cost=dy2.shape[1])
        return cache, dy2

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (O, N, H', W') → dx (C, N, H, W); assigns the parameter gradients."""
        cache, dy2 = self._parameter_grads(dy)
        conv = self.conv
        c, n, height, width = cache.input_shape
        _, _, out_h, out_w = cache.output_shape
        (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
        dcols = self._workspace.array("dcols", (c * kh * kw, dy2.shape[1]), dy2.dtype)
        w2_t = conv.weight.data.reshape(conv.out_channels, -1).T
        dcols6 = dcols.reshape(c, kh, kw, n, out_h, out_w)
        dx = np.empty((c, n, height, width), dtype=dy2.dtype)
        plane = out_h * out_w

        def images(n0, n1):  # each lane: its images' dX_col = W₂ᵀ·dY₂ columns, then col2im
            part = slice(n0 * plane, n1 * plane)
            np.matmul(w2_t, dy2[:, part], out=dcols[:, part])  # (C·kh·kw, N·H'·W')
            col2im_cn(dcols6, sh, sw, ph, pw, dx, n0, n1)

        self.lanes.split(images, n, cost=(2 * dcols.shape[0] + conv.out_channels) * plane)
        return dx  # (C, N, H, W)

    def backward_params_only(self, dy: np.ndarray) -> None:
        """dy (O, N, H', W') → None; assigns the parameter gradients and computes no dx."""
        self._parameter_grads(dy)

    def __repr__(self) -> str:
        return f"ChannelMajorConv2d({self.conv.extra_repr()})"
