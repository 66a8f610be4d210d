"""What Adam, AdamW and SGD share: the flat buffers, the step count, tracked tensors, the
non-finite gradient guard, statistics plumbing and the state_dict format.

An optimizer owns the model's :class:`~numpy_adam.nn.flat.FlatParameters` (θ (P,), g (P,)
and the segment table). Building one from a model that is not flat yet re-binds the model's
parameters to views of a new flat buffer (see :func:`~numpy_adam.nn.flat.flatten_parameters`).

Non-finite gradients: ``step()`` first counts NaN/Inf in g with a separate parallel pass
(reads g once more, before anything is written). If there are any it raises
:class:`NonFiniteGradientError` naming the offending tensors and leaves θ, the moments and t
unchanged, so the training loop can stop and keep its last good checkpoint. θ itself is not
checked (it stays finite while every applied gradient was).

State format (``state_dict()``, plain Python and NumPy copies, never views)::

    {"optimizer": "Adam" | "AdamW" | "SGD",
     "t": int,                              # steps taken
     "hyperparameters": {...},              # the constructor's values (lr as currently set)
     "segments": [(name, shape), ...],      # checked on load (shapes must match)
     "state": {"m": (P,), "v": (P,), ...}}  # arrays in the parameters' dtype, or None

``load_state_dict`` validates everything (class, segment shapes, t, hyperparameters, every
array's shape and dtype) before changing anything, then restores hyperparameters (as PyTorch
does) and copies the arrays, so the restored optimizer continues bitwise identically.
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping
from dataclasses import replace

import numpy as np

from ..nn.flat import FlatParameters, flatten_parameters
from ..nn.module import Module
from . import kernels
from .sample import ElementSample, choose_sample, take_sample
from .stats import SpreadStats, stats_from_sums
from .validation import check_count, check_flag, check_nonnegative, resolve_track


# state arrays that average squared gradients: v (and its running maximum), the probe's v
SQUARE_AVERAGES = ("v", "v_max", "probe_v")


class NonFiniteGradientError(FloatingPointError):
    """A gradient holds NaN or ±Inf; the step was rejected before anything changed.

    names: the tensors whose gradient is not finite; step: the step that was refused.
    """

    def __init__(self, names: tuple[str, ...], step: int):
        self.names = tuple(names)
        self.step = int(step)
        super().__init__(f"non-finite gradient (NaN or Inf) in {list(self.names)} at step {step}; "
                         "the step was rejected: parameters, moments and step count are unchanged")


class FlatOptimizer:
    """Base class. Subclasses define ``step()`` and, for the state format:
    ``_validated(**hyperparameters) -> hparams`` (a frozen dataclass with ``as_dict()``),
    ``_array_names(hparams)`` (the state arrays those hyperparameters need),
    ``_arrays() -> {name: array}`` and ``_set_arrays({name: array})``; for the element
    sample, ``_spread_moments(t)`` (m, v and their bias corrections, or None) and, when the
    step decays θ outside u, ``_decay_factor()``.

    track:       which tensors get statistics (see :func:`.validation.resolve_track`)
    sample_size: K ≥ 0 elements per tracked tensor whose values are kept at every step with
                 statistics (``last_sample``, see :mod:`.sample`); 0 keeps none
    sample_seed: seed (or ``np.random.Generator``) of the sample's choice
    """

    def __init__(self, params, track, sample_size=0, sample_seed=0):
        owner = type(self).__name__
        if isinstance(params, FlatParameters):
            flat = params
        else:
            if isinstance(params, Module):
                raise ValueError(f"{owner}: params must be parameters, e.g. "
                                 "model.named_parameters(), got the Module itself")
            try:
                params = list(params)
            except TypeError:
                raise ValueError(f"{owner}: params must be an iterable of Parameter or (name, "
                                 f"Parameter) pairs, got {type(params).__name__}") from None
            if not params:
                raise ValueError(f"{owner}: params is an empty parameter list; nothing to optimize")
            flat = flatten_parameters(params)
        self.flat: FlatParameters = flat
        self.t = 0
        self.last_stats: SpreadStats | None = None
        self.tracked = resolve_track(track, flat, owner)  # segment indices
        self.tracked_names = tuple(flat.segments[i].name for i in self.tracked)
        self._tracked_sizes = np.array([flat.segments[i].size for i in self.tracked], np.int64)
        # the kernels' chunks, with their statistics sums (L, N_SUMS)
        self._chunks = kernels.build_chunks(flat.segment_bounds(), self.tracked, kernels.CHUNK_SIZE)
        self._empty = np.empty(0, dtype=flat.data.dtype)  # stands in for unused state arrays
        self._parallel = kernels.runs_parallel(flat.data.shape[0])  # threads pay off on large ones
        sample_size = check_count(sample_size, "sample_size", owner)
        self.sample_layout = choose_sample(flat.segments, self.tracked, sample_size,
                                           np.random.default_rng(sample_seed))
        self.last_sample: ElementSample | None = None

    # -- hyperparameters -------------------------------------------------------------
    @property
    def lr(self) -> float:
        """The learning rate α; may be reassigned between steps (validated)."""
        return self.hparams.lr

    @lr.setter
    def lr(self, value) -> None:
        self.hparams = replace(self.hparams, lr=check_nonnegative(value, "lr", type(self).__name__))

    @property
    def dtype(self) -> np.dtype:
        return self.flat.data.dtype

    def _zeros(self) -> np.ndarray:
        return np.zeros_like(self.flat.data)

    # -- step helpers ----------------------------------------------------------------
    def zero_grad(self) -> None:
        """g ← 0 over the whole flat gradient buffer."""
        self.flat.grad[...] = 0

    def _check_compute_stats(self, compute_stats) -> bool:
        return check_flag(compute_stats, "compute_stats", f"{type(self).__name__}.step")

    def _reject_nonfinite_gradients(self) -> None:
        g = self.flat.grad
        if kernels.count_nonfinite(g, self._parallel) == 0:
            return
        bad = tuple(s.name for s in self.flat.segments if not np.isfinite(g[s.offset:s.stop]).all())
        raise NonFiniteGradientError(bad, self.t + 1)

    def _sample_before_step(self, compute_stats: bool) -> np.ndarray | None:
        """θ_{t−1} at the sampled elements, or None when no sample is taken this step."""
        if not compute_stats or self.sample_layout.size == 0:
            return None
        return self.flat.data[self.sample_layout.flat_index].copy()

    def _sample_after_step(self, theta_before: np.ndarray | None) -> ElementSample | None:
        """The sample of the step just taken (self.t already advanced), or None."""
        if theta_before is None:
            return None
        return take_sample(self.t, self.sample_layout, theta_before, self.flat.data,
                           self._spread_moments(self.t), self.lr, self._decay_factor())

    def _spread_moments(self, t: int):
        """(m, v, c1, c2) whose m̂ = c1 m, v̂ = c2 v feed the statistics at step t, or None."""
        return None

    def _decay_factor(self) -> float:
        """κ with θ_t = κ θ_{t−1} − α u_t: 1 unless weight decay acts outside u."""
        return 1.0

    def _stats_of_last_step(self, has_spread: bool) -> SpreadStats:
        return stats_from_sums(self._chunks.sums.copy(), self._tracked_sizes, self.tracked_names,
                               self.t, has_spread)

    # -- state -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Copies of t, hyperparameters and state arrays (format in the module docstring)."""
        arrays = self._arrays()
        return {"optimizer": type(self).__name__,
                "t": self.t,
                "hyperparameters": self.hparams.as_dict(),
                "segments": [(s.name, s.shape) for s in self.flat.segments],
                "state": {name: a.copy() for name, a in arrays.items()}}

    def load_state_dict(self, state_dict) -> None:
        """Validate ``state_dict`` completely, then restore t, hyperparameters and arrays."""
        owner = f"{type(self).__name__}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"{owner}: expected a dict from state_dict(), got "
                             f"{type(state_dict).__name__}")
        missing = [k for k in ("optimizer", "t", "hyperparameters", "segments", "state")
                   if k not in state_dict]
        if missing:
            raise ValueError(f"{owner}: state_dict lacks keys {missing}")
        if state_dict["optimizer"] != type(self).__name__:
            raise ValueError(f"{owner}: state_dict is from {state_dict['optimizer']!r}, "
                             f"not {type(self).__name__!r}")
        own_shapes = [tuple(s.shape) for s in self.flat.segments]
        shapes = [tuple(shape) for _, shape in state_dict["segments"]]
        if shapes != own_shapes:
            raise ValueError(f"{owner}: parameter shapes {shapes} do not match this optimizer's "
                             f"{own_shapes}")
        t = state_dict["t"]
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Integral) or t < 0:
            raise ValueError(f"{owner}: t must be a non-negative integer, got {t!r}")
        hp = state_dict["hyperparameters"]
        if not isinstance(hp, Mapping):
            raise ValueError(f"{owner}: hyperparameters must be a dict, got {hp!r}")
        try:
            hparams = self._validated(**hp)
        except TypeError as err:
            raise ValueError(f"{owner}: bad hyperparameter keys {sorted(hp)}: {err}") from None
        arrays = state_dict["state"]
        expected = self._array_names(hparams)
        unexpected = [k for k, a in arrays.items() if k not in expected and a is not None]
        if unexpected:
            raise ValueError(f"{owner}: unexpected state arrays {unexpected} for hyperparameters "
                             f"{hparams.as_dict()}")
        P = self.flat.data.shape[0]
        for name in expected:
            a = arrays.get(name)
            if not isinstance(a, np.ndarray) or a.shape != (P,) or a.dtype != self.dtype:
                got = (f"{a.dtype} array of shape {a.shape}" if isinstance(a, np.ndarray)
                       else repr(type(a).__name__))
                raise ValueError(f"{owner}: state array {name!r} must be a {self.dtype} array of "
                                 f"shape ({P},), got {got}")
            if not np.isfinite(a).all():
                raise ValueError(f"{owner}: state array {name!r} holds NaN or Inf; a saved state "
                                 "must be finite (the run that wrote it had diverged)")
            if name in SQUARE_AVERAGES and (a < 0).any():
                raise ValueError(f"{owner}: state array {name!r} holds negative values; it is an "
                                 "average of squared gradients, so it must be >= 0")
        # everything checked: commit
        self.hparams = hparams
        self._set_arrays({name: np.array(arrays[name], copy=True) for name in expected})
        self.t = int(t)
        self.last_stats = None
        self.last_sample = None
