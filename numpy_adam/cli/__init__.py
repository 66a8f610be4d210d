"""The ``numpy-adam`` command (:mod:`.commands`; the train options in :mod:`.train`)."""
from .commands import build_parser, main

__all__ = ["main", "build_parser"]
