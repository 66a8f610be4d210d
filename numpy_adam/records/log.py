"""MetricsLog: the training loop's in-memory record of every step, saved as ``metrics.npz``."""
from __future__ import annotations

from typing import Mapping

import numpy as np

from ..optim.sample import SAMPLE_FIELDS
from .schema import RESERVED_KEYS, SAMPLE_KEYS, STAT_KEYS, check_metrics, check_sample_layout


class MetricsLog:
    """The training engine's in-memory per-step record, saved as ``metrics.npz``.

    tensor_names: the L tracked tensor names, in the order of the statistics arrays
    sample_slot, sample_element: (N,) the element sample's layout (see the module
                  docstring), or None for a log without a sample
    sample_dtype: the dtype the sample's per-step values are stored in

    ``append(step, loss, lr, stats, sample=None, **extras)`` once per step; ``as_arrays()``
    gives the ``metrics.npz`` dict; ``from_arrays(d)`` rebuilds a log from a checkpoint's copy of
    that dict, so ``--resume`` continues it.
    """

    def __init__(self, tensor_names, sample_slot=None, sample_element=None,
                 sample_dtype=np.float32):
        names = tuple(str(n) for n in tensor_names)
        if len(set(names)) != len(names):
            raise ValueError(f"MetricsLog: tensor_names must be unique, got {names}")
        self.tensor_names = names
        if (sample_slot is None) != (sample_element is None):
            raise ValueError("MetricsLog: give both sample_slot and sample_element, or neither")
        self._sample_layout = None
        if sample_slot is not None:
            slot = np.array(sample_slot, dtype=np.int64).reshape(-1)
            element = np.array(sample_element, dtype=np.int64).reshape(-1)
            check_sample_layout(slot, element, len(names), "MetricsLog")
            self._sample_layout = (slot, element)
        self._sample_dtype = np.dtype(sample_dtype)
        self._samples: dict[str, list[np.ndarray]] = {k: [] for k in SAMPLE_KEYS}
        self._steps: list[int] = []
        self._loss: list[float] = []
        self._lr: list[float] = []
        self._stats: dict[str, list[np.ndarray]] = {k: [] for k in STAT_KEYS}
        self._extras: dict[str, list[np.ndarray]] = {}
        self._extra_spec: dict[str, tuple[tuple[int, ...], np.dtype]] = {}

    def __len__(self) -> int:
        return len(self._steps)

    def append(self, step, loss, lr, stats=None, sample=None, **extras) -> None:
        """Record one optimizer step.

        step:   int t, strictly larger than the previous step
        loss:   float, the step's training loss
        lr:     float, the learning rate α of the step
        stats:  None (a NaN row) or an object with float arrays (L,) ``mean_abs_m``,
                ``sigma``, ``gamma``, ``update``, ``neg_var_frac`` (a ``SpreadStats``);
                if it has ``names``, they must equal ``tensor_names``
        sample: None (a NaN row, when the log has a sample) or an object with (N,) arrays
                ``m_hat``, ``v_hat``, ``update``, ``param`` (an ``ElementSample``)
        extras: per-step scalars or arrays (e.g. ``x=``, ``grad=`` for the quadratic). The
                first append fixes their names, shapes and kinds; every later append must
                give the same names with the same shapes.
        """
        if isinstance(step, (bool, np.bool_)) or not isinstance(step, (int, np.integer)):
            raise TypeError(f"MetricsLog.append: step must be an int, got {step!r}")
        step = int(step)
        if self._steps and step <= self._steps[-1]:
            raise ValueError(f"MetricsLog.append: step {step} does not follow the last recorded "
                             f"step {self._steps[-1]} (steps must strictly increase)")
        loss, lr = float(loss), float(lr)
        row = self._stats_row(stats)
        sample_row = self._sample_row(sample)
        extra_row = self._extras_row(extras)  # last: the first step's call fixes the extras
        self._steps.append(step)
        self._loss.append(loss)
        self._lr.append(lr)
        for k in STAT_KEYS:
            self._stats[k].append(row[k])
        for k, v in sample_row.items():
            self._samples[k].append(v)
        for k, v in extra_row.items():
            self._extras[k].append(v)

    def _stats_row(self, stats) -> dict[str, np.ndarray]:
        L = len(self.tensor_names)
        if stats is None:
            return {k: np.full(L, np.nan) for k in STAT_KEYS}
        names = getattr(stats, "names", None)
        if names is not None and tuple(names) != self.tensor_names:
            raise ValueError(f"MetricsLog.append: stats.names {tuple(names)} differ from the "
                             f"log's tensor_names {self.tensor_names}")
        row = {}
        for k in STAT_KEYS:
            if not hasattr(stats, k):
                raise TypeError(f"MetricsLog.append: stats has no attribute {k!r} "
                                f"(expected a SpreadStats with {STAT_KEYS})")
            a = np.array(getattr(stats, k), dtype=np.float64)  # copy: the source may be reused
            if a.shape != (L,):
                raise ValueError(f"MetricsLog.append: stats.{k} has shape {a.shape}, expected "
                                 f"({L},) for tensors {self.tensor_names}")
            row[k] = a
        return row

    def _sample_row(self, sample) -> dict[str, np.ndarray]:
        if self._sample_layout is None:
            if sample is not None:
                raise ValueError("MetricsLog.append: got a sample, but the log was made without "
                                 "a sample layout (sample_slot, sample_element)")
            return {}
        n = self._sample_layout[0].shape[0]
        if sample is None:
            return {k: np.full(n, np.nan, self._sample_dtype) for k in SAMPLE_KEYS}
        row = {}
        for field_name, key in zip(SAMPLE_FIELDS, SAMPLE_KEYS):
            a = np.array(getattr(sample, field_name), dtype=self._sample_dtype)
            if a.shape != (n,):
                raise ValueError(f"MetricsLog.append: sample.{field_name} has shape {a.shape}, "
                                 f"expected ({n},) (the sample layout's size)")
            row[key] = a
        return row

    def _extras_row(self, extras) -> dict[str, np.ndarray]:
        clash = RESERVED_KEYS.intersection(extras)
        if clash:
            raise ValueError(f"MetricsLog.append: extra names {sorted(clash)} are reserved")
        row = {}
        for k, v in extras.items():
            a = np.asarray(v)
            if a.dtype.kind in "biu":
                a = a.astype(np.int64)
            elif a.dtype.kind == "f":
                a = a.astype(np.float64)
            else:
                raise TypeError(f"MetricsLog.append: extra {k!r} must be numeric, got dtype "
                                f"{a.dtype}")
            row[k] = a.copy()
        spec = {k: (a.shape, a.dtype) for k, a in row.items()}
        if not self._steps:
            self._extra_spec = spec  # the first step fixes the extras
            self._extras = {k: [] for k in spec}
        elif spec != self._extra_spec:
            raise ValueError(f"MetricsLog.append: extras {_describe(spec)} differ from the first "
                             f"step's {_describe(self._extra_spec)}; give the same names, shapes "
                             "and kinds every step")
        return row

    def as_arrays(self) -> dict[str, np.ndarray]:
        """The ``metrics.npz`` dict (fresh arrays; see the module docstring for shapes)."""
        T, L = len(self), len(self.tensor_names)
        out = {
            "step": np.array(self._steps, dtype=np.int64).reshape(T),
            "loss": np.array(self._loss, dtype=np.float64).reshape(T),
            "lr": np.array(self._lr, dtype=np.float64).reshape(T),
            "tensor_names": np.array(self.tensor_names, dtype=str).reshape(L),
        }
        for k in STAT_KEYS:
            out[k] = (np.stack(self._stats[k]) if T else np.empty((0, L)))  # (T, L)
        if self._sample_layout is not None:
            slot, element = self._sample_layout
            out["sample_slot"], out["sample_element"] = slot.copy(), element.copy()
            for k in SAMPLE_KEYS:  # (T, N)
                out[k] = (np.stack(self._samples[k]) if T
                          else np.empty((0, slot.shape[0]), self._sample_dtype))
        for k, (shape, dtype) in self._extra_spec.items():
            rows = self._extras[k]
            out[k] = np.stack(rows) if T else np.empty((0, *shape), dtype)  # (T, *shape)
        return out

    @classmethod
    def from_arrays(cls, arrays: Mapping[str, np.ndarray], source: str = "arrays") -> "MetricsLog":
        """Rebuild a log from a ``metrics.npz`` dict (checked like :func:`load_run`).

        Every key beyond the required ones whose leading axis has length T is restored as
        an extra; other keys are not per-step and are refused (ValueError).
        """
        arrays = {k: np.asarray(v) for k, v in arrays.items()}
        check_metrics(arrays, source)
        sampled = "sample_slot" in arrays
        log = cls([str(n) for n in arrays["tensor_names"]],
                  arrays.get("sample_slot"), arrays.get("sample_element"),
                  arrays["sample_m_hat"].dtype if sampled else np.float32)
        T = arrays["step"].shape[0]
        extras = [k for k in arrays if k not in RESERVED_KEYS]
        for k in extras:
            if arrays[k].ndim == 0 or arrays[k].shape[0] != T:
                raise ValueError(f"{source}: {k!r} has shape {arrays[k].shape}, not per-step "
                                 f"(leading axis {T}); MetricsLog keeps per-step arrays only")
        for t in range(T):
            stats = _Row({k: arrays[k][t] for k in STAT_KEYS})
            sample = _Row({f: arrays[k][t] for f, k in zip(SAMPLE_FIELDS, SAMPLE_KEYS)}) \
                if sampled else None
            log.append(int(arrays["step"][t]), arrays["loss"][t], arrays["lr"][t], stats,
                       sample, **{k: arrays[k][t] for k in extras})
        return log


class _Row:
    """One recorded row read back: its arrays as attributes, as append() reads them."""

    def __init__(self, arrays: Mapping[str, np.ndarray]):
        self.__dict__.update(arrays)


def _describe(spec) -> str:
    return "{" + ", ".join(f"{k}: {s} {d}" for k, (s, d) in spec.items()) + "}"
