"""Arrays a fast-tier stage keeps from one training step to the next."""
from __future__ import annotations

import numpy as np


class StepWorkspace:
    """Named arrays kept across the training steps of one layer's fast path.

    Why: a fresh allocation of tens of MB is a fresh mmap whose page faults cost more than
    filling it. An array is only reused from one forward to the next, when the cache that
    points into it is replaced anyway. In eval mode no backward follows: the workspace is
    released and fresh arrays are returned, so evaluation does not hold training-size buffers.

    Args:
        layer: the layer whose ``training`` flag decides (a Conv2d).
    """

    def __init__(self, layer):
        self.layer = layer
        self._arrays: dict[str, np.ndarray] = {}

    def array(self, name: str, shape: tuple[int, ...], dtype, zeroed: bool = False) -> np.ndarray:
        """The array kept under ``name``, reallocated when its shape or dtype changes.
        ``zeroed``: filled with zeros when allocated (and only then): for callers that keep
        zero borders and only ever write the interior. Otherwise its contents are undefined."""
        make = np.zeros if zeroed else np.empty
        if not self.layer.training:
            self._arrays.clear()
            return make(shape, dtype=dtype)
        array = self._arrays.get(name)
        if array is None or array.shape != tuple(shape) or array.dtype != np.dtype(dtype):
            array = make(shape, dtype=dtype)
            self._arrays[name] = array
        return array
