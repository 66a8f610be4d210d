"""What one training step computes, per model: the CIFAR-10 CNN and the quadratic.

A task owns the model, its data stream and its loss. ``train_step()`` runs one forward and
one backward (gradients land in the model's flat gradient buffer) and returns the loss; the
optimizer step is the loop's business, and ``after_step()`` then gives any per-step extras
to record.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..models.batch_spread_fast import FastBatchSpread
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
    """f(x; ξ) = Σ a (x − ξ)² (:class:`~numpy_adam.models.quadratic.Quadratic`): full-batch
    f(x) = Σ a x² when ``config.noise_std`` = 0, else ξ drawn afresh every step as the mean of
    ``config.batch_size`` draws from N(0, s²), s = noise_std.

    Records after each step x_t (after the step) and g_t = 2 a ⊙ (x_{t−1} − ξ_t), the gradient
    the optimizer used; with s > 0 also ``xi`` = ξ_t. With s = 0 nothing is drawn and nothing
    else is recorded: the run is bit for bit the noise-free x² run.

    The test loss is f(x; 0) = Σ a x², the distance to the optimum's mean (not the expected loss
    E_ξ f = Σ a (x² + s²/B)), so noise-free and noisy runs report the same quantity.

    rng: the generator ξ is drawn from, only used when s > 0; default
         ``np.random.default_rng(run_seeds(config)[1])``, the run's data seed (what
         :func:`~numpy_adam.training.build.make_task` passes). Its state is the task's
         ``state_dict`` (plain ints), so a resumed run draws the same ξ as an uninterrupted one.
    """

    steps_per_epoch = None

    def __init__(self, config: TrainConfig, rng: np.random.Generator | None = None):
        s = config.noise_std
        if s > 0 and rng is None:
            from .build import run_seeds  # build imports this module: import at use

            rng = np.random.default_rng(run_seeds(config)[1])
        self.noisy = s > 0
        self.model = Quadratic(x0=np.array(config.x0, dtype=np.float64), noise_std=s,
                               batch_size=config.batch_size, rng=rng if self.noisy else None)
        self._grad = None

    def train_step(self) -> float:
        self.model.resample()  # ξ_t (no draw when s = 0)
        loss = self.model.forward()
        self.model.backward()
        self._grad = self.model.x.grad.copy()
        return loss

    def after_step(self) -> dict:
        """Per-step extras once the optimizer has moved x: x_t, g_t (the gradient it used) and,
        with noise, ξ_t."""
        squeeze = (lambda a: float(a[0])) if self._grad.size == 1 else (lambda a: a.copy())
        extras = {"x": squeeze(self.model.x.data), "grad": squeeze(self._grad)}
        if self.noisy:
            extras["xi"] = squeeze(self.model.xi)
        return extras

    def evaluate(self) -> dict:
        return {"test_loss": self.model.noise_free_loss(), "test_accuracy": None}

    def state_dict(self) -> dict:
        """{} without noise; else {"xi_rng": the generator's state} (a dict of ints)."""
        if not self.noisy:
            return {}
        return {"xi_rng": self.model.rng.bit_generator.state}  # a fresh dict

    def load_state_dict(self, state: dict) -> None:
        expected = {"xi_rng"} if self.noisy else set()
        if set(state) != expected:
            raise ValueError(f"QuadraticTask.load_state_dict: state must have keys "
                             f"{sorted(expected)} for noise_std={self.model.noise_std:g}, got "
                             f"{sorted(state)}")
        if self.noisy:
            self.model.rng.bit_generator.state = state["xi_rng"]  # values are copied in


class CifarTask:
    """The note's CNN on CIFAR-10 minibatches with softmax cross-entropy, float32.

    With ``config.batch_spread`` every step also measures the spread of the batch's per-sample
    gradients at θ_{t−1} (:mod:`numpy_adam.models.batch_spread`, computed by its fast twin
    :mod:`numpy_adam.models.batch_spread_fast`) and records, per tracked weight
    (conv1, conv2, fc1, fc2), ``batch_mean_abs_g`` = mean |ḡ| and ``batch_sigma`` = mean s.
    """

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
        self.spread_probe = FastBatchSpread(self.model) if config.batch_spread else None
        self._spread = None

    def train_step(self) -> float:
        x, y = self.batches.next_batch()  # (B, 3, 32, 32) float32, (B,) int64
        self.model.train()
        loss = self.criterion.forward(self.model.forward(x), y)
        if np.isfinite(loss):
            self.model.backward(self.criterion.backward())
            if self.spread_probe is not None:  # at θ_{t−1}, before the optimizer moves it
                self._spread = self.spread_probe.measure(x, y)
        return loss

    def after_step(self) -> dict:
        if self.spread_probe is None:
            return {}
        mean_abs_g, sigma = self._spread
        return {"batch_mean_abs_g": mean_abs_g, "batch_sigma": sigma}

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
