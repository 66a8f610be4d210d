"""Running a sweep: its points' states in ``sweep.json``, the executor loop, the progress bar.

A sweep folder (``--out``) holds one run folder per point, named by :func:`.spec.run_name`,
and ``sweep.json``::

    {"format": "numpy-adam sweep 1", "updated": ISO time, "executor": "2 local processes, ...",
     "counts": {"pending": n, "running": n, "finished": n, "failed": n},
     "points": [{"name", "state", "settings" (the non-default TrainConfig settings), "error",
                 "error_type", "kind", "attempts", "resumed_from", "worker", "steps",
                 "final_loss", "test_loss", "test_accuracy", "wall_seconds"}, ...]}

``state`` is pending, running, finished or failed (with ``error``; ``kind`` says whether
the settings, the run's state or a divergence failed it); ``attempts`` counts the times a
worker was given the point, ``resumed_from`` the checkpoint step its last attempt started
from (0: from scratch), ``worker`` the host and process id that ran it. Only the sweep's
process writes the file, always atomically (temporary file and rename,
:mod:`numpy_adam.records.atomic`), after every change, so a kill at any moment leaves the
previous or the next version. It is a report, not the truth: every
invocation takes each point's state from its run folder (a finished summary.json, a
checkpoint to resume), so a sweep killed in any way continues where its runs stopped. The
points of a folder accumulate: a new spec adds its points to those sweep.json lists, and
``numpy-adam sweep --out DIR`` alone continues them. The sweep folder is locked like a run
folder (:mod:`numpy_adam.training.lock`): one sweep process per folder.

The loop keeps ``executor.capacity()`` points in flight (so "running" means running),
writes each point's new attempt to sweep.json before a worker is given it, records each
result as it comes, prints a status line per completed run above one progress
bar over runs (the runs themselves are quiet), and on Ctrl-C puts the points in flight back
to pending, writes sweep.json and stops the workers before re-raising.
"""
from __future__ import annotations

import json
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from tqdm import tqdm

from ...records import RecordError
from ...records.atomic import atomic_write_json
from ...training.config import TrainConfig
from ...training.errors import SettingsError
from .spec import Point, expand, non_default_settings, point_from_settings
from .worker import folder_state, summary_numbers

STATE_FILE = "sweep.json"
FORMAT = "numpy-adam sweep 1"
STATES = ("pending", "running", "finished", "failed")
NUMBERS = ("steps", "final_loss", "test_loss", "test_accuracy", "wall_seconds")


class SweepFailed(RuntimeError):
    """Some points failed (the others ran); the message names them."""


@dataclass
class Entry:
    """A run to make and what became of it (mutable: the loop updates it)."""

    name: str
    config: TrainConfig
    run_dir: Path
    state: str = "pending"
    error: str | None = None
    error_type: str | None = None
    kind: str | None = None  # of a failure: "settings", "state" or "diverged"
    attempts: int = 0
    resumed_from: int | None = None
    numbers: dict = field(default_factory=dict)
    worker: str | None = None  # "host pid" of the process that ran the last attempt

    def record(self, result: dict) -> None:
        """Take a worker's result (:func:`.worker.run_point`)."""
        self.state = result["state"]
        self.error = result.get("error")
        self.error_type = result.get("error_type")
        self.kind = result.get("kind")
        if result.get("resumed_from") is not None:
            self.resumed_from = result["resumed_from"]
        self.numbers = {k: result.get(k) for k in NUMBERS if result.get(k) is not None}
        if result.get("pid") is not None:
            self.worker = f"{result.get('host')} {result['pid']}"

    def to_json(self) -> dict:
        return {"name": self.name, "state": self.state,
                "settings": non_default_settings(self.config), "error": self.error,
                "error_type": self.error_type, "kind": self.kind, "attempts": self.attempts,
                "resumed_from": self.resumed_from, "worker": self.worker,
                **{k: self.numbers.get(k) for k in NUMBERS}}

    def status_line(self) -> str:
        if self.state == "failed":
            return f"{self.name}: failed — {self.error_type}: {self.error}"
        n = self.numbers
        parts = [f"{n['steps']} steps" if n.get("steps") is not None else None,
                 _number("final loss", n.get("final_loss")),
                 _number("test loss", n.get("test_loss")),
                 _number("test accuracy", n.get("test_accuracy")),
                 f"{n['wall_seconds']:.1f} s" if n.get("wall_seconds") is not None else None]
        resumed = f" (resumed from step {self.resumed_from})" if self.resumed_from else ""
        return f"{self.name}: {self.state}{resumed}, " + ", ".join(p for p in parts if p)


def _number(what: str, value) -> str | None:
    return None if value is None else f"{what} {value:.4g}"


def task_of(entry: Entry, data_dir) -> dict:
    """What a worker is sent for ``entry`` (plain data: it crosses process and machine bounds)."""
    return {"name": entry.name, "settings": entry.config.to_json(),
            "run_dir": str(entry.run_dir), "data_dir": None if data_dir is None else str(data_dir),
            "threads": None}


def execute(entries: list[Entry], executor, *, data_dir=None, on_change=None, quiet=False,
            desc: str = "runs") -> list[Entry]:
    """Run every pending entry on ``executor`` (entered), recording results into the entries.

    on_change: called with no arguments after every change of state (to write sweep.json)
    quiet:     no progress bar and no status lines
    returns:   ``entries``; finished and failed ones are left alone
    """
    on_change = on_change or (lambda: None)
    queue = deque(e for e in entries if e.state in ("pending", "running"))
    for entry in queue:
        entry.state = "pending"
    total, done = len(entries), sum(e.state in ("finished", "failed") for e in entries)
    bar = tqdm(total=total, initial=done, desc=desc, unit="run", dynamic_ncols=True,
               disable=quiet)
    in_flight: dict = {}
    handing_out: list[Entry] = []
    try:
        while queue or in_flight:
            while queue and len(in_flight) + len(handing_out) < executor.capacity():
                entry = queue.popleft()
                entry.state, entry.attempts = "running", entry.attempts + 1
                handing_out.append(entry)
            if handing_out:
                # Recorded before any worker is given the point: a kill in between would
                # otherwise leave a worker that checkpoints an attempt sweep.json never counted.
                on_change()
                while handing_out:  # each leaves handing_out once it is in flight
                    entry = handing_out[0]
                    in_flight[executor.submit(task_of(entry, data_dir))] = entry
                    handing_out.pop(0)
            # wake up now and then even with nothing done: a Dask cluster may have grown
            for future in executor.wait(list(in_flight), timeout=1.0):
                entry = in_flight.pop(future)
                entry.record(executor.outcome(future))
                done += 1
                if not quiet:
                    bar.write(f"[{done}/{total}] {entry.status_line()}")
                bar.update(1)
                on_change()
    except KeyboardInterrupt:
        for future, entry in in_flight.items():
            if future.done():  # came back as the interrupt did: keep it
                entry.record(executor.outcome(future))
            else:
                entry.state = "pending"
        for entry in handing_out:  # counted, but never given to a worker
            if not any(entry is given for given in in_flight.values()):
                entry.state, entry.attempts = "pending", entry.attempts - 1
        on_change()
        executor.abort()
        raise
    finally:
        bar.close()
    return entries


# --- the sweep folder ---------------------------------------------------------------------------

def load_state(out: Path) -> list[dict]:
    """The points a sweep folder's sweep.json lists ([] when there is none)."""
    path = out / STATE_FILE
    if not path.exists():
        return []
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        points = data["points"]
        assert data.get("format") == FORMAT and isinstance(points, list)
        return [{"name": p["name"], "settings": p["settings"], "attempts": p.get("attempts", 0),
                 "resumed_from": p.get("resumed_from"), "worker": p.get("worker")}
                for p in points]
    except (ValueError, KeyError, TypeError, AssertionError) as error:
        raise RecordError(f"{path} is damaged or not a numpy-adam sweep file ({error}); remove "
                          "it and give the spec again (finished runs are kept and reused)"
                          ) from None


def write_state(out: Path, entries: list[Entry], executor_text: str) -> Path:
    counts = {s: sum(e.state == s for e in entries) for s in STATES}
    return atomic_write_json(out / STATE_FILE, {
        "format": FORMAT, "updated": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "executor": executor_text, "counts": counts, "points": [e.to_json() for e in entries]})


def sweep_entries(spec: dict | None, out: Path) -> list[Entry]:
    """The sweep's points — those sweep.json lists, then the spec's new ones — with their
    state taken from their run folders; raises SettingsError when there are none and
    FileExistsError when a folder holds a run with other settings."""
    saved = load_state(out)
    points: list[Point] = [point_from_settings(p["settings"], f"{out / STATE_FILE}, point "
                                               f"{p['name']}") for p in saved]
    known = {p.name for p in points}
    if spec is not None:
        points += [p for p in expand(spec) if p.name not in known]
    if not points:
        raise SettingsError(f"no points to run: give a spec file or --set/--grid/--point "
                            f"(or --out a sweep folder to continue; {out} holds no "
                            f"{STATE_FILE})")
    history = {p["name"]: p for p in saved}
    entries = []
    for point in points:
        entry = Entry(point.name, point.config, out / point.name)
        entry.attempts = int(history.get(point.name, {}).get("attempts") or 0)
        entry.resumed_from = history.get(point.name, {}).get("resumed_from")
        entry.worker = history.get(point.name, {}).get("worker")
        state = folder_state(entry.run_dir, point.config)
        if state in ("finished", "diverged"):
            summary = json.loads((entry.run_dir / "summary.json").read_text(encoding="utf-8"))
            entry.numbers = {k: v for k, v in summary_numbers(summary).items() if v is not None}
            if state == "finished":
                entry.state = "finished"
            else:
                entry.state, entry.kind, entry.error_type = "failed", "diverged", "TrainingDiverged"
                entry.error = (f"diverged ({summary.get('message')}); remove {entry.run_dir} "
                               "to run it anew")
        entries.append(entry)
    return entries


def check_before_running(entries: list[Entry], at_once: int | None = None) -> None:
    """What can be refused before anything runs, beyond TrainConfig: the memory a CNN run
    needs — alone, and for the ``at_once`` largest runs side by side on this machine — and a
    schedule that does not fit a run's length (SettingsError naming the point)."""
    from ...training.build import check_schedule
    from ...training.errors import InsufficientMemory
    from ...training.memory import available_bytes, check_memory, training_bytes

    pending = [e for e in entries if e.state == "pending"]
    for entry in pending:
        c = entry.config
        try:
            check_memory(c.model, c.batch_size, c.channels, c.kernel_size)
            if c.steps is not None:
                check_schedule(c, c.steps)
        except SettingsError as error:
            raise SettingsError(f"sweep point {entry.name}: {error}") from None
    if at_once and at_once > 1 and pending:
        sizes = sorted((training_bytes(e.config.model, e.config.batch_size, e.config.channels,
                                       e.config.kernel_size) for e in pending), reverse=True)
        need, have = sum(sizes[:at_once]), available_bytes()
        if have is not None and need > have:
            raise InsufficientMemory(
                f"{min(at_once, len(sizes))} runs at once need about {need / 2**30:.1f} GiB, but "
                f"only {have / 2**30:.1f} GiB of memory is available; give fewer --jobs")


def check_data(entries: list[Entry], data_dir) -> None:
    """CIFAR-10 is there (or downloaded now, once) when a pending point needs it, so workers
    neither race to download it nor all fail the same way; raises the dataset's error."""
    if any(e.state == "pending" and e.config.model == "cnn" for e in entries):
        from ...datasets.cifar10 import load_cifar10

        load_cifar10(data_dir, split="test")


def run_sweep(spec: dict | None, out, executor, *, data_dir=None, quiet: bool = False,
              dry_run: bool = False) -> list[Entry]:
    """Run the sweep ``spec`` describes (None: the one saved in ``out``) into ``out``.

    executor: a :mod:`.executors` executor, not yet entered
    dry_run:  write sweep.json with every point's state and run nothing
    returns:  the entries, each finished or failed (or pending after a dry run); raises
              SettingsError for a bad spec or point before anything runs
    """
    from ...training.lock import RunLock
    from ...training.run_folder import check_out_dir, remove_stale_temp_files

    out = check_out_dir(out).absolute()  # workers elsewhere see the same absolute paths
    if data_dir is not None:
        data_dir = Path(data_dir).expanduser().absolute()
    entries = sweep_entries(spec, out)  # validates every point: still nothing written
    check_before_running(entries, getattr(executor, "jobs", None) or
                         getattr(executor, "local_workers", None))
    out.mkdir(parents=True, exist_ok=True)
    with RunLock(out):
        remove_stale_temp_files(out)  # of a sweep.json write a kill interrupted
        write_state(out, entries, "none yet")
        if dry_run:
            return entries
        if getattr(executor, "address", None) is None:  # workers share this machine's disk
            check_data(entries, data_dir)
        began = time.perf_counter()
        with executor:
            text = executor.describe()
            if not quiet:
                waiting = sum(e.state == "pending" for e in entries)
                print(f"sweep {out}: {len(entries)} points, {waiting} to run, on {text}",
                      flush=True)
            execute(entries, executor, data_dir=data_dir, quiet=quiet, desc="sweep",
                    on_change=lambda: write_state(out, entries, text))
        if not quiet:
            print(f"sweep {out}: done in {time.perf_counter() - began:.0f} s", flush=True)
    return entries
