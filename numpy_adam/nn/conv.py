"""Conv2d: 2-D cross-correlation (PyTorch's Conv2d) by im2col and one GEMM, manual backward."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .checks import (check_channel_major_input, check_float_dtype, check_float_input,
                     check_grad_output, check_pair, check_positive_int, check_rng, forward_cache)
from .im2col import col2im, im2col, output_shape
from .module import Module, Parameter


class ConvCache(NamedTuple):
    """What backward needs from forward.

    cols:         (C·kh·kw, N·H'·W') the im2col matrix of the padded input
    input_shape:  (N, C, H, W)
    output_shape: (N, O, H', W')
    """

    cols: np.ndarray
    input_shape: tuple[int, int, int, int]
    output_shape: tuple[int, int, int, int]


class Conv2d(Module):
    """2-D convolution (cross-correlation, as PyTorch's ``nn.Conv2d``), NCHW.

    Parameters
        in_channels C, out_channels O: positive ints
        kernel_size (kh, kw), stride (sh, sw): positive int or (h, w) pair
        padding (ph, pw): non-negative int or pair; zeros on each side of H and W
        bias: whether to learn b (``self.bias`` is ``None`` otherwise, as in PyTorch)
        rng: ``np.random.Generator`` for the initialization (None: a fresh default_rng())
        dtype: float32 (training) or float64 (gradient checks)

    Parameters held
        weight W: (O, C, kh, kw), kind "weight"
        bias   b: (O,),           kind "bias"
    Initialization (PyTorch's default): W and b ~ U(−1/√fan_in, 1/√fan_in) with
    fan_in = C·kh·kw, drawn from ``rng`` in that order (W first, then b).

    Forward, x (N, C, H, W) → y (N, O, H', W'), with x_pad the zero-padded input,
    H' = (H + 2ph − kh)//sh + 1, W' = (W + 2pw − kw)//sw + 1:

        y[n,o,i,j] = b[o] + Σ_{c,u,v} W[o,c,u,v] · x_pad[n, c, i·sh + u, j·sw + v]

    computed as one GEMM Y = W₂ · X_col with W₂ = W reshaped to (O, C·kh·kw) and
    X_col[(c,u,v), (n,i,j)] = x_pad[n, c, i·sh + u, j·sw + v] of shape (C·kh·kw, N·H'·W').

    Backward, dy = ∂L/∂y (N, O, H', W') with dY₂ = dy as (O, N·H'·W'):

        ∂L/∂b[o]       = Σ_{n,i,j} dy[n,o,i,j]                              (a sum)
        ∂L/∂W[o,c,u,v] = Σ_{n,i,j} dy[n,o,i,j] · x_pad[n, c, i·sh + u, j·sw + v]
                         i.e. dW₂ = dY₂ · X_colᵀ                             (one GEMM)
        ∂L/∂x_pad[n, c, i·sh + u, j·sw + v] += Σ_o W[o,c,u,v] · dy[n,o,i,j]
                         i.e. dX_col = W₂ᵀ · dY₂ (one GEMM), then col2im scatter-adds
                         dX_col onto the input grid (overlapping windows accumulate when
                         stride < kernel) and drops the padding.

    The input dtype must equal the weight dtype; ``.double()`` / ``.float()`` cast the layer.
    This is the reference tier: plain NumPy, the code the equations above describe. It is
    tested equal to the loops of :func:`numpy_adam.nn.definitions.conv2d_forward` /
    ``conv2d_backward``; :class:`numpy_adam.nn.fast_conv.ChannelMajorConv2d` runs the same
    equations with Numba kernels for training.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0,
                 bias: bool = True, *, rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        layer = "Conv2d"
        self.in_channels = check_positive_int(in_channels, "in_channels", layer)
        self.out_channels = check_positive_int(out_channels, "out_channels", layer)
        self.kernel_size = check_pair(kernel_size, "kernel_size", layer)
        self.stride = check_pair(stride, "stride", layer)
        self.padding = check_pair(padding, "padding", layer, allow_zero=True)
        if not isinstance(bias, bool):
            raise TypeError(f"{layer}: bias must be True or False, got {bias!r}")
        rng = check_rng(rng, layer)
        dtype = check_float_dtype(dtype, layer)

        kh, kw = self.kernel_size
        fan_in = self.in_channels * kh * kw
        bound = 1.0 / math.sqrt(fan_in)
        weight = rng.uniform(-bound, bound, size=(self.out_channels, self.in_channels, kh, kw))
        self.weight = Parameter(weight.astype(dtype), kind="weight")
        if bias:
            self.bias = Parameter(rng.uniform(-bound, bound, size=self.out_channels).astype(dtype),
                                  kind="bias")
        else:
            self.bias = None
        self._cache: ConvCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, H, W) → y (N, O, H', W'), same dtype as the weight."""
        w = self.weight.data
        x = check_float_input(x, "Conv2d", ndim=4, channels=self.in_channels, dtype=w.dtype,
                              layout="(N, C, H, W)")
        n = x.shape[0]
        out_h, out_w = output_shape(x.shape, self.kernel_size, self.stride, self.padding, "Conv2d")
        cols = im2col(x, self.kernel_size, self.stride, self.padding, "Conv2d")  # (C, kh, kw, N, H', W')
        cols = cols.reshape(-1, n * out_h * out_w)  # (C·kh·kw, N·H'·W'), no copy
        y2 = w.reshape(self.out_channels, -1) @ cols  # (O, N·H'·W')
        if self.bias is not None:
            y2 += self.bias.data[:, None]
        y = y2.reshape(self.out_channels, n, out_h, out_w).transpose(1, 0, 2, 3)  # (N, O, H', W')
        y = np.ascontiguousarray(y)
        self._cache = ConvCache(cols, x.shape, y.shape)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, O, H', W') → dx (N, C, H, W); assigns weight.grad (and bias.grad) in place."""
        cache = forward_cache(self)
        w = self.weight.data
        dy = check_grad_output(dy, cache.output_shape, "Conv2d", w.dtype)
        self._cache = None
        dy2 = dy.transpose(1, 0, 2, 3).reshape(self.out_channels, -1)  # (O, N·H'·W')
        dw2 = dy2 @ cache.cols.T  # (O, C·kh·kw)
        self.weight.grad[...] = dw2.reshape(w.shape)  # (O, C, kh, kw)
        if self.bias is not None:
            self.bias.grad[...] = dy2.sum(axis=1)  # (O,)
        dcols = w.reshape(self.out_channels, -1).T @ dy2  # (C·kh·kw, N·H'·W')
        n, c, _, _ = cache.input_shape
        _, _, out_h, out_w = cache.output_shape
        kh, kw = self.kernel_size
        dcols = dcols.reshape(c, kh, kw, n, out_h, out_w)  # (C, kh, kw, N, H', W')
        return col2im(dcols, cache.input_shape, self.kernel_size, self.stride, self.padding)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.bias is None:
            text += ", bias=False"
        return text


def check_conv_for_stage(conv, stage: str, stride_one: bool = False) -> Conv2d:
    """``conv`` for the fast-tier stage named ``stage``: a Conv2d (TypeError otherwise) and,
    with ``stride_one``, of stride 1 (ValueError otherwise: the direct and spectral sums
    assume it; ChannelMajorConv2d serves any stride)."""
    if not isinstance(conv, Conv2d):
        raise TypeError(f"{stage}: conv must be a Conv2d, got {type(conv).__name__}")
    if stride_one and conv.stride != (1, 1):
        raise ValueError(f"{stage}: only stride 1 is supported, got stride {conv.stride}; "
                         f"use ChannelMajorConv2d for other strides")
    return conv


def check_stage_input(conv: Conv2d, x, stage: str) -> tuple[int, int]:
    """Check a fast conv stage's input x (C, N, H, W) against ``conv`` (channels, the
    weight's dtype, a kernel that fits the padded input); return the output size (H', W')."""
    check_channel_major_input(x, stage, conv.in_channels, conv.weight.data.dtype)
    c, n, height, width = x.shape
    return output_shape((n, c, height, width), conv.kernel_size, conv.stride, conv.padding,
                        stage)
