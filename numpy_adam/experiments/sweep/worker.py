"""What runs inside a sweep worker: one point, from its folder's state to a small result.

:func:`run_point` is the function every executor ships (a local process or a Dask worker):
it reads the point's folder, skips a finished run, resumes an interrupted one from its
checkpoint (``train(config, out, resume=True)``, bitwise identical to an uninterrupted run)
and starts a new one otherwise. It never raises for a failing run: a diverged run or any
other error comes back as ``{"state": "failed", "error": ...}``, so one bad point cannot stop
the others. A run that diverged in an earlier invocation is not run again (it would diverge
at the same step: runs are deterministic); any other failure is retried — resumed — by the
next invocation, since it may have been the machine's (a full disk, a killed worker).

**Threads.** A training step uses BLAS (OpenBLAS GEMMs) and Numba's parallel kernels. N runs
side by side, each with as many threads as the machine has cores, would put N × cores
threads on the cores, which then wait for each other; so each worker gets cores / N threads.
BLAS reads its thread count once, when NumPy loads it, and Numba when it is imported, so the
count must be in the environment *before* the worker imports them: the local pool sets
:data:`THREAD_VARIABLES` in the environment the worker processes are started with (see
:mod:`.executors`), and :func:`limit_threads` applies the same count again at run time
(threadpoolctl for BLAS, ``numba.set_num_threads``), which covers libraries a worker had
loaded earlier (a Dask worker, or a spawned worker whose parent's main module imported NumPy).
"""
from __future__ import annotations

import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path

THREAD_VARIABLES = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS",
                    "NUMBA_NUM_THREADS")
# A Dask worker with several threads would run several points at once in one process, but the
# Numba workqueue threading layer (numpy_adam.nn.threads) runs one parallel kernel per process:
# points in one process take turns.
_ONE_RUN_AT_A_TIME = threading.Lock()
_DATA: dict = {}  # CIFAR-10 per data folder, loaded once per worker process


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), at least 1."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):
        return max(1, os.cpu_count() or 1)


def thread_environment(threads: int) -> dict:
    """The environment variables that give BLAS, OpenMP and Numba ``threads`` threads."""
    return {name: str(int(threads)) for name in THREAD_VARIABLES}


def limit_threads(threads: int) -> None:
    """Give BLAS and Numba ``threads`` threads from now on, in this process (BLAS) and thread
    (Numba's count is per thread); Numba keeps this project's workqueue layer."""
    from threadpoolctl import threadpool_limits

    threadpool_limits(limits=int(threads))
    from ...nn.threads import apply_thread_policy

    apply_thread_policy()  # before Numba's first launch, which set_num_threads performs
    import numba

    numba.set_num_threads(max(1, min(int(threads), numba.config.NUMBA_NUM_THREADS)))


def _die_with_parent(parent: int) -> None:
    """Have the kernel kill this process when its parent dies (Linux), so a killed sweep leaves
    no worker writing on: the next invocation resumes its runs without finding them locked."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if os.getppid() != parent:  # the parent died before prctl took effect
        os._exit(1)


def init_local_worker(threads: int, parent: int) -> None:
    """Initializer of a local-pool worker process: Ctrl-C is the parent's to handle (it stops
    the workers itself, so a terminal's SIGINT cannot kill a worker halfway through a result),
    the worker dies with its parent, and BLAS/Numba get ``threads`` threads."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _die_with_parent(parent)
    os.environ.update(thread_environment(threads))
    limit_threads(threads)


def thread_report() -> dict:
    """This worker's thread settings (for tests and diagnosis): its pid, the environment
    variables, BLAS's thread count per loaded BLAS, Numba's count in this thread and the size
    of Numba's pool (NUMBA_NUM_THREADS as Numba read it at import)."""
    from threadpoolctl import threadpool_info
    import numba

    return {"pid": os.getpid(), "env": {k: os.environ.get(k) for k in THREAD_VARIABLES},
            "blas": [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"],
            "numba": numba.get_num_threads(), "numba_pool": numba.config.NUMBA_NUM_THREADS}


def _cifar(data_dir):
    from ...training.tasks import CifarData

    key = str(data_dir)
    if key not in _DATA:
        _DATA.clear()
        _DATA[key] = CifarData.load(data_dir)
    return _DATA[key]


def folder_state(run_dir: Path, config) -> str:
    """"new", "partial" (a checkpoint to resume), "finished" or "diverged" (an earlier
    outcome); raises FileExistsError when the folder holds a run with other settings."""
    from ...training.loop import config_differences
    from ...training.run_folder import CHECKPOINT

    config_path = run_dir / "config.json"
    if not config_path.exists():
        return "new"
    saved = json.loads(config_path.read_text(encoding="utf-8"))
    differs = config_differences(saved, config)
    if differs:
        listed = ", ".join(f"{k}: saved {a!r}, wanted {b!r}" for k, (a, b) in differs.items())
        raise FileExistsError(f"{run_dir} holds a run with other settings ({listed}); remove "
                              "it or choose another --out")
    summary = run_dir / "summary.json"
    if summary.exists():
        status = json.loads(summary.read_text(encoding="utf-8")).get("status")
        if status in ("finished", "diverged"):
            return status
    return "partial" if (run_dir / CHECKPOINT).exists() else "new"


def summary_numbers(summary: dict) -> dict:
    """The numbers of a run's summary.json that a sweep's status line and sweep.json show."""
    return {k: summary.get(k) for k in ("steps", "final_loss", "test_loss", "test_accuracy",
                                        "wall_seconds")}


def _failure(error: BaseException) -> dict:
    from ...training.errors import SettingsError

    kind = "settings" if isinstance(error, SettingsError) else "state"
    return {"state": "failed", "error": f"{error}", "error_type": type(error).__name__,
            "kind": kind}


def run_point(task: dict) -> dict:
    """Run one point; never raises for the run's own failure (see the module docstring).

    task: {"name", "settings" (TrainConfig JSON), "run_dir", "data_dir" (or None),
           "threads" (or None: keep this worker's setting), "hosts" (Dask: {host: worker
           processes on it}, for the default thread count) }
    returns: {"state": "finished" | "failed", "skipped": bool (finished before this call),
              "resumed_from": the checkpoint step resumed from (0: a new run),
              "steps", "final_loss", "test_loss", "test_accuracy", "wall_seconds",
              "error", "error_type", "kind" ("settings" | "state" | "diverged"),
              "host", "pid", "seconds" (this call's wall time)}
    """
    began = time.perf_counter()
    base = {"host": socket.gethostname(), "pid": os.getpid(), "skipped": False,
            "resumed_from": None, "error": None}
    with _ONE_RUN_AT_A_TIME:
        try:
            result = _run(task)
        except Exception as error:  # noqa: BLE001 — every failure is the point's, not the sweep's
            result = _failure(error)
    return {**base, **result, "seconds": time.perf_counter() - began}


def _threads_for(task: dict) -> int | None:
    if task.get("threads"):
        return int(task["threads"])
    hosts = task.get("hosts")
    if not hosts:
        return None
    try:
        from distributed import get_worker
        from distributed.comm import get_address_host

        here = get_address_host(get_worker().address)
    except (ImportError, ValueError):
        return None
    return max(1, usable_cores() // max(1, int(hosts.get(here, 1))))


def _run(task: dict) -> dict:
    from ...records import load_run
    from ...training.checkpoint import load_checkpoint
    from ...training.config import TrainConfig
    from ...training.errors import TrainingDiverged
    from ...training.loop import train
    from ...training.run_folder import CHECKPOINT

    threads = _threads_for(task)
    if threads:
        limit_threads(threads)
    config = TrainConfig.from_json(task["settings"])
    run_dir = Path(task["run_dir"])
    state = folder_state(run_dir, config)
    if state == "finished":
        return {"state": "finished", "skipped": True,
                **summary_numbers(load_run(run_dir).summary)}
    if state == "diverged":
        summary = json.loads((run_dir / "summary.json").read_text(encoding="utf-8"))
        return {"state": "failed", "kind": "diverged", "error_type": "TrainingDiverged",
                "error": f"diverged ({summary.get('message')}); it would diverge again: "
                         f"remove {run_dir} to run it anew", **summary_numbers(summary)}
    resumed_from = int(load_checkpoint(run_dir / CHECKPOINT)["step"]) if state == "partial" else 0
    data = _cifar(task.get("data_dir")) if config.model == "cnn" else None
    try:
        run = train(config, run_dir, data=data, resume=state == "partial", quiet=True)
    except TrainingDiverged as error:
        return {**_failure(error), "kind": "diverged", "resumed_from": resumed_from}
    return {"state": "finished", "resumed_from": resumed_from, **summary_numbers(run.summary)}
