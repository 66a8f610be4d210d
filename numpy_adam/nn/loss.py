"""Softmax cross-entropy on logits, mean over the batch (PyTorch's ``F.cross_entropy``)."""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .checks import check_float_input, forward_cache


class _CrossEntropyCache(NamedTuple):
    probs: np.ndarray   # (N, K) softmax(logits)
    labels: np.ndarray  # (N,) integer class indices


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against integer labels.

    Forward, for logits z (N, K) and labels y (N,) in 0..K−1, with the stable log-sum-exp
    (subtracting the row maximum z*_n leaves log p unchanged and keeps exp ≤ 1):

        log p_nk = z_nk − z*_n − log Σ_j exp(z_nj − z*_n)
        loss     = −1/N Σ_n log p_{n, y_n}

    Backward (∂loss/∂z; the loss is the end of the graph, so there is no upstream dy):

        dz = (p − onehot(y)) / N                        (N, K)

    ``forward(logits, labels) -> float`` caches p and y; ``backward() -> dlogits`` reads them
    and clears the cache. Not a :class:`~numpy_adam.nn.module.Module`: it has no parameters
    and its backward takes no argument.
    """

    def __init__(self):
        self._cache: _CrossEntropyCache | None = None

    def __call__(self, logits: np.ndarray, labels: np.ndarray) -> float:
        return self.forward(logits, labels)

    def forward(self, logits: np.ndarray, labels: np.ndarray) -> float:
        """logits (N, K) float32/float64, labels (N,) integers in 0..K−1 -> mean loss (float)."""
        check_float_input(logits, "SoftmaxCrossEntropy", ndim=2, layout="(N, K) logits")
        n, k = logits.shape
        if k == 0:
            raise ValueError(f"SoftmaxCrossEntropy: logits need at least one class, got shape "
                             f"{logits.shape}")
        labels = _check_labels(labels, n, k)
        shifted = logits - logits.max(axis=1, keepdims=True)                # (N, K), max 0
        log_sum_exp = np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))  # (N, 1)
        log_probs = shifted - log_sum_exp                                   # (N, K)
        self._cache = _CrossEntropyCache(np.exp(log_probs), labels)
        return float(-np.mean(log_probs[np.arange(n), labels]))

    def backward(self) -> np.ndarray:
        """-> dlogits (N, K) = (softmax(logits) − onehot(labels)) / N, in the logits' dtype."""
        probs, labels = forward_cache(self)
        self._cache = None
        n = probs.shape[0]
        dlogits = probs.copy()                 # (N, K)
        dlogits[np.arange(n), labels] -= 1.0
        dlogits /= n
        return dlogits

    def __repr__(self) -> str:
        return "SoftmaxCrossEntropy()"


def _check_labels(labels, n: int, k: int) -> np.ndarray:
    """Labels must be a 1-D integer ndarray of N class indices in 0..K−1."""
    if not isinstance(labels, np.ndarray):
        raise TypeError(f"SoftmaxCrossEntropy: labels must be a numpy.ndarray of integers, got "
                        f"{type(labels).__name__}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise TypeError(f"SoftmaxCrossEntropy: labels must have an integer dtype, got "
                        f"{labels.dtype}")
    if labels.ndim != 1:
        raise ValueError(f"SoftmaxCrossEntropy: labels must be 1-D (N,), got shape {labels.shape}")
    if labels.shape[0] != n:
        raise ValueError(f"SoftmaxCrossEntropy: got {labels.shape[0]} labels for {n} rows of "
                         "logits; expected one label per row")
    low, high = int(labels.min()), int(labels.max())
    if low < 0 or high >= k:
        bad = low if low < 0 else high
        raise ValueError(f"SoftmaxCrossEntropy: labels must be in 0..{k - 1} for {k} classes, "
                         f"got {bad}")
    return labels
