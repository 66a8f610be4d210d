"""What can go wrong with a run that is not a bug, as types the CLI turns into one-line errors.

Settings errors (:class:`SettingsError`, exit status 2): the request cannot work as given — a
bad ``--out``, a batch larger than the data or the memory, ``--resume`` with settings that
contradict the saved run. State errors (exit status 1): the request was fine but the world
was not — the run diverged (:class:`TrainingDiverged`), another process writes the folder
(:class:`RunLocked`), a checkpoint is damaged (:class:`CheckpointError`). Every one names
what went wrong and what to do.
"""
from __future__ import annotations


class SettingsError(ValueError):
    """The settings cannot work as given (nothing was written)."""


class BadRunFolder(SettingsError):
    """``--out`` cannot be a run folder (empty, a file, or below a file)."""


class ResumeMismatch(SettingsError):
    """``--resume`` was given settings that contradict the saved run."""


class InsufficientMemory(SettingsError, MemoryError):
    """The estimated memory of the run exceeds what the machine has available."""


class TrainingDiverged(FloatingPointError):
    """A value of the run became NaN/Inf; the message names the step, what went non-finite
    first and the last good checkpoint."""


class RunLocked(RuntimeError):
    """Another live process holds the run folder's lock."""


class CheckpointError(ValueError):
    """A checkpoint file is damaged or not a numpy-adam checkpoint."""
