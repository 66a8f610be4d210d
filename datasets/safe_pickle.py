"""A restricted unpickler for the official CIFAR-10 "python version" files.

``pickle.load`` runs whatever callable a file names (``os.system``, ``subprocess.Popen``,
...): unpickling an untrusted file is running untrusted code. The only door through
which a pickle reaches a callable is :meth:`pickle.Unpickler.find_class` (opcodes
``GLOBAL``, ``STACK_GLOBAL``, ``INST``, ``OBJ`` via a class, and the ``EXT*`` registry
all pass through it), so overriding it with an allow-list stops any other callable
*before* it is looked up, let alone called.

What the official files reference (checked with ``pickletools.genops`` on all seven files
of the release and of the shared copy):

========================================  =============================================
global                                    role
========================================  =============================================
``numpy.core.multiarray._reconstruct``    empty ndarray, filled by ``ndarray.__setstate__``
``numpy.ndarray``                         the class passed to ``_reconstruct``
``numpy.dtype``                           the array's dtype (``u1``)
========================================  =============================================

Also admitted: ``numpy._core.multiarray._reconstruct`` (the same function as NumPy >= 2
names it) and ``_codecs.encode`` restricted to latin-1, which is how Python 3 writes
``bytes`` under protocol 2 (test fixtures, re-pickled copies). Each admitted callable is
a thin wrapper that checks its arguments: ``ndarray`` only, no object dtypes (an object
array could smuggle arbitrary objects into the result).

Files are read with ``encoding="bytes"``: Python 2 ``str`` (keys, ``batch_label``,
filenames) comes back as ``bytes``; callers accept ``bytes`` or ``str`` keys.
"""
from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np

from .errors import UnsafePickleError

# numpy's own reconstruct function, wherever this NumPy version keeps it (numpy.core in 1.x,
# numpy._core in 2.x); taken from ndarray.__reduce__ so numpy.core (deprecated) is never imported.
_NUMPY_RECONSTRUCT = np.ndarray((0,), np.uint8).__reduce__()[0]


def _refuse(source: str, what: str) -> UnsafePickleError:
    return UnsafePickleError(
        f"{source}: refused {what}. CIFAR-10 batch files contain only numpy arrays, lists, "
        f"ints and strings; this file is not an official CIFAR-10 batch and may be malicious "
        f"(nothing in it was executed). Delete it and download the dataset again.")


def _no_object_dtype(dtype: np.dtype, source: str) -> np.dtype:
    if dtype.hasobject:
        raise _refuse(source, f"an array of dtype {dtype} (object arrays can carry arbitrary "
                              f"objects)")
    return dtype


def _make_allowed(source: str) -> dict:
    """The allow-list: ``(module, name) -> callable``, each wrapper naming ``source`` in errors."""

    def reconstruct(subtype, shape, dtype_code):
        """numpy's ``_reconstruct(ndarray, shape, dtype)``: an empty array to be filled by BUILD."""
        if subtype is not np.ndarray:
            raise _refuse(source, f"_reconstruct of {subtype!r} (only numpy.ndarray is allowed)")
        _no_object_dtype(np.dtype(dtype_code), source)
        return _NUMPY_RECONSTRUCT(np.ndarray, shape, dtype_code)

    def dtype(spec, align=False, copy=False):
        """``numpy.dtype(spec, align, copy)`` as written by ``dtype.__reduce__``."""
        return _no_object_dtype(np.dtype(spec, align=bool(align), copy=bool(copy)), source)

    def codecs_encode(text, encoding="utf-8", errors="strict"):
        """``_codecs.encode(text, "latin1")``: Python 3's protocol-2 spelling of ``bytes``."""
        if not isinstance(text, str) or str(encoding).lower() not in ("latin1", "latin-1"):
            raise _refuse(source, f"_codecs.encode with encoding {encoding!r} (only latin1 "
                                  f"encoding of a str is allowed)")
        return text.encode("latin1")

    return {
        ("numpy.core.multiarray", "_reconstruct"): reconstruct,
        ("numpy._core.multiarray", "_reconstruct"): reconstruct,
        ("numpy", "ndarray"): np.ndarray,
        ("numpy", "dtype"): dtype,
        ("_codecs", "encode"): codecs_encode,
    }


ALLOWED_GLOBALS = tuple(f"{m}.{n}" for m, n in _make_allowed("<allow-list>"))


class RestrictedUnpickler(pickle.Unpickler):
    """``pickle.Unpickler`` that resolves only :data:`ALLOWED_GLOBALS`.

    file: a binary file object positioned at the start of a pickle.
    source: the name used in error messages (the file's path).

    Reads with ``encoding="bytes"``. Any other global raises
    :class:`~datasets.errors.UnsafePickleError` (a :class:`pickle.UnpicklingError`) naming
    the global and ``source``, before the global is imported or called.
    """

    def __init__(self, file, *, source: str = "<pickle>"):
        super().__init__(file, encoding="bytes")
        self.source = str(source)
        self._allowed = _make_allowed(self.source)

    def find_class(self, module: str, name: str):
        try:
            return self._allowed[(module, name)]
        except KeyError:
            raise _refuse(self.source, f"to load the global {module}.{name} (allowed: "
                                       f"{', '.join(ALLOWED_GLOBALS)})") from None

    def persistent_load(self, pid):
        raise _refuse(self.source, f"a persistent id {pid!r} (no external objects allowed)")


def load_restricted(path) -> object:
    """Unpickle ``path`` with :class:`RestrictedUnpickler`.

    path: ``str`` or ``os.PathLike`` of a pickle file.
    Returns the unpickled object (for CIFAR-10: a dict with bytes keys).
    Raises :class:`~datasets.errors.UnsafePickleError` for a disallowed global, and whatever
    the unpickler raises for damaged data (``pickle.UnpicklingError``, ``EOFError``, ...):
    :mod:`datasets.formats` turns those into a clear :class:`CorruptDataError`.
    """
    path = Path(path)
    with open(path, "rb") as f:
        return RestrictedUnpickler(f, source=str(path)).load()
