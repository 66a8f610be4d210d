"""Fast tier: BatchNorm2d → ReLU → MaxPool2d as one fused stage in the layout (C, N, H, W).

The stage owns no parameters: it reads and writes those of an existing
:class:`~numpy_adam.nn.batchnorm.BatchNorm2d` (weight, bias, running statistics,
``training``) and the window of an existing :class:`~numpy_adam.nn.pooling.MaxPool2d`, so a
model that uses it keeps the state_dict keys of those layers. It is not a
:class:`~numpy_adam.nn.module.Module` on purpose: registering it would add state_dict keys.

Forward, x (C, N, H, W) → y (C, N, H', W'), the three reference layers' math:

    train: μ_c, σ²_c = batch mean, biased variance over N·H·W (running statistics updated
           by BatchNorm2d.update_running_stats);  eval: μ_c, σ²_c = running_mean, running_var
    x̂ = (x − μ_c)/√(σ²_c + ε),   z = max(w_c x̂ + b_c, 0),   y = maxpool(z)

with w, b the batchnorm's weight and bias. Backward, dy (C, N, H', W') → dx (C, N, H, W);
assigns the batchnorm's weight.grad and bias.grad:

    dz = dy routed to each window's argmax (first maximum), masked by z > 0
    dbias = Σ dz,   dweight = Σ dz·x̂
    train: dx = w/√(σ²+ε) · (dz − mean(dz) − x̂·mean(dz·x̂));   eval: dx = w/√(σ²+ε) · dz

``backward(dy, hold_batch_statistics=True)`` after a train-mode forward gives the eval form
with the batch's μ, σ²: the gradient with the batch statistics held fixed, as if they were
constants, which is what the per-sample gradients of :mod:`numpy_adam.models.batch_spread_fast`
need (no sample's gradient then flows through the others' statistics).

Why fused: the three layers each make a full pass over the activations (and keep a copy
for backward); fused, forward and backward are one pass each. The batch statistics are
summed in float64 (:func:`~.fast_kernels.channel_mean_var`), so float32 results round
slightly differently from BatchNorm2d's. Pool windows: any kernel and stride (no padding,
floor output size), as MaxPool2d. The input array is overwritten by x̂ when
``overwrite_input=True`` (the caller's throw-away conv output), saving one allocation per
step; otherwise x̂ is a new array. Tested against the reference layers in
tests/nn/test_fast_tier.py.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .batchnorm import BatchNorm2d
from .checks import check_channel_major_input, check_grad_output, forward_cache
from .fast_kernels import bn_relu_maxpool_backward, bn_relu_maxpool_forward, channel_mean_var
from .im2col import output_shape
from .lanes import Lanes, shared_lanes
from .pooling import MaxPool2d

_NO_PADDING = (0, 0)


class FusedCache(NamedTuple):
    """What backward needs from forward."""

    xhat: np.ndarray      # (C, N, H, W) normalised input
    y: np.ndarray         # (C, N, H', W') output (its sign is the ReLU mask at the argmax)
    argmax: np.ndarray    # (C, N, H', W') int32, in-window index u·kw + v of each window's max
    inv_std: np.ndarray   # (C,) float64, 1/√(σ² + ε) used in forward
    training: bool        # batch (True) or running (False) statistics


class BatchNormReLUMaxPool:
    """Fused BatchNorm2d + ReLU + MaxPool2d over the (C, N, H, W) layout (see module doc).

    Args:
        bn: the BatchNorm2d whose parameters, buffers and mode are used.
        pool: the MaxPool2d whose kernel_size and stride are used.
        overwrite_input: write x̂ into the forward's input array (default False).
        lanes: the threads that share the channels (default: the process's shared
            :class:`~.lanes.Lanes`; every channel's work is independent of the others').
            They run in parallel only inside ``lanes.parallel()``; elsewhere in one call.

    forward(x (C, N, H, W)) → y (C, N, H', W'), the batchnorm's dtype.
    backward(dy (C, N, H', W'), hold_batch_statistics=False) → dx (C, N, H, W); assigns
    bn.weight.grad, bn.bias.grad.
    """

    def __init__(self, bn: BatchNorm2d, pool: MaxPool2d, *, overwrite_input: bool = False,
                 lanes: Lanes | None = None):
        if not isinstance(bn, BatchNorm2d):
            raise TypeError(f"BatchNormReLUMaxPool: bn must be a BatchNorm2d, got {type(bn).__name__}")
        if not isinstance(pool, MaxPool2d):
            raise TypeError(f"BatchNormReLUMaxPool: pool must be a MaxPool2d, "
                            f"got {type(pool).__name__}")
        self.bn, self.pool, self.overwrite_input = bn, pool, bool(overwrite_input)
        self.lanes = shared_lanes() if lanes is None else lanes
        self._cache: FusedCache | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (C, N, H, W) → y (C, N, H', W'), x's dtype (that of the batchnorm)."""
        bn = self.bn
        name = "BatchNormReLUMaxPool"
        check_channel_major_input(x, name, bn.num_features, bn.weight.data.dtype)
        n_ch, n, height, width = x.shape
        out_h, out_w = output_shape((n, n_ch, height, width), self.pool.kernel_size,
                                    self.pool.stride, _NO_PADDING, name)
        training = bn.training
        if training and n * height * width <= 1:
            raise ValueError(f"{name}: expected more than 1 value per channel when training, "
                             f"got input shape {x.shape}")
        if training:
            mean, var = np.empty(n_ch), np.empty(n_ch)  # (C,) float64, filled per channel below
        else:
            mean = bn.running_mean.astype(np.float64)
            var = bn.running_var.astype(np.float64)
        inv_std = np.empty(n_ch)  # (C,) float64, 1/√(σ² + ε)
        xhat = x if self.overwrite_input else np.empty_like(x)
        y = np.empty((n_ch, n, out_h, out_w), dtype=x.dtype)
        argmax = np.empty((n_ch, n, out_h, out_w), dtype=np.int32)
        (kh, kw), (sh, sw) = self.pool.kernel_size, self.pool.stride
        weight, bias, eps = bn.weight.data, bn.bias.data, bn.eps

        def channels(c0, c1):  # statistics, then normalise, ReLU, pool: channel by channel
            if training:
                channel_mean_var(x[c0:c1], mean[c0:c1], var[c0:c1])
            inv_std[c0:c1] = 1.0 / np.sqrt(var[c0:c1] + eps)
            bn_relu_maxpool_forward(x[c0:c1], mean[c0:c1], inv_std[c0:c1], weight[c0:c1],
                                    bias[c0:c1], kh, kw, sh, sw, xhat[c0:c1], y[c0:c1],
                                    argmax[c0:c1])

        self.lanes.split(channels, n_ch, cost=4 * x[0].size)
        if training:
            dtype = x.dtype
            bn.update_running_stats(mean.astype(dtype), var.astype(dtype), n * height * width)
        self._cache = FusedCache(xhat, y, argmax, inv_std, bn.training)
        return y

    def backward(self, dy: np.ndarray, hold_batch_statistics: bool = False) -> np.ndarray:
        """dy (C, N, H', W') → dx (C, N, H, W); assigns bn.weight.grad and bn.bias.grad.

        hold_batch_statistics: after a train-mode forward, treat the batch's μ, σ² as
        constants (the eval formula with them); no effect after an eval-mode forward."""
        cache = forward_cache(self)
        through_statistics = cache.training and not hold_batch_statistics
        check_grad_output(dy, cache.y.shape, "BatchNormReLUMaxPool", cache.y.dtype)
        self._cache = None
        n_ch = cache.xhat.shape[0]
        dx = np.empty_like(cache.xhat)  # (C, N, H, W)
        dweight, dbias = np.empty(n_ch), np.empty(n_ch)  # (C,) float64
        (_, kw), (sh, sw) = self.pool.kernel_size, self.pool.stride
        weight = self.bn.weight.data

        def channels(c0, c1):
            part = slice(c0, c1)
            bn_relu_maxpool_backward(dy[part], cache.y[part], cache.argmax[part],
                                     cache.xhat[part], weight[part], cache.inv_std[part], kw, sh,
                                     sw, through_statistics, dx[part], dweight[part],
                                     dbias[part])

        self.lanes.split(channels, n_ch, cost=4 * dx[0].size)
        self.bn.weight.grad[...] = dweight
        self.bn.bias.grad[...] = dbias
        return dx

    def __repr__(self) -> str:
        return (f"BatchNormReLUMaxPool({self.bn.extra_repr()}, {self.pool.extra_repr()}, "
                f"overwrite_input={self.overwrite_input})")
