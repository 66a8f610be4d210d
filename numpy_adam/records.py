"""Run records: what a training run leaves on disk, and how to read it back.

A run is a directory holding

* ``config.json``  — every setting (model, optimizer, lr, betas, eps, momentum, batch_size,
  steps, seed, label, tracked_tensors, versions, ...);
* ``metrics.npz``  — per-step arrays (T steps, L tracked tensors):

  ============== ========= ===============================================================
  key            shape     meaning
  ============== ========= ===============================================================
  step           (T,) i8   optimizer step t (1-based, strictly increasing)
  loss           (T,) f8   training loss of the batch of step t
  lr             (T,) f8   learning rate α used at step t
  tensor_names   (L,) str  names of the tracked tensors (conv and fc weights by default)
  mean_abs_m     (T, L)    mean over the tensor's elements of |m̂_t|
  sigma          (T, L)    mean of σ̂_t = √max(v̂_t − m̂_t², 0)
  gamma          (T, L)    element mean of γ_t = σ̂_t/|m̂_t| (not the note's layer relative
                           spread mean σ̂ / mean |m̂|: see :func:`relative_spread`)
  update         (T, L)    mean of |θ_t − θ_{t−1}|/α
  neg_var_frac   (T, L)    fraction of elements with v̂_t < m̂_t²
  x, grad        (T,)      quadratic runs only: parameter after step t and gradient at
                 or (T, D) step t
  ============== ========= ===============================================================

  With an element sample (:mod:`numpy_adam.optim.sample`; N sampled elements, K per
  tracked tensor), also:

  ============== ========= ===============================================================
  sample_slot    (N,) i8   index of each sampled element's tensor in ``tensor_names``
  sample_element (N,) i8   index of the element within its tensor (row-major)
  sample_m_hat   (T, N)    m̂_t of the sampled elements (SGD: the probe's)
  sample_v_hat   (T, N)    v̂_t (NaN for SGD without a probe)
  sample_update  (T, N)    u_t = (κθ_{t−1} − θ_t)/α, signed: the step taken, in units of α
  sample_param   (T, N)    θ_t after the step
  ============== ========= ===============================================================

  stored in the parameters' dtype (float32 for the CNN). From them every sampled
  element's σ̂, γ and identity residual can be recomputed. Size: 16 bytes per sampled
  element and step; the CNN's default K = 32 on its four weight tensors gives N = 128 and
  2 KB per step, so the longest reproduction run (batch 16, two epochs, 6250 steps) keeps
  12.8 MB of samples, while 6250 × 128 points are plenty for a density.

  Any further per-step arrays are kept as they are (leading axis T).
* ``summary.json`` — ``final_loss``, ``test_loss``, ``test_accuracy`` (null for the
  quadratic), ``wall_seconds``, ``steps`` and more.

Statistics of a step with none computed are a NaN row. Aggregation across tensors (the
note's second stage) is :func:`aggregate`: the per-tensor value is already a mean over that
tensor's elements; ``aggregate`` takes the mean across tensors, ignoring NaN.
:func:`relative_spread` gives the per-step relative spread under either aggregation
(see :mod:`numpy_adam.optim.stats`): ``"layer"``, the note's mean over tensors of
γ̄_l = S_l/M_l, or ``"element"``, the mean over tensors of the element mean of γ.
"""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .atomic import atomic_save_npz, atomic_write_json
from .optim.sample import SAMPLE_FIELDS
from .optim.stats import layer_relative_spread

CONFIG_FILE = "config.json"
METRICS_FILE = "metrics.npz"
SUMMARY_FILE = "summary.json"

STAT_KEYS = ("mean_abs_m", "sigma", "gamma", "update", "neg_var_frac")
STEP_KEYS = ("step", "loss", "lr")
REQUIRED_METRIC_KEYS = STEP_KEYS + ("tensor_names",) + STAT_KEYS
GAMMA_AGGREGATIONS = ("layer", "element")
GAMMA_LABELS = {"layer": "layer relative spread γ̄ = mean σ̂ / mean |m̂|",
                "element": "element mean of γ = σ̂/|m̂|"}
SAMPLE_LAYOUT_KEYS = ("sample_slot", "sample_element")
SAMPLE_KEYS = tuple(f"sample_{f}" for f in SAMPLE_FIELDS)  # per step, (T, N)
REQUIRED_CONFIG_KEYS = ("model", "optimizer", "lr", "batch_size", "steps", "seed")
REQUIRED_SUMMARY_KEYS = ("final_loss", "test_loss", "test_accuracy", "wall_seconds", "steps")
RESERVED_KEYS = frozenset(REQUIRED_METRIC_KEYS + SAMPLE_LAYOUT_KEYS + SAMPLE_KEYS)


class MetricsLog:
    """The training engine's in-memory per-step record, saved as ``metrics.npz``.

    tensor_names: the L tracked tensor names, in the order of the statistics arrays
    sample_slot, sample_element: (N,) the element sample's layout (see the module
                  docstring), or None for a log without a sample
    sample_dtype: the dtype the sample's per-step values are stored in

    ``append(step, loss, lr, stats, sample=None, **extras)`` once per step; ``as_arrays()``
    gives the ``metrics.npz`` dict; ``truncate(n)`` and ``from_arrays(d)`` serve ``--resume``.
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
            _check_sample_layout(slot, element, len(names), "MetricsLog")
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

    @property
    def extra_keys(self) -> tuple[str, ...]:
        return tuple(self._extras)

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

    def truncate(self, n_steps: int) -> None:
        """Keep only the first ``n_steps`` records (resume from a checkpoint after them)."""
        if isinstance(n_steps, bool) or not isinstance(n_steps, (int, np.integer)) or n_steps < 0:
            raise ValueError(f"MetricsLog.truncate: n_steps must be a non-negative int, got "
                             f"{n_steps!r}")
        if n_steps > len(self):
            raise ValueError(f"MetricsLog.truncate: the log holds {len(self)} steps, cannot keep "
                             f"{n_steps} (metrics older than the checkpoint?)")
        n = int(n_steps)
        del self._steps[n:], self._loss[n:], self._lr[n:]
        for rows in (*self._stats.values(), *self._samples.values(), *self._extras.values()):
            del rows[n:]

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


def _check_sample_layout(slot: np.ndarray, element: np.ndarray, L: int, source: str) -> None:
    if slot.ndim != 1 or element.shape != slot.shape:
        raise ValueError(f"{source}: sample_slot and sample_element must be (N,) arrays of one "
                         f"length, got shapes {slot.shape} and {element.shape}")
    if slot.size and (slot.min() < 0 or slot.max() >= L):
        raise ValueError(f"{source}: sample_slot must index the {L} tracked tensors, got values "
                         f"in [{slot.min()}, {slot.max()}]")
    if element.size and element.min() < 0:
        raise ValueError(f"{source}: sample_element must be >= 0, got {element.min()}")


def _describe(spec) -> str:
    return "{" + ", ".join(f"{k}: {s} {d}" for k, (s, d) in spec.items()) + "}"


def check_metrics(arrays: Mapping[str, np.ndarray], source: str) -> None:
    """Raise ValueError naming ``source`` if required keys are missing or shapes disagree."""
    missing = [k for k in REQUIRED_METRIC_KEYS if k not in arrays]
    if missing:
        raise ValueError(f"{source}: missing keys {missing} (expected {list(REQUIRED_METRIC_KEYS)})")
    step = arrays["step"]
    if step.ndim != 1:
        raise ValueError(f"{source}: 'step' must be 1-D (T,), got shape {step.shape}")
    if step.dtype.kind not in "iu":
        raise ValueError(f"{source}: 'step' must hold integers, got dtype {step.dtype}")
    T = step.shape[0]
    names = arrays["tensor_names"]
    if names.ndim != 1 or (names.size and names.dtype.kind != "U"):
        raise ValueError(f"{source}: 'tensor_names' must be a 1-D str array (L,), got shape "
                         f"{names.shape} dtype {names.dtype}")
    L = names.shape[0]
    expected = {"loss": (T,), "lr": (T,), **{k: (T, L) for k in STAT_KEYS}}
    for k, shape in expected.items():
        if arrays[k].shape != shape:
            raise ValueError(f"{source}: {k!r} has shape {arrays[k].shape}, expected {shape} "
                             f"(T={T} steps, L={L} tensors)")
    present = [k for k in SAMPLE_LAYOUT_KEYS + SAMPLE_KEYS if k in arrays]
    if present:
        missing = [k for k in SAMPLE_LAYOUT_KEYS + SAMPLE_KEYS if k not in arrays]
        if missing:
            raise ValueError(f"{source}: has {present} but lacks {missing} (an element sample "
                             "needs all of them)")
        slot, element = arrays["sample_slot"], arrays["sample_element"]
        if slot.dtype.kind not in "iu" or element.dtype.kind not in "iu":
            raise ValueError(f"{source}: sample_slot and sample_element must hold integers")
        _check_sample_layout(slot, element, L, source)
        for k in SAMPLE_KEYS:
            if arrays[k].shape != (T, slot.shape[0]):
                raise ValueError(f"{source}: {k!r} has shape {arrays[k].shape}, expected "
                                 f"({T}, {slot.shape[0]}) (T steps, N sampled elements)")
    for k in ("x", "grad"):
        if k in arrays and (arrays[k].ndim not in (1, 2) or arrays[k].shape[0] != T):
            raise ValueError(f"{source}: {k!r} has shape {arrays[k].shape}, expected ({T},) or "
                             f"({T}, D)")


def save_run_metrics(run_dir, log) -> Path:
    """Write ``log`` (a MetricsLog or a metrics dict) to ``run_dir/metrics.npz`` atomically."""
    arrays = log.as_arrays() if isinstance(log, MetricsLog) else dict(log)
    path = Path(run_dir) / METRICS_FILE
    check_metrics({k: np.asarray(v) for k, v in arrays.items()}, str(path))
    return atomic_save_npz(path, **arrays)


def save_config(run_dir, config: Mapping) -> Path:
    """Write ``run_dir/config.json`` atomically (NaN → null)."""
    return atomic_write_json(Path(run_dir) / CONFIG_FILE, dict(config))


def save_summary(run_dir, summary: Mapping) -> Path:
    """Write ``run_dir/summary.json`` atomically (NaN → null, so it stays valid JSON)."""
    return atomic_write_json(Path(run_dir) / SUMMARY_FILE, dict(summary))


@dataclass(frozen=True)
class Run:
    """One run read from disk.

    path:    the run directory
    config:  config.json as a dict
    metrics: metrics.npz as name → ndarray (see the module docstring for shapes)
    summary: summary.json as a dict ({} when loaded with ``require_summary=False`` and absent)
    """

    path: Path
    config: dict
    metrics: dict = field(repr=False)
    summary: dict

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def label(self) -> str:
        """config["label"], or one built from the settings ("Adam β1=0.9, β2=0.999, batch 16",
        "SGD momentum 0.9, batch 100", "GD" for SGD without momentum; no batch for x²)."""
        if self.config.get("label"):
            return str(self.config["label"])
        cfg = self.config
        optimizer = str(cfg["optimizer"]).lower()
        if optimizer == "sgd":
            momentum = float(cfg.get("momentum") or 0.0)
            text = f"SGD momentum {momentum:g}" if momentum > 0 else "GD"
        else:
            name = {"adam": "Adam", "adamw": "AdamW"}.get(optimizer, optimizer)
            text = f"{name} β1={cfg.get('beta1')}, β2={cfg.get('beta2')}"
        if cfg.get("model") != "quadratic":
            text += f", batch {cfg['batch_size']}"
        return text

    @property
    def tensor_names(self) -> tuple[str, ...]:
        return tuple(str(n) for n in self.metrics["tensor_names"])


def _read_json(path: Path, required: tuple[str, ...]) -> dict:
    if not path.is_file():
        raise FileNotFoundError(f"run record incomplete: {path} does not exist")
    try:
        obj = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise ValueError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise ValueError(f"{path}: missing keys {missing}")
    return obj


def load_metrics(path) -> dict[str, np.ndarray]:
    """Read and check a ``metrics.npz`` (no pickle) into a dict of in-memory arrays."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"run record incomplete: {path} does not exist")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
    except (zipfile.BadZipFile, ValueError, OSError, EOFError) as e:
        raise ValueError(f"{path}: not a readable .npz file ({e})") from None
    check_metrics(arrays, str(path))
    return arrays


def load_run(path, require_summary: bool = True) -> Run:
    """Read a run directory into a :class:`Run`.

    path:            the run directory
    require_summary: False to read an unfinished run (summary {} when summary.json is absent)

    Raises FileNotFoundError naming the missing directory or file, ValueError naming the
    file for invalid JSON, missing keys or shape mismatches.
    """
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"run directory {path} does not exist")
    config = _read_json(path / CONFIG_FILE, ())
    missing = [k for k in REQUIRED_CONFIG_KEYS if k not in config]
    if missing:
        raise ValueError(f"{path / CONFIG_FILE}: missing keys {missing}")
    metrics = load_metrics(path / METRICS_FILE)
    if require_summary or (path / SUMMARY_FILE).exists():
        summary = _read_json(path / SUMMARY_FILE, REQUIRED_SUMMARY_KEYS)
    else:
        summary = {}
    return Run(path=path, config=config, metrics=metrics, summary=summary)


def aggregate(run, key: str) -> np.ndarray:
    """Mean across tracked tensors of a (T, L) statistic: (T,) float64.

    run: a :class:`Run` or a metrics dict
    key: one of ``STAT_KEYS``

    Each entry is already a mean over one tensor's elements; this is the seed note's second
    stage, the mean across tensors. NaN entries are ignored; an all-NaN step (or L = 0)
    gives NaN.
    """
    metrics = run.metrics if isinstance(run, Run) else run
    if key not in STAT_KEYS:
        raise ValueError(f"aggregate: key must be one of {STAT_KEYS}, got {key!r}")
    values = np.asarray(metrics[key], dtype=np.float64)  # (T, L)
    if values.ndim != 2:
        raise ValueError(f"aggregate: {key!r} must be (T, L), got shape {values.shape}")
    return _mean_over_tensors(values)


def _mean_over_tensors(values: np.ndarray) -> np.ndarray:
    finite = ~np.isnan(values)
    count = finite.sum(axis=1)  # (T,) tensors with a value at each step
    total = np.where(finite, values, 0.0).sum(axis=1)
    return np.where(count > 0, total / np.maximum(count, 1), np.nan)


def relative_spread(run, aggregation: str = "layer") -> np.ndarray:
    """The per-step relative spread of a run, (T,) float64, under one of GAMMA_AGGREGATIONS.

    run:         a :class:`Run` or a metrics dict
    aggregation: "layer": mean over tensors of γ̄_l = sigma_l / mean_abs_m_l (the note's);
                 "element": mean over tensors of the recorded element mean ``gamma``
    """
    metrics = run.metrics if isinstance(run, Run) else run
    if aggregation == "layer":
        return _mean_over_tensors(layer_relative_spread(metrics["sigma"], metrics["mean_abs_m"]))
    if aggregation == "element":
        return aggregate(metrics, "gamma")
    raise ValueError(f"relative_spread: aggregation must be one of {GAMMA_AGGREGATIONS}, got "
                     f"{aggregation!r}")
