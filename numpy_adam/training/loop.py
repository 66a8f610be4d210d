"""The training loop: one forward, one backward, one optimizer step, one record per step.

A run writes into its own folder (formats in :mod:`numpy_adam.records`):

    config.json      every setting (TrainConfig), the seed, library versions
    metrics.npz      per step: loss, lr, and per tracked tensor mean |m̂|, σ̂, γ, |Δθ|/α, v̂<m̂² fraction;
                     m̂, v̂, the step and θ of a seeded sample of elements
    summary.json     final/test loss and accuracy, evaluations, wall time, status
    checkpoint.npz   model, optimizer, data-iterator (with its generator) and metrics so far

What the loop guarantees, and where each guarantee lives:

* **Validated before anything is written**: the settings (:class:`TrainConfig`), ``--out``
  (:mod:`.run_folder`), the batch size against the data and the memory it needs
  (:mod:`.memory`). A new run that still fails before its first step is removed again, so a
  corrected retry with the same ``--out`` works.
* **One writer per folder** (:mod:`.lock`): a second process fails at once, naming the holder.
* **Kill and resume**: every write is atomic; a killed run continues with ``resume=True`` from
  its last checkpoint and ends bitwise identical to an uninterrupted run. All randomness comes
  from generators spawned from the seed (:func:`.build.run_seeds`) and the data iterator's
  generator state is part of the checkpoint. Without a ``config``, resume reads the saved one.
* **Divergence** (:mod:`.divergence`): a NaN/Inf loss, gradient, parameter, batchnorm
  statistic, optimizer state or evaluation loss stops the run with :class:`TrainingDiverged`,
  naming what went non-finite first; a non-finite state is never checkpointed, so the last
  good checkpoint stays on disk.
"""
from __future__ import annotations

import dataclasses
import json
import math
import time
from pathlib import Path

from tqdm import tqdm

from ..optim import NonFiniteGradientError
from ..records import CONFIG_FILE, MetricsLog, Run, load_run, save_config, save_run_metrics, \
    save_summary
from .build import (check_schedule, make_optimizer, make_scheduler, make_task, total_steps,
                    versions)
from .checkpoint import load_checkpoint, save_checkpoint
from .config import TrainConfig
from .divergence import first_nonfinite_model_value, first_nonfinite_optimizer_state
from .errors import CheckpointError, ResumeMismatch, SettingsError, TrainingDiverged
from .lock import RunLock
from .memory import check_memory
from .run_folder import (CHECKPOINT, check_out_dir, discard_new_run, holds_run,
                         remove_stale_temp_files)
from .tasks import CifarData

__all__ = ["train", "saved_config", "config_differences", "TrainingDiverged", "CHECKPOINT"]
LENGTH_SETTINGS = ("steps", "epochs")


def config_differences(saved: dict, config: TrainConfig) -> dict:
    """{setting: (saved value, given value)} for every setting of ``config`` that a run's saved
    ``config.json`` holds differently (compared in JSON form, so tuples equal lists). A setting
    the saved run predates counts as its default, which is what that run did."""
    given = json.loads(json.dumps(config.to_json()))
    defaults = json.loads(json.dumps(TrainConfig(steps=1).to_json()))
    return {k: (saved.get(k, defaults[k]), v) for k, v in given.items()
            if saved.get(k, defaults[k]) != v}


def saved_config(out) -> TrainConfig:
    """The :class:`TrainConfig` a run folder was started with (its config.json)."""
    path = Path(out) / CONFIG_FILE
    if not path.is_file():
        raise FileNotFoundError(f"cannot resume: {path} does not exist (no run was started in "
                                f"{out})")
    saved = json.loads(path.read_text(encoding="utf-8"))
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    known = {k: v for k, v in saved.items() if k in fields}
    return TrainConfig.from_json(known)


def _check_resumable(out: Path, config: TrainConfig, extend: bool) -> None:
    saved = json.loads((out / CONFIG_FILE).read_text(encoding="utf-8"))
    differs = config_differences(saved, config)
    if extend:
        differs = {k: v for k, v in differs.items() if k not in LENGTH_SETTINGS}
    if differs:
        listed = ", ".join(f"{k}: saved {a!r}, given {b!r}" for k, (a, b) in differs.items())
        raise ResumeMismatch(f"cannot resume {out}: the given settings differ from the saved run "
                         f"({listed}); leave them out to use the saved ones")


def train(config: TrainConfig | None, out_dir, *, data: CifarData | None = None, data_dir=None,
          resume: bool = False, extend: bool = False, quiet: bool = False) -> Run:
    """Run ``config`` into ``out_dir`` and return the loaded :class:`~numpy_adam.records.Run`.

    config: the settings; with ``resume``, None continues with the saved ones
    resume: continue the run in ``out_dir`` from its checkpoint (settings must match)
    extend: with ``resume``, let ``config`` change only the run's length (steps or epochs),
            to continue a finished run further
    """
    out = check_out_dir(out_dir)
    if extend and not resume:
        raise SettingsError("extend=True only makes sense with resume=True (a longer run of a "
                         "saved one)")
    if resume and config is None:
        config = saved_config(out)
    if config is None:
        raise ValueError("train: config is required unless resuming")
    check_memory(config.model, config.batch_size, config.channels, config.kernel_size)
    task = make_task(config, data, data_dir)  # loads and checks the data: still nothing written
    check_schedule(config, total_steps(config, task.steps_per_epoch))
    created = not out.exists()
    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out) as lock:
        if lock.note and not quiet:
            print(f"numpy-adam train: {lock.note}", flush=True)
        record = _Record()
        try:
            if resume:
                if not (out / CHECKPOINT).exists():
                    raise FileNotFoundError(f"cannot resume: no {CHECKPOINT} in {out}")
                _check_resumable(out, config, extend)
            elif holds_run(out):
                raise FileExistsError(f"{out} already holds a run: pass --resume to continue it, "
                                      "or choose another --out")
            remove_stale_temp_files(out)
            _run(config, out, task, resume, quiet, record)
        except BaseException as error:
            if not (resume or len(record.log) or isinstance(error, TrainingDiverged)):
                discard_new_run(out, created)
            raise
    return load_run(out)


class _Record:
    """What the loop keeps besides the model and optimizer: the log, the evaluations, the step
    it started from and the wall time before that (set by :func:`_run`)."""

    def __init__(self):
        self.log, self.evaluations = MetricsLog(()), []
        self.start, self.wall_before = 0, 0.0
        self.began = time.perf_counter()

    def restart(self, log: MetricsLog, evaluations=(), start: int = 0, wall_before=0.0) -> None:
        self.log, self.evaluations = log, list(evaluations)
        self.start, self.wall_before = int(start), float(wall_before)
        self.began = time.perf_counter()

    def wall(self) -> float:
        return self.wall_before + time.perf_counter() - self.began


def _run(config: TrainConfig, out: Path, task, resume: bool, quiet: bool,
         record: _Record) -> None:
    """The loop proper (the folder is locked and checked), recording into ``record``; raises
    TrainingDiverged on divergence after writing the outcome."""
    optimizer = make_optimizer(config, task.model.named_parameters())
    names = list(optimizer.tracked_names)
    steps = total_steps(config, task.steps_per_epoch)
    scheduler = make_scheduler(config, optimizer, steps)  # sets the first step's rate
    layout = optimizer.sample_layout
    record.restart(MetricsLog(names, layout.slot, layout.element, optimizer.dtype)
                   if layout.size else MetricsLog(names))
    checkpoint_path = out / CHECKPOINT

    def checkpoint(step: int) -> None:
        save_checkpoint(checkpoint_path, {
            "step": step, "wall_seconds": record.wall(), "model": dict(task.model.state_dict()),
            "optimizer": optimizer.state_dict(), "task": task.state_dict(),
            "scheduler": scheduler.state_dict() if scheduler is not None else None,
            "metrics": record.log.as_arrays(), "evaluations": record.evaluations})

    def diverged(t: int, what: str) -> TrainingDiverged:
        _write_outcome(out, record, status="diverged", message=f"step {t}: {what}")
        good = int(load_checkpoint(checkpoint_path)["step"])
        return TrainingDiverged(f"training diverged at step {t}: {what}. The last good "
                                f"checkpoint is {checkpoint_path} (step {good}); lower the "
                                "learning rate and start again with another --out")

    if resume:
        saved = load_checkpoint(checkpoint_path)
        try:
            task.model.load_state_dict(saved["model"])
            optimizer.load_state_dict(saved["optimizer"])
            if scheduler is not None:
                scheduler.load_state_dict(saved["scheduler"])
            task.load_state_dict(saved["task"])
            record.restart(MetricsLog.from_arrays(saved["metrics"]), saved["evaluations"],
                           saved["step"], saved["wall_seconds"])
        except (KeyError, TypeError, ValueError) as error:
            raise CheckpointError(f"checkpoint {checkpoint_path} cannot be restored ({error}); "
                                  "it is damaged or from another version: delete the run folder "
                                  "to start over") from error
    else:
        save_config(out, {**config.to_json(), "versions": versions(), "tracked_tensors": names,
                          "steps_total": steps, "steps_per_epoch": task.steps_per_epoch})
        checkpoint(0)

    bar = None
    for t in range(record.start + 1, steps + 1):
        loss = task.train_step()
        lr = optimizer.param_groups[0]["lr"]  # α of this step (a schedule moves it after)
        failure = None if math.isfinite(loss) else f"the loss is {loss}"
        if failure is None:
            try:
                optimizer.step()
            except NonFiniteGradientError as error:
                failure = str(error)
        if failure is None:
            bad = first_nonfinite_model_value(task.model)
            failure = None if bad is None else f"{bad} is not finite"
        if failure is not None:
            raise diverged(t, failure)
        if scheduler is not None:
            scheduler.step()
        record.log.append(t, loss, lr, optimizer.last_stats, optimizer.last_sample,
                          **task.after_step())
        epoch_end = task.steps_per_epoch is not None and t % task.steps_per_epoch == 0
        if t == steps or (config.eval_every and t % config.eval_every == 0) or \
                (config.eval_every is None and epoch_end):
            result = task.evaluate()
            if result["test_loss"] is not None and not math.isfinite(result["test_loss"]):
                raise diverged(t, f"the evaluation loss is {result['test_loss']}")
            record.evaluations.append({"step": t, "epoch": _epoch(t, task), **result})
        if t % config.checkpoint_every == 0 or t == steps:
            bad = first_nonfinite_optimizer_state(optimizer)
            if bad is not None:
                raise diverged(t, f"{bad} is not finite")
            checkpoint(t)
        bar = _progress(bar, t, steps, loss, config, quiet)
    if bar is not None:
        bar.close()
    _write_outcome(out, record, status="finished")


def _progress(bar, t: int, steps: int, loss: float, config: TrainConfig, quiet: bool):
    """The progress bar, opened after the first step of this process so that its time estimate
    leaves out the first step's JIT compilation; shows the loss."""
    if quiet:
        return None
    if bar is None:
        bar = tqdm(total=steps, initial=t, desc=config.label or config.optimizer, unit="step",
                   dynamic_ncols=True, leave=False)
    else:
        bar.update(1)
    if t % 10 == 0 or t == steps:
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
    return bar


def _epoch(t: int, task) -> float | None:
    return None if task.steps_per_epoch is None else t / task.steps_per_epoch


def _write_outcome(out: Path, record: _Record, *, status: str, message: str = "") -> None:
    save_run_metrics(out, record.log)
    arrays = record.log.as_arrays()
    last_eval = record.evaluations[-1] if record.evaluations else {}
    save_summary(out, {
        "status": status, "message": message,
        "steps": int(arrays["step"][-1]) if len(arrays["step"]) else 0,
        "final_loss": float(arrays["loss"][-1]) if len(arrays["loss"]) else None,
        "test_loss": last_eval.get("test_loss"), "test_accuracy": last_eval.get("test_accuracy"),
        "wall_seconds": record.wall(), "evaluations": record.evaluations})
