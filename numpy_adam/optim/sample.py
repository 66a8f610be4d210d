"""A fixed, seeded sample of elements: the per-element truth behind the per-tensor means.

The statistics of :mod:`.stats` are means over a tensor's elements. Means hide what happens
to each element, and the note's identity is a per-element statement:

    |u_i| = |Δθ_i|/α = 1/(√(γ_i²+1) + ε/|m̂_i|),   γ_i = σ̂_i/|m̂_i|,   σ̂_i² = v̂_i − m̂_i²

(exact for Adam with β1 = β2). So an optimizer built with ``sample_size=K > 0`` also keeps,
at every step, K elements of every tracked tensor (all of them when a tensor has fewer),
chosen once without replacement by a seeded generator and kept in flat-buffer order. Per
sampled element and step it reports

    m_hat   m̂_t = m_t/(1−β1^t)      the optimizer's own (SGD: its probe's), as statistics use
    v_hat   v̂_t = v_t/(1−β2^t)      (NaN without a spread source: SGD without a probe)
    update  u_t = (κ θ_{t−1} − θ_t)/α, signed: the step the parameters actually took, in
            units of α, with κ = 1 − αλ for decoupled weight decay (so the decay is left
            out, as in the ``update`` statistic) and κ = 1 otherwise; NaN when α = 0
    param   θ_t, the parameter after the step

in the parameters' dtype. ``update`` is measured from θ, not recomputed from m̂ and v̂, so a
check of the identity against it tests the step that was applied. Its precision is set by
the rounding of θ_t: |u − u_exact| ≤ (ulp(κθ_{t−1}) + ulp(θ_t))/(2α) + a few ulp of u
(:func:`update_tolerance`).
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class SampleLayout:
    """Which elements are sampled: N of them, grouped by tracked tensor, in flat order.

    slot:       (N,) int64 index of the element's tensor among the tracked tensors
    element:    (N,) int64 index of the element within its tensor (row-major, as ``.ravel()``)
    flat_index: (N,) int64 index into the flat buffer
    """

    slot: np.ndarray
    element: np.ndarray
    flat_index: np.ndarray

    @property
    def size(self) -> int:
        return int(self.slot.shape[0])


@dataclass(frozen=True, eq=False)
class ElementSample:
    """One step's values of the sampled elements, each (N,) in the parameters' dtype.

    step: t (from 1); m_hat, v_hat, update, param: see the module docstring
    """

    step: int
    m_hat: np.ndarray
    v_hat: np.ndarray
    update: np.ndarray
    param: np.ndarray


SAMPLE_FIELDS = ("m_hat", "v_hat", "update", "param")


def choose_sample(segments, tracked: tuple[int, ...], per_tensor: int,
                  rng: np.random.Generator) -> SampleLayout:
    """min(per_tensor, size) distinct elements of every tracked segment, sorted.

    segments:   the flat buffer's segment table (:class:`~numpy_adam.nn.flat.Segment`)
    tracked:    indices of the tracked segments; slot k is tracked[k]
    per_tensor: K ≥ 0 (0 gives an empty layout)
    rng:        drawn from in slot order, so a layout depends only on the seed and the sizes
    """
    slots, elements, flat = [], [], []
    for k, seg_index in enumerate(tracked):
        seg = segments[seg_index]
        chosen = np.sort(rng.choice(seg.size, size=min(per_tensor, seg.size), replace=False))
        slots.append(np.full(chosen.size, k, dtype=np.int64))
        elements.append(chosen.astype(np.int64))
        flat.append(seg.offset + chosen.astype(np.int64))
    join = lambda parts: (np.concatenate(parts) if parts  # noqa: E731
                          else np.empty(0, dtype=np.int64))
    return SampleLayout(slot=join(slots), element=join(elements), flat_index=join(flat))


def take_sample(step: int, layout: SampleLayout, theta_before: np.ndarray, theta: np.ndarray,
                moments, lr, decay_factor) -> ElementSample:
    """The :class:`ElementSample` of step t from the sampled θ_{t−1} and the state after it.

    theta_before: (N,) θ_{t−1} at the sampled elements (gathered before the step)
    theta:        (P,) the flat parameters after the step
    moments:      (m, v, c1, c2) with m, v (P,) after the step and c1 = 1/(1−β1^t),
                  c2 = 1/(1−β2^t) in float64, scalars or (N,) per sampled element (each
                  element's parameter group), or None (no spread source: m̂, v̂ are NaN)
    lr, decay_factor: α and κ of the step, scalars or (N,) per sampled element
    """
    idx = layout.flat_index
    dtype = theta.dtype
    param = theta[idx].copy()
    lr = np.broadcast_to(np.asarray(lr, dtype=np.float64), idx.shape)
    before = theta_before.astype(np.float64) * decay_factor
    with np.errstate(divide="ignore", invalid="ignore"):
        update = np.where(lr > 0, (before - param.astype(np.float64)) / lr, np.nan).astype(dtype)
    if moments is None:
        m_hat = v_hat = np.full(idx.shape[0], np.nan, dtype)
    else:
        m, v, c1, c2 = moments
        m_hat = (m[idx].astype(np.float64) * c1).astype(dtype)
        v_hat = (v[idx].astype(np.float64) * c2).astype(dtype)
    return ElementSample(step=int(step), m_hat=m_hat, v_hat=v_hat, update=update, param=param)


def update_tolerance(param, update, lr: float, dtype) -> np.ndarray:
    """How far a recorded ``update`` may sit from the exact step through rounding alone.

    θ_t is stored in ``dtype``: each of κθ_{t−1} and θ_t carries up to half an ulp, and
    |θ_{t−1}| ≤ |θ_t| + α|u|, so their difference divided by α is off by at most
    ulp(|θ_t| + α|u|)/α. The optimizer's own float arithmetic (bias corrections cast to
    ``dtype``, a product, √, +ε, ÷, α·u) adds a few ulp of u: 16 ε_dtype |u| bounds it.

    param, update: (…) recorded θ_t and u; returns the bound, (…) float64
    """
    param = np.abs(np.asarray(param, dtype=np.float64))
    update = np.abs(np.asarray(update, dtype=np.float64))
    eps = float(np.finfo(dtype).eps)
    reach = (param + lr * update).astype(dtype)
    return np.spacing(reach).astype(np.float64) / lr + 16.0 * eps * update
