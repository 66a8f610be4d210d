"""Tiny CIFAR-10 fixtures in both official formats, written the way the originals were.

``write_py2_pickle`` reproduces Python 2's cPickle protocol 2: every ``str``/``bytes``
becomes a ``(SHORT_)BINSTRING`` and the array is rebuilt through
``numpy.core.multiarray._reconstruct``, exactly the opcodes and globals of the official
files (see ``test_fixture_matches_official_opcodes``). ``write_py3_pickle`` is what
``pickle.dump(..., protocol=2)`` gives on Python 3 (bytes via ``_codecs.encode``).
"""
from __future__ import annotations

import io
import os
import pickle
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from numpy_adam.datasets.formats import BATCH_FILES, CLASSES
from numpy_adam.datasets.locate import BINARY, LAYOUT_DIRS, PYTHON, find_layout

RECORDS = 4  # images per tiny batch file: train 5 x 4 = 20, test 4


class _Py2Pickler(pickle._Pickler):
    """Protocol-2 pickler that writes str and bytes as Python 2 ``str`` (BINSTRING)."""

    dispatch = pickle._Pickler.dispatch.copy()

    def save_py2_string(self, obj):
        data = obj if isinstance(obj, bytes) else obj.encode("latin1")
        if len(data) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(data)]) + data)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(data)) + data)
        self.memoize(obj)

    dispatch[bytes] = save_py2_string
    dispatch[str] = save_py2_string


def py2_pickle_bytes(obj) -> bytes:
    buf = io.BytesIO()
    _Py2Pickler(buf, protocol=2).dump(obj)
    # NumPy 2 names its reconstruct function numpy._core...; Python 2's NumPy wrote numpy.core...
    return buf.getvalue().replace(b"cnumpy._core.multiarray\n", b"cnumpy.core.multiarray\n")


def batch_dict(images: np.ndarray, labels: np.ndarray, label: str, str_keys=False) -> dict:
    """The official batch dict: bytes keys (Python 2 str), data (n, 3072) uint8, labels list."""
    n = images.shape[0]
    d = {b"batch_label": label.encode(), b"labels": [int(v) for v in labels],
         b"data": images.reshape(n, -1).copy(),
         b"filenames": [f"{CLASSES[v]}_s_{i:06d}.png".encode() for i, v in enumerate(labels)]}
    return {k.decode(): v for k, v in d.items()} if str_keys else d


def write_py2_pickle(path: Path, obj) -> None:
    path.write_bytes(py2_pickle_bytes(obj))


def write_py3_pickle(path: Path, obj) -> None:
    with open(path, "wb") as f:
        pickle.dump(obj, f, protocol=2)


def write_binary_batch(path: Path, images: np.ndarray, labels: np.ndarray) -> None:
    n = images.shape[0]
    records = np.concatenate([labels.astype(np.uint8)[:, None], images.reshape(n, -1)], axis=1)
    records.tofile(path)  # (n, 3073) bytes


def make_split_arrays(seed: int = 0):
    """Random images/labels of a tiny dataset: {"train": (20,3,32,32), "test": (4,3,32,32)}."""
    rng = np.random.default_rng(seed)
    out = {}
    for split, files in BATCH_FILES[PYTHON].items():
        n = len(files) * RECORDS
        out[split] = (rng.integers(0, 256, size=(n, 3, 32, 32), dtype=np.uint8),
                      rng.integers(0, 10, size=n).astype(np.int64))
    return out


def write_tree(root: Path, fmt: str, arrays, writer=write_py2_pickle) -> Path:
    """Write ``arrays`` (from make_split_arrays) as the ``fmt`` layout under ``root``."""
    folder = root / LAYOUT_DIRS[fmt]
    folder.mkdir(parents=True, exist_ok=True)
    for split, (images, labels) in arrays.items():
        for i, name in enumerate(BATCH_FILES[fmt][split]):
            rows = slice(i * RECORDS, (i + 1) * RECORDS)
            if fmt == PYTHON:
                writer(folder / name, batch_dict(images[rows], labels[rows], f"{split} {i}"))
            else:
                write_binary_batch(folder / name, images[rows], labels[rows])
    if fmt == PYTHON:
        writer(folder / "batches.meta", {b"num_cases_per_batch": RECORDS,
                                         b"label_names": [c.encode() for c in CLASSES],
                                         b"num_vis": 3072})
    else:
        (folder / "batches.meta.txt").write_text("\n".join(CLASSES) + "\n")
    return folder


@pytest.fixture(scope="session")
def fx():
    """The writers above for test modules (pytest's importlib mode cannot import conftest)."""
    return SimpleNamespace(RECORDS=RECORDS, py2_pickle_bytes=py2_pickle_bytes, batch_dict=batch_dict,
                           write_py2_pickle=write_py2_pickle, write_py3_pickle=write_py3_pickle,
                           write_binary_batch=write_binary_batch, make_split_arrays=make_split_arrays,
                           write_tree=write_tree)


@pytest.fixture
def arrays():
    return make_split_arrays(seed=0)


@pytest.fixture
def py_root(tmp_path, arrays):
    write_tree(tmp_path, PYTHON, arrays)
    return tmp_path


@pytest.fixture
def bin_root(tmp_path, arrays):
    write_tree(tmp_path, BINARY, arrays)
    return tmp_path


def shared_data_root() -> tuple[Path | None, str]:
    """The real CIFAR-10 (``$NUMPY_ADAM_DATA``, else ``../shared/datasets`` beside the repo)."""
    repo = Path(__file__).resolve().parents[2]
    candidates = [Path(os.environ["NUMPY_ADAM_DATA"])] if os.environ.get("NUMPY_ADAM_DATA") else []
    candidates.append(repo.parent / "shared" / "datasets")
    for root in candidates:
        if find_layout(root.absolute()) is not None:
            return root, ""
    return None, ("real CIFAR-10 not found: looked for cifar-10-batches-py/ or -bin/ under "
                  + ", ".join(str(c) for c in candidates) + " (set NUMPY_ADAM_DATA)")


@pytest.fixture(scope="session")
def real_root():
    root, reason = shared_data_root()
    if root is None:
        pytest.skip(reason)
    return root
