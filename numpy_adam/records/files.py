"""Run directories on disk: write the three record files atomically, read and check them back."""
from __future__ import annotations

import json
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping

import numpy as np

from .atomic import atomic_save_npz, atomic_write_json
from .log import MetricsLog
from .schema import (CONFIG_FILE, METRICS_FILE, REQUIRED_CONFIG_KEYS, REQUIRED_SUMMARY_KEYS,
                     SUMMARY_FILE, RecordError, check_metrics)


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
        "SGD momentum 0.9, batch 100", "GD" for SGD without momentum, "RMSprop α=0.99"; no batch
        for x²)."""
        if self.config.get("label"):
            return str(self.config["label"])
        cfg = self.config
        optimizer = str(cfg["optimizer"]).lower()
        if optimizer == "sgd":
            momentum = float(cfg.get("momentum") or 0.0)
            text = f"SGD momentum {momentum:g}" if momentum > 0 else "GD"
        elif optimizer in ("adam", "adamw", "lion"):
            name = {"adam": "Adam", "adamw": "AdamW", "lion": "Lion"}[optimizer]
            text = f"{name} β1={cfg.get('beta1')}, β2={cfg.get('beta2')}"
        elif optimizer in ("signum", "msvag"):
            text = f"{'Signum' if optimizer == 'signum' else 'M-SVAG'} β={cfg.get('beta1')}"
        elif optimizer == "rmsprop":
            text = f"{'centered ' if cfg.get('centered') else ''}RMSprop α={cfg.get('beta2')}"
        else:
            text = {"signsgd": "SignSGD", "adagrad": "Adagrad"}.get(optimizer, optimizer)
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
        raise RecordError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(obj, dict):
        raise RecordError(f"{path}: expected a JSON object, got {type(obj).__name__}")
    missing = [k for k in required if k not in obj]
    if missing:
        raise RecordError(f"{path}: missing keys {missing}")
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
        raise RecordError(f"{path}: not a readable .npz file ({e})") from None
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
        raise RecordError(f"{path / CONFIG_FILE}: missing keys {missing}")
    metrics = load_metrics(path / METRICS_FILE)
    if require_summary or (path / SUMMARY_FILE).exists():
        summary = _read_json(path / SUMMARY_FILE, REQUIRED_SUMMARY_KEYS)
    else:
        summary = {}
    return Run(path=path, config=config, metrics=metrics, summary=summary)
