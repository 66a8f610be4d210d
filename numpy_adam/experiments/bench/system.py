"""What the numbers depend on: BLAS library and kernel, thread counts, Numba's threading
layer, the OpenBLAS environment, and peak resident memory.

Nothing here changes a setting: the bench reports OPENBLAS_CORETYPE, OPENBLAS_L2_SIZE and
OPENBLAS_THREAD_TIMEOUT as found (None when unset). threadpoolctl is optional: without it
the BLAS entry says so.
"""
from __future__ import annotations

import os
import platform
import resource
import sys

import numba
import numpy as np

from numpy_adam.models.cifar_cnn_fast import LANES_MIN_BATCH
from numpy_adam.nn.allocator import keep_freed_memory
from numpy_adam.nn.lanes import shared_lanes

REPORTED_ENV = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE", "OPENBLAS_THREAD_TIMEOUT",
                "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "NUMBA_NUM_THREADS",
                "NUMBA_THREADING_LAYER")


def minor_faults() -> int:
    """Minor page faults of this process so far (``getrusage``): differences of two readings
    count the faults of what ran between them."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident set size in MB of this process (or of its waited-for children).

    Linux, own process: VmHWM from /proc/self/status (the high-water mark of this
    address space; ru_maxrss survives exec, so a child forked from a large process would
    report its parent's size). Otherwise ru_maxrss (kB on Linux, bytes on macOS).
    """
    if not children:
        try:
            with open("/proc/self/status") as status:
                for line in status:
                    if line.startswith("VmHWM:"):
                        return int(line.split()[1]) / 1024  # kB
        except OSError:
            pass
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    value = resource.getrusage(who).ru_maxrss
    return value / 2**20 if sys.platform == "darwin" else value / 1024


def blas_info() -> list[dict]:
    """threadpoolctl's view of the loaded BLAS/OpenMP libraries (kernel, threads, version)."""
    try:
        from threadpoolctl import threadpool_info
    except ImportError:
        return [{"note": "threadpoolctl not installed: BLAS kernel unknown"}]
    keys = ("internal_api", "version", "architecture", "num_threads", "threading_layer", "prefix")
    return [{k: info.get(k) for k in keys} for info in threadpool_info()]


def numba_threading_layer() -> str:
    """The layer Numba's parallel kernels run on (launches a tiny parallel kernel if needed)."""
    from numpy_adam.experiments.bench.bandwidth import adam_traffic
    a = np.zeros(8, np.float32)
    adam_traffic(a, a.copy(), a.copy(), a.copy())
    try:
        return numba.threading_layer()
    except ValueError:  # no parallel region ran (e.g. NUMBA_DISABLE_JIT=1)
        return "none (JIT disabled)" if numba.config.DISABLE_JIT else "unknown"


def system_info(torch_info: dict | None = None) -> dict:
    """A JSON-serialisable header for the bench report."""
    info = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu_count": os.cpu_count(),
        "numpy": np.__version__,
        "numba": numba.__version__,
        "numba_threads": numba.config.NUMBA_NUM_THREADS,
        "numba_threading_layer": numba_threading_layer(),
        "blas": blas_info(),
        "allocator_policy": keep_freed_memory(),  # what FastCifarCNN applies (nn/allocator.py)
        "lanes": {"count": shared_lanes().count, "from_batch": LANES_MIN_BATCH},  # nn/lanes.py
        "env": {name: os.environ.get(name) for name in REPORTED_ENV},
    }
    if torch_info is not None:  # as the PyTorch worker process reports it (.isolated)
        info["torch"] = torch_info["torch"]
        info["torch_threads"] = torch_info["threads"]
    return info
