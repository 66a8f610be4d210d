"""The spread of the per-sample gradients inside one batch, for the CNN's conv and fc weights.

Adam's σ̂² = v̂ − m̂² measures how the *minibatch* gradient g_t varies over recent steps. Part
of that is sampling: g_t = (1/B) Σ_i g_i is a mean over the batch's B per-sample gradients
g_i = ∇_W l_i, so at a fixed θ its spread is s/√B, with s² the per-sample variance. The rest
is drift: the mean gradient changes because θ moves. This probe measures the first part
directly, at every step, per element of each weight tensor:

    ḡ = (1/B) Σ_i g_i                  the batch mean of the per-sample gradients
    s² = (Σ_i g_i² − B ḡ²) / (B − 1)   their sample variance (clamped at 0 against rounding)

and per tensor the means mean |ḡ| and mean s, so the layer's *sampling* relative spread is
γ_sample = mean s / mean |ḡ|, and the spread it predicts for the minibatch gradient is
mean s / √B (compare Adam's layer relative spread γ̄ = mean σ̂ / mean |m̂|).

Batchnorm convention (the usual one for per-sample gradients): the batch statistics μ, σ² of
every batchnorm are *held fixed*, so sample i's gradient is that of its own loss l_i through a
network whose batchnorms normalise with the batch's μ, σ² as constants. Computed exactly so:
a twin of the model (the reference layers, in the model's dtype) in eval mode, with each
batchnorm's running statistics set to the batch's mean and biased variance, runs a forward
and a backward of the whole batch (eval-mode batchnorm couples no samples). Every layer then
sees per-sample inputs a_i and output gradients δ_i, and

    fully connected  g_i = δ_i a_iᵀ:   Σ g_i = δᵀ a,   Σ g_i² = (δ²)ᵀ (a²)   (one more product)
    convolution      g_i = δ_i X_iᵀ with X_i sample i's im2col columns: one batched product

The backward starts from ∂l_i/∂logits = softmax_i − onehot_i, the gradient of each sample's
own loss (B times the mean loss's). The per-sample gradients are formed in the model's dtype
and summed in float64, so Σ g_i² − B ḡ² does not cancel in float32 sums. With the batch statistics held fixed, ḡ is not the
minibatch gradient for layers before a batchnorm (conv1, conv2, fc1): the true gradient also
flows through μ and σ². For fc2, after the last batchnorm, it is.
"""
from __future__ import annotations

import numpy as np

from numpy_adam.nn.im2col import im2col
from numpy_adam.nn.loss import SoftmaxCrossEntropy

from .cifar_cnn import CifarCNN

TRACKED = ("conv1", "conv2", "fc1", "fc2")  # the weights the note tracks, in model order


class BatchSpread:
    """The probe for one model: ``measure(x, labels)`` at the model's current parameters.

    model: the :class:`~numpy_adam.models.cifar_cnn.CifarCNN` (or its fast twin) being
           trained; only read, never changed (the probe runs on its own float64 twin)
    """

    def __init__(self, model: CifarCNN):
        self.model = model
        self.dtype = model.conv1.weight.data.dtype
        self.twin = CifarCNN(channels=model.channels, kernel_size=model.kernel_size,
                             hidden=model.hidden, num_classes=model.num_classes,
                             image_size=model.image_size, dtype=self.dtype).eval()
        self.names = tuple(f"{layer}.weight" for layer in TRACKED)

    def moments(self, x: np.ndarray, labels: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """{weight name: (Σ_i g_i, Σ_i g_i²)} over the batch, float64, each of the weight's shape."""
        twin, sums = self.twin, {}
        for (_, mine), (_, theirs) in zip(self.model.named_parameters(), twin.named_parameters()):
            theirs.data = mine.data  # copied into the twin
        inputs = {}
        h = np.asarray(x, dtype=self.dtype)
        for conv, bn, relu, pool in ((twin.conv1, twin.bn1, twin.relu1, twin.pool1),
                                     (twin.conv2, twin.bn2, twin.relu2, twin.pool2)):
            inputs[conv] = h
            y = conv(h)                                           # (N, C, H, W)
            _hold_batch_statistics(bn, y, axes=(0, 2, 3))
            h = pool(relu(bn(y)))
        h = twin.flatten_features(h)                              # (N, c2·(S/4)²)
        inputs[twin.fc1] = h
        y = twin.fc1(h)
        _hold_batch_statistics(twin.bn3, y, axes=(0,))
        h = twin.relu3(twin.bn3(y))                               # (N, hidden)
        inputs[twin.fc2] = h
        loss = SoftmaxCrossEntropy()
        loss.forward(twin.fc2(h), labels)
        d = loss.backward() * h.shape[0]                          # ∂l_i/∂logits per sample
        sums["fc2.weight"] = _linear_moments(d, inputs[twin.fc2])
        d = twin.bn3.backward(twin.relu3.backward(twin.fc2.backward(d)))
        sums["fc1.weight"] = _linear_moments(d, inputs[twin.fc1])
        d = twin.flatten_features.backward(twin.fc1.backward(d))
        d = twin.bn2.backward(twin.relu2.backward(twin.pool2.backward(d)))
        sums["conv2.weight"] = _conv_moments(d, inputs[twin.conv2], twin.conv2)
        d = twin.bn1.backward(twin.relu1.backward(twin.pool1.backward(twin.conv2.backward(d))))
        sums["conv1.weight"] = _conv_moments(d, inputs[twin.conv1], twin.conv1)
        # conv1's own backward is not needed (its input gradient is not used); its forward
        # cache is simply replaced by the next forward
        return {name: sums[name] for name in self.names}

    def measure(self, x: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean |ḡ|, mean s) per tracked weight, each (4,) float64, in the order of ``names``."""
        batch = x.shape[0]
        if batch < 2:
            raise ValueError(f"BatchSpread: a spread needs at least 2 samples, got a batch of {batch}")
        mean_abs_g, sigma = [], []
        for total, squares in self.moments(x, labels).values():
            g_bar, s = per_element_spread(total, squares, batch)
            mean_abs_g.append(np.mean(np.abs(g_bar)))
            sigma.append(np.mean(s))
        return np.array(mean_abs_g), np.array(sigma)


def per_element_spread(total: np.ndarray, squares: np.ndarray, batch: int):
    """ḡ = Σg/B and s = √max((Σg² − B ḡ²)/(B − 1), 0) per element (float64)."""
    g_bar = total / batch
    return g_bar, np.sqrt(np.maximum((squares - batch * g_bar * g_bar) / (batch - 1), 0.0))


def _hold_batch_statistics(bn, y: np.ndarray, axes: tuple[int, ...]) -> None:
    """An eval-mode batchnorm that normalises with y's batch mean and biased variance."""
    bn.running_mean[...] = y.mean(axis=axes)
    bn.running_var[...] = y.var(axis=axes)


def _linear_moments(delta: np.ndarray, a: np.ndarray):
    """Σ_i δ_i a_iᵀ and Σ_i (δ_i a_iᵀ)² for δ (N, out), a (N, in): (out, in) each, float64."""
    delta, a = delta.astype(np.float64), a.astype(np.float64)
    return delta.T @ a, (delta * delta).T @ (a * a)


def _conv_moments(delta: np.ndarray, x: np.ndarray, conv):
    """Σ_i g_i and Σ_i g_i² for a conv with input x (N, C, H, W), output gradient δ (N, O, H', W'):
    g_i = δ_i (O, H'W') · X_iᵀ (H'W', C·kh·kw), one batched product over the samples."""
    n, o = delta.shape[:2]
    cols = im2col(x, conv.kernel_size, conv.stride, conv.padding, "BatchSpread")  # (C, kh, kw, N, H', W')
    cols = cols.reshape(-1, n, delta.shape[2] * delta.shape[3]).transpose(1, 2, 0)  # (N, H'W', C·k²)
    g = np.matmul(delta.reshape(n, o, -1), cols).astype(np.float64)  # (N, O, C·kh·kw) per sample
    shape = conv.weight.data.shape
    return g.sum(axis=0).reshape(shape), (g * g).sum(axis=0).reshape(shape)
