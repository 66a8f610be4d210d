"""CIFAR-10 as two arrays: ``load_cifar10(root, split) -> (images, labels)``.

The one entry point the rest of the project uses. It finds the data
(:mod:`datasets.locate`), downloads it when absent and allowed
(:mod:`datasets.download`), and reads either official layout with full validation
(:mod:`datasets.formats`, :mod:`datasets.safe_pickle`). Nothing is ever written next to
existing data: no caches, no converted copies (the shared CI copy is read-only).

Memory: the train split is 50000 x 3072 bytes = 147 MB of uint8 (184 MB with the test
split); it is kept as uint8 and converted to float32 one minibatch at a time
(:mod:`datasets.batches`).
"""
from __future__ import annotations

import numbers

import numpy as np

from . import download as _download
from .errors import DatasetNotFoundError
from .formats import CLASSES, RECORDS_PER_BATCH, SPLITS, read_split
from .locate import PYTHON, data_root, find_layout, split_root, where_to_put_files

__all__ = ["load_cifar10", "CLASSES"]


def load_cifar10(root=None, split: str = "train", *, download: bool = True,
                 verify_md5: bool = False, progress: bool = True,
                 records_per_batch: int = RECORDS_PER_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """Load one split of CIFAR-10.

    root: data directory (``str`` / ``os.PathLike``) that contains ``cifar-10-batches-py/``
        and/or ``cifar-10-batches-bin/`` (or is one of them); ``None`` means
        ``$NUMPY_ADAM_DATA``, else the user cache folder ``~/.cache/numpy-adam``
        (``$XDG_CACHE_HOME/numpy-adam``). The python version is read when both exist.
    split: ``"train"`` (data_batch_1..5, 50000 images) or ``"test"`` (test_batch, 10000).
    download: when neither layout is present, download the official python-version
        archive (binary version when ``root`` names ``cifar-10-batches-bin``) into the
        data directory, verify its MD5 and extract it safely. With ``False``, or when the
        download fails (offline), raise :class:`DatasetNotFoundError` saying where to put
        the files.
    verify_md5: also compare each batch file with the official release's MD5 and warn
        (:class:`~datasets.errors.ChecksumWarning`) on mismatch. The shared CI copy is a
        re-encoding and differs by design.
    progress: progress bar while downloading.
    records_per_batch: images per batch file: 10000 in the official release; smaller
        values serve test fixtures and subsets.

    Returns:
        images: uint8 (N, 3, 32, 32), NCHW, channels R, G, B, C-contiguous.
        labels: int64 (N,), class indices 0..9 into :data:`CLASSES`.
    Raises :class:`DatasetNotFoundError` (no data, missing batch file),
    :class:`CorruptDataError` (truncated, wrong size or count, bad labels or keys),
    :class:`UnsafePickleError` (a pickle naming a non-allowed global), each naming the file.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    if (isinstance(records_per_batch, bool) or not isinstance(records_per_batch, numbers.Integral)
            or records_per_batch <= 0):
        raise ValueError(f"records_per_batch must be a positive integer, got {records_per_batch!r}")
    path = data_root(root)
    layout = find_layout(path)
    if layout is None:
        if not download:
            raise DatasetNotFoundError(f"CIFAR-10 not found under {path} (download=False).\n"
                                       + where_to_put_files(path))
        parent, forced = split_root(path)
        layout = _download.download_cifar10(parent, forced or PYTHON, progress=progress)
    return read_split(layout, split, records_per_batch=int(records_per_batch),
                      verify_md5=verify_md5)
