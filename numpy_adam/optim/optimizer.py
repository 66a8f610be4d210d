"""What Adam, AdamW and SGD share: parameter groups over one flat buffer, the step count,
tracked tensors, the non-finite gradient guard, statistics plumbing and the state_dict format.

Parameter groups follow ``torch.optim`` (rules in :mod:`.groups`): ``param_groups`` is a list
of dicts, each holding its ``"params"`` and its hyperparameters, which may be changed between
steps (a learning-rate schedule does, :mod:`.lr_scheduler`). All groups share one flat buffer
θ (P,), g (P,), laid out group after group, so a step is one fused kernel pass per group over
its contiguous run of segments, with that group's hyperparameters. Building an optimizer from
parameters that are not flat yet re-binds them to views of a new flat buffer
(:func:`~numpy_adam.nn.flat.flatten_parameters`).

Non-finite gradients: ``step()`` first counts NaN/Inf in g with a separate parallel pass
(reads g once more, before anything is written). If there are any it raises
:class:`NonFiniteGradientError` naming the offending tensors and leaves θ, the moments and t
unchanged, so the training loop can stop and keep its last good checkpoint.

State format (``state_dict()``, plain Python and NumPy copies, never views)::

    {"optimizer": "Adam" | "AdamW" | "SGD",
     "t": int,                                   # steps taken
     "param_groups": [{"lr": ..., ..., "params": [segment indices]}, ...],
     "segments": [(name, shape), ...],           # checked on load (shapes must match)
     "state": {"m": (P,), "v": (P,), ...}}       # arrays in the parameters' dtype

``load_state_dict`` validates everything (class, groups and their parameters, segment
shapes, t, each group's hyperparameters, every array's shape, dtype and values) before
changing anything, then restores the groups' values as PyTorch does (every key but the
parameters themselves) and copies the arrays, so the restored optimizer continues bitwise
identically.
"""
from __future__ import annotations

import numbers
from collections.abc import Mapping

import numpy as np

from ..nn.flat import FlatParameters, flatten_parameters
from . import kernels
from .groups import NAMES_KEY, PARAMS_KEY, parse_param_groups
from .sample import ElementSample, choose_sample, take_sample
from .stats import SpreadStats, sample_gamma, stats_from_sums
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
    """Base class. A subclass passes its constructor's hyperparameters as ``defaults`` and defines
    ``_validated(owner, **hyperparameters) -> hparams`` (a frozen dataclass with ``as_dict()``),
    ``_array_names(hparams_of_each_group)`` (the state arrays those need), ``_arrays()``,
    ``_set_arrays({name: array})``, ``_step_group(i, hparams, t, compute_stats)`` (the kernel
    call of group i) and, for the element sample and γ, ``_spread_moments(t, hparams)``.

    track:       which tensors get statistics (see :func:`.validation.resolve_track`)
    sample_size: K ≥ 0 elements per tracked tensor whose values are kept at every step with
                 statistics (``last_sample``, see :mod:`.sample`) and over which the statistic
                 ``gamma`` is averaged (:mod:`.stats`); 0 keeps none, and ``gamma`` is NaN
    sample_seed: seed (or ``np.random.Generator``) of the sample's choice
    """

    def __init__(self, params, defaults: dict, track=("weight",), sample_size=0, sample_seed=0):
        owner = type(self).__name__
        self.defaults = dict(defaults)
        self._track = track
        self._sample_size = check_count(sample_size, "sample_size", owner)
        self._sample_seed = sample_seed
        self.param_groups: list[dict] = []
        self._named = None
        self._names: list[str] = []  # every parameter's name, in flat order ("param{i}" if unnamed)
        self.t = 0
        self.last_stats: SpreadStats | None = None
        self.last_sample: ElementSample | None = None
        self._hparams_cache: dict[int, tuple] = {}
        given = params if isinstance(params, FlatParameters) else None
        self._add_groups(parse_param_groups(params, owner), given)

    # -- groups ----------------------------------------------------------------------
    def add_param_group(self, param_group: dict) -> None:
        """Add a group (a dict with "params" and optional hyperparameters), as PyTorch does.

        Its parameters join the flat buffer after the others (every parameter is re-bound to
        the new buffer, values kept) with zero state; statistics and the element sample extend
        to its tracked tensors (the earlier tensors keep their sampled elements)."""
        owner = type(self).__name__
        if not isinstance(param_group, Mapping):
            raise TypeError(f"{owner}: param_group must be a dict, got {type(param_group).__name__}")
        existing = [p for g in self.param_groups for p in g[PARAMS_KEY]]
        marker = [{PARAMS_KEY: list(zip(self._names, existing)) if self._named else existing}]
        parsed = parse_param_groups(marker + [param_group], owner)[1:]
        self._add_groups(parsed, None)

    def _add_groups(self, parsed: list[dict], given: FlatParameters | None) -> None:
        owner = type(self).__name__
        if self._named is None:
            self._named = parsed[0]["named"]
        old_size = self.flat.data.shape[0] if self.param_groups else 0
        old_arrays = self._arrays() if self.param_groups else {}
        count = len(self._names)
        new_groups = []
        for g in parsed:
            pairs = []
            for name, p in g[PARAMS_KEY]:
                pairs.append((name if name is not None else f"param{count}", p))
                count += 1
            group = {**self.defaults, **{k: v for k, v in g.items() if k not in (PARAMS_KEY,
                                                                                  "named")}}
            group[PARAMS_KEY] = [p for _, p in pairs]
            if self._named:
                group[NAMES_KEY] = [n for n, _ in pairs]
            index = len(self.param_groups) + len(new_groups)
            self._validated(self._group_owner(index, len(parsed) + len(self.param_groups)),
                            **self._hyper(group))
            new_groups.append((group, pairs))
        self.param_groups += [g for g, _ in new_groups]
        self._names += [name for _, pairs in new_groups for name, _ in pairs]
        all_params = [p for g in self.param_groups for p in g[PARAMS_KEY]]
        self.flat = given if given is not None else \
            flatten_parameters(list(zip(self._names, all_params)))
        self._layout(owner)
        arrays = self._initial_arrays()
        for name, old in old_arrays.items():
            if old is not None and arrays.get(name) is not None:
                arrays[name][:old_size] = old
        self._set_arrays(arrays)
        self.last_stats = self.last_sample = None

    def _layout(self, owner: str) -> None:
        """Segments per group, tracked tensors, each group's chunks, the element sample."""
        flat = self.flat
        sizes = [len(g[PARAMS_KEY]) for g in self.param_groups]
        self._segment_group = np.repeat(np.arange(len(sizes)), sizes)  # (S,)
        self.tracked = resolve_track(self._track, flat, owner)  # segment indices
        self.tracked_names = tuple(flat.segments[i].name for i in self.tracked)
        self._tracked_sizes = np.array([flat.segments[i].size for i in self.tracked], np.int64)
        bounds = flat.segment_bounds()
        first = np.cumsum([0] + sizes)
        self._group_segments = [range(first[i], first[i + 1]) for i in range(len(sizes))]
        self._group_chunks = [kernels.build_chunks(bounds, self.tracked, kernels.CHUNK_SIZE, segs)
                              for segs in self._group_segments]
        self._group_parallel = [kernels.runs_parallel(int(bounds[s[-1], 1] - bounds[s[0], 0]))
                                for s in self._group_segments]
        self._parallel = kernels.runs_parallel(flat.data.shape[0])
        self._empty = np.empty(0, dtype=flat.data.dtype)  # stands in for unused state arrays
        self.sample_layout = choose_sample(flat.segments, self.tracked, self._sample_size,
                                           np.random.default_rng(self._sample_seed))
        tracked = np.asarray(self.tracked, dtype=np.int64)
        self._sample_groups = self._segment_group[tracked[self.sample_layout.slot]] \
            if self.sample_layout.size else np.empty(0, dtype=np.int64)
        self._hparams_cache.clear()

    def _hyper(self, group: dict) -> dict:
        return {k: group[k] for k in self.defaults}

    def _group_owner(self, index: int, n_groups: int) -> str:
        """The name errors about group ``index`` give: the class, and the group if several."""
        name = type(self).__name__
        return name if n_groups == 1 else f"{name} param_groups[{index}]"

    def group_hparams(self, i: int):
        """The validated hyperparameters of group i as they stand now (checked again whenever
        a value in ``param_groups[i]`` changed, e.g. by a schedule)."""
        group = self.param_groups[i]
        key = tuple(tuple(v) if isinstance(v, list) else v for v in self._hyper(group).values())
        cached = self._hparams_cache.get(i)
        if cached is None or cached[0] != key:
            owner = self._group_owner(i, len(self.param_groups))
            cached = (key, self._validated(owner, **self._hyper(group)))
            self._hparams_cache[i] = cached
        return cached[1]

    @property
    def hparams(self):
        """The hyperparameters of the first group (all of them, with one group)."""
        return self.group_hparams(0)

    @property
    def lr(self) -> float:
        """The first group's learning rate α; assigning sets every group's (validated)."""
        return self.param_groups[0]["lr"]

    @lr.setter
    def lr(self, value) -> None:
        value = check_nonnegative(value, "lr", type(self).__name__)
        for group in self.param_groups:
            group["lr"] = value

    @property
    def dtype(self) -> np.dtype:
        return self.flat.data.dtype

    def _zeros(self) -> np.ndarray:
        return np.zeros_like(self.flat.data)

    # -- the step --------------------------------------------------------------------
    def zero_grad(self) -> None:
        """g ← 0 over the whole flat gradient buffer."""
        self.flat.grad[...] = 0

    def step(self, compute_stats: bool = True) -> None:
        """One step in place on the flat buffer: one fused kernel pass per parameter group.

        Raises :class:`NonFiniteGradientError` (nothing changed) if g holds NaN or Inf.
        Afterwards ``last_stats`` is this step's :class:`SpreadStats` and ``last_sample``
        its :class:`~numpy_adam.optim.sample.ElementSample` (None without a sample), both
        None when ``compute_stats`` is False.
        """
        compute_stats = check_flag(compute_stats, "compute_stats", f"{type(self).__name__}.step")
        hparams = [self.group_hparams(i) for i in range(len(self.param_groups))]
        self._check_step(hparams)
        self._reject_nonfinite_gradients()
        theta_before = self._sample_before_step(compute_stats)
        t = self.t + 1
        for i, h in enumerate(hparams):
            self._step_group(i, h, t, compute_stats)
        self.t = t
        moments = None if theta_before is None else self._spread_moments(t, hparams)
        self.last_sample = self._sample_after_step(theta_before, hparams, moments)
        self.last_stats = self._stats_of_last_step(moments) if compute_stats else None

    def _check_step(self, hparams: list) -> None:
        """Refuse a step the state arrays cannot serve (a subclass's hook)."""

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

    def _sample_after_step(self, theta_before, hparams: list, moments) -> ElementSample | None:
        """The sample of the step just taken (self.t already advanced), or None; ``moments``
        as :meth:`_spread_moments` gives them for that step."""
        if theta_before is None:
            return None
        groups = self._sample_groups
        lr = np.array([h.lr for h in hparams])[groups]  # (N,) each element's group
        decay = np.array([getattr(h, "decay_factor", 1.0) for h in hparams])[groups]
        return take_sample(self.t, self.sample_layout, theta_before, self.flat.data, moments, lr,
                           decay)

    def _spread_moments(self, t: int, hparams: list):
        """(m, v, c1, c2) whose m̂ = c1 m, v̂ = c2 v feed the statistics at step t (c1, c2 per
        sampled element), or None."""
        return None

    def _has_spread(self) -> bool:
        return True

    def _stats_of_last_step(self, moments) -> SpreadStats:
        """The kernels' sums as means, and the element mean of γ over the sample from
        ``moments`` (:meth:`_spread_moments`; None without a sample or a spread source): in
        float64 from the state, not from the sample's m̂, v̂ rounded to the state dtype."""
        sums = sum(c.sums for c in self._group_chunks)  # each group's kernel filled its own
        gamma = None
        if moments is not None:
            m, v, c1, c2 = moments
            idx = self.sample_layout.flat_index
            gamma = sample_gamma(self.sample_layout.slot, m[idx].astype(np.float64) * c1,
                                 v[idx].astype(np.float64) * c2, len(self.tracked_names))
        return stats_from_sums(np.array(sums, copy=True), self._tracked_sizes,
                               self.tracked_names, self.t, self._has_spread(), gamma)

    # -- state -----------------------------------------------------------------------
    def _initial_arrays(self) -> dict:
        """Zero state arrays for the current groups and flat buffer."""
        return {name: self._zeros() for name in self._array_names(
            [self.group_hparams(i) for i in range(len(self.param_groups))])}

    def _extra_state(self) -> dict:
        """Optimizer-level settings a subclass saves beside the groups."""
        return {}

    def _load_extra_state(self, state_dict: Mapping, owner: str) -> dict:
        """Validate the subclass's extra state; returns what ``_commit_extra_state`` takes."""
        return {}

    def _commit_extra_state(self, extra: dict) -> None:
        pass

    def state_dict(self) -> dict:
        """Copies of t, the groups, the segments and state arrays (format in the module docstring)."""
        groups = []
        for i, group in enumerate(self.param_groups):
            saved = {k: (list(v) if isinstance(v, list) else v) for k, v in group.items()
                     if k != PARAMS_KEY}
            saved[PARAMS_KEY] = [int(s) for s in self._group_segments[i]]
            groups.append(saved)
        return {"optimizer": type(self).__name__, "t": self.t, "param_groups": groups,
                "segments": [(s.name, s.shape) for s in self.flat.segments],
                "state": {name: a.copy() for name, a in self._arrays().items()},
                **self._extra_state()}

    def load_state_dict(self, state_dict) -> None:
        """Validate ``state_dict`` completely, then restore t, the groups' values and arrays."""
        name = type(self).__name__
        owner = f"{name}.load_state_dict"
        if not isinstance(state_dict, Mapping):
            raise ValueError(f"{owner}: expected a dict from state_dict(), got "
                             f"{type(state_dict).__name__}")
        missing = [k for k in ("optimizer", "t", "param_groups", "segments", "state")
                   if k not in state_dict]
        if missing:
            raise ValueError(f"{owner}: state_dict lacks keys {missing}")
        if state_dict["optimizer"] != name:
            raise ValueError(f"{owner}: state_dict is from {state_dict['optimizer']!r}, not {name!r}")
        own_shapes = [tuple(s.shape) for s in self.flat.segments]
        shapes = [tuple(shape) for _, shape in state_dict["segments"]]
        if shapes != own_shapes:
            raise ValueError(f"{owner}: parameter shapes {shapes} do not match this optimizer's "
                             f"{own_shapes}")
        t = state_dict["t"]
        if isinstance(t, (bool, np.bool_)) or not isinstance(t, numbers.Integral) or t < 0:
            raise ValueError(f"{owner}: t must be a non-negative integer, got {t!r}")
        groups, hparams = self._loaded_groups(state_dict["param_groups"], owner)
        extra = self._load_extra_state(state_dict, owner)
        arrays = self._loaded_arrays(state_dict["state"], hparams, extra, owner)
        # everything checked: commit
        for group, saved in zip(self.param_groups, groups):
            own = {k: group[k] for k in (PARAMS_KEY, NAMES_KEY) if k in group}
            group.clear()
            group.update({k: v for k, v in saved.items() if k not in (PARAMS_KEY, NAMES_KEY)})
            group.update(own)
        self._hparams_cache.clear()
        self._commit_extra_state(extra)
        self._set_arrays({k: np.array(a, copy=True) for k, a in arrays.items()})
        self.t = int(t)
        self.last_stats = self.last_sample = None

    def _loaded_groups(self, groups, owner: str) -> tuple[list, list]:
        if not isinstance(groups, (list, tuple)) or len(groups) != len(self.param_groups):
            count = len(groups) if isinstance(groups, (list, tuple)) else repr(groups)
            raise ValueError(f"{owner}: the saved state has {count} parameter groups, this "
                             f"optimizer {len(self.param_groups)}")
        hparams = []
        for i, saved in enumerate(groups):
            if not isinstance(saved, Mapping):
                raise ValueError(f"{owner}: param_groups[{i}] must be a dict, got {saved!r}")
            own = [int(s) for s in self._group_segments[i]]
            if list(saved.get(PARAMS_KEY, ())) != own:
                raise ValueError(f"{owner}: param_groups[{i}] holds parameters "
                                 f"{saved.get(PARAMS_KEY)}, this optimizer's group holds {own}")
            lacking = [k for k in self.defaults if k not in saved]
            if lacking:
                raise ValueError(f"{owner}: param_groups[{i}] lacks hyperparameters {lacking}")
            hparams.append(self._validated(f"{owner} param_groups[{i}]", **self._hyper(saved)))
        return list(groups), hparams

    def _loaded_arrays(self, arrays, hparams: list, extra: dict, owner: str) -> dict:
        expected = self._array_names(hparams, **extra)
        unexpected = [k for k, a in arrays.items() if k not in expected and a is not None]
        if unexpected:
            raise ValueError(f"{owner}: unexpected state arrays {unexpected} for the saved "
                             f"hyperparameters (expected {list(expected)})")
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
        return {name: arrays[name] for name in expected}
