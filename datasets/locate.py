"""Where CIFAR-10 lives: the data root and which of the two official layouts it holds.

Data root, first match wins:

1. the explicit ``root`` argument (the CLI's ``--data-dir``);
2. the environment variable ``NUMPY_ADAM_DATA`` (when set and non-empty);
3. a per-user cache folder: ``$XDG_CACHE_HOME/numpy-adam``, else ``~/.cache/numpy-adam``.

The root *contains* ``cifar-10-batches-py/`` (the official "python version") and/or
``cifar-10-batches-bin/`` (the "binary version"); the python version is preferred when
both exist. A root that *is* one of those two folders is accepted too and then selects
that layout.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

ENV_VAR = "NUMPY_ADAM_DATA"
CACHE_SUBDIR = "numpy-adam"

PYTHON = "python"
BINARY = "binary"
LAYOUT_DIRS = {PYTHON: "cifar-10-batches-py", BINARY: "cifar-10-batches-bin"}
PREFERENCE = (PYTHON, BINARY)


class Layout(NamedTuple):
    """A CIFAR-10 folder found on disk.

    fmt: ``"python"`` or ``"binary"``.
    folder: the ``cifar-10-batches-py`` / ``cifar-10-batches-bin`` directory itself.
    """
    fmt: str
    folder: Path


def default_cache_dir() -> Path:
    """The per-user cache folder: ``$XDG_CACHE_HOME/numpy-adam`` or ``~/.cache/numpy-adam``."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / CACHE_SUBDIR


def data_root(root=None) -> Path:
    """The data root from ``root``, else ``$NUMPY_ADAM_DATA``, else :func:`default_cache_dir`.

    root: ``str``, ``os.PathLike`` or ``None``. ``~`` is expanded. The folder need not exist.
    Returns an absolute :class:`~pathlib.Path`.
    """
    if root is not None:
        if not isinstance(root, (str, os.PathLike)):
            raise TypeError(f"root must be a path (str or os.PathLike) or None, got "
                            f"{type(root).__name__}: {root!r}")
        if str(root) == "":
            raise ValueError("root must not be an empty string; pass None to use "
                             f"${ENV_VAR} or the user cache folder")
        path = Path(root)
    elif os.environ.get(ENV_VAR):
        path = Path(os.environ[ENV_VAR])
    else:
        path = default_cache_dir()
    return path.expanduser().absolute()


def split_root(root: Path) -> tuple[Path, str | None]:
    """``(data root, forced format)``: a root named like a layout folder selects that layout.

    root: an absolute path from :func:`data_root`.
    Returns the folder that contains (or will contain) the layout folders, and ``"python"``
    / ``"binary"`` when ``root`` itself is ``cifar-10-batches-py`` / ``-bin``, else ``None``.
    """
    for fmt, name in LAYOUT_DIRS.items():
        if root.name == name:
            return root.parent, fmt
    return root, None


def find_layout(root: Path) -> Layout | None:
    """The layout present under ``root`` (python preferred), or ``None`` when neither exists.

    root: an absolute path from :func:`data_root`; may be a layout folder itself.
    """
    parent, forced = split_root(root)
    for fmt in ((forced,) if forced else PREFERENCE):
        folder = parent / LAYOUT_DIRS[fmt]
        if folder.is_dir():
            return Layout(fmt, folder)
    return None


def where_to_put_files(root: Path) -> str:
    """A how-to paragraph for error messages: the expected paths of both layouts."""
    parent, _ = split_root(root)
    py = parent / LAYOUT_DIRS[PYTHON]
    binary = parent / LAYOUT_DIRS[BINARY]
    return (f"Put CIFAR-10 in one of the two official layouts:\n"
            f"  {py}/data_batch_1 ... data_batch_5, test_batch   (python version, "
            f"from cifar-10-python.tar.gz)\n"
            f"  {binary}/data_batch_1.bin ... data_batch_5.bin, test_batch.bin   "
            f"(binary version, from cifar-10-binary.tar.gz)\n"
            f"or point the data directory elsewhere: the option --data-dir DIR or the "
            f"environment variable {ENV_VAR}=DIR (in Python, load_cifar10(root=DIR)), where DIR "
            f"is the folder that contains {LAYOUT_DIRS[PYTHON]}/ or {LAYOUT_DIRS[BINARY]}/.")
