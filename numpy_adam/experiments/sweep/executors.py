"""Where a sweep's runs execute: a pool of local processes (the default) or a Dask cluster.

Both give the runner (:mod:`.runner`) the same small interface — ``capacity()`` runs at once,
``submit(task)`` a future of :func:`.worker.run_point`, ``wait(futures)`` the finished ones,
``outcome(future)`` its result dict (a lost worker becomes a failed result, never an
exception), ``abort()`` on Ctrl-C and ``close()`` — so sweeps and ``numpy-adam reproduce
--jobs`` run the same way on either.

**Local pool** (:class:`LocalPool`). ``concurrent.futures.ProcessPoolExecutor`` with the
``spawn`` start method: every worker is a fresh interpreter, so it loads BLAS and Numba with
the thread count the parent puts in its environment (:mod:`.worker` explains why that must
happen before NumPy is imported; a forked worker would inherit the parent's already-loaded
BLAS and Numba thread pools instead, and forking a process that runs threads is unsafe).
The parent sets :data:`~.worker.THREAD_VARIABLES` in its own environment while the pool is
open (the workers are started lazily, at submission) and restores them when it closes; its
own libraries were loaded before and keep their threads. The initializer pins the count
again at run time, ignores SIGINT (the parent handles Ctrl-C by terminating the workers:
every run file is written atomically and the run folders are locked, so a worker stopped
anywhere leaves a folder the next invocation resumes) and asks the kernel to kill the worker
when the parent dies. A worker that dies (killed, out of memory) breaks a
ProcessPoolExecutor: the runs then in flight are reported failed — the next invocation
resumes them — and a fresh pool takes the rest.

**Dask** (:class:`DaskPool`): a ``distributed.Client`` on a running scheduler
(``--scheduler ADDRESS``) or on a ``LocalCluster`` of N single-threaded worker processes it
starts (``--dask-local N``). Workers must see ``--out`` at the same path (a shared file
system) and have numpy-adam installed. Dask's nanny starts workers with one BLAS thread;
each run then takes cores / (worker processes on its host) threads at run time. A worker
process runs one point at a time (the Numba workqueue layer is one kernel per process), so
start workers with ``--nthreads 1`` and as many ``--nworkers`` as runs should share a
machine; the sweep keeps as many points in flight as the cluster has worker processes, and a
point whose worker is lost is retried by Dask (resuming from its checkpoint). Dask is an
optional extra: without it the local pool works and asking for Dask raises
:class:`DaskUnavailable` saying how to install it.
"""
from __future__ import annotations

import concurrent.futures as cf
import importlib
import multiprocessing
import os
import time
from contextlib import contextmanager

from .worker import init_local_worker, run_point, thread_environment, usable_cores

INSTALL_HINT = ("install the sweep extra: pip install -e '.[sweep]' in a clone, or "
                "pip install 'dask[distributed]'")
CONNECT_TIMEOUT = "20s"


class DaskUnavailable(RuntimeError):
    """Dask was asked for but ``distributed`` is not installed."""


class ClusterUnavailable(OSError):
    """The Dask scheduler cannot be reached."""


def default_threads(workers: int) -> int:
    """BLAS/Numba threads per run when ``workers`` runs share this machine: cores / workers."""
    return max(1, usable_cores() // max(1, int(workers)))


@contextmanager
def _environment(values: dict):
    """Set ``values`` in os.environ for the block, then restore what was there."""
    before = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _worker_lost(error: BaseException, where: str) -> dict:
    return {"state": "failed", "kind": "state", "error_type": type(error).__name__,
            "error": f"{where} ({type(error).__name__}: {error}); the run resumes from its "
                     "checkpoint when the sweep is run again", "skipped": False,
            "resumed_from": None}


class LocalPool:
    """``jobs`` spawned worker processes on this machine, ``threads`` BLAS/Numba threads each
    (default: the cores divided among the workers)."""

    kind = "local"

    def __init__(self, jobs: int, threads: int | None = None):
        if not isinstance(jobs, int) or jobs < 1:
            raise ValueError(f"jobs must be a positive integer, got {jobs!r}")
        self.jobs = jobs
        self.threads = threads or default_threads(jobs)
        self._env = None
        self._pool = None
        self._broken = False

    def describe(self) -> str:
        return (f"{self.jobs} local process{'es' if self.jobs > 1 else ''}, {self.threads} "
                f"thread{'s' if self.threads > 1 else ''} each")

    def __enter__(self) -> "LocalPool":
        # Load NumPy and Numba here first, so the variables set below reach only the workers.
        importlib.import_module("numpy")
        from ...nn.threads import apply_thread_policy

        apply_thread_policy()
        self._env = _environment(thread_environment(self.threads))
        self._env.__enter__()
        self._start()
        return self

    def _start(self) -> None:
        self._pool = cf.ProcessPoolExecutor(
            max_workers=self.jobs, mp_context=multiprocessing.get_context("spawn"),
            initializer=init_local_worker, initargs=(self.threads, os.getpid()))
        self._broken = False

    def capacity(self) -> int:
        return self.jobs

    def submit(self, task: dict):
        if self._broken:
            self._terminate()
            self._start()
        return self._pool.submit(run_point, task)

    def wait(self, futures, timeout: float | None = None) -> list:
        done, _ = cf.wait(futures, timeout=timeout, return_when=cf.FIRST_COMPLETED)
        return list(done)

    def outcome(self, future) -> dict:
        try:
            return future.result()
        except cf.process.BrokenProcessPool as error:
            self._broken = True
            return _worker_lost(error, "a worker process died while this run was in flight "
                                       "(killed, out of memory or crashed)")
        except cf.CancelledError as error:
            return _worker_lost(error, "cancelled")

    def _terminate(self) -> None:
        pool, self._pool = self._pool, None
        if pool is None:
            return
        processes = list(getattr(pool, "_processes", {}).values())
        terminate = getattr(pool, "terminate_workers", None)  # Python 3.14
        if terminate is not None:
            terminate()
        else:
            for process in processes:
                if process.is_alive():
                    process.terminate()
        pool.shutdown(wait=True, cancel_futures=True)
        for process in processes:
            process.join(timeout=30)

    def abort(self) -> None:
        """Ctrl-C: stop every worker now (the run folders are crash-safe) and close."""
        self._terminate()

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None
        if self._env is not None:
            self._env.__exit__(None, None, None)
            self._env = None

    def __exit__(self, *exc) -> None:
        if exc[0] is not None:
            self._terminate()
        self.close()


def _import_distributed():
    try:
        import distributed
    except ImportError:
        raise DaskUnavailable(f"running on Dask needs the 'distributed' package, which is not "
                              f"installed: {INSTALL_HINT}; without it, leave out --scheduler "
                              "and --dask-local to use the local process pool") from None
    return distributed


class DaskPool:
    """A Dask cluster: the scheduler at ``address``, or a LocalCluster of ``local_workers``
    single-threaded worker processes started here. ``threads``: BLAS/Numba threads per run
    (default: each host's cores divided among its worker processes)."""

    kind = "dask"

    def __init__(self, address: str | None = None, local_workers: int | None = None,
                 threads: int | None = None):
        if (address is None) == (local_workers is None):
            raise ValueError("give exactly one of address and local_workers")
        if local_workers is not None and (not isinstance(local_workers, int) or local_workers < 1):
            raise ValueError(f"local_workers must be a positive integer, got {local_workers!r}")
        self.distributed = _import_distributed()
        self.address, self.local_workers, self.threads = address, local_workers, threads
        self.cluster = self.client = None
        self._submitted: list = []

    def describe(self) -> str:
        where = f"the Dask scheduler at {self.address}" if self.address else \
            f"a Dask LocalCluster of {self.local_workers} processes"
        return f"{where} ({self.capacity()} worker processes)"

    def __enter__(self) -> "DaskPool":
        distributed = self.distributed
        if self.address is None:
            threads = self.threads or default_threads(self.local_workers)
            self.cluster = distributed.LocalCluster(
                n_workers=self.local_workers, threads_per_worker=1, processes=True,
                host="127.0.0.1", dashboard_address=None, env=thread_environment(threads))
            self.client = distributed.Client(self.cluster)
        else:
            try:
                self.client = distributed.Client(self.address, timeout=CONNECT_TIMEOUT)
            except (OSError, TimeoutError, ValueError) as error:
                raise ClusterUnavailable(
                    f"cannot reach the Dask scheduler at {self.address} ({error}); start one "
                    "with 'dask scheduler' and workers with 'dask worker ADDRESS --nthreads 1', "
                    "and give the address the scheduler prints") from None
        return self

    def _workers(self) -> dict:
        return self.client.scheduler_info(n_workers=-1).get("workers", {}) \
            if _takes_n_workers(self.client) else self.client.scheduler_info().get("workers", {})

    def capacity(self) -> int:
        """One point per worker process (at least one, so a sweep waits for workers to join)."""
        return max(1, len(self._workers()))

    def _hosts(self) -> dict:
        hosts: dict = {}
        for info in self._workers().values():
            hosts[info.get("host")] = hosts.get(info.get("host"), 0) + 1
        return hosts

    def submit(self, task: dict):
        task = dict(task)
        if self.threads:
            task["threads"] = self.threads
        else:
            task["hosts"] = self._hosts()
        future = self.client.submit(run_point, task, pure=False)
        self._submitted = [f for f in self._submitted if not f.done()] + [future]
        return future

    def wait(self, futures, timeout: float | None = None) -> list:
        end = None if timeout is None else time.monotonic() + timeout
        while True:
            done = [f for f in futures if f.done()]
            if done or (end is not None and time.monotonic() >= end):
                return done
            time.sleep(0.05)

    def outcome(self, future) -> dict:
        try:
            return future.result()
        except Exception as error:  # noqa: BLE001 — KilledWorker, CancelledError, lost data
            if type(error).__name__ == "KilledWorker":
                return _worker_lost(error, "the Dask workers running it died")
            return _worker_lost(error, "it could not run on the Dask cluster (is numpy-adam "
                                       "installed where the workers run?)")

    def abort(self) -> None:
        """Ctrl-C: cancel what was submitted. Points already running on a scheduler's workers
        finish there by themselves (Dask cannot stop a running task); a LocalCluster's
        workers are stopped with it."""
        try:
            self.client.cancel([f for f in self._submitted if not f.done()], force=True)
        except Exception:  # noqa: BLE001 — best effort while interrupted
            pass
        self.close()

    def close(self) -> None:
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.cluster is not None:
            self.cluster.close()
            self.cluster = None

    def __exit__(self, *exc) -> None:
        self.close()


def _takes_n_workers(client) -> bool:
    import inspect

    try:
        return "n_workers" in inspect.signature(client.scheduler_info).parameters
    except (TypeError, ValueError):
        return False


def make_executor(jobs: int | None = None, scheduler: str | None = None,
                  dask_local: int | None = None, threads: int | None = None):
    """The executor the options ask for: Dask with ``scheduler`` or ``dask_local``, else a
    local pool of ``jobs`` processes (default: one per core)."""
    if scheduler is not None or dask_local is not None:
        return DaskPool(scheduler, dask_local, threads)
    return LocalPool(jobs or usable_cores(), threads)
