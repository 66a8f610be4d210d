"""Atomic file writes: a reader sees the old file or the new one, never half of either.

Every writer follows the same recipe:

1. create a temporary file in the *same folder* as the target (so the final rename never
   crosses a filesystem), named ``.<target name>.<random>.tmp``, with the permissions a
   plain ``open()`` would give (0666 minus the umask; ``mkstemp`` alone gives 0600, which
   would hide a run's files from other users);
2. write, ``flush``, ``os.fsync`` (the bytes are on disk before the rename);
3. ``os.replace(tmp, target)`` — atomic on POSIX and Windows;
4. best-effort ``fsync`` of the folder so the rename itself survives a power cut.

If anything fails before step 3 (an exception while serialising, a full disk, a
``KeyboardInterrupt``), the temporary file is removed and the previous target, if any,
is left untouched; the exception propagates.

JSON policy (``atomic_write_json``): JSON has no NaN or Infinity. Run summaries must be
valid JSON that any parser reads, so by default (``nonfinite="null"``) every non-finite
float (NaN, +Inf, -Inf) is written as ``null``; ``nonfinite="error"`` raises a
``ValueError`` naming the offending key path instead. NumPy scalars and arrays are
converted to Python numbers and lists, tuples to lists; any other non-JSON type is a
``TypeError`` naming its key path.
"""
from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import numpy as np

NONFINITE_POLICIES = ("null", "error")


def _fsync_dir(folder: Path) -> None:
    """Persist a rename on filesystems that need it; silently skipped where unsupported."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _umask() -> int:
    """The process's umask (read by setting and restoring it: there is no getter)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _write_atomically(path, write) -> Path:
    """Run ``write(fileobj)`` into a temp file beside ``path``, then rename it onto ``path``."""
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {path}: folder {folder} does not exist")
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            os.fchmod(f.fileno(), 0o666 & ~_umask())
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp_name, path)
    except BaseException:
        try:
            os.unlink(tmp_name)
        except FileNotFoundError:
            pass
        raise
    _fsync_dir(folder)
    return path


def atomic_write_bytes(path, data: bytes) -> Path:
    """Write ``data`` to ``path`` atomically.

    path: target file; its folder must exist
    data: bytes-like object
    returns: the target ``Path``
    """
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise TypeError(f"atomic_write_bytes: data must be bytes-like, got {type(data).__name__}")
    return _write_atomically(path, lambda f: f.write(data))


def to_json_compatible(obj, nonfinite: str = "null", _where: str = "$"):
    """``obj`` with NumPy types converted and non-finite floats handled per ``nonfinite``.

    obj:       nested dict / list / tuple of str, int, float, bool, None, NumPy scalars or arrays
    nonfinite: "null" (NaN/±Inf → None) or "error" (ValueError naming the key path)
    returns:   an equivalent structure of plain Python types that ``json.dumps`` accepts
               with ``allow_nan=False``
    """
    if nonfinite not in NONFINITE_POLICIES:
        raise ValueError(f"nonfinite must be one of {NONFINITE_POLICIES}, got {nonfinite!r}")
    if obj is None or isinstance(obj, (str, bool)):
        return obj
    if isinstance(obj, np.bool_):
        return bool(obj)
    if isinstance(obj, (int, np.integer)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        value = float(obj)
        if math.isfinite(value):
            return value
        if nonfinite == "error":
            raise ValueError(f"non-finite float {value} at {_where}: JSON has no NaN/Infinity "
                             "(use nonfinite='null' to write null)")
        return None
    if isinstance(obj, np.ndarray):
        return to_json_compatible(obj.tolist(), nonfinite, _where)
    if isinstance(obj, dict):
        out = {}
        for key, value in obj.items():
            if not isinstance(key, str):
                raise TypeError(f"JSON object keys must be str, got {type(key).__name__} "
                                f"{key!r} at {_where}")
            out[key] = to_json_compatible(value, nonfinite, f"{_where}.{key}")
        return out
    if isinstance(obj, (list, tuple)):
        return [to_json_compatible(v, nonfinite, f"{_where}[{i}]") for i, v in enumerate(obj)]
    raise TypeError(f"cannot write {type(obj).__name__} at {_where} as JSON "
                    "(expected str, int, float, bool, None, list, dict or a NumPy scalar/array)")


def atomic_write_json(path, obj, nonfinite: str = "null", indent: int = 2) -> Path:
    """Write ``obj`` as UTF-8 JSON (trailing newline) to ``path`` atomically.

    path:      target file; its folder must exist
    obj:       see :func:`to_json_compatible`
    nonfinite: "null" (default) writes NaN/±Inf as null; "error" raises ValueError
    indent:    JSON indentation
    returns:   the target ``Path``

    The object is fully serialised before the temp file is created, so an unserialisable
    object never touches the disk.
    """
    clean = to_json_compatible(obj, nonfinite)
    text = json.dumps(clean, indent=indent, ensure_ascii=False, allow_nan=False) + "\n"
    return atomic_write_bytes(path, text.encode("utf-8"))


def atomic_save_npz(path, **arrays) -> Path:
    """Save ``arrays`` as an uncompressed ``.npz`` at exactly ``path``, atomically.

    path:   target file (written as given; no ``.npz`` suffix is appended)
    arrays: name → array-like; object arrays are refused, so the file loads with
            ``np.load(path, allow_pickle=False)``
    returns: the target ``Path``
    """
    converted = {}
    for name, value in arrays.items():
        a = np.asarray(value)
        if a.dtype == object:
            raise TypeError(f"atomic_save_npz: array {name!r} has dtype object; store numbers or "
                            "fixed-width strings (np.array(names, dtype=str)) so it loads without "
                            "pickle")
        converted[name] = a
    return _write_atomically(path, lambda f: np.savez(f, **converted))
