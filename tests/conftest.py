"""Fixtures shared across the test folders."""
import subprocess
import sys
import time

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


@pytest.fixture(scope="session")
def signal_when():
    """``run(argv, ready, sig, timeout=600) -> (proc, value)``: start ``python -m numpy_adam
    ARGV``, call ``ready()`` every 10 ms, and the moment it returns something other than None
    send ``sig`` (a kill from outside, or Ctrl-C) and wait for the process to end; returns the
    ended process (stderr captured as text) and what ``ready`` returned. Fails, killing the
    process, if it ends before ``ready`` does or the timeout passes."""
    def run(argv, ready, sig, timeout=600):
        proc = subprocess.Popen([sys.executable, "-m", "numpy_adam", *argv],
                                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                value = ready()
                if value is not None:
                    proc.send_signal(sig)
                    proc.wait(timeout=120)
                    return proc, value
                time.sleep(0.01)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        pytest.fail(f"numpy-adam {argv[0]} ended (status {proc.returncode}) before it could be "
                    f"stopped: {proc.stderr.read()[-2000:]}")
    return run
