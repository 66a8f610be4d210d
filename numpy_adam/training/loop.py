"""The training loop: one forward, one backward, one optimizer step, one record per step.

A run writes into its own directory (formats in :mod:`numpy_adam.records`):

    config.json      every setting (TrainConfig), the seed, library versions
    metrics.npz      per step: loss, lr, and per tracked tensor mean |m̂|, σ̂, γ, |Δθ|/α, v̂<m̂² fraction;
                     m̂, v̂, the step and θ of a seeded sample of elements
    summary.json     final/test loss and accuracy, evaluations, wall time, status
    checkpoint.npz   model, optimizer, data-iterator (with its generator) and metrics so far

Every write is atomic. A killed run continues with ``resume=True`` from its last
checkpoint and ends bitwise identical to an uninterrupted run: all randomness comes from
two generators spawned from the seed (one for initialisation, one for data order) and the
iterator's generator state is part of the checkpoint (a third generator picks the element
sample once). A NaN/Inf loss or gradient stops the
run with :class:`TrainingDiverged`; the last good checkpoint stays on disk.
"""
from __future__ import annotations

import json
import math
import platform
import time
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .. import __version__
from ..optim import SGD, Adam, AdamW, NonFiniteGradientError
from ..records import MetricsLog, Run, load_run, save_config, save_run_metrics, save_summary
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .tasks import CifarData, CifarTask, QuadraticTask

CHECKPOINT = "checkpoint.npz"


class TrainingDiverged(FloatingPointError):
    """Loss or gradient became NaN/Inf; the message names the step and the last good checkpoint."""


def run_seeds(config: TrainConfig) -> list[np.random.SeedSequence]:
    """Independent seeds for initialisation, data order and the element sample, from the seed."""
    return np.random.SeedSequence(config.seed).spawn(3)


def make_optimizer(config: TrainConfig, named_params):
    """The optimizer a config names. SGD gets a passive spread probe with (beta1, beta2)."""
    betas = (config.beta1, config.beta2)
    sampling = dict(sample_size=config.sample_per_tensor, sample_seed=run_seeds(config)[2])
    if config.optimizer == "adam":
        return Adam(named_params, lr=config.lr, betas=betas, eps=config.eps,
                    weight_decay=config.weight_decay, **sampling)
    if config.optimizer == "adamw":
        return AdamW(named_params, lr=config.lr, betas=betas, eps=config.eps,
                     weight_decay=config.weight_decay, **sampling)
    return SGD(named_params, lr=config.lr, momentum=config.momentum, dampening=config.dampening,
               weight_decay=config.weight_decay, nesterov=config.nesterov, probe_betas=betas,
               **sampling)


def make_task(config: TrainConfig, data: CifarData | None = None, data_dir=None):
    init_seed, data_seed, _ = run_seeds(config)
    if config.model == "quadratic":
        return QuadraticTask(config)
    if data is None:
        data = CifarData.load(data_dir)
    return CifarTask(config, data, np.random.default_rng(init_seed), np.random.default_rng(data_seed))


def total_steps(config: TrainConfig, steps_per_epoch: int | None) -> int:
    if config.steps is not None:
        return config.steps
    return max(1, math.ceil(config.epochs * steps_per_epoch))


def _versions() -> dict:
    import numba

    return {"numpy_adam": __version__, "numpy": np.__version__, "numba": numba.__version__,
            "python": platform.python_version()}


def config_differences(saved: dict, config: TrainConfig) -> dict:
    """{setting: (saved value, given value)} for every setting of ``config`` that a run's saved
    ``config.json`` holds differently (compared in JSON form, so tuples equal lists)."""
    given = json.loads(json.dumps(config.to_json()))
    return {k: (saved.get(k), v) for k, v in given.items() if saved.get(k) != v}


def _check_resumable(out: Path, config: TrainConfig) -> None:
    differs = config_differences(json.loads((out / "config.json").read_text()), config)
    if differs:
        raise ValueError(f"cannot resume {out}: settings differ from the saved run "
                         f"(saved, given): {differs}")


def train(config: TrainConfig, out_dir, *, data: CifarData | None = None, data_dir=None,
          resume: bool = False, quiet: bool = False) -> Run:
    """Run ``config`` into ``out_dir`` and return the loaded :class:`~numpy_adam.records.Run`."""
    out = Path(out_dir)
    checkpoint_path = out / CHECKPOINT
    if resume:
        if not checkpoint_path.exists():
            raise FileNotFoundError(f"cannot resume: no {CHECKPOINT} in {out}")
        _check_resumable(out, config)
    elif checkpoint_path.exists() or (out / "metrics.npz").exists():
        raise FileExistsError(f"{out} already holds a run: pass --resume to continue it, or choose "
                              "another --out")
    out.mkdir(parents=True, exist_ok=True)

    task = make_task(config, data, data_dir)
    optimizer = make_optimizer(config, task.model.named_parameters())
    names = list(optimizer.tracked_names)
    steps = total_steps(config, task.steps_per_epoch)
    layout = optimizer.sample_layout
    log = (MetricsLog(names, layout.slot, layout.element, optimizer.dtype) if layout.size
           else MetricsLog(names))
    evaluations, start, wall_before = [], 0, 0.0

    def state(step, wall):
        return {"step": step, "wall_seconds": wall, "model": dict(task.model.state_dict()),
                "optimizer": optimizer.state_dict(), "task": task.state_dict(),
                "metrics": log.as_arrays(), "evaluations": evaluations}

    if resume:
        saved = load_checkpoint(checkpoint_path)
        task.model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        task.load_state_dict(saved["task"])
        log = MetricsLog.from_arrays(saved["metrics"])
        evaluations, start, wall_before = saved["evaluations"], saved["step"], saved["wall_seconds"]
    else:
        save_config(out, {**config.to_json(), "versions": _versions(), "tracked_tensors": names,
                          "steps_total": steps, "steps_per_epoch": task.steps_per_epoch})
        save_checkpoint(checkpoint_path, state(0, 0.0))

    began = time.perf_counter()
    bar = tqdm(total=steps, initial=start, disable=quiet, desc=config.label or config.optimizer,
               unit="step", dynamic_ncols=True, leave=False)
    for t in range(start + 1, steps + 1):
        loss = task.train_step()
        failure = None if math.isfinite(loss) else f"loss is {loss}"
        if failure is None:
            try:
                optimizer.step()
            except NonFiniteGradientError as error:
                failure = str(error)
        if failure is not None:
            bar.close()
            _write_outcome(out, log, evaluations, wall_before + time.perf_counter() - began,
                           status="diverged", message=f"step {t}: {failure}")
            raise TrainingDiverged(f"training diverged at step {t}: {failure}. The last good "
                                   f"checkpoint is {checkpoint_path} (step {_saved_step(checkpoint_path)}); "
                                   "lower the learning rate and start again")
        log.append(t, loss, config.lr, optimizer.last_stats, optimizer.last_sample,
                   **task.after_step())
        epoch_end = task.steps_per_epoch is not None and t % task.steps_per_epoch == 0
        if t == steps or (config.eval_every and t % config.eval_every == 0) or \
                (config.eval_every is None and epoch_end):
            evaluations.append({"step": t, "epoch": _epoch(t, task), **task.evaluate()})
        if t % config.checkpoint_every == 0 or t == steps:
            save_checkpoint(checkpoint_path, state(t, wall_before + time.perf_counter() - began))
        bar.update(1)
        if t % 50 == 0:
            bar.set_postfix(loss=f"{loss:.4f}")
    bar.close()
    _write_outcome(out, log, evaluations, wall_before + time.perf_counter() - began, status="finished")
    return load_run(out)


def _epoch(t: int, task) -> float | None:
    return None if task.steps_per_epoch is None else t / task.steps_per_epoch


def _saved_step(path: Path) -> int:
    return int(load_checkpoint(path)["step"])


def _write_outcome(out: Path, log: MetricsLog, evaluations: list, wall: float, *, status: str,
                   message: str = "") -> None:
    save_run_metrics(out, log)
    arrays = log.as_arrays()
    last_eval = evaluations[-1] if evaluations else {}
    summary = {"status": status, "message": message,
               "steps": int(arrays["step"][-1]) if len(arrays["step"]) else 0,
               "final_loss": float(arrays["loss"][-1]) if len(arrays["loss"]) else None,
               "test_loss": last_eval.get("test_loss"), "test_accuracy": last_eval.get("test_accuracy"),
               "wall_seconds": wall, "evaluations": evaluations}
    save_summary(out, summary)
