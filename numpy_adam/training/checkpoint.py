"""Checkpoints: one ``.npz`` file holding nested state, written atomically, read without pickle.

A training state is a nested dict (model state_dict, optimizer state_dict, data-iterator
state with its generator state, metrics so far, the step). Arrays become npz entries under
their path (``"optimizer/m"``); everything else (numbers, strings, bools, None, lists of
those, Python ints of any size as in a PCG64 state) goes into one JSON document stored as
the entry ``"__meta__"``. Loading uses ``allow_pickle=False``, so a checkpoint can never
run code.
"""
from __future__ import annotations

import io
import json
import os
import zipfile

import numpy as np

from ..records.atomic import atomic_write_bytes
from .errors import CheckpointError

_META = "__meta__"
_SEP = "/"


def _split(state: dict, prefix: str, arrays: dict, meta: dict) -> None:
    for key, value in state.items():
        if not isinstance(key, str) or _SEP in key:
            raise ValueError(f"checkpoint keys must be strings without '{_SEP}', got {key!r} under "
                             f"{prefix or 'the root'}")
        path = f"{prefix}{_SEP}{key}" if prefix else key
        if isinstance(value, dict):
            meta[key] = {}
            _split(value, path, arrays, meta[key])
        elif isinstance(value, np.ndarray):
            arrays[path] = value
            meta[key] = {"__array__": path}
        elif isinstance(value, np.generic):
            meta[key] = value.item()
        else:
            meta[key] = value


def _join(meta: dict, arrays) -> dict:
    state = {}
    for key, value in meta.items():
        if isinstance(value, dict) and set(value) == {"__array__"}:
            state[key] = arrays[value["__array__"]]
        elif isinstance(value, dict):
            state[key] = _join(value, arrays)
        else:
            state[key] = value
    return state


def save_checkpoint(path, state: dict) -> None:
    """Write nested ``state`` to ``path`` (.npz) atomically: a crash leaves the old file."""
    arrays, meta = {}, {}
    _split(state, "", arrays, meta)
    buffer = io.BytesIO()
    np.savez(buffer, **{_META: np.array(json.dumps(meta))}, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def load_checkpoint(path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`; clear errors for missing or damaged files."""
    path = os.fspath(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"no checkpoint at {path}")
    try:
        with np.load(path, allow_pickle=False) as npz:
            meta = json.loads(str(npz[_META]))
            arrays = {k: npz[k] for k in npz.files if k != _META}
    except (zipfile.BadZipFile, KeyError, ValueError, OSError, EOFError) as error:
        raise CheckpointError(f"checkpoint {path} is damaged or not a numpy-adam checkpoint ({error}); "
                         "delete it to start over") from error
    return _join(meta, arrays)
