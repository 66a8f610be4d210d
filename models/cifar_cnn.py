"""The note's CIFAR-10 network: two conv blocks and a two-layer classifier, manual backprop."""
from __future__ import annotations

import numbers
from typing import NamedTuple

import numpy as np

from numpy_adam.nn.activation import Flatten, ReLU
from numpy_adam.nn.batchnorm import BatchNorm1d, BatchNorm2d
from numpy_adam.nn.checks import (check_float_dtype, check_float_input, check_grad_output,
                                  check_positive_int, check_rng, forward_cache)
from numpy_adam.nn.conv import Conv2d
from numpy_adam.nn.linear import Linear
from numpy_adam.nn.module import Module
from numpy_adam.nn.pooling import MaxPool2d

IMAGE_SIZE = 32   # CIFAR-10 images are 3 × 32 × 32
IN_CHANNELS = 3
POOL = 2          # each block halves H and W: 32 → 16 → 8


class CifarCNNCache(NamedTuple):
    """What the model's backward checks (each layer keeps its own cache for the math)."""

    logits_shape: tuple[int, int]  # (N, num_classes)
    dtype: np.dtype                # the parameters' dtype at forward time


class CifarCNN(Module):
    """conv → BN → ReLU → pool → conv → BN → ReLU → pool → flatten → fc → BN → ReLU → fc.

    Shapes for x (N, 3, 32, 32), c1, c2 = channels, k = kernel_size, p = k // 2 ("same"
    padding, so only the pools change H and W):

        conv1 (c1, 3, k, k), bn1 (c1)      (N, c1, 32, 32)
        relu, pool 2                       (N, c1, 16, 16)
        conv2 (c2, c1, k, k), bn2 (c2)     (N, c2, 16, 16)
        relu, pool 2                       (N, c2, 8, 8)
        flatten                            (N, c2·8·8)
        fc1 (hidden, c2·8·8), bn3 (hidden) (N, hidden)
        relu, fc2 (num_classes, hidden)    (N, num_classes) logits

    Args:
        channels: (c1, c2), the widths of the two conv blocks (default (16, 32); the note
            gives none, this is the project's choice).
        kernel_size: odd positive int k (default 5).
        hidden: width of the hidden fully connected layer (default 128).
        num_classes: number of logits (default 10).
        rng: ``np.random.Generator`` for the initialisation (None: a fresh unseeded one),
            consumed in the order conv1, conv2, fc1, fc2 (weight, then bias), each as
            PyTorch's default init.
        dtype: float32 (training) or float64 (checks).
        image_size: side S of the square input images (default 32, CIFAR-10); a multiple
            of 4. Only fc1's input width c2·(S/4)² depends on it; smaller images make
            whole-network gradient checks cheap.

    Submodule names (and so state_dict keys) match a PyTorch twin with attributes conv1, bn1,
    conv2, bn2, fc1, bn3, fc2: ``"conv1.weight"``, ``"bn1.running_mean"``, ... The ReLU,
    pool and flatten layers hold no state. After construction every parameter is a view of
    one flat buffer, ``self.flat`` (segment kinds: conv/fc weights "weight", biases "bias",
    batchnorm weight/bias "batchnorm"); after ``.to(dtype)`` call ``flatten()`` again.

    forward(x (N, 3, S, S)) -> logits (N, num_classes);
    backward(dlogits (N, num_classes), the logits' dtype) -> dx (N, 3, S, S), assigning every
    parameter's grad. One backward per forward; a backward without its forward raises.

    This is the reference tier: the layers above, one after the other, each in plain NumPy
    (see :mod:`numpy_adam.nn`); the gradient checks run on it. Training uses
    :class:`numpy_adam.models.cifar_cnn_fast.FastCifarCNN`, the same network (same
    parameters and state_dict) run by Numba kernels, tested equal to this one.
    """

    def __init__(self, channels=(16, 32), kernel_size: int = 5, hidden: int = 128,
                 num_classes: int = 10, *, rng: np.random.Generator | None = None,
                 dtype=np.float32, image_size: int = IMAGE_SIZE):
        super().__init__()
        name = type(self).__name__
        if (not isinstance(channels, (tuple, list)) or len(channels) != 2
                or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) and c > 0
                           for c in channels)):
            raise ValueError(f"{name}: channels must be a pair of positive ints (c1, c2), "
                             f"got {channels!r}")
        c1, c2 = int(channels[0]), int(channels[1])
        kernel_size = check_positive_int(kernel_size, "kernel_size", name)
        if kernel_size % 2 == 0:
            raise ValueError(f"{name}: kernel_size must be odd so that padding kernel_size//2 "
                             f"keeps H and W, got {kernel_size}")
        hidden = check_positive_int(hidden, "hidden", name)
        num_classes = check_positive_int(num_classes, "num_classes", name)
        image_size = check_positive_int(image_size, "image_size", name)
        if image_size % (POOL * POOL) != 0:
            raise ValueError(f"{name}: image_size must be a multiple of {POOL * POOL} (two "
                             f"2×2 pools), got {image_size}")
        dtype = check_float_dtype(dtype, name)
        rng = check_rng(rng, name)
        self.channels, self.kernel_size = (c1, c2), kernel_size
        self.hidden, self.num_classes, self.image_size = hidden, num_classes, image_size
        pad = kernel_size // 2
        final_size = image_size // POOL // POOL  # 8 for CIFAR-10

        # Registration order is forward order (named_parameters, state_dict, flat segments).
        self.conv1 = Conv2d(IN_CHANNELS, c1, kernel_size, padding=pad, rng=rng, dtype=dtype)
        self.bn1 = BatchNorm2d(c1, dtype=dtype)
        self.relu1 = ReLU()
        self.pool1 = MaxPool2d(POOL)
        self.conv2 = Conv2d(c1, c2, kernel_size, padding=pad, rng=rng, dtype=dtype)
        self.bn2 = BatchNorm2d(c2, dtype=dtype)
        self.relu2 = ReLU()
        self.pool2 = MaxPool2d(POOL)
        self.flatten_features = Flatten()
        self.fc1 = Linear(c2 * final_size * final_size, hidden, rng=rng, dtype=dtype)
        self.bn3 = BatchNorm1d(hidden, dtype=dtype)
        self.relu3 = ReLU()
        self.fc2 = Linear(hidden, num_classes, rng=rng, dtype=dtype)
        self.flat = self.flatten()
        self._cache: CifarCNNCache | None = None

    def _check_input(self, x: np.ndarray) -> np.ndarray:
        """x must be (N, 3, S, S) with S = image_size, in the parameters' dtype."""
        s = self.image_size
        layout = f"(N, {IN_CHANNELS}, {s}, {s})"
        check_float_input(x, type(self).__name__, ndim=4, channels=IN_CHANNELS,
                          dtype=self.conv1.weight.data.dtype, layout=layout)
        if x.shape[2:] != (s, s):
            raise ValueError(f"{type(self).__name__}: expected {s}×{s} images {layout}, "
                             f"got shape {x.shape}")
        return x

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, 3, S, S) -> logits (N, num_classes); S = image_size (32 for CIFAR-10)."""
        self._check_input(x)
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))  # (N, c1, S/2, S/2)
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))  # (N, c2, S/4, S/4)
        x = self.flatten_features(x)                         # (N, c2·(S/4)²)
        x = self.relu3(self.bn3(self.fc1(x)))                # (N, hidden)
        logits = self.fc2(x)                                 # (N, num_classes)
        self._cache = CifarCNNCache(logits.shape, logits.dtype)
        return logits

    def _begin_backward(self, dlogits: np.ndarray) -> np.ndarray:
        """Consume the model's forward cache (one backward per forward); dlogits must have
        the logits' shape and dtype."""
        cache = forward_cache(self)
        check_grad_output(dlogits, cache.logits_shape, type(self).__name__, cache.dtype)
        self._cache = None
        return dlogits

    def backward(self, dlogits: np.ndarray) -> np.ndarray:
        """dlogits (N, num_classes) -> dx (N, 3, S, S); every layer in reverse order."""
        d = self.fc2.backward(self._begin_backward(dlogits))                  # (N, hidden)
        d = self.fc1.backward(self.bn3.backward(self.relu3.backward(d)))        # (N, c2·(S/4)²)
        d = self.flatten_features.backward(d)                                   # (N, c2, S/4, S/4)
        d = self.conv2.backward(self.bn2.backward(self.relu2.backward(self.pool2.backward(d))))
        return self.conv1.backward(self.bn1.backward(self.relu1.backward(self.pool1.backward(d))))

    def extra_repr(self) -> str:
        text = (f"channels={self.channels}, kernel_size={self.kernel_size}, hidden={self.hidden}, "
                f"num_classes={self.num_classes}")
        return text if self.image_size == IMAGE_SIZE else text + f", image_size={self.image_size}"
