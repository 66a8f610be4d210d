"""One writer per run folder: an exclusive lock taken before anything is written.

Two ``numpy-adam train`` processes on the same ``--out`` would otherwise interleave their
config, metrics and checkpoints. The lock is ``fcntl.flock`` on the file ``.lock`` inside the
folder: the kernel releases it when its holder exits, however it exits (even on SIGKILL), so
a crashed writer never blocks the next one. The file also holds the holder's process id;
finding an id there while the lock is free means the last holder died without releasing, and
the new holder says it took over.

POSIX only (``fcntl``); on other systems the lock is a no-op that says so in ``note``.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path

try:
    import fcntl
except ImportError:  # not POSIX: no locking
    fcntl = None

from .errors import RunLocked

LOCK_FILE = ".lock"


class RunLock:
    """``with RunLock(folder):`` holds the folder's lock for the block (the folder must exist).

    note: after acquiring, a one-line message when a dead holder's lock was taken over
          (or locking is unavailable), else ""
    """

    def __init__(self, folder):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.note = ""
        self._file = None

    def acquire(self) -> "RunLock":
        if fcntl is None:
            self.note = "run folders are not locked on this system (no fcntl)"
            return self
        f = open(self.path, "a+", encoding="utf-8")
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            f.seek(0)
            holder = f.read().strip() or "another process"
            f.close()
            raise RunLocked(f"{self.folder} is being written by {holder}; wait for it to finish "
                            "or choose another --out") from None
        f.seek(0)
        previous = f.read().strip()
        if previous:
            self.note = (f"took over the lock of {self.folder} left by {previous}, "
                         "which is no longer running")
        f.seek(0)
        f.truncate()
        f.write(f"process {os.getpid()} on {socket.gethostname()}\n")
        f.flush()
        self._file = f
        return self

    def release(self) -> None:
        """Empty the file (a clean exit leaves no holder to report) and unlock."""
        if self._file is None:
            return
        self._file.seek(0)
        self._file.truncate()
        self._file.flush()
        fcntl.flock(self._file.fileno(), fcntl.LOCK_UN)
        self._file.close()
        self._file = None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
