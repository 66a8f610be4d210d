"""The fast twin of CifarCNN: the same network and parameters, run by the fast tier.

:class:`FastCifarCNN` is what training uses (``numpy_adam.training.tasks.CifarTask``). It
subclasses :class:`~numpy_adam.models.cifar_cnn.CifarCNN` and inherits everything but forward
and backward: constructor arguments and their checks, initialisation (same ``rng`` draws),
parameters as views of one flat buffer, state_dict keys, input checks. A state_dict moves
between the two models either way. Its forward runs the conv blocks in the channel-major
layout (C, N, H, W), so the convs' GEMM outputs need no transposes, with the fast stages of
:mod:`numpy_adam.nn` built once on the model's own layers:

    x (N, 3, S, S)       to_channel_major: one transposing copy       (3, N, S, S)
    conv1_cn             ChannelMajorConv2d(conv1)                    (c1, N, S, S)
    block1               BatchNormReLUMaxPool(bn1, pool1)             (c1, N, S/2, S/2)
    conv2_cn             SpectralChannelMajorConv2d(conv2)            (c2, N, S/2, S/2)
    block2               BatchNormReLUMaxPool(bn2, pool2)             (c2, N, S/4, S/4)
    flatten_cn           back to NCHW order, flattened                (N, c2·(S/4)²)
    fc1, bn3, relu3, fc2 the reference layers                         (N, num_classes)

(relu1, relu2 and flatten_features are not called: the fused stages and flatten_cn do their
work; pool1 and pool2 only lend their window.) The stages are plain objects, not
submodules, so they add no state_dict keys. Each conv runs the algorithm that made whole
training steps fastest (``numpy-adam bench`` times each conv per layer and direction, and
whole steps with the alternatives; README, Performance): conv1, with 3 input channels, by
im2col + GEMM (ChannelMajorConv2d); conv2, 16 → 32 channels, in the frequency domain
(SpectralChannelMajorConv2d: one small matrix product per frequency instead of im2col's
25-fold copy of its input). The direct convolution (DirectChannelMajorConv2d) was not faster
in whole steps for either.

Threads. The conv blocks' stages split their work over :class:`~numpy_adam.nn.lanes.Lanes`
(images, channels, or rows and columns of the products; one lane per OpenBLAS thread, with
OpenBLAS itself on one thread meanwhile), from a batch of :data:`LANES_MIN_BATCH` up. Below
it the stages run on the calling thread and the products on OpenBLAS's own threads, which
hand work over faster than the lanes can (``numpy-adam bench``; README, Performance). The
results are the same to the bit either way.

Memory. Constructing one applies the allocator policy of :mod:`numpy_adam.nn.allocator`
(process-wide, once): the step's arrays, freed at its end, stay with the process for the next
step instead of being returned to the OS and page-faulted back in.

Backward contract. ``backward(dlogits)`` takes dlogits of the logits' shape and dtype,
once per forward (as CifarCNN's), assigns every parameter's gradient and returns None: it
does not compute ∂L/∂x, the input gradient of conv1 (a GEMM and a col2im that training
never uses; PyTorch skips it too for images that do not require grad). Use CifarCNN, same
state_dict, when the input gradient is needed (gradient checks).

Agreement with CifarCNN is tested in tests/models/test_cifar_cnn_fast.py (logits, every
parameter gradient, running statistics; train and eval; float64 and float32). The two
differ by rounding only: batch statistics summed in float64, conv1 dW's GEMM in the transposed
orientation, conv2's sums taken through the frequency domain, the order of ReLU and max.
"""
from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import numpy as np

from numpy_adam.nn.allocator import keep_freed_memory
from numpy_adam.nn.fast_conv import ChannelMajorConv2d, swap_batch_and_channels
from numpy_adam.nn.fast_fused import BatchNormReLUMaxPool
from numpy_adam.nn.fast_spectral_conv import SpectralChannelMajorConv2d
from numpy_adam.nn.lanes import shared_lanes

from .cifar_cnn import POOL, CifarCNN, CifarCNNCache

# The smallest batch whose step runs over lanes (module doc, Threads): interleaved whole
# steps, lanes / OpenBLAS's threads, were 1.28×, 1.14–1.18×, 1.06×, 0.93–0.98×, 0.88× and
# 0.78× as long at batch 16, 32, 40, 50, 64 and 100.
LANES_MIN_BATCH = 48


class FastCifarCNN(CifarCNN):
    """:class:`~numpy_adam.models.cifar_cnn.CifarCNN` run by the fast tier (module doc).

    Args: exactly CifarCNN's.

    forward(x (N, 3, S, S)) -> logits (N, num_classes).
    backward(dlogits (N, num_classes)) -> None; assigns every parameter's grad, computes no dx.

    Public stages, in forward order (what ``forward`` calls, usable one by one, e.g. by the
    bench): ``to_channel_major``, ``conv1_cn``, ``block1``, ``conv2_cn``, ``block2``,
    ``flatten_cn``, then the classifier layers fc1, bn3, relu3, fc2; backward in reverse
    with ``unflatten_cn`` and ``conv1_cn.backward_params_only``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        keep_freed_memory()  # module doc, Memory
        self.lanes = lanes = shared_lanes()  # module doc, Threads
        self.lanes_min_batch: int | None = LANES_MIN_BATCH  # None: never over lanes
        self.conv1_cn = ChannelMajorConv2d(self.conv1, lanes)
        # overwrite_input: x̂ goes into the conv output, which nothing else reads
        self.block1 = BatchNormReLUMaxPool(self.bn1, self.pool1, overwrite_input=True, lanes=lanes)
        self.conv2_cn = SpectralChannelMajorConv2d(self.conv2, lanes)
        self.block2 = BatchNormReLUMaxPool(self.bn2, self.pool2, overwrite_input=True, lanes=lanes)

    def parallel_for(self, batch: int) -> AbstractContextManager:
        """The context a step at ``batch`` runs its stages in: the lanes' ``parallel()`` from
        ``self.lanes_min_batch`` (:data:`LANES_MIN_BATCH`) up, else nothing (module doc,
        Threads)."""
        threshold = self.lanes_min_batch
        return self.lanes.parallel() if threshold is not None and batch >= threshold \
            else nullcontext()

    def to_channel_major(self, x: np.ndarray) -> np.ndarray:
        """x (N, C, H, W) -> a contiguous copy (C, N, H, W): im2col then reads whole planes
        instead of gathering across the batch from a transposed view."""
        return swap_batch_and_channels(x, self.lanes)

    def flatten_cn(self, h: np.ndarray) -> np.ndarray:
        """h (c2, N, S/4, S/4) -> (N, c2·(S/4)²) in the NCHW flatten order fc1 expects."""
        return h.transpose(1, 0, 2, 3).reshape(h.shape[1], -1)

    def unflatten_cn(self, d: np.ndarray) -> np.ndarray:
        """d (N, c2·(S/4)²) -> contiguous (c2, N, S/4, S/4), the adjoint of :meth:`flatten_cn`."""
        n, c2 = d.shape[0], self.channels[1]
        side = self.image_size // POOL // POOL
        d = d.reshape(n, c2, -1).transpose(1, 0, 2)             # (c2, N, (S/4)²)
        return np.ascontiguousarray(d).reshape(c2, n, side, side)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """x (N, 3, S, S) -> logits (N, num_classes); S = image_size (32 for CIFAR-10)."""
        self._check_input(x)
        with self.parallel_for(x.shape[0]):  # module doc, Threads
            h = self.conv1_cn.forward(self.to_channel_major(x))  # (c1, N, S, S)
            h = self.block1.forward(h)                            # (c1, N, S/2, S/2)
            h = self.block2.forward(self.conv2_cn.forward(h))     # (c2, N, S/4, S/4)
            h = self.relu3(self.bn3(self.fc1(self.flatten_cn(h))))  # (N, hidden)
            logits = self.fc2(h)                                  # (N, num_classes)
        self._cache = CifarCNNCache(logits.shape, logits.dtype)
        return logits

    def backward(self, dlogits: np.ndarray) -> None:
        """dlogits (N, num_classes) -> None; assigns every parameter's grad (no input grad)."""
        d = self._begin_backward(dlogits)
        with self.parallel_for(d.shape[0]):
            d = self.fc2.backward(d)                                          # (N, hidden)
            d = self.fc1.backward(self.bn3.backward(self.relu3.backward(d)))  # (N, c2·(S/4)²)
            d = self.block2.backward(self.unflatten_cn(d))                    # (c2, N, S/2, S/2)
            d = self.conv2_cn.backward(d)                                     # (c1, N, S/2, S/2)
            self.conv1_cn.backward_params_only(self.block1.backward(d))
        return None
