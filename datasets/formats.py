"""The two official CIFAR-10 file formats, read and validated.

Python version (``cifar-10-batches-py/``): ``data_batch_1`` ... ``data_batch_5``,
``test_batch``; each a protocol-2 pickle (written by Python 2) of a dict with

* ``data``: uint8 ndarray (10000, 3072); a row is one image, 1024 R then 1024 G then 1024 B
  values, each plane 32x32 row-major, so ``data.reshape(-1, 3, 32, 32)`` is NCHW;
* ``labels``: list of 10000 ints in 0..9;
* ``batch_label``, ``filenames`` (not needed, not required).

Binary version (``cifar-10-batches-bin/``): ``data_batch_1.bin`` ... ``data_batch_5.bin``,
``test_batch.bin``; each 10000 records of 3073 bytes: 1 label byte, then the same 3072
pixel bytes as a python-version row. No header, no delimiter.

Both decode to images uint8 (N, 3, 32, 32) and labels int64 (N,), identical for the
same images. Every check failure raises :class:`~datasets.errors.CorruptDataError` or
:class:`~datasets.errors.DatasetNotFoundError` naming the file and what to do.
"""
from __future__ import annotations

import hashlib
import pickle
import warnings
from pathlib import Path

import numpy as np

from .errors import ChecksumWarning, CorruptDataError, DatasetNotFoundError, UnsafePickleError
from .locate import BINARY, PYTHON, Layout
from .safe_pickle import load_restricted

CHANNELS, HEIGHT, WIDTH = 3, 32, 32
IMAGE_SHAPE = (CHANNELS, HEIGHT, WIDTH)
PIXELS = CHANNELS * HEIGHT * WIDTH              # 3072 bytes per image
RECORD_BYTES = 1 + PIXELS                       # binary version: label byte + pixels
NUM_CLASSES = 10
RECORDS_PER_BATCH = 10_000
CLASSES = ("airplane", "automobile", "bird", "cat", "deer",
           "dog", "frog", "horse", "ship", "truck")
SPLITS = ("train", "test")

_TRAIN = tuple(f"data_batch_{i}" for i in range(1, 6))
BATCH_FILES = {
    PYTHON: {"train": _TRAIN, "test": ("test_batch",)},
    BINARY: {"train": tuple(f + ".bin" for f in _TRAIN), "test": ("test_batch.bin",)},
}

# Per-file MD5 of the official python-version release (as torchvision also lists them).
# No per-file sums are published for the binary version; its archive MD5 is checked on download.
OFFICIAL_MD5 = {
    PYTHON: {
        "data_batch_1": "c99cafc152244af753f735de768cd75f",
        "data_batch_2": "d4bba439e000b95fd0a9bffe97cbabec",
        "data_batch_3": "54ebc095f3ab1f0389bbae665268c751",
        "data_batch_4": "634d18415352ddfa80567beed471001a",
        "data_batch_5": "482c414d41f54cd18b22e5b47cb7c3cb",
        "test_batch": "40351d587109b95175f43aff81a1287e",
        "batches.meta": "5ff9c542aee3614f3951f8cda6e48888",
    },
    BINARY: {},
}

_REMEDY = ("The file is damaged or not from the official CIFAR-10 release: copy an intact "
           "file there, or delete its folder and run again, which downloads the data set anew "
           "(when online).")


def _damaged(path: Path, what: str) -> CorruptDataError:
    return CorruptDataError(f"{path}: {what}. {_REMEDY}")


def md5_file(path, chunk_size: int = 1 << 20) -> str:
    """Hex MD5 of a file, read in chunks of ``chunk_size`` bytes."""
    digest = hashlib.md5()
    with open(path, "rb") as f:
        while chunk := f.read(chunk_size):
            digest.update(chunk)
    return digest.hexdigest()


def check_labels(labels: np.ndarray, path: Path) -> np.ndarray:
    """Labels as int64 (N,), all in 0..9; else a CorruptDataError naming ``path``."""
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise _damaged(path, f"labels must be a flat sequence of integers, got dtype "
                             f"{labels.dtype} and shape {labels.shape}")
    bad = np.flatnonzero((labels < 0) | (labels >= NUM_CLASSES))
    if bad.size:
        raise _damaged(path, f"{bad.size} label(s) outside 0..{NUM_CLASSES - 1}, first at "
                             f"record {bad[0]}: {labels[bad[0]]}")
    return labels.astype(np.int64, copy=False)


def _normalize_keys(batch: dict, path: Path) -> dict:
    """Keys as ``str`` whether the pickle gave ``bytes`` (encoding="bytes") or ``str``."""
    out = {}
    for key, value in batch.items():
        if isinstance(key, bytes):
            key = key.decode("latin1")
        if not isinstance(key, str):
            raise _damaged(path, f"unexpected key {key!r} of type {type(key).__name__}")
        out[key] = value
    return out


def read_python_batch(path, records: int = RECORDS_PER_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """One python-version batch file, parsed with the restricted unpickler and validated.

    path: ``str`` or ``os.PathLike`` of e.g. ``data_batch_1``.
    records: the expected number of images in the file (10000 in the official release).
    Returns images uint8 (records, 3, 32, 32) (a view of the unpickled array) and labels
    int64 (records,).
    """
    path = Path(path)
    try:
        batch = load_restricted(path)
    except UnsafePickleError:
        raise
    except (pickle.UnpicklingError, EOFError) as e:
        raise _damaged(path, f"the pickle is truncated or corrupt ({type(e).__name__}: {e})") from e
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, MemoryError) as e:
        raise _damaged(path, f"the pickle does not decode to a CIFAR-10 batch "
                             f"({type(e).__name__}: {e})") from e
    if not isinstance(batch, dict):
        raise _damaged(path, f"expected a pickled dict, got {type(batch).__name__}")
    batch = _normalize_keys(batch, path)
    missing = [k for k in ("data", "labels") if k not in batch]
    if missing:
        hint = " (this looks like CIFAR-100, which has 'fine_labels')" if "fine_labels" in batch else ""
        raise _damaged(path, f"missing key(s) {missing}; found {sorted(batch)}{hint}")

    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8:
        raise _damaged(path, f"'data' must be a uint8 ndarray, got "
                             f"{getattr(data, 'dtype', type(data).__name__)}")
    if data.shape != (records, PIXELS):
        raise _damaged(path, f"'data' has shape {data.shape}, expected ({records}, {PIXELS}): "
                             f"{records} images of 3x32x32 bytes")
    raw_labels = batch["labels"]
    if not isinstance(raw_labels, (list, tuple, np.ndarray)):
        raise _damaged(path, f"'labels' must be a list of ints, got {type(raw_labels).__name__}")
    if len(raw_labels) != records:
        raise _damaged(path, f"'labels' has {len(raw_labels)} entries, expected {records} "
                             f"(one per image)")
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in raw_labels):
        raise _damaged(path, "'labels' contains non-integer entries")
    labels = check_labels(np.asarray(raw_labels, dtype=np.int64), path)
    return data.reshape(records, *IMAGE_SHAPE), labels  # (records, 3, 32, 32)


def read_binary_batch(path, records: int = RECORDS_PER_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """One binary-version batch file (``records`` x 3073 bytes), validated.

    path: ``str`` or ``os.PathLike`` of e.g. ``data_batch_1.bin``.
    records: the expected number of images in the file (10000 in the official release).
    Returns images uint8 (records, 3, 32, 32) and labels int64 (records,).
    """
    path = Path(path)
    size = path.stat().st_size
    if size != records * RECORD_BYTES:
        if size % RECORD_BYTES:
            what = (f"size {size} bytes is not a whole number of {RECORD_BYTES}-byte records "
                    f"(truncated or padded); expected {records * RECORD_BYTES} bytes")
        else:
            what = (f"holds {size // RECORD_BYTES} records, expected {records} "
                    f"({records * RECORD_BYTES} bytes)")
        raise _damaged(path, what)
    raw = np.fromfile(path, dtype=np.uint8).reshape(records, RECORD_BYTES)
    labels = check_labels(raw[:, 0], path)
    images = raw[:, 1:].reshape(records, *IMAGE_SHAPE)  # (records, 3, 32, 32), a strided view
    return images, labels


_READERS = {PYTHON: read_python_batch, BINARY: read_binary_batch}


def check_official_md5(path: Path, fmt: str) -> None:
    """Warn (:class:`ChecksumWarning`) when ``path`` differs from the official release."""
    expected = OFFICIAL_MD5[fmt].get(path.name)
    if expected is None:
        warnings.warn(f"{path}: no official per-file MD5 is known for the {fmt} version; not "
                      f"checked (the archive's MD5 is verified on download)",
                      ChecksumWarning, stacklevel=3)
        return
    actual = md5_file(path)
    if actual != expected:
        warnings.warn(f"{path}: MD5 {actual} differs from the official release's {expected}. "
                      f"Expected for re-encoded copies such as the shared CI copy; otherwise "
                      f"the file was modified or damaged: download it again.",
                      ChecksumWarning, stacklevel=3)


def read_split(layout: Layout, split: str, *, records_per_batch: int = RECORDS_PER_BATCH,
               verify_md5: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """All batch files of one split, concatenated in file order.

    layout: the folder and format (:func:`datasets.locate.find_layout`).
    split: ``"train"`` (5 files) or ``"test"`` (1 file).
    records_per_batch: images per file (10000 officially; smaller for test fixtures).
    verify_md5: also compare each file with the official per-file MD5 (warns on mismatch).
    Returns images uint8 (F * records_per_batch, 3, 32, 32), C-contiguous, and labels
    int64 (F * records_per_batch,), F the number of files.
    """
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
    names = BATCH_FILES[layout.fmt][split]
    paths = [layout.folder / name for name in names]
    missing = [p.name for p in paths if not p.is_file()]
    if missing:
        raise DatasetNotFoundError(
            f"{layout.folder}: missing {split} batch file(s) {missing} of the {layout.fmt} "
            f"version (expected {list(names)}). Copy the missing file(s) there, or delete "
            f"{layout.folder} and run again, which downloads the data set anew (when online).")
    n = len(paths) * records_per_batch
    images = np.empty((n, *IMAGE_SHAPE), dtype=np.uint8)  # (N, 3, 32, 32), filled per file
    labels = np.empty(n, dtype=np.int64)
    for i, path in enumerate(paths):
        if verify_md5:
            check_official_md5(path, layout.fmt)
        batch_images, batch_labels = _READERS[layout.fmt](path, records_per_batch)
        rows = slice(i * records_per_batch, (i + 1) * records_per_batch)
        images[rows] = batch_images
        labels[rows] = batch_labels
    return images, labels
