"""Fully connected layer y = x Wᵀ + b, with its backward pass."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import (check_float_dtype, check_float_input, check_grad_output, check_positive_int,
                     check_rng, forward_cache)
from .module import Module, Parameter


class _LinearCache(NamedTuple):
    x: np.ndarray  # (N, in) the forward input


class Linear(Module):
    """Affine map of (N, in_features) rows, PyTorch's ``nn.Linear``.

    Forward:   y = x Wᵀ + b                      x (N, in), W (out, in), b (out,), y (N, out)
    Backward:  dW = dyᵀ x    db = Σ_n dy    dx = dy W

    Args:
        in_features, out_features: positive ints.
        bias: whether to add b (without it, y = x Wᵀ and ``self.bias`` is None).
        rng: ``np.random.Generator`` for the initialisation (None: a fresh unseeded one).
        dtype: float32 (training) or float64 (checks).

    Initialisation (PyTorch's default): W and b ~ U(−1/√in, 1/√in), W drawn first.
    Parameters: weight (out, in) kind "weight"; bias (out,) kind "bias".
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, *,
                 rng: np.random.Generator | None = None, dtype=np.float32):
        super().__init__()
        self.in_features = check_positive_int(in_features, "in_features", "Linear")
        self.out_features = check_positive_int(out_features, "out_features", "Linear")
        if not isinstance(bias, (bool, np.bool_)):
            raise TypeError(f"Linear: bias must be True or False, got {bias!r}")
        dtype = check_float_dtype(dtype, "Linear")
        rng = check_rng(rng, "Linear")
        bound = 1.0 / np.sqrt(in_features)
        weight = rng.uniform(-bound, bound, (out_features, in_features))  # drawn first, as torch
        self.weight = Parameter(weight.astype(dtype), kind="weight")
        self.bias = (Parameter(rng.uniform(-bound, bound, out_features).astype(dtype), kind="bias")
                     if bias else None)
        self._cache: _LinearCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, in) -> y (N, out)."""
        check_float_input(x, "Linear", ndim=2, channels=self.in_features,
                          dtype=self.weight.data.dtype, layout="(N, in_features)")
        y = x @ self.weight.data.T  # (N, out)
        if self.bias is not None:
            y += self.bias.data
        self._cache = _LinearCache(x)
        return y

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy (N, out) -> dx (N, in); assigns weight.grad (out, in) and bias.grad (out,)."""
        x = forward_cache(self).x
        check_grad_output(dy, (x.shape[0], self.out_features), "Linear", x.dtype)
        self._cache = None
        self.weight.grad[...] = dy.T @ x  # (out, in)
        if self.bias is not None:
            self.bias.grad[...] = dy.sum(axis=0)
        return dy @ self.weight.data  # (N, in)

    def extra_repr(self) -> str:
        return (f"in_features={self.in_features}, out_features={self.out_features}, "
                f"bias={self.bias is not None}")
