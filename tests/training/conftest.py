"""Killing a training process from outside, as a crash or an impatient user would."""
import signal

import pytest

from numpy_adam.training.checkpoint import load_checkpoint


def _saved_step(path):
    try:
        return int(load_checkpoint(path)["step"])
    except (FileNotFoundError, ValueError, KeyError):  # not written yet
        return -1


@pytest.fixture
def train_killed_after(signal_when):
    """``run(out, args, step) -> int``: start ``python -m numpy_adam train ARGS --out OUT`` and
    SIGKILL it the moment its checkpoint holds a step ≥ ``step``; returns that saved step.

    The kill lands wherever the process happens to be (mid-step, mid-write): resume must not
    depend on where. Fails if the run ends before it can be killed."""
    def run(out, args, step, timeout=600):
        checkpoint = out / "checkpoint.npz"

        def reached():
            saved = _saved_step(checkpoint)
            return saved if saved >= step else None

        proc, saved = signal_when(["train", *args, "--out", str(out), "--quiet"], reached,
                                  signal.SIGKILL, timeout)
        assert proc.returncode == -signal.SIGKILL
        return saved
    return run
