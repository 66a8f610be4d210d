"""Conv2d: 2-D cross-correlation (PyTorch's Conv2d) by im2col and one GEMM, manual backward."""
from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .checks import (check_float_dtype, check_float_input, check_grad_output, check_pair,
                     check_positive_int, check_rng, forward_cache)
from .im2col import col2im, im2col, output_shape
from .kernels import col2im_cn, im2col_cn
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

    Fast path: with ``fast = True`` (the default attribute; set it False for the plain
    NumPy im2col/col2im, the tested oracle) im2col and col2im are Numba kernels working on
    the channel-major layout (C, N, H, W). ``forward_cn``/``backward_cn`` expose that
    layout directly (x (C, N, H, W) → y (O, N, H', W'), no transposes: the GEMM output is
    already (O, N·H'·W')); models chaining convs use them internally (see CifarCNN).
    """

    fast = True  # Numba im2col/col2im; False: plain NumPy (the oracle)

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
        self._workspace: dict[str, np.ndarray] = {}

    def _buffer(self, name: str, shape: tuple[int, ...], dtype) -> np.ndarray:
        """A workspace array kept across steps for the big im2col matrices (tens of MB: a
        fresh allocation of that size is a fresh mmap, and its page faults cost more than
        the copy into it). Reused only between a forward and the next forward, while the
        cache that refers to it is replaced anyway. In eval mode the workspace is released
        and fresh arrays are used, so evaluation's peak memory is not raised by it."""
        if not self.training:  # eval: no backward follows; hold no training-size buffers
            self._workspace.clear()
            return np.empty(shape, dtype=dtype)
        buf = self._workspace.get(name)
        if buf is None or buf.shape != shape or buf.dtype != dtype:
            buf = np.empty(shape, dtype=dtype)
            self._workspace[name] = buf
        return buf

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, H, W) → y (N, O, H', W'), same dtype as the weight."""
        w = self.weight.data
        x = check_float_input(x, "Conv2d", ndim=4, channels=self.in_channels, dtype=w.dtype,
                              layout="(N, C, H, W)")
        if self.fast:
            y_cn = self.forward_cn(x.transpose(1, 0, 2, 3))  # (O, N, H', W')
            return np.ascontiguousarray(y_cn.transpose(1, 0, 2, 3))  # (N, O, H', W')
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
        dy = check_grad_output(dy, cache.output_shape, "Conv2d")
        if self.fast:
            dx_cn = self.backward_cn(dy.transpose(1, 0, 2, 3))  # (C, N, H, W)
            return np.ascontiguousarray(dx_cn.transpose(1, 0, 2, 3))  # (N, C, H, W)
        w = self.weight.data
        dy2 = dy.transpose(1, 0, 2, 3).reshape(self.out_channels, -1)  # (O, N·H'·W')
        dy2 = dy2.astype(w.dtype, copy=False)
        # dW₂ = dY₂·X_colᵀ, computed as (X_col·dY₂ᵀ)ᵀ: OpenBLAS handles the long inner axis
        # N·H'·W' faster in this orientation (measured ~1.3-1.7x on the CIFAR convs)
        dw2 = (cache.cols @ dy2.T).T  # (O, C·kh·kw)
        self.weight.grad[...] = dw2.reshape(w.shape)  # (O, C, kh, kw)
        if self.bias is not None:
            self.bias.grad[...] = dy2.sum(axis=1)  # (O,)
        dcols = w.reshape(self.out_channels, -1).T @ dy2  # (C·kh·kw, N·H'·W')
        n, c, _, _ = cache.input_shape
        _, _, out_h, out_w = cache.output_shape
        kh, kw = self.kernel_size
        dcols = dcols.reshape(c, kh, kw, n, out_h, out_w)  # (C, kh, kw, N, H', W')
        dx = col2im(dcols, cache.input_shape, self.kernel_size, self.stride, self.padding)
        self._cache = None
        return dx  # (N, C, H, W)

    def forward_cn(self, x_cn: np.ndarray) -> np.ndarray:
        """Channel-major forward: x (C, N, H, W), any strides → y (O, N, H', W') contiguous.

        Same equations as :meth:`forward`; im2col by the Numba kernel (padding inline).
        The caller validates x (dtype equal to the weight's, C = in_channels).
        """
        w = self.weight.data
        c, n, height, width = x_cn.shape
        if c != self.in_channels or x_cn.dtype != w.dtype:
            raise ValueError(f"Conv2d.forward_cn: expected ({self.in_channels}, N, H, W) {w.dtype}, "
                             f"got {x_cn.shape} {x_cn.dtype}")
        out_h, out_w = output_shape((n, c, height, width), self.kernel_size, self.stride,
                                    self.padding, "Conv2d")
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        cols = self._buffer("cols", (c, kh, kw, n, out_h, out_w), w.dtype)
        im2col_cn(x_cn, kh, kw, sh, sw, ph, pw, cols)
        cols = cols.reshape(-1, n * out_h * out_w)  # (C·kh·kw, N·H'·W')
        y2 = w.reshape(self.out_channels, -1) @ cols  # (O, N·H'·W')
        if self.bias is not None:
            y2 += self.bias.data[:, None]
        self._cache = ConvCache(cols, (n, c, height, width), (n, self.out_channels, out_h, out_w))
        return y2.reshape(self.out_channels, n, out_h, out_w)  # (O, N, H', W')

    def backward_cn(self, dy_cn: np.ndarray, need_dx: bool = True) -> np.ndarray | None:
        """Channel-major backward: dy (O, N, H', W') → dx (C, N, H, W); assigns the grads.

        Requires a preceding forward (either layout). Same equations as :meth:`backward`.
        need_dx=False skips dX_col = W₂ᵀ·dY₂ and col2im and returns None (a first layer
        whose input needs no gradient, as PyTorch skips it for inputs without requires_grad).
        """
        cache = forward_cache(self)
        n, c, height, width = cache.input_shape
        _, _, out_h, out_w = cache.output_shape
        expected = (self.out_channels, n, out_h, out_w)
        if dy_cn.shape != expected:
            raise ValueError(f"Conv2d.backward_cn: dy has shape {dy_cn.shape}, expected {expected}")
        w = self.weight.data
        dy2 = dy_cn.astype(w.dtype, copy=False).reshape(self.out_channels, -1)  # (O, N·H'·W')
        dw2 = (cache.cols @ dy2.T).T  # (O, C·kh·kw), orientation as in backward
        self.weight.grad[...] = dw2.reshape(w.shape)
        if self.bias is not None:
            self.bias.grad[...] = dy2.sum(axis=1)  # (O,)
        if not need_dx:
            self._cache = None
            return None
        dcols = self._buffer("dcols", (c * self.kernel_size[0] * self.kernel_size[1], dy2.shape[1]),
                             w.dtype)
        np.matmul(w.reshape(self.out_channels, -1).T, dy2, out=dcols)  # (C·kh·kw, N·H'·W')
        (kh, kw), (sh, sw), (ph, pw) = self.kernel_size, self.stride, self.padding
        dcols = dcols.reshape(c, kh, kw, n, out_h, out_w)
        dx_cn = np.empty((c, n, height, width), dtype=w.dtype)
        col2im_cn(dcols, sh, sw, ph, pw, dx_cn)
        self._cache = None
        return dx_cn  # (C, N, H, W)

    def extra_repr(self) -> str:
        text = (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
                f"stride={self.stride}")
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.bias is None:
            text += ", bias=False"
        return text
