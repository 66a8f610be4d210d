"""CIFAR-10 load time and the peak resident memory of a short real-data training run.

The data directory is ``$NUMPY_ADAM_DATA`` (or ``data_dir``); when it holds no CIFAR-10,
both measurements are skipped with a note (never downloaded by the bench). The training
run is a subprocess (``numpy-adam train --model cnn``) that reports its own peak RSS
(VmHWM, see :func:`.system.peak_rss_mb`) when done: it includes the whole training set in
memory (uint8) plus the model, optimizer and workspaces, so it bounds a full run's peak.
"""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time



def _data_dir(data_dir):
    return data_dir if data_dir is not None else os.environ.get("NUMPY_ADAM_DATA")


def bench_cifar_load(data_dir=None) -> dict:
    """{"seconds": load time of the training split, "images": N} or {"skipped": reason}."""
    from numpy_adam.datasets.cifar10 import load_cifar10
    from numpy_adam.datasets.errors import DatasetNotFoundError

    root = _data_dir(data_dir)
    if root is None:
        return {"skipped": "NUMPY_ADAM_DATA is not set"}
    start = time.perf_counter()
    try:
        images, _ = load_cifar10(root, "train", download=False, progress=False)
    except DatasetNotFoundError as error:
        return {"skipped": f"no CIFAR-10 under {root}: {error}"}
    return {"seconds": time.perf_counter() - start, "images": int(images.shape[0])}


def bench_training_memory(steps: int, data_dir=None, batch_size: int = 100) -> dict:
    """Peak RSS (MB) of ``numpy-adam train --model cnn --steps steps`` on CIFAR-10."""
    root = _data_dir(data_dir)
    if root is None:
        return {"skipped": "NUMPY_ADAM_DATA is not set"}
    with tempfile.TemporaryDirectory() as out:
        args = ["train", "--model", "cnn", "--steps", str(steps), "--batch-size", str(batch_size),
                "--out", os.path.join(out, "run"), "--data-dir", str(root), "--quiet"]
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", _CHILD, *args], capture_output=True, text=True)
        seconds = time.perf_counter() - start
    if done.returncode != 0 or not done.stdout.strip():
        return {"skipped": f"training subprocess failed ({done.returncode}): "
                           f"{done.stderr.strip().splitlines()[-1:]}"}
    peak = float(done.stdout.strip().splitlines()[-1])
    return {"steps": steps, "batch_size": batch_size, "seconds": seconds, "peak_rss_mb": peak}


# The child reports its own high-water mark (VmHWM): RUSAGE_CHILDREN in the parent, and even
# the child's own ru_maxrss (kept across exec), would count the parent's pages the child
# inherited between fork and exec (the bench holds torch and 10⁷-element arrays).
_CHILD = """
import sys
from numpy_adam.cli import main
from numpy_adam.experiments.bench.system import peak_rss_mb
status = main(sys.argv[1:])
print(peak_rss_mb())
sys.exit(status)
"""
