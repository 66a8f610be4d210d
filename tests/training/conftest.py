"""Killing a training process from outside, as a crash or an impatient user would."""
import os
import signal
import subprocess
import sys
import time

import pytest

from numpy_adam.training.checkpoint import load_checkpoint


def _saved_step(path):
    try:
        return int(load_checkpoint(path)["step"])
    except (FileNotFoundError, ValueError, KeyError):  # not written yet
        return -1


@pytest.fixture
def train_killed_after():
    """``run(out, args, step) -> int``: start ``python -m numpy_adam train ARGS --out OUT`` and
    SIGKILL it the moment its checkpoint holds a step ≥ ``step``; returns that saved step.

    The kill lands wherever the process happens to be (mid-step, mid-write): resume must not
    depend on where. Fails if the run ends before it can be killed."""
    def run(out, args, step, timeout=600):
        command = [sys.executable, "-m", "numpy_adam", "train", *args, "--out", str(out), "--quiet"]
        proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, env=dict(os.environ))
        checkpoint = out / "checkpoint.npz"
        deadline = time.monotonic() + timeout
        try:
            while proc.poll() is None and time.monotonic() < deadline:
                saved = _saved_step(checkpoint)
                if saved >= step:
                    proc.send_signal(signal.SIGKILL)
                    assert proc.wait(timeout=60) == -signal.SIGKILL
                    return saved
                time.sleep(0.01)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()
        pytest.fail(f"the run ended (status {proc.returncode}) before its checkpoint reached step "
                    f"{step}: {proc.stderr.read()[-2000:]}")
    return run
