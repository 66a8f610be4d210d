"""Exceptions and warnings of the dataset package: each message names the file and what to do.

Every error is a :class:`DatasetError`, and also derives from the built-in exception a
caller would naturally catch (``FileNotFoundError``, ``ValueError``), so both
``except DatasetError`` and ``except FileNotFoundError`` work. Unsafe pickles raise
:class:`pickle.UnpicklingError` (see :mod:`datasets.safe_pickle`), as the standard
library does for any pickle it cannot load.
"""
from __future__ import annotations

import pickle


class DatasetError(Exception):
    """Base class: something is wrong with the data on disk or its download."""


class DatasetNotFoundError(DatasetError, FileNotFoundError):
    """The data folder or one of its batch files is absent (and could not be downloaded)."""


class CorruptDataError(DatasetError, ValueError):
    """A file is present but its contents are not what the official release contains
    (truncated, wrong record count or size, labels outside 0-9, wrong keys)."""


class ChecksumError(DatasetError, ValueError):
    """A downloaded archive does not have the published MD5: it was not extracted."""


class UnsafeArchiveError(DatasetError, ValueError):
    """An archive member would be written outside the target folder (absolute path,
    ``..``, link, device file): nothing was extracted."""


class ChecksumWarning(UserWarning):
    """A data file's MD5 differs from the official release (expected for re-encoded copies,
    such as the shared CI copy; a warning, not an error)."""


class UnsafePickleError(DatasetError, pickle.UnpicklingError):
    """A pickle asked for a global outside the allow-list: refused before anything ran."""
