"""One flat buffer for a model's parameters, another for their gradients.

``flatten_parameters(named_params)`` copies every parameter into one contiguous 1-D array
θ (P,) and every gradient into another g (P,), and re-binds each ``Parameter.data`` /
``Parameter.grad`` to a view of its slice. The layers keep reading ``p.data`` and writing
``p.grad[...]`` in place, so nothing changes for them; the optimizer then updates θ with
one kernel over contiguous memory, and the segment table (name, offset, shape, kind) lets
that kernel reduce per-tensor statistics in the same pass.

Flattening parameters that are already laid out as views of one buffer, in order, reuses
that buffer (no copy), so ``Adam(model.named_parameters())`` after
``model.flatten()`` shares the model's memory.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .module import Parameter


@dataclass(frozen=True)
class Segment:
    """Where one parameter tensor lives in the flat buffer: ``flat[offset:offset+size]``."""

    name: str
    offset: int
    shape: tuple[int, ...]
    kind: str  # "weight" | "bias" | "batchnorm"

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def stop(self) -> int:
        return self.offset + self.size


@dataclass(frozen=True)
class FlatParameters:
    """θ and g as flat buffers with the segment table that maps them back to tensors.

    data:     (P,) parameters, float32 for training or float64 for checks
    grad:     (P,) gradients, same dtype
    segments: one :class:`Segment` per tensor, in order, covering [0, P) without gaps
    params:   the :class:`Parameter` objects whose ``data``/``grad`` are views into the above
    """

    data: np.ndarray
    grad: np.ndarray
    segments: tuple[Segment, ...]
    params: tuple[Parameter, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.segments)

    def segment_bounds(self) -> np.ndarray:
        """(L, 2) int64 array of [offset, stop) per segment, the form Numba kernels take."""
        return np.array([[s.offset, s.stop] for s in self.segments], dtype=np.int64).reshape(-1, 2)


def _as_named(params) -> list[tuple[str, Parameter]]:
    named = []
    for i, item in enumerate(params):
        if isinstance(item, Parameter):
            named.append((f"param{i}", item))
        elif (isinstance(item, tuple) and len(item) == 2 and isinstance(item[0], str)
              and isinstance(item[1], Parameter)):
            named.append(item)
        else:
            raise TypeError(f"expected Parameter or (name, Parameter) pairs, got item {i} of type "
                            f"{type(item).__name__}")
    return named


def _is_view_at(array: np.ndarray, buffer: np.ndarray, offset: int) -> bool:
    if array.dtype != buffer.dtype or not array.flags.c_contiguous:
        return False
    start = array.__array_interface__["data"][0]
    return start == buffer.__array_interface__["data"][0] + offset * buffer.itemsize


def _already_flat(named: list[tuple[str, Parameter]]) -> tuple[np.ndarray, np.ndarray] | None:
    first = named[0][1]
    data, grad = first.data.base, first.grad.base
    if not (isinstance(data, np.ndarray) and isinstance(grad, np.ndarray)
            and data.ndim == 1 and grad.ndim == 1 and data.shape == grad.shape):
        return None
    offset = 0
    for _, p in named:
        if not (_is_view_at(p.data, data, offset) and _is_view_at(p.grad, grad, offset)):
            return None
        offset += p.data.size
    return (data, grad) if offset == data.size else None


def flatten_parameters(params, dtype=None) -> FlatParameters:
    """Lay ``params`` (Parameters or (name, Parameter) pairs) into one flat buffer.

    ``dtype`` defaults to the parameters' common dtype. Values are copied, gradients start
    at their current values, and each Parameter is re-bound to views of the new buffers.
    Already-flat parameters (views of one buffer, in order, same dtype) are reused as is.
    """
    named = _as_named(params)
    if not named:
        raise ValueError("flatten_parameters got an empty parameter list")
    names = [n for n, _ in named]
    if len(set(names)) != len(names):
        raise ValueError(f"parameter names must be unique, got {names}")
    if len({id(p) for _, p in named}) != len(named):
        raise ValueError("the same Parameter appears twice in the parameter list")
    dtypes = {p.data.dtype for _, p in named}
    if dtype is None:
        if len(dtypes) != 1:
            raise TypeError(f"parameters have mixed dtypes {sorted(map(str, dtypes))}; pass dtype=")
        (dtype,) = dtypes
    dtype = np.dtype(dtype)

    segments, offset = [], 0
    for name, p in named:
        segments.append(Segment(name, offset, tuple(p.data.shape), p.kind))
        offset += p.data.size

    reused = _already_flat(named) if dtypes == {dtype} else None
    if reused is not None:
        data, grad = reused
    else:
        data = np.empty(offset, dtype=dtype)
        grad = np.empty(offset, dtype=dtype)
        for seg, (_, p) in zip(segments, named):
            data[seg.offset:seg.stop] = p.data.ravel()
            grad[seg.offset:seg.stop] = p.grad.ravel()
            p.rebind(data[seg.offset:seg.stop].reshape(seg.shape),
                     grad[seg.offset:seg.stop].reshape(seg.shape))
    return FlatParameters(data, grad, tuple(segments), tuple(p for _, p in named))
