"""A run folder's life outside the loop: checked before anything is written, cleaned of a killed
writer's temporary files, and removed again when a new run fails before its first step.

Together with :mod:`.lock` this gives the guarantees ``numpy-adam train`` states: a bad
``--out`` is refused before anything is created; a folder has one writer at a time; and a
start that fails (bad settings discovered late, an interrupt during the first step) leaves
nothing that would block a corrected retry with the same ``--out``.
"""
from __future__ import annotations

import shutil
from pathlib import Path

from ..records import CONFIG_FILE, METRICS_FILE, SUMMARY_FILE
from .errors import BadRunFolder
from .lock import LOCK_FILE

CHECKPOINT = "checkpoint.npz"
RUN_FILES = (CONFIG_FILE, METRICS_FILE, SUMMARY_FILE, CHECKPOINT, LOCK_FILE)


def check_out_dir(out) -> Path:
    """``out`` as a Path after checking it can be (or already is) a folder; writes nothing."""
    text = str(out)
    if not text.strip():
        raise BadRunFolder("--out must name a folder for the run, got an empty string")
    path = Path(out)
    if path.exists() and not path.is_dir():
        raise BadRunFolder(f"--out {path} is a file, not a folder; choose another --out")
    for parent in path.parents:
        if parent.exists():
            if not parent.is_dir():
                raise BadRunFolder(f"--out {path} lies below {parent}, which is a file")
            break
    return path


def holds_run(folder: Path) -> bool:
    """A run was started here (it has a checkpoint or metrics)."""
    return (folder / CHECKPOINT).exists() or (folder / METRICS_FILE).exists()


def remove_stale_temp_files(folder: Path) -> list[Path]:
    """Delete the ``.<name>.<random>.tmp`` files that atomic writes leave when their process is
    killed mid-write; call only while holding the folder's lock (then no write is in flight)."""
    removed = []
    for tmp in folder.glob(".*.tmp"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def discard_new_run(folder: Path, created: bool) -> None:
    """Undo a run that failed before its first step: the folder if this run created it, else
    only the run's own files (anything else the user keeps there stays)."""
    if created:
        shutil.rmtree(folder, ignore_errors=True)
        return
    for name in RUN_FILES:
        (folder / name).unlink(missing_ok=True)
    remove_stale_temp_files(folder)
