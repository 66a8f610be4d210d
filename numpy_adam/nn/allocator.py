"""Allocator policy: a training process keeps the memory it frees, instead of handing it back
to the operating system after every step.

Why. A training step allocates its activations and gradients afresh (arrays of a few MB at
batch 100) and frees them all by the step's end. glibc's malloc may then find one large free
block at the top of its heap, larger than its trim threshold, and return it to the kernel; the
next step asks for the same memory again, and every 4 KiB page is zero-filled by a page fault
on first touch. Whether that happens depends on what else the process holds at the top of
its heap: a loop that runs nothing but the step (the bench's step function timed alone, or
PyTorch's step in the bench's worker) can fault thousands of times per step, while
``numpy-adam train``'s loop, which keeps other memory alive, did not (``numpy-adam bench``
counts the faults of each; README, Performance). Arrays above glibc's mmap threshold go the
same way by munmap/mmap. The policy makes the fast tier's speed not depend on that luck.

What. :func:`keep_freed_memory` sets two glibc malloc parameters (``mallopt``):

    M_MMAP_THRESHOLD = 32 MiB    arrays below it come from the heap, not a fresh mmap
                                 (32 MiB is the most glibc accepts on 64-bit)
    M_TRIM_THRESHOLD = 256 MiB   free memory at the heap's top is returned only beyond this

So the process's resident memory stays at its peak instead of breathing every step, as a
caching allocator's would; above those sizes glibc behaves as before. Numerics are untouched.

Who calls it. :class:`~numpy_adam.models.cifar_cnn_fast.FastCifarCNN` on construction (every
training run, the bench's numpy side, sweep workers): the fast tier exists for training loops.
The reference layers do not, so importing the library changes nothing. The setting is
process-wide and applied once. Malloc settings in the environment win: if any of
``MALLOC_TRIM_THRESHOLD_``, ``MALLOC_MMAP_THRESHOLD_``, ``MALLOC_TOP_PAD_`` is set, or
``GLIBC_TUNABLES`` names a ``glibc.malloc.`` tunable, nothing is changed. On a C library
other than glibc (macOS, musl) there is nothing to set.
"""
from __future__ import annotations

import ctypes
import os
import platform

M_TRIM_THRESHOLD = -1  # glibc's <malloc.h> parameter numbers
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_BYTES = 32 * 2 ** 20
TRIM_THRESHOLD_BYTES = 256 * 2 ** 20
MALLOC_ENVIRONMENT = ("MALLOC_TRIM_THRESHOLD_", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TOP_PAD_")

_outcome: str | None = None  # what the first call did; later calls repeat it


def malloc_set_by_environment(environ=os.environ) -> bool:
    """Whether the environment already configures glibc's malloc (then it is left alone)."""
    return (any(environ.get(name) for name in MALLOC_ENVIRONMENT)
            or "glibc.malloc." in environ.get("GLIBC_TUNABLES", ""))


def policy_environment() -> dict[str, str]:
    """The same two settings as glibc's environment variables, for a process that should run
    under the policy without calling :func:`keep_freed_memory` (the bench's PyTorch worker)."""
    return {"MALLOC_MMAP_THRESHOLD_": str(MMAP_THRESHOLD_BYTES),
            "MALLOC_TRIM_THRESHOLD_": str(TRIM_THRESHOLD_BYTES)}


def keep_freed_memory() -> str:
    """Apply the policy (module doc) once per process; return what was done:
    ``"applied"``, ``"environment"`` (the environment's malloc settings kept) or
    ``"unsupported"`` (not glibc). Raises OSError if glibc refuses a setting."""
    global _outcome
    if _outcome is None:
        _outcome = _apply()
    return _outcome


def _apply() -> str:
    if platform.libc_ver()[0] != "glibc":
        return "unsupported"
    if malloc_set_by_environment():
        return "environment"
    mallopt = ctypes.CDLL(None).mallopt  # the process's own C library
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    for name, parameter, value in (("M_MMAP_THRESHOLD", M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES),
                                   ("M_TRIM_THRESHOLD", M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES)):
        if mallopt(parameter, value) != 1:  # mallopt returns 1 on success
            raise OSError(f"keep_freed_memory: glibc's mallopt refused {name} = {value}")
    return "applied"
