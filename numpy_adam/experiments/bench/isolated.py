"""PyTorch timed in its own process, one side at a time: the bench's fair baseline.

The bench never runs PyTorch in its own process. :class:`TorchProcess` starts
:mod:`.torch_worker` (``python -m``) with the same thread count and asks it for one timing
at a time; while it times, this process waits on the pipe, so its Numba and OpenBLAS threads
are idle, and while this process times, the worker is idle. Candidates built with
:meth:`TorchProcess.candidate` report the worker's own measurement (seconds per call, the
pipe excluded), and :func:`.timing.interleaved_medians` interleaves them with ours as usual;
its ``settle`` pause lets the previous side's spinning threads (OpenBLAS, OpenMP: up to
~0.1 s after their last task) go to sleep before the next timing starts, and its warm-up
(``warm_seconds``, through ``time_calls``) brings the next side back to its steady state.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

from .timing import SETTLE_SECONDS, WARM_SECONDS

METHOD = ("PyTorch timed in its own process, one side at a time (this process waits on a "
          f"pipe while it times); each timing after a {SETTLE_SECONDS:g} s pause and "
          f"{WARM_SECONDS:g} s of untimed calls on either side")


def torch_installed() -> bool:
    """Whether ``import torch`` would find a package, without importing it here."""
    try:
        return importlib.util.find_spec("torch") is not None
    except (ImportError, ValueError):  # a blocked import (sys.modules["torch"] = None)
        return False


class SelfTimed:
    """A candidate that measures itself: ``time_calls(inner, warm_seconds)`` warms up for
    ``warm_seconds`` (at least one call), then returns seconds per call of ``inner`` calls."""

    def __init__(self, time_calls):
        self.time_calls = time_calls

    def __call__(self):
        self.time_calls(1, 0.0)


class TorchProcess:
    """The worker process; use as a context manager (``with TorchProcess(threads) as torch``).

    info: {"torch": version, "threads": T} as the worker reports them
    env: extra environment variables for the worker (e.g. malloc settings)
    """

    def __init__(self, threads: int, env: dict[str, str] | None = None):
        env = {**os.environ, "OMP_NUM_THREADS": str(threads), **(env or {})}
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "numpy_adam.experiments.bench.torch_worker"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.info = self._ask({"threads": threads})

    def _ask(self, request: dict) -> dict:
        self._proc.stdin.write(json.dumps(request) + "\n")
        self._proc.stdin.flush()
        line = self._proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the PyTorch bench worker stopped (exit {self._proc.poll()}) "
                               f"answering {request}")
        return json.loads(line)

    def time(self, kind: str, size: int, inner: int, warm_seconds: float = 0.0) -> dict:
        """One timing: {"seconds": per call, ...} of ``inner`` calls of ``kind`` at ``size``,
        after untimed calls for ``warm_seconds`` (at least one)."""
        key = "batch" if kind == "cnn_step" else "n"
        return self._ask({"kind": kind, key: int(size), "inner": int(inner),
                          "warm_seconds": float(warm_seconds)})

    def candidate(self, kind: str, size: int) -> SelfTimed:
        """A :class:`SelfTimed` candidate for :func:`.timing.interleaved_medians`."""
        return SelfTimed(lambda inner, warm_seconds:
                         self.time(kind, size, inner, warm_seconds)["seconds"])

    def close(self) -> None:
        if self._proc.poll() is None:
            self._proc.stdin.close()
            try:
                self._proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait()

    def __enter__(self) -> "TorchProcess":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
