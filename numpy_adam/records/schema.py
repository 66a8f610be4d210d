"""The run record's schema: file names, metric keys, and the checks every reader and writer runs.

The format itself (every key, its shape and meaning) is documented in :mod:`numpy_adam.records`.
"""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..optim.sample import SAMPLE_FIELDS
from ..optim.stats import FIELDS as STAT_KEYS

class RecordError(ValueError):
    """A run record on disk is damaged or inconsistent (the message names the file)."""


CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.npz"
SUMMARY_FILE = "summary.json"

STEP_KEYS = ("step", "loss", "lr")
REQUIRED_METRIC_KEYS = STEP_KEYS + ("tensor_names",) + STAT_KEYS
GAMMA_AGGREGATIONS = ("layer", "element")
GAMMA_LABELS = {"layer": "layer relative spread γ̄ = mean σ̂ / mean |m̂|",
                "element": "element mean of γ = σ̂/|m̂| (sampled elements)"}
SAMPLE_LAYOUT_KEYS = ("sample_slot", "sample_element")
SAMPLE_KEYS = tuple(f"sample_{f}" for f in SAMPLE_FIELDS)  # per step, (T, N)
REQUIRED_CONFIG_KEYS = ("model", "optimizer", "lr", "batch_size", "steps", "seed")
REQUIRED_SUMMARY_KEYS = ("final_loss", "test_loss", "test_accuracy", "wall_seconds", "steps")
RESERVED_KEYS = frozenset(REQUIRED_METRIC_KEYS + SAMPLE_LAYOUT_KEYS + SAMPLE_KEYS)



def check_sample_layout(slot: np.ndarray, element: np.ndarray, L: int, source: str) -> None:
    if slot.ndim != 1 or element.shape != slot.shape:
        raise RecordError(f"{source}: sample_slot and sample_element must be (N,) arrays of one "
                         f"length, got shapes {slot.shape} and {element.shape}")
    if slot.size and (slot.min() < 0 or slot.max() >= L):
        raise RecordError(f"{source}: sample_slot must index the {L} tracked tensors, got values "
                         f"in [{slot.min()}, {slot.max()}]")
    if element.size and element.min() < 0:
        raise RecordError(f"{source}: sample_element must be >= 0, got {element.min()}")


def check_metrics(arrays: Mapping[str, np.ndarray], source: str) -> None:
    """Raise ValueError naming ``source`` if required keys are missing or shapes disagree."""
    missing = [k for k in REQUIRED_METRIC_KEYS if k not in arrays]
    if missing:
        raise RecordError(f"{source}: missing keys {missing} (expected {list(REQUIRED_METRIC_KEYS)})")
    step = arrays["step"]
    if step.ndim != 1:
        raise RecordError(f"{source}: 'step' must be 1-D (T,), got shape {step.shape}")
    if step.dtype.kind not in "iu":
        raise RecordError(f"{source}: 'step' must hold integers, got dtype {step.dtype}")
    T = step.shape[0]
    names = arrays["tensor_names"]
    if names.ndim != 1 or (names.size and names.dtype.kind != "U"):
        raise RecordError(f"{source}: 'tensor_names' must be a 1-D str array (L,), got shape "
                         f"{names.shape} dtype {names.dtype}")
    L = names.shape[0]
    expected = {"loss": (T,), "lr": (T,), **{k: (T, L) for k in STAT_KEYS}}
    for k, shape in expected.items():
        if arrays[k].shape != shape:
            raise RecordError(f"{source}: {k!r} has shape {arrays[k].shape}, expected {shape} "
                             f"(T={T} steps, L={L} tensors)")
    present = [k for k in SAMPLE_LAYOUT_KEYS + SAMPLE_KEYS if k in arrays]
    if present:
        missing = [k for k in SAMPLE_LAYOUT_KEYS + SAMPLE_KEYS if k not in arrays]
        if missing:
            raise RecordError(f"{source}: has {present} but lacks {missing} (an element sample "
                             "needs all of them)")
        slot, element = arrays["sample_slot"], arrays["sample_element"]
        if slot.dtype.kind not in "iu" or element.dtype.kind not in "iu":
            raise RecordError(f"{source}: sample_slot and sample_element must hold integers")
        check_sample_layout(slot, element, L, source)
        for k in SAMPLE_KEYS:
            if arrays[k].shape != (T, slot.shape[0]):
                raise RecordError(f"{source}: {k!r} has shape {arrays[k].shape}, expected "
                                 f"({T}, {slot.shape[0]}) (T steps, N sampled elements)")
    for k in ("x", "grad"):
        if k in arrays and (arrays[k].ndim not in (1, 2) or arrays[k].shape[0] != T):
            raise RecordError(f"{source}: {k!r} has shape {arrays[k].shape}, expected ({T},) or "
                             f"({T}, D)")
