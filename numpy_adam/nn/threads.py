"""Thread policy: Numba's parallel kernels run on the ``workqueue`` threading layer.

Why: on small core counts the default OpenMP layer's idle worker threads spin after each
parallel region, and OpenBLAS's idle threads spin after each GEMM; a training step
alternates the two, so each waits for cores the other is burning. The workqueue layer's
idle threads sleep instead. (The fast layer kernels in :mod:`.fast_kernels` are serial for
the same reason, and run side by side on shares of the work through :mod:`.lanes`; the
optimizer's kernels and the bench's bandwidth measurement are the parallel ones.)

How: :func:`apply_thread_policy` sets ``numba.config.THREADING_LAYER`` — effective until
Numba's first parallel launch, so ``numpy_adam/nn/__init__.py`` calls it (every model and
optimizer imports :mod:`numpy_adam.nn`). An explicit ``NUMBA_THREADING_LAYER`` in the environment
always wins. Limitation of workqueue: one parallel kernel at a time per process (no
concurrent calls from several Python threads), which this library never does.

OpenBLAS is not configured here: its thread timeout (``OPENBLAS_THREAD_TIMEOUT``, read
when numpy loads OpenBLAS) and kernel (``OPENBLAS_CORETYPE``) are the user's environment;
``numpy-adam bench`` reports them.
"""
from __future__ import annotations

import os

POLICY_LAYER = "workqueue"


def apply_thread_policy() -> str:
    """Select the workqueue layer unless NUMBA_THREADING_LAYER is set; return the choice."""
    import numba

    if os.environ.get("NUMBA_THREADING_LAYER"):
        return numba.config.THREADING_LAYER
    numba.config.THREADING_LAYER = POLICY_LAYER
    return POLICY_LAYER
