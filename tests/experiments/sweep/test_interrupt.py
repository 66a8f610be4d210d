"""A sweep killed or interrupted from outside continues at the next invocation, nothing run twice.

The sweep runs as a subprocess that the test kills itself (SIGKILL: no cleanup at all) or
interrupts (SIGINT: Ctrl-C), once one run has finished and another is part-way through."""
import fcntl
import json
import os
import signal
import subprocess
import sys
import time

import pytest

from numpy_adam.cli import main
from numpy_adam.training.checkpoint import load_checkpoint


STEPS = 8000  # ~2 s per run: long enough to catch one part-way


def _argv(out):
    return ["sweep", "--out", str(out), "--set", "model=quadratic", "--set", f"steps={STEPS}",
            "--set", "noise_std=0.1", "--set", "checkpoint_every=500", "--grid", "seed=0,1,2,3",
            "--jobs", "2", "--quiet"]


def _status(folder):
    """"finished", the checkpoint step of a run under way, or None."""
    summary = folder / "summary.json"
    if summary.exists():
        return json.loads(summary.read_text())["status"]
    try:
        return int(load_checkpoint(folder / "checkpoint.npz")["step"])
    except (FileNotFoundError, ValueError, KeyError, OSError):
        return None


def _stop_midway(out, sig, signal_when):
    """Start the sweep as a subprocess and send it ``sig`` once a run has finished and another
    has a checkpoint past step 1000; returns the process after it has ended."""
    def midway():
        states = [_status(f) for f in out.iterdir() if f.is_dir()] if out.exists() else []
        if "finished" in states and any(isinstance(s, int) and s >= 1000 for s in states):
            return states
        return None

    proc, _ = signal_when(_argv(out), midway, sig)
    return proc


def _wait_for_writers_to_go(out, timeout=120):
    """Every run folder's lock is free: no worker writes any more (they die with the sweep)."""
    deadline = time.monotonic() + timeout
    for lock in out.glob("*/.lock"):
        with open(lock) as f:
            while True:
                try:
                    fcntl.flock(f.fileno(), fcntl.LOCK_SH | fcntl.LOCK_NB)
                    fcntl.flock(f.fileno(), fcntl.LOCK_UN)
                    break
                except BlockingIOError:
                    if time.monotonic() > deadline:
                        pytest.fail(f"{lock} is still held: a worker outlived the sweep")
                    time.sleep(0.05)


def _snapshot(out):
    snap = {}
    for folder in out.iterdir():
        if folder.is_dir():
            config = folder / "config.json"
            snap[folder.name] = {
                "status": _status(folder),
                "config": config.stat().st_mtime_ns if config.exists() else None,
                "metrics": (folder / "metrics.npz").stat().st_mtime_ns
                if (folder / "metrics.npz").exists() else None}
    return snap


@pytest.mark.slow
def test_a_killed_sweep_continues_with_nothing_run_twice(tmp_path, one_by_one, kit,
                                                          signal_when):
    out = tmp_path / "sweep"
    proc = _stop_midway(out, signal.SIGKILL, signal_when)
    assert proc.returncode == -signal.SIGKILL
    _wait_for_writers_to_go(out)
    before = _snapshot(out)
    json.loads((out / "sweep.json").read_text())  # whole, whenever the kill landed
    finished = {n for n, s in before.items() if s["status"] == "finished"}
    partial = {n: s["status"] for n, s in before.items() if isinstance(s["status"], int)}
    assert finished and partial, before

    assert main(_argv(out)) == 0
    state = kit.sweep_state(out)
    assert len(state) == 4 and all(p["state"] == "finished" for p in state.values()), state
    for name in finished:  # not run again: same files, one attempt
        assert _snapshot(out)[name]["metrics"] == before[name]["metrics"], name
        assert state[name]["attempts"] == 1, state[name]
    for name, step in partial.items():  # resumed from its checkpoint, not started over
        assert state[name]["attempts"] == 2 and state[name]["resumed_from"] == step, state[name]
        assert _snapshot(out)[name]["config"] == before[name]["config"], name
    for seed in range(4):  # and every record is the one an uninterrupted train() writes
        folder = one_by_one(kit.quad(steps=STEPS, checkpoint_every=500, x0=(1.0,), seed=seed))
        kit.assert_same_record(out / folder.name, folder)


@pytest.mark.slow
def test_ctrl_c_stops_the_workers_and_leaves_a_sweep_to_continue(tmp_path, kit, signal_when):
    out = tmp_path / "sweep"
    proc = _stop_midway(out, signal.SIGINT, signal_when)
    assert proc.returncode == 130, proc.stderr.read()
    err = proc.stderr.read()
    assert "numpy-adam sweep: interrupted" in err and f"numpy-adam sweep --out {out}" in err, err
    assert "Traceback" not in err
    _wait_for_writers_to_go(out)
    state = kit.sweep_state(out)
    # the runs in flight went back to pending (one that finished as the interrupt came may
    # be either: sweep.json reports, the run folders decide)
    assert {p["state"] for p in state.values()} <= {"finished", "pending"}, state
    finished = {n for n in state if _status(out / n) == "finished"}
    stamps = {n: (out / n / "metrics.npz").stat().st_mtime_ns for n in finished}
    assert main(_argv(out)) == 0
    state = kit.sweep_state(out)
    assert all(p["state"] == "finished" for p in state.values()), state
    assert {n: (out / n / "metrics.npz").stat().st_mtime_ns for n in finished} == stamps
    assert all(state[n]["attempts"] == 1 for n in finished), state
    assert not list(out.glob("*/.*.tmp")), "no half-written file is left"


@pytest.mark.slow
def test_a_worker_killed_mid_run_fails_its_runs_and_the_rest_go_on(tmp_path, kit):
    """A worker process that dies (the OOM killer, a crash) breaks the local pool: the runs in
    flight are reported failed, a fresh pool runs the others, and the next invocation resumes
    the failed ones from their checkpoints."""
    out = tmp_path / "sweep"
    proc = subprocess.Popen([sys.executable, "-m", "numpy_adam", *_argv(out)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    victim = None
    deadline = time.monotonic() + 600
    try:
        while victim is None and proc.poll() is None and time.monotonic() < deadline:
            for folder in (out.iterdir() if out.exists() else ()):
                status = _status(folder) if folder.is_dir() else None
                holder = (folder / ".lock").read_text() if (folder / ".lock").exists() else ""
                if isinstance(status, int) and status >= 1000 and holder.startswith("process "):
                    victim = (folder.name, int(holder.split()[1]))
                    os.kill(victim[1], signal.SIGKILL)
                    break
            time.sleep(0.02)
        stdout, stderr = proc.communicate(timeout=600)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert victim is not None, stderr
    assert proc.returncode == 1, stderr
    state = kit.sweep_state(out)
    assert state[victim[0]]["state"] == "failed", state[victim[0]]
    assert "worker process died" in state[victim[0]]["error"], state[victim[0]]
    failed = [n for n, p in state.items() if p["state"] == "failed"]
    assert len(failed) <= 2 and sum(p["state"] == "finished" for p in state.values()) >= 2, state
    _wait_for_writers_to_go(out)
    assert main(_argv(out)) == 0
    state = kit.sweep_state(out)
    assert all(p["state"] == "finished" for p in state.values()), state
    assert state[victim[0]]["attempts"] == 2 and state[victim[0]]["resumed_from"] >= 1000
