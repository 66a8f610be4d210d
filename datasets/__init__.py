"""CIFAR-10 for the note's CNN experiments: locate, download and verify, parse safely, batch.

* :func:`load_cifar10` (``datasets.cifar10``): ``(images uint8 (N, 3, 32, 32), labels int64 (N,))``
  from the official "python" or "binary" layout, downloading the official archive when absent.
* :class:`MinibatchIterator`, :func:`channel_stats` (``datasets.batches``): deterministic,
  resumable float32 minibatches normalized per channel.
* ``datasets.safe_pickle``: the restricted unpickler (no code runs from data files).
* ``datasets.download``: streamed download, MD5 check, safe and atomic extraction.
* ``datasets.errors``: the exceptions, each naming the file and what to do.

This top-level package is named ``datasets`` as the design card lays out; install the
project in its own virtual environment, where no other distribution of that name exists.
"""
from .batches import MinibatchIterator, channel_stats
from .cifar10 import CLASSES, load_cifar10
from .errors import (ChecksumError, ChecksumWarning, CorruptDataError, DatasetError,
                     DatasetNotFoundError, UnsafeArchiveError, UnsafePickleError)

__all__ = ["load_cifar10", "CLASSES", "MinibatchIterator", "channel_stats", "DatasetError",
           "DatasetNotFoundError", "CorruptDataError", "ChecksumError", "UnsafeArchiveError",
           "UnsafePickleError", "ChecksumWarning"]
