"""Input and hyperparameter checks shared by the layers: fail early, say what was expected."""
from __future__ import annotations

import numbers

import numpy as np

from .module import FLOAT_DTYPES


def check_positive_int(value, name: str, layer: str) -> int:
    """A strictly positive integer (kernel size, stride, channel count)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value <= 0:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
    return int(value)


def check_nonnegative_int(value, name: str, layer: str) -> int:
    """A non-negative integer (padding)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 0:
        raise ValueError(f"{layer}: {name} must be a non-negative integer, got {value!r}")
    return int(value)


def check_pair(value, name: str, layer: str, allow_zero: bool = False) -> tuple[int, int]:
    """An int or an (h, w) pair of ints, as PyTorch accepts for kernel_size/stride/padding."""
    check = check_nonnegative_int if allow_zero else check_positive_int
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{layer}: {name} must be an int or a pair of ints, got {value!r}")
        return check(value[0], name, layer), check(value[1], name, layer)
    v = check(value, name, layer)
    return v, v


def check_float_input(x, layer: str, ndim: int, channels: int | None = None,
                      dtype=None, layout: str = "") -> np.ndarray:
    """A float32/float64 ndarray of rank ``ndim`` whose axis 1 has ``channels`` entries.

    ``dtype``, when given, is the dtype of the layer's parameters: inputs must match it
    (as in PyTorch; no silent casts in a reference implementation).
    """
    if not isinstance(x, np.ndarray):
        raise TypeError(f"{layer}: input must be a numpy.ndarray, got {type(x).__name__}")
    if x.dtype not in FLOAT_DTYPES:
        raise TypeError(f"{layer}: input dtype must be float32 or float64, got {x.dtype}")
    if dtype is not None and x.dtype != np.dtype(dtype):
        raise TypeError(f"{layer}: input dtype {x.dtype} does not match the layer's parameter "
                        f"dtype {np.dtype(dtype)}; cast the input or call .to({x.dtype}) on the layer")
    if x.ndim != ndim:
        raise ValueError(f"{layer}: expected a {ndim}-D input {layout}, got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"{layer}: expected {channels} channels/features on axis 1 {layout}, "
                         f"got shape {x.shape}")
    if x.shape[0] == 0:
        raise ValueError(f"{layer}: got an empty batch (shape {x.shape})")
    return x


def check_grad_output(dy, expected_shape: tuple[int, ...], layer: str, dtype) -> np.ndarray:
    """The upstream gradient must have the shape and dtype of the forward output (no silent
    casts: a float64 dy into a float32 layer is a caller's mistake, as in PyTorch)."""
    if not isinstance(dy, np.ndarray):
        raise TypeError(f"{layer}.backward: dy must be a numpy.ndarray, got {type(dy).__name__}")
    if dy.shape != tuple(expected_shape):
        raise ValueError(f"{layer}.backward: dy has shape {dy.shape}, expected the forward output "
                         f"shape {tuple(expected_shape)}")
    if dy.dtype != np.dtype(dtype):
        raise TypeError(f"{layer}.backward: dy has dtype {dy.dtype}, expected the forward output "
                        f"dtype {np.dtype(dtype)}")
    return dy


def check_channel_major_input(x, layer: str, channels: int, dtype) -> np.ndarray:
    """A 4-D (C, N, H, W) ndarray with C = ``channels`` and the layer's parameter ``dtype``
    (the fast tier's internal layout; its callers are models, not users)."""
    if not isinstance(x, np.ndarray) or x.ndim != 4 or x.shape[0] != channels:
        raise ValueError(f"{layer}: expected a channel-major (C={channels}, N, H, W) array, got "
                         f"{getattr(x, 'shape', type(x).__name__)}")
    if x.dtype != np.dtype(dtype):
        raise TypeError(f"{layer}: input dtype {x.dtype} does not match the layer's parameter "
                        f"dtype {np.dtype(dtype)}")
    if x.shape[1] == 0:
        raise ValueError(f"{layer}: got an empty batch (shape {x.shape})")
    return x


def no_cache_error(layer: str) -> RuntimeError:
    return RuntimeError(f"{layer}.backward called without a preceding forward (or twice for one "
                        "forward): call forward(x) first")


def forward_cache(layer):
    """``layer._cache``, what its forward saved for backward; raises :func:`no_cache_error`
    (named after the layer's class) when no forward preceded, or its backward already ran."""
    cache = layer._cache
    if cache is None:
        raise no_cache_error(type(layer).__name__)
    return cache


def check_rng(rng, layer: str) -> np.random.Generator:
    """A ``np.random.Generator`` for initialization; None gives a fresh unseeded one."""
    if rng is None:
        return np.random.default_rng()
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{layer}: rng must be a numpy.random.Generator or None, "
                        f"got {type(rng).__name__}")
    return rng


def check_float_dtype(dtype, layer: str) -> np.dtype:
    """float32 (training) or float64 (gradient checks)."""
    dtype = np.dtype(dtype)
    if dtype not in FLOAT_DTYPES:
        raise TypeError(f"{layer}: dtype must be float32 or float64, got {dtype}")
    return dtype
