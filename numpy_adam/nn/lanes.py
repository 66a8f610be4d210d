"""Lanes: the fast tier's own threads, each running a share of a stage.

Why. A training step alternates matrix products (OpenBLAS) with Numba kernels and NumPy
copies. Left to OpenBLAS, only the products use both cores, and poorly on the convs' skinny
shapes (an (16 × 75)·(75 × 102400) product took as long on two OpenBLAS threads as on one),
while the Numba kernels and copies ran on one core next to OpenBLAS's idle thread spinning on
the other; Numba-parallel kernels had to fight that spinning thread for the core and lost.
Lanes split the work themselves: stage by stage it is cut into independent shares (images,
channels, rows or columns of a product) and lane k runs share k, with OpenBLAS on one thread
inside each lane, so no thread waits for a core that another thread is spinning on.

    with lanes.parallel():            OpenBLAS on one thread, splits over the lanes
        lanes.split(share, total)     share(start, stop) per lane, in parallel; returns when
                                      all have returned
    lanes.split(share, total)         outside parallel(): share(0, total), one call, OpenBLAS
                                      as configured

Results do not depend on the lane count, or on whether a split ran in parallel: every share
writes a disjoint part of the output with the same sums in the same order (a column block of
a product is the same dot products; a channel's statistics are that channel's sums). Splits
of a product's columns start at multiples of :data:`PRODUCT_ALIGN`, which keeps every column
on the same OpenBLAS kernel path as in the unsplit product. Tested to the bit in
tests/nn/test_lanes.py and tests/models/test_cifar_cnn_fast.py.

How many lanes: as many as OpenBLAS had threads when ``parallel()`` was entered (so
``threadpoolctl`` limits, ``OPENBLAS_NUM_THREADS`` and the sweep's per-worker share of the
cores apply unchanged). Lane 0 is the calling thread; the others are daemon threads started
on first use, which sleep on a queue between shares. A hand-off costs tens of microseconds
(waking a sleeping thread), so a split gives a lane a share only if the share touches at
least :data:`MIN_SHARE_ELEMENTS` array elements, and small work runs whole on the calling
thread. Without OpenBLAS (another BLAS) there is one lane and ``parallel()`` changes
nothing. One split at a time per process: the fast tier's stages never nest splits, and
BLAS calls from other Python threads get one OpenBLAS thread while ``parallel()`` is in force.
"""
from __future__ import annotations

import os
import queue
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

Share = Callable[[int, int], None]

# Splits of a product's columns start at multiples of this: OpenBLAS computes a complex
# product's last few columns by different code when their number is not a multiple of its
# kernel's width (seen with shares of 5867 columns: results differed in the last bit), so
# aligned shares keep every column on the kernel path of the unsplit product.
PRODUCT_ALIGN = 16

# A lane gets a share only if the share reads and writes at least this many array elements:
# waking a sleeping lane costs tens of microseconds, about the time it takes to stream a few
# hundred thousand floats through memory.
MIN_SHARE_ELEMENTS = 1 << 18


def ranges(total: int, parts: int, align: int = 1) -> list[tuple[int, int]]:
    """Up to ``parts`` contiguous (start, stop) ranges covering 0 … total − 1, every start a
    multiple of ``align``, sizes as equal as that allows (larger first, the remainder of an
    unaligned total in the last); empty ranges dropped (fewer parts when total is small)."""
    units = -(-total // align)  # blocks of align, the last possibly short
    base, extra = divmod(units, parts)
    out, start = [], 0
    for k in range(parts):
        stop = min(total, start + (base + (1 if k < extra else 0)) * align)
        if stop > start:
            out.append((start, stop))
        start = stop
    return out


def _openblas():
    """The threadpoolctl controller of the loaded OpenBLAS, or None."""
    from threadpoolctl import ThreadpoolController

    for controller in ThreadpoolController().lib_controllers:
        if controller.internal_api == "openblas":
            return controller
    return None


class Lanes:
    """Runs shares of a stage on the calling thread and on worker threads (module doc).

    Args:
        count: a fixed lane count, or None (default) for OpenBLAS's thread count on entering
            :meth:`parallel`; without OpenBLAS the count is always 1.
    """

    def __init__(self, count: int | None = None):
        if count is not None and (isinstance(count, bool) or not isinstance(count, int)
                                  or count < 1):
            raise ValueError(f"Lanes: count must be a positive int or None, got {count!r}")
        self._fixed = count
        self._blas = _openblas()
        self._active = 0  # lanes of the parallel() in force, 0 outside
        self._workers: list[queue.SimpleQueue] = []
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._splits = 0  # splits handed to workers so far: tags their reports
        self._pid = os.getpid()

    @property
    def count(self) -> int:
        """The lanes ``parallel()`` would use if entered now."""
        if self._blas is None:
            return 1
        return self._fixed if self._fixed is not None else max(1, self._blas.get_num_threads())

    @contextmanager
    def parallel(self) -> Iterator[None]:
        """Within: splits run over the lanes, and OpenBLAS stays on one thread (also for the
        products between splits, e.g. a classifier's layers).

        Why hold OpenBLAS at one thread throughout: after a product on several threads,
        OpenBLAS's idle workers spin for a while (``OPENBLAS_THREAD_TIMEOUT``) before they
        sleep, on the very cores the next split's lanes need. Held at one thread, OpenBLAS
        never hands them work and they sleep. Nested uses are one use."""
        if self._active or self._blas is None:
            yield
            return
        threads = self._blas.get_num_threads()
        self._active = self._fixed if self._fixed is not None else max(1, threads)
        self._blas.set_num_threads(1)
        try:
            yield
        finally:
            self._blas.set_num_threads(threads)
            self._active = 0

    def split(self, share: Share, total: int, align: int = 1, cost: int | None = None) -> None:
        """Call ``share(start, stop)`` over 0 … total − 1: within :meth:`parallel`, once per
        lane over :func:`ranges` (total, lanes, align), in parallel, re-raising the first
        exception raised once all shares have returned; outside, once, as share(0, total).

        ``align``: see :data:`PRODUCT_ALIGN`. ``cost``: the array elements one unit of
        ``total`` reads and writes; given, the split uses no more lanes than give each at
        least :data:`MIN_SHARE_ELEMENTS`."""
        lanes = self._active or 1
        if cost is not None:
            lanes = max(1, min(lanes, total * cost // MIN_SHARE_ELEMENTS))
        parts = ranges(total, lanes, align)
        if len(parts) <= 1:
            if total > 0:
                share(0, total)
            return
        self._splits += 1
        tag = self._splits
        for inbox, (start, stop) in zip(self._ensure_workers(len(parts) - 1), parts[1:]):
            inbox.put((tag, share, start, stop))
        errors = []
        try:
            share(*parts[0])
        except BaseException as error:  # noqa: BLE001 - re-raised below, after the others
            errors.append(error)
        finally:
            waiting = len(parts) - 1
            while waiting:
                # a report of an earlier split (its wait interrupted, e.g. by Ctrl-C) is
                # dropped: this split returns only once its own shares have finished
                done, error = self._done.get()
                if done == tag:
                    waiting -= 1
                    if error is not None:
                        errors.append(error)
        if errors:
            raise errors[0]

    def _ensure_workers(self, needed: int) -> list[queue.SimpleQueue]:
        """The inboxes of ``needed`` worker threads, started on first use."""
        if os.getpid() != self._pid:  # a forked child inherits no threads: start afresh
            self._workers, self._done, self._pid = [], queue.SimpleQueue(), os.getpid()
        while len(self._workers) < needed:
            inbox: queue.SimpleQueue = queue.SimpleQueue()
            threading.Thread(target=_serve, args=(inbox, self._done), daemon=True,
                             name=f"numpy-adam lane {len(self._workers) + 1}").start()
            self._workers.append(inbox)
        return self._workers[:needed]

    def __repr__(self) -> str:
        fixed = "OpenBLAS's threads" if self._fixed is None else self._fixed
        return f"Lanes(count={fixed}, now {self.count})"


def _serve(inbox: queue.SimpleQueue, done: queue.SimpleQueue) -> None:
    """A worker lane: run each share posted to ``inbox``; report (its split's tag, None or the
    exception it raised)."""
    while True:
        tag, share, start, stop = inbox.get()
        try:
            share(start, stop)
        except BaseException as error:  # noqa: BLE001 - handed to the caller
            done.put((tag, error))
        else:
            done.put((tag, None))


_SHARED: Lanes | None = None


def shared_lanes() -> Lanes:
    """The process's one :class:`Lanes` (following OpenBLAS's thread count), made on first use."""
    global _SHARED
    if _SHARED is None:
        _SHARED = Lanes()
    return _SHARED
