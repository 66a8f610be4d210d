"""How much memory a CNN run needs, checked against what the machine has before anything starts.

A batch too large for the machine is otherwise found by the kernel's out-of-memory killer,
minutes in, after the run folder exists. The estimate counts what the fast CNN step keeps
alive per sample — the two im2col matrices (conv2's twice: its columns and, in backward, their
gradient), two arrays per activation map and the input — plus the data set held as uint8 and a
fixed allowance for Python, NumPy, Numba and BLAS. It is an estimate (the README gives how it
compares with measured peak memory), enough to refuse a batch that cannot fit.
"""
from __future__ import annotations

from .errors import InsufficientMemory


BASE_BYTES = 200 * 2 ** 20          # interpreter, NumPy, Numba, BLAS, the model and optimizer
CIFAR_BYTES = 60000 * 3 * 32 * 32   # both splits as uint8
IMAGE_SIZE = 32


def cnn_bytes_per_sample(channels=(16, 32), kernel_size: int = 5, itemsize: int = 4) -> int:
    """Bytes the CNN training step keeps alive per sample (see the module docstring)."""
    c1, c2 = channels
    k2 = kernel_size * kernel_size
    s1, s2 = IMAGE_SIZE * IMAGE_SIZE, (IMAGE_SIZE // 2) ** 2   # pixels per map, block 1 and 2
    cols = 3 * k2 * s1 + 2 * c1 * k2 * s2                       # conv1 columns, conv2 columns ×2
    maps = 2 * (c1 * s1 + c2 * s2) + 3 * s1                     # activations, and the input
    return itemsize * (cols + maps)


def training_bytes(model: str, batch_size: int, channels=(16, 32), kernel_size: int = 5) -> int:
    """Estimated peak memory of a training run in bytes (the quadratic needs only the base)."""
    if model != "cnn":
        return BASE_BYTES
    return BASE_BYTES + CIFAR_BYTES + batch_size * cnn_bytes_per_sample(channels, kernel_size)


def available_bytes() -> int | None:
    """MemAvailable from /proc/meminfo (Linux), else None (then nothing is refused)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        return None
    return None


def check_memory(model: str, batch_size: int, channels=(16, 32), kernel_size: int = 5,
                 available: int | None = None) -> int:
    """The estimate in bytes; raises MemoryError naming it when it exceeds the available memory
    (``available`` defaults to :func:`available_bytes`)."""
    need = training_bytes(model, batch_size, channels, kernel_size)
    have = available_bytes() if available is None else available
    if have is not None and need > have:
        raise InsufficientMemory(f"batch size {batch_size} needs about {need / 2**30:.1f} GiB, but only "
                          f"{have / 2**30:.1f} GiB of memory is available; choose a smaller "
                          "--batch-size")
    return need
