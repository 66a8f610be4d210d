"""Fixtures shared across the test folders."""
import numpy as np
import pytest

from numpy_adam.training.tasks import CifarData


@pytest.fixture(scope="session")
def tiny_cifar() -> CifarData:
    """Synthetic CIFAR-shaped data for CNN runs that need no real images: 256 random uint8
    training images (3×32×32) with random labels, the first 64 of them as the test set, and
    their own per-channel mean and std. Shared: callers must not modify it."""
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(256, 3, 32, 32), dtype=np.uint8)
    labels = rng.integers(0, 10, size=256)
    return CifarData(images, labels, images[:64], labels[:64],
                     images.mean(axis=(0, 2, 3)), images.std(axis=(0, 2, 3)))
