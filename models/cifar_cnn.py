"""The note's CIFAR-10 network: two conv blocks and a two-layer classifier, manual backprop."""
from __future__ import annotations

import numbers

import numpy as np

from numpy_adam.nn.activation import Flatten, ReLU
from numpy_adam.nn.batchnorm import BatchNorm1d, BatchNorm2d
from numpy_adam.nn.checks import check_float_dtype, check_float_input, check_positive_int, check_rng
from numpy_adam.nn.conv import Conv2d
from numpy_adam.nn.fused import BatchNormReLUMaxPool
from numpy_adam.nn.linear import Linear
from numpy_adam.nn.module import Module
from numpy_adam.nn.pooling import MaxPool2d

IMAGE_SIZE = 32   # CIFAR-10 images are 3 × 32 × 32
IN_CHANNELS = 3
POOL = 2          # each block halves H and W: 32 → 16 → 8


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
    BN γ/β "batchnorm"); after ``.to(dtype)`` call ``flatten()`` again.

    forward(x (N, 3, 32, 32)) -> logits (N, num_classes);
    backward(dlogits (N, num_classes)) -> dx (N, 3, 32, 32), assigning every parameter's grad.

    fused: True (default) runs the conv blocks in the channel-major layout (C, N, H, W)
        with Conv2d.forward_cn and a fused Numba BatchNorm+ReLU+MaxPool stage
        (:mod:`numpy_adam.nn.fused`); False runs the plain layers one by one (the oracle;
        both give the same result up to rounding). Same parameters and state_dict either way;
        the attribute ``fused`` may be switched between steps (not between a forward and its
        backward).
    input_grad: True (default): backward returns dx. False: backward skips conv1's input
        gradient (a GEMM and a col2im) and returns None; parameter gradients are unchanged.
        Training needs no dx (PyTorch skips it too: images do not require grad); gradient
        checks of the input need True. An attribute, settable between steps.
    """

    def __init__(self, channels=(16, 32), kernel_size: int = 5, hidden: int = 128,
                 num_classes: int = 10, *, rng: np.random.Generator | None = None,
                 dtype=np.float32, image_size: int = IMAGE_SIZE, fused: bool = True,
                 input_grad: bool = True):
        super().__init__()
        if (not isinstance(channels, (tuple, list)) or len(channels) != 2
                or not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) and c > 0
                           for c in channels)):
            raise ValueError(f"CifarCNN: channels must be a pair of positive ints (c1, c2), "
                             f"got {channels!r}")
        c1, c2 = int(channels[0]), int(channels[1])
        kernel_size = check_positive_int(kernel_size, "kernel_size", "CifarCNN")
        if kernel_size % 2 == 0:
            raise ValueError(f"CifarCNN: kernel_size must be odd so that padding kernel_size//2 "
                             f"keeps H and W, got {kernel_size}")
        hidden = check_positive_int(hidden, "hidden", "CifarCNN")
        num_classes = check_positive_int(num_classes, "num_classes", "CifarCNN")
        image_size = check_positive_int(image_size, "image_size", "CifarCNN")
        if image_size % (POOL * POOL) != 0:
            raise ValueError(f"CifarCNN: image_size must be a multiple of {POOL * POOL} (two "
                             f"2×2 pools), got {image_size}")
        dtype = check_float_dtype(dtype, "CifarCNN")
        rng = check_rng(rng, "CifarCNN")
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
        if not isinstance(fused, bool):
            raise TypeError(f"CifarCNN: fused must be True or False, got {fused!r}")
        self.fused = fused
        if not isinstance(input_grad, bool):
            raise TypeError(f"CifarCNN: input_grad must be True or False, got {input_grad!r}")
        self.input_grad = input_grad
        self._fused_pending = False
        self._block1 = self._block2 = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, 3, 32, 32) -> logits (N, num_classes)."""
        s = self.image_size
        layout = f"(N, {IN_CHANNELS}, {s}, {s})"
        check_float_input(x, "CifarCNN", ndim=4, channels=IN_CHANNELS,
                          dtype=self.conv1.weight.data.dtype, layout=layout)
        if x.shape[2:] != (s, s):
            raise ValueError(f"CifarCNN: expected {s}×{s} images {layout}, got shape {x.shape}")
        self._fused_pending = False  # which backward applies: set by the path that ran
        if self.fused and self._fusable():
            return self._forward_fused(x)
        x = self.pool1(self.relu1(self.bn1(self.conv1(x))))  # (N, c1, 16, 16)
        x = self.pool2(self.relu2(self.bn2(self.conv2(x))))  # (N, c2, 8, 8)
        x = self.flatten_features(x)                         # (N, c2·64)
        x = self.relu3(self.bn3(self.fc1(x)))                # (N, hidden)
        return self.fc2(x)                                   # (N, num_classes)

    def _fusable(self) -> bool:
        """The fused path computes exactly the standard layers; a replaced layer (e.g. a test
        double) makes the model run the plain path, so the replacement takes effect."""
        standard = ((self.conv1, Conv2d), (self.bn1, BatchNorm2d), (self.relu1, ReLU),
                    (self.pool1, MaxPool2d), (self.conv2, Conv2d), (self.bn2, BatchNorm2d),
                    (self.relu2, ReLU), (self.pool2, MaxPool2d))
        return all(type(layer) is cls for layer, cls in standard)

    def _forward_fused(self, x: np.ndarray) -> np.ndarray:
        """The conv blocks channel-major: transposes only at the input and at the flatten."""
        n = x.shape[0]
        # Plain objects, not Modules: they use bn/pool state and add no state_dict keys.
        self._block1 = BatchNormReLUMaxPool(self.bn1, self.pool1, overwrite_input=True)
        self._block2 = BatchNormReLUMaxPool(self.bn2, self.pool2, overwrite_input=True)
        # one copy into (3, N, 32, 32): im2col reads contiguous planes (1 ms faster at
        # N = 100 than gathering from the transposed view, for a 0.1 ms copy)
        x_cn = np.ascontiguousarray(x.transpose(1, 0, 2, 3))
        h = self.conv1.forward_cn(x_cn)                      # (c1, N, 32, 32)
        h = self._block1.forward(h)                          # (c1, N, 16, 16)
        h = self._block2.forward(self.conv2.forward_cn(h))   # (c2, N, 8, 8)
        h = h.transpose(1, 0, 2, 3).reshape(n, -1)           # (N, c2·64), NCHW flatten order
        self._fused_pending = True
        h = self.relu3(self.bn3(self.fc1(h)))                # (N, hidden)
        return self.fc2(h)                                   # (N, num_classes)

    def _backward_fused(self, dlogits: np.ndarray) -> np.ndarray:
        d = self.fc2.backward(dlogits)                                          # (N, hidden)
        d = self.fc1.backward(self.bn3.backward(self.relu3.backward(d)))        # (N, c2·64)
        n = d.shape[0]
        c2 = self.channels[1]
        d = d.reshape(n, c2, -1).transpose(1, 0, 2)                            # (c2, N, 64)
        d = np.ascontiguousarray(d).reshape(self._block2._cache.y.shape)       # (c2, N, 8, 8)
        d = self.conv2.backward_cn(self._block2.backward(d))                   # (c1, N, 16, 16)
        d = self.conv1.backward_cn(self._block1.backward(d), need_dx=self.input_grad)
        if d is None:
            return None
        return np.ascontiguousarray(d.transpose(1, 0, 2, 3))                   # (N, 3, 32, 32)

    def backward(self, dlogits: np.ndarray) -> np.ndarray | None:
        """dlogits (N, num_classes) -> dx (N, 3, 32, 32) (None if not input_grad); every layer
        in reverse order."""
        if self._fused_pending:
            self._fused_pending = False
            return self._backward_fused(dlogits)
        d = self.fc2.backward(dlogits)                                          # (N, hidden)
        d = self.fc1.backward(self.bn3.backward(self.relu3.backward(d)))        # (N, c2·64)
        d = self.flatten_features.backward(d)                                   # (N, c2, 8, 8)
        d = self.conv2.backward(self.bn2.backward(self.relu2.backward(self.pool2.backward(d))))
        if not self.input_grad and type(self.conv1) is Conv2d:
            d = self.bn1.backward(self.relu1.backward(self.pool1.backward(d)))
            return self.conv1.backward_cn(d.transpose(1, 0, 2, 3), need_dx=False)
        return self.conv1.backward(self.bn1.backward(self.relu1.backward(self.pool1.backward(d))))

    def extra_repr(self) -> str:
        text = (f"channels={self.channels}, kernel_size={self.kernel_size}, hidden={self.hidden}, "
                f"num_classes={self.num_classes}")
        return text if self.image_size == IMAGE_SIZE else text + f", image_size={self.image_size}"
