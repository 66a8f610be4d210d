"""What one training step computes, per model: the CIFAR-10 CNN and the quadratic.

A task owns the model, its data stream and its loss. ``train_step()`` runs one forward and
one backward (gradients land in the model's flat gradient buffer) and returns the loss; the
optimizer step is the loop's business, and ``after_step()`` then gives any per-step extras
to record.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.cifar_cnn_fast import FastCifarCNN
from ..models.quadratic import Quadratic
from ..nn.loss import SoftmaxCrossEntropy
from .config import TrainConfig

EVAL_BATCH = 100  # bounds conv1's im2col matrix to ~31 MB (float32)


@dataclass(frozen=True)
class CifarData:
    """Both splits as uint8 (N, 3, 32, 32) / int64 (N,), and the train set's per-channel
    mean and std (3,) used to normalise every batch. Loaded once, shared by all runs."""

    train_images: np.ndarray
    train_labels: np.ndarray
    test_images: np.ndarray
    test_labels: np.ndarray
    mean: np.ndarray
    std: np.ndarray

    @classmethod
    def load(cls, root=None) -> "CifarData":
        from numpy_adam.datasets.batches import channel_stats
        from numpy_adam.datasets.cifar10 import load_cifar10

        train_images, train_labels = load_cifar10(root, split="train")
        test_images, test_labels = load_cifar10(root, split="test")
        mean, std = channel_stats(train_images)
        return cls(train_images, train_labels, test_images, test_labels, mean, std)


class QuadraticTask:
    """Full-batch f(x) = Σ a x²; records x after the step and the gradient at the step."""

    steps_per_epoch = None

    def __init__(self, config: TrainConfig):
        self.model = Quadratic(x0=np.array(config.x0, dtype=np.float64))
        self._grad = None

    def train_step(self) -> float:
        loss = self.model.forward()
        self.model.backward()
        self._grad = self.model.x.grad.copy()
        return loss

    def after_step(self) -> dict:
        """Per-step extras once the optimizer has moved x: x_t and g_t (the gradient it used)."""
        squeeze = (lambda a: float(a[0])) if self._grad.size == 1 else (lambda a: a.copy())
        return {"x": squeeze(self.model.x.data), "grad": squeeze(self._grad)}

    def evaluate(self) -> dict:
        return {"test_loss": self.model.forward(), "test_accuracy": None}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


class CifarTask:
    """The note's CNN on CIFAR-10 minibatches with softmax cross-entropy, float32."""

    def __init__(self, config: TrainConfig, data, rng_init: np.random.Generator,
                 rng_data: np.random.Generator):
        from numpy_adam.datasets.batches import MinibatchIterator

        # CifarCNN's fast twin (same parameters); its backward computes no ∂L/∂x, never used here
        self.model = FastCifarCNN(channels=config.channels, kernel_size=config.kernel_size,
                                  hidden=config.hidden, rng=rng_init)
        self.criterion = SoftmaxCrossEntropy()
        self.data = data
        self.batches = MinibatchIterator(data.train_images, data.train_labels, config.batch_size,
                                         rng=rng_data, shuffle=True, drop_last=True,
                                         mean=data.mean, std=data.std)
        self.steps_per_epoch = self.batches.steps_per_epoch

    def train_step(self) -> float:
        x, y = self.batches.next_batch()  # (B, 3, 32, 32) float32, (B,) int64
        self.model.train()
        loss = self.criterion.forward(self.model.forward(x), y)
        if np.isfinite(loss):
            self.model.backward(self.criterion.backward())
        return loss

    def after_step(self) -> dict:
        return {}

    def evaluate(self) -> dict:
        """Mean loss and accuracy over the whole test split, batchnorm in eval mode."""
        self.model.eval()
        images, labels = self.data.test_images, self.data.test_labels
        total_loss, correct = 0.0, 0
        for start in range(0, len(labels), EVAL_BATCH):
            x = self.batches.normalize(images[start:start + EVAL_BATCH])  # train-set μ, σ
            y = labels[start:start + EVAL_BATCH]
            logits = self.model.forward(x)
            total_loss += self.criterion.forward(logits, y) * len(y)
            correct += int(np.sum(np.argmax(logits, axis=1) == y))
        self.model.train()
        return {"test_loss": total_loss / len(labels), "test_accuracy": correct / len(labels)}

    def state_dict(self) -> dict:
        return {"batches": self.batches.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.batches.load_state_dict(state["batches"])
