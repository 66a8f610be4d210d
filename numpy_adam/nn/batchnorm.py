"""Batch normalization over the batch (and spatial) axes, one implementation for 1-D and 2-D.

Both layers view their input as (N, C, L) without copying — (N, C) as L = 1, (N, C, L) as
is, (N, C, H, W) as L = H·W — and normalise each channel c over its m = N·L values.

Forward, training mode (batch statistics, biased variance):

    μ_c   = 1/m Σ x            σ²_c = 1/m Σ (x − μ_c)²
    x̂     = (x − μ_c) / √(σ²_c + ε)
    y     = w_c x̂ + b_c              (w = ``weight``, b = ``bias``: per-channel scale, shift)

and the running statistics are updated in place (PyTorch's convention: the running
variance uses the *unbiased* batch variance, the normalisation the *biased* one):

    running_mean ← (1 − momentum)·running_mean + momentum·μ
    running_var  ← (1 − momentum)·running_var  + momentum·σ²·m/(m − 1)
    num_batches_tracked ← num_batches_tracked + 1

(``momentum=None`` uses the cumulative average, momentum = 1/num_batches_tracked, as
PyTorch does.) Forward, eval mode: μ, σ² are running_mean, running_var.

Backward, training mode (μ and σ² depend on x; the compact form of the chain rule):

    dw_c = Σ dy·x̂       db_c = Σ dy
    dx   = w_c/√(σ²_c + ε) · (dy − mean(dy) − x̂·mean(dy·x̂))      (means per channel)

Backward, eval mode (μ, σ² are constants):

    dx = w_c · dy / √(running_var_c + ε)

These are the reference layers; :mod:`numpy_adam.nn.definitions` has the same equations as
loops over channels (the backward by the staged chain rule), and they are tested equal.

Buffers (running_mean, running_var, num_batches_tracked) live in ``state_dict`` under
PyTorch's names; num_batches_tracked is a 0-d int64 array as in torch's state_dict.
"""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from .checks import check_float_input, check_grad_output, check_positive_int, forward_cache
from .module import FLOAT_DTYPES, Module, Parameter

REDUCE_AXES = (0, 2)  # batch and positions of the (N, C, L) view


class _BatchNormCache(NamedTuple):
    x_hat: np.ndarray    # (N, C, L) normalised input
    inv_std: np.ndarray  # (C,) 1/√(σ² + ε), batch σ² in train mode, running_var in eval mode
    in_shape: tuple      # shape of the forward input, restored on dx
    training: bool       # which backward formula applies


class _BatchNorm(Module):
    """Shared forward/backward of :class:`BatchNorm1d` and :class:`BatchNorm2d`.

    Subclasses define ``_view(x) -> (N, C, L)`` after validating the input's rank.
    """

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, *,
                 dtype=np.float32):
        super().__init__()
        name = type(self).__name__
        self.num_features = check_positive_int(num_features, "num_features", name)
        if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps > 0:
            raise ValueError(f"{name}: eps must be a positive float, got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool)
                                     or not isinstance(momentum, numbers.Real)
                                     or not 0.0 <= momentum <= 1.0):
            raise ValueError(f"{name}: momentum must be a float in [0, 1] or None, "
                             f"got {momentum!r}")
        dtype = np.dtype(dtype)
        if dtype not in FLOAT_DTYPES:
            raise TypeError(f"{name}: dtype must be float32 or float64, got {dtype}")
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.weight = Parameter(np.ones(num_features, dtype=dtype), kind="batchnorm")   # w (C,)
        self.bias = Parameter(np.zeros(num_features, dtype=dtype), kind="batchnorm")    # b (C,)
        self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
        self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
        self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        self._cache: _BatchNormCache | None = None

    def _view(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x: the layer's input (see the subclass) -> y of the same shape."""
        weight, bias = self.weight.data, self.bias.data  # (C,)
        x3 = self._view(x)                              # (N, C, L), a view if x is contiguous
        if self.training:
            m = x3.shape[0] * x3.shape[2]
            if m <= 1:
                raise ValueError(f"{type(self).__name__}: expected more than 1 value per channel "
                                 f"when training, got input shape {x.shape}")
            mu = x3.mean(axis=REDUCE_AXES)                                  # (C,)
            centred = x3 - mu[:, None]                                      # (N, C, L)
            var = np.mean(centred * centred, axis=REDUCE_AXES)              # (C,) biased
            inv_std = 1.0 / np.sqrt(var + self.eps)                         # (C,)
            self.update_running_stats(mu, var, m)
        else:
            centred = x3 - self.running_mean[:, None]
            inv_std = 1.0 / np.sqrt(self.running_var + self.eps)
        x_hat = centred * inv_std[:, None]                                  # (N, C, L)
        y = x_hat * weight[:, None] + bias[:, None]
        self._cache = _BatchNormCache(x_hat, inv_std, x.shape, self.training)
        return y.reshape(x.shape)

    def update_running_stats(self, mu: np.ndarray, var: np.ndarray, m: int) -> None:
        """Fold one batch's mean μ (C,) and biased variance σ² (C,) over m values per channel
        into the running statistics (formulas in the module docstring). In place, so the
        buffers stay the arrays state_dict refers to. Called by forward in training mode, and
        by the fast tier's fused stage, which computes μ and σ² itself."""
        self.num_batches_tracked[...] += 1
        if self.momentum is None:  # cumulative moving average
            momentum = 1.0 / float(self.num_batches_tracked)
        else:
            momentum = self.momentum
        unbiased_var = var * (m / (m - 1))
        self.running_mean[...] = (1.0 - momentum) * self.running_mean + momentum * mu
        self.running_var[...] = (1.0 - momentum) * self.running_var + momentum * unbiased_var

    def backward(self, dy: np.ndarray) -> np.ndarray:
        """dy: same shape as y -> dx of x's shape; assigns weight.grad (dw), bias.grad (db)."""
        cache = forward_cache(self)
        weight = self.weight.data
        check_grad_output(dy, cache.in_shape, type(self).__name__, weight.dtype)
        self._cache = None
        x_hat, inv_std = cache.x_hat, cache.inv_std
        dy3 = dy.reshape(x_hat.shape)                                       # (N, C, L)
        dbias = dy3.sum(axis=REDUCE_AXES)                                   # (C,) Σ dy
        dweight = np.sum(dy3 * x_hat, axis=REDUCE_AXES)                     # (C,) Σ dy·x̂
        self.bias.grad[...] = dbias
        self.weight.grad[...] = dweight
        scale = (weight * inv_std)[:, None]                                 # (C, 1)
        if cache.training:
            m = x_hat.shape[0] * x_hat.shape[2]
            mean_dy, mean_dy_xhat = (dbias / m)[:, None], (dweight / m)[:, None]  # (C, 1)
            dx = scale * (dy3 - mean_dy - x_hat * mean_dy_xhat)
        else:
            dx = scale * dy3
        return dx.reshape(cache.in_shape)

    def extra_repr(self) -> str:
        return f"{self.num_features}, eps={self.eps}, momentum={self.momentum}"


class BatchNorm1d(_BatchNorm):
    """Batch normalization of (N, C) features (or (N, C, L) sequences), per feature C.

    Args:
        num_features: C.
        eps: ε added to the variance (default 1e-5).
        momentum: weight of the new batch in the running statistics (default 0.1), or
            None for the cumulative average.
        dtype: float32 (training) or float64 (checks), for weight, bias and the running
            statistics.

    Parameters: weight w (C,) = 1, bias b (C,) = 0 (scale and shift), both kind "batchnorm".
    Buffers: running_mean (C,) = 0, running_var (C,) = 1, num_batches_tracked () int64 = 0.
    Equations: see the module docstring.
    """

    def _view(self, x: np.ndarray) -> np.ndarray:
        ndim = 3 if isinstance(x, np.ndarray) and x.ndim == 3 else 2
        x = check_float_input(x, "BatchNorm1d", ndim=ndim, channels=self.num_features,
                              dtype=self.weight.data.dtype, layout="(N, C) or 3-D (N, C, L)")
        return x.reshape(x.shape[0], x.shape[1], -1)  # (N, C, L), L = 1 for (N, C)


class BatchNorm2d(_BatchNorm):
    """Batch normalization of (N, C, H, W) images, per channel C over N·H·W values.

    Args and state as :class:`BatchNorm1d`; input and output (N, C, H, W).
    """

    def _view(self, x: np.ndarray) -> np.ndarray:
        x = check_float_input(x, "BatchNorm2d", ndim=4, channels=self.num_features,
                              dtype=self.weight.data.dtype, layout="(N, C, H, W)")
        return x.reshape(x.shape[0], x.shape[1], -1)  # (N, C, H*W)
