"""Fast tier: a stride-1 Conv2d in the channel-major layout, computed without im2col.

:class:`DirectChannelMajorConv2d` has the interface of
:class:`~numpy_adam.nn.fast_conv.ChannelMajorConv2d` (x (C, N, H, W) → y (O, N, H', W'),
the same backward methods, the parameters of an existing Conv2d) and the equations of
:class:`~numpy_adam.nn.conv.Conv2d`, computed as the wide-row sums of
:mod:`~numpy_adam.nn.direct_kernels` (read its doc for the layout and the three sums). Each
sum runs on the register-blocked float32 kernels of :mod:`~numpy_adam.nn.direct_kernels_simd`
when :func:`uses_simd` allows (float32, output channels in blocks of 4, compiled), else on
the plain kernels (float64, odd channel counts, NUMBA_DISABLE_JIT). Per step it only copies
the input into its padded rows, the wide output into (O, N, H', W'), and in backward dy into
its padded rows and the padded dx's interior out: four copies of activation size, where
im2col writes and reads a matrix k_h·k_w times that size.

Measured, it is not used in the CNN (``numpy-adam bench``, table "Convolutions per layer
and direction"): only conv1's forward is faster than im2col + GEMM on its own, and a whole
training step is no faster with it. FastCifarCNN runs conv1 by im2col (ChannelMajorConv2d)
and conv2 in the frequency domain (SpectralChannelMajorConv2d); this class is the measured
alternative, and a stride-1 convolution with no im2col matrix.

The padded buffers live in a workspace reused from step to step. Their zero borders are
written once, when a buffer is allocated; later steps overwrite only the interior, so the
borders stay zero. Stride 1 only (every conv of the CNN); ChannelMajorConv2d serves any
stride. Tested against Conv2d in tests/nn/test_fast_tier.py and tests/nn/test_direct_conv.py.
"""
from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from .checks import check_grad_output, forward_cache
from .conv import Conv2d, check_conv_for_stage, check_stage_input
from .direct_kernels import (IMAGES_PER_CHUNK, correlate_rows, correlate_weight_grad,
                             input_grad_weights)
from .direct_kernels_simd import (CHANNEL_BLOCK, ROW_BLOCK, correlate_rows_simd,
                                  correlate_weight_grad_simd)
from .workspace import StepWorkspace


def uses_simd(out_channels: int, dtype) -> bool:
    """Whether a sum with ``out_channels`` outputs runs on the register-blocked kernels of
    :mod:`.direct_kernels_simd`: float32, channels in blocks of 4, and compiled (under
    NUMBA_DISABLE_JIT their vector values do not exist; the plain kernels run instead)."""
    return (np.dtype(dtype) == np.float32 and out_channels % CHANNEL_BLOCK == 0
            and not numba.config.DISABLE_JIT)


def padded_length(length: int, simd: bool) -> int:
    """The wide length a kernel runs over: rounded up to whole blocks for the SIMD kernels
    (the extra positions are thrown away like the extra columns)."""
    return -(-length // ROW_BLOCK) * ROW_BLOCK if simd else length


def _rows(x_wide, weight, bias, row_width, y_wide):
    """Equation (1) on the kernel that fits (:func:`uses_simd`)."""
    simd = uses_simd(weight.shape[0], weight.dtype)
    (correlate_rows_simd if simd else correlate_rows)(x_wide, weight, bias, row_width, y_wide)


class DirectConvCache(NamedTuple):
    """What backward needs from forward.

    x_wide:       (C, N, L + (k_h − 1)·W_p + k_w − 1) the padded input rows, L the wide
                  output length (a workspace buffer)
    input_shape:  (C, N, H, W)
    output_shape: (O, N, H', W')
    """

    x_wide: np.ndarray
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]


class DirectChannelMajorConv2d:
    """The channel-major stride-1 fast path of one Conv2d without im2col (module doc).

    Args:
        conv: the Conv2d (stride 1) whose parameters, hyperparameters and mode are used.

    forward(x (C, N, H, W)) → y (O, N, H', W'), contiguous, the weight's dtype.
    backward(dy (O, N, H', W')) → dx (C, N, H, W); assigns conv.weight.grad, conv.bias.grad.
    backward_params_only(dy) → None: the parameter gradients without dx (for a first layer).
    Either backward consumes the forward's cache (one backward per forward).
    """

    def __init__(self, conv: Conv2d):
        self.conv = check_conv_for_stage(conv, "DirectChannelMajorConv2d", stride_one=True)
        self._workspace = StepWorkspace(conv)  # the padded and wide rows (workspace doc)
        self._cache: DirectConvCache | None = None

    def _geometry(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(H_p, W_p, H', W') for an (H, W) input."""
        (kh, kw), (ph, pw) = self.conv.kernel_size, self.conv.padding
        padded_h, padded_w = height + 2 * ph, width + 2 * pw
        return padded_h, padded_w, padded_h - kh + 1, padded_w - kw + 1

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (C, N, H, W), any strides → y (O, N, H', W') contiguous."""
        conv = self.conv
        w = conv.weight.data
        check_stage_input(conv, x, "DirectChannelMajorConv2d")
        c, n, height, width = x.shape
        (kh, kw), (ph, pw) = conv.kernel_size, conv.padding
        padded_h, padded_w, out_h, out_w = self._geometry(height, width)
        length = padded_length(out_h * padded_w, uses_simd(conv.out_channels, w.dtype))
        x_wide = self._workspace.array("x_wide", (c, n, length + (kh - 1) * padded_w + kw - 1),
                                       w.dtype, zeroed=True)
        planes = x_wide[:, :, :padded_h * padded_w].reshape(c, n, padded_h, padded_w)
        planes[:, :, ph:ph + height, pw:pw + width] = x
        bias = conv.bias.data if conv.bias is not None else np.zeros(conv.out_channels, w.dtype)
        y_wide = self._workspace.array("y_wide", (conv.out_channels, n, length), w.dtype)
        _rows(x_wide, w, bias, padded_w, y_wide)
        self._cache = DirectConvCache(x_wide, x.shape, (conv.out_channels, n, out_h, out_w))
        y_rows = y_wide[:, :, :out_h * padded_w].reshape(conv.out_channels, n, out_h, padded_w)
        return np.ascontiguousarray(y_rows[:, :, :, :out_w])  # (O, N, H', W')

    def _parameter_grads(self, dy: np.ndarray) -> tuple[DirectConvCache, np.ndarray, int]:
        """Consume the cache, assign dW and db; return the cache, dy in padded wide rows
        (O, N, lead + the longer of the two sums' wide lengths) and the lead (module doc of
        direct_kernels)."""
        cache = forward_cache(self)
        conv = self.conv
        w = conv.weight.data
        check_grad_output(dy, cache.output_shape, "DirectChannelMajorConv2d", w.dtype)
        self._cache = None
        (kh, kw) = conv.kernel_size
        o, n, out_h, out_w = cache.output_shape
        padded_h, padded_w, _, _ = self._geometry(*cache.input_shape[2:])
        lead = (kh - 1) * padded_w + kw - 1
        simd = uses_simd(o, w.dtype)
        length = padded_length(out_h * padded_w, simd)  # as in forward
        input_length = padded_length(padded_h * padded_w, uses_simd(conv.in_channels, w.dtype))
        dy_wide = self._workspace.array("dy_wide", (o, n, lead + max(length, input_length)), w.dtype,
                                        zeroed=True)
        rows = dy_wide[:, :, lead:lead + out_h * padded_w].reshape(o, n, out_h, padded_w)
        rows[:, :, :, :out_w] = dy
        partial = np.empty((-(-n // IMAGES_PER_CHUNK),) + w.shape, dtype=w.dtype)
        (correlate_weight_grad_simd if simd else correlate_weight_grad)(
            cache.x_wide, dy_wide, lead, length, padded_w, kh, kw, partial)
        conv.weight.grad[...] = partial.sum(axis=0)
        if conv.bias is not None:
            conv.bias.grad[...] = dy.sum(axis=(1, 2, 3))  # (O,)
        return cache, dy_wide, lead

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (O, N, H', W') → dx (C, N, H, W); assigns the parameter gradients."""
        cache, dy_wide, _ = self._parameter_grads(dy)
        conv = self.conv
        c, n, height, width = cache.input_shape
        (ph, pw) = conv.padding
        padded_h, padded_w, _, _ = self._geometry(height, width)
        input_length = padded_length(padded_h * padded_w, uses_simd(c, dy_wide.dtype))
        dx_wide = self._workspace.array("dx_wide", (c, n, input_length), dy_wide.dtype)
        _rows(dy_wide, input_grad_weights(conv.weight.data), np.zeros(c, dtype=dy_wide.dtype),
              padded_w, dx_wide)
        dx_rows = dx_wide[:, :, :padded_h * padded_w].reshape(c, n, padded_h, padded_w)
        return np.ascontiguousarray(dx_rows[:, :, ph:ph + height, pw:pw + width])

    def backward_params_only(self, dy: np.ndarray) -> None:
        """dy (O, N, H', W') → None; assigns the parameter gradients and computes no dx."""
        self._parameter_grads(dy)

    def __repr__(self) -> str:
        return f"DirectChannelMajorConv2d({self.conv.extra_repr()})"
