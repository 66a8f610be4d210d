"""Parameter-free layers: ReLU and Flatten."""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .checks import check_float_input, check_grad_output, forward_cache
from .module import Module


class _ReLUCache(NamedTuple):
    positive: np.ndarray  # bool, x's shape: where x > 0
    dtype: np.dtype       # x's dtype, and so y's and dx's


class ReLU(Module):
    """Rectified linear unit, elementwise on any shape.

    Forward:   y = max(x, 0)
    Backward:  dx = dy · 1[x > 0]      (the gradient at x = 0 is taken as 0, as in PyTorch)

    Input x (any shape, float32/float64) -> y of the same shape.
    """

    def __init__(self):
        super().__init__()
        self._cache: _ReLUCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        check_float_input(x, "ReLU", ndim=getattr(x, "ndim", 0), layout="(N, ...)")
        self._cache = _ReLUCache(x > 0, x.dtype)
        return np.maximum(x, x.dtype.type(0))  # NaN stays NaN, so divergence is not hidden

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (x's shape) -> dx (x's shape)."""
        cache = forward_cache(self)
        check_grad_output(dy, cache.positive.shape, "ReLU", cache.dtype)
        self._cache = None
        return np.where(cache.positive, dy, dy.dtype.type(0))


class _FlattenCache(NamedTuple):
    in_shape: tuple   # shape of the forward input
    out_shape: tuple  # shape of the forward output
    dtype: np.dtype   # x's dtype, and so y's and dx's


class Flatten(Module):
    """Merge the axes start_dim..end_dim into one, as PyTorch's ``nn.Flatten``.

    Forward:   y = x.reshape(N, C·H·W)  for (N, C, H, W) with the defaults start_dim=1, end_dim=−1
    Backward:  dx = dy.reshape(x.shape)

    Args:
        start_dim, end_dim: the first and last axes merged (negative counts from the end).
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1):
        super().__init__()
        for name, value in (("start_dim", start_dim), ("end_dim", end_dim)):
            if isinstance(value, bool) or not isinstance(value, numbers.Integral):
                raise TypeError(f"Flatten: {name} must be an int, got {value!r}")
        self.start_dim, self.end_dim = int(start_dim), int(end_dim)
        self._cache: _FlattenCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (d0, ..., d_{k-1}) -> y with axes start_dim..end_dim merged."""
        check_float_input(x, "Flatten", ndim=getattr(x, "ndim", 0), layout="(N, ...)")
        start = self.start_dim + x.ndim if self.start_dim < 0 else self.start_dim
        end = self.end_dim + x.ndim if self.end_dim < 0 else self.end_dim
        if not (0 <= start < x.ndim and 0 <= end < x.ndim) or start > end:
            raise ValueError(f"Flatten: start_dim={self.start_dim}, end_dim={self.end_dim} do not "
                             f"select a range of axes of an input of shape {x.shape}")
        merged = int(np.prod(x.shape[start:end + 1], dtype=np.int64))
        out_shape = x.shape[:start] + (merged,) + x.shape[end + 1:]
        self._cache = _FlattenCache(x.shape, out_shape, x.dtype)
        return x.reshape(out_shape)

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (flattened shape) -> dx (x's shape)."""
        cache = forward_cache(self)
        check_grad_output(dy, cache.out_shape, "Flatten", cache.dtype)
        in_shape = cache.in_shape
        self._cache = None
        return dy.reshape(in_shape)

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"
