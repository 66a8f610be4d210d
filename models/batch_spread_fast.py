"""The fast twin of the per-sample spread probe: the same ḡ and s, from the fast tier's stages.

:class:`~numpy_adam.models.batch_spread.BatchSpread` is the plain probe: it reads best, and it
defines what is measured (ḡ, s² per element; batchnorm with the batch statistics held fixed).
It runs its forward and backward through the reference layers, which made a training step
with ``--batch-spread`` several times as long as one without. :class:`FastBatchSpread`
computes the same sums with the stages :class:`~numpy_adam.models.cifar_cnn_fast.FastCifarCNN`
trains with, on a twin of its own:

    forward   the fast twin in train mode: its fused BatchNorm+ReLU+max-pool stages compute
              the batch statistics and normalise with them, as the training forward does;
              bn3 (the classifier's) is in eval mode with the batch's statistics, as in the
              plain probe
    backward  from ∂l_i/∂logits, through the fused stages with ``hold_batch_statistics``
              (dx = w/√(σ²+ε) · dz: the statistics are constants), conv2's input gradient
              in the frequency domain
    moments   fully connected: Σ g_i = δᵀa, Σ g_i² = (δ²)ᵀ(a²), as the plain probe;
              convolution: X_i, sample i's im2col columns (C·kh·kw, H'W'), from the
              channel-major im2col kernel, then g_iᵀ = X_i δ_iᵀ for every sample in one
              batched product, split over the lanes by samples

so a probed step costs about two training steps' forward and backward plus the per-sample
products. (Reusing the training step's own forward would save one, but its caches are consumed
by its backward before the probe runs.) Like the plain probe it only reads the model, whose
parameters it copies into its twin at every call. The two probes differ by rounding only
(float64 batch statistics in the fused stages, conv2's sums taken through the frequency
domain): tested against each other and against an explicit loop over samples in
tests/models/test_batch_spread.py.
"""
from __future__ import annotations

import numpy as np

from numpy_adam.nn.fast_kernels import im2col_cn
from numpy_adam.nn.loss import SoftmaxCrossEntropy
from numpy_adam.nn.workspace import StepWorkspace

from .batch_spread import TRACKED, BatchSpread, _hold_batch_statistics, _linear_moments
from .cifar_cnn import CifarCNN
from .cifar_cnn_fast import FastCifarCNN



class FastBatchSpread(BatchSpread):
    """:class:`~numpy_adam.models.batch_spread.BatchSpread` computed by the fast tier
    (module doc): the same ``names``, ``moments(x, labels)`` and ``measure(x, labels)``.

    model: the CifarCNN (or its fast twin) being trained; only read, never changed
    """

    def __init__(self, model: CifarCNN):
        self.model = model
        self.dtype = model.conv1.weight.data.dtype
        self.twin = FastCifarCNN(channels=model.channels, kernel_size=model.kernel_size,
                                 hidden=model.hidden, num_classes=model.num_classes,
                                 image_size=model.image_size, dtype=self.dtype)
        self.names = tuple(f"{layer}.weight" for layer in TRACKED)
        self._workspace = StepWorkspace(self.twin)  # the im2col columns, kept from call to call

    def moments(self, x: np.ndarray, labels: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{weight name: (Σ_i g_i, Σ_i g_i²)} over the batch, float64, each of the weight's shape."""
        twin, sums = self.twin, {}
        for (_, mine), (_, theirs) in zip(self.model.named_parameters(), twin.named_parameters()):
            theirs.data = mine.data  # copied into the twin
        twin.train()
        twin.bn3.eval()  # normalises with the statistics _hold_batch_statistics gives it
        x = np.asarray(x, dtype=self.dtype)
        with twin.parallel_for(x.shape[0]):
            x_cn = twin.to_channel_major(x)                                  # (3, N, S, S)
            h1 = twin.block1.forward(twin.conv1_cn.forward(x_cn))            # (c1, N, S/2, S/2)
            h2 = twin.block2.forward(twin.conv2_cn.forward(h1))              # (c2, N, S/4, S/4)
            a_fc1 = twin.flatten_cn(h2)                                      # (N, c2·(S/4)²)
            y = twin.fc1(a_fc1)
            _hold_batch_statistics(twin.bn3, y, axes=(0,))
            a_fc2 = twin.relu3(twin.bn3(y))                                  # (N, hidden)
            loss = SoftmaxCrossEntropy()
            loss.forward(twin.fc2(a_fc2), labels)
            d = loss.backward() * x.shape[0]                                 # ∂l_i/∂logits
            sums["fc2.weight"] = _linear_moments(d, a_fc2)
            d = twin.bn3.backward(twin.relu3.backward(twin.fc2.backward(d)))
            sums["fc1.weight"] = _linear_moments(d, a_fc1)
            d = twin.block2.backward(twin.unflatten_cn(twin.fc1.backward(d)),
                                     hold_batch_statistics=True)             # (c2, N, S/2, S/2)
            sums["conv2.weight"] = self._conv_moments(d, h1, twin.conv2, "conv2")
            d = twin.block1.backward(twin.conv2_cn.backward(d),
                                     hold_batch_statistics=True)             # (c1, N, S, S)
            sums["conv1.weight"] = self._conv_moments(d, x_cn, twin.conv1, "conv1")
        # conv1_cn's forward cache is not consumed (no input gradient is needed there); the
        # next forward replaces it
        return {name: sums[name] for name in self.names}

    def _conv_moments(self, delta: np.ndarray, x: np.ndarray, conv, name: str):
        """Σ_i g_i and Σ_i g_i² for a conv with channel-major input x (C, N, H, W) and output
        gradient δ (O, N, H', W'): g_iᵀ = X_i (C·kh·kw, H'W') · δ_iᵀ (H'W', O) per sample.

        Transposed (g_iᵀ, not g_i = δ_i X_iᵀ) because then each sample's product reads the
        rows of X_i that im2col wrote contiguously, which measured faster for both convs."""
        o, n, out_h, out_w = delta.shape
        (kh, kw), (sh, sw), (ph, pw) = conv.kernel_size, conv.stride, conv.padding
        cols = self._workspace.array(name, (x.shape[0], kh, kw, n, out_h, out_w), x.dtype)
        k, plane = x.shape[0] * kh * kw, out_h * out_w
        cols_n = cols.reshape(k, n, plane).transpose(1, 0, 2)    # (N, C·kh·kw, H'W')
        delta_t = delta.reshape(o, n, plane).transpose(1, 2, 0)  # (N, H'W', O)
        g_t = np.empty((n, k, o), dtype=x.dtype)                 # per sample (C·kh·kw, O)

        def samples(n0, n1):  # each lane: its samples' columns, then their products
            im2col_cn(x, kh, kw, sh, sw, ph, pw, cols, n0, n1)
            np.matmul(cols_n[n0:n1], delta_t[n0:n1], out=g_t[n0:n1])

        self.twin.lanes.split(samples, n, cost=(2 * k + o) * plane)
        g_t = g_t.astype(np.float64)
        shape = conv.weight.data.shape
        return g_t.sum(axis=0).T.reshape(shape), (g_t * g_t).sum(axis=0).T.reshape(shape)
