"""Divergence: any non-finite value in what a run computes or keeps, not only the loss.

A run has diverged when the loss, a gradient, a parameter, a batchnorm running statistic, an
optimizer state array or the evaluation loss is NaN or ±Inf. Checking only the loss misses
runs whose batchnorm running variance overflows while the training loss stays finite; their
checkpoint would then hold ``running_var = inf`` and evaluate at chance. The loop checks the
model's parameters and buffers after every step (cheap: one pass over each) and the optimizer's
state before every checkpoint, so a non-finite state is never written over a good checkpoint;
what it finds first goes into :class:`~numpy_adam.training.errors.TrainingDiverged`.
"""
from __future__ import annotations

import numpy as np


def first_nonfinite_model_value(model) -> str | None:
    """"parameter NAME" or "buffer NAME" of the first non-finite model array, else None."""
    for name, p in model.named_parameters():
        if not np.isfinite(p.data).all():
            return f"parameter {name}"
    for name, buf in model.named_buffers():
        if np.issubdtype(buf.dtype, np.floating) and not np.isfinite(buf).all():
            return f"buffer {name}"
    return None


def first_nonfinite_optimizer_state(optimizer) -> str | None:
    """"optimizer state NAME" of the first non-finite state array, else None."""
    for name, array in optimizer.state_dict()["state"].items():
        if array is not None and not np.isfinite(array).all():
            return f"optimizer state {name}"
    return None
