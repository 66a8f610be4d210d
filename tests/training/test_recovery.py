"""Runs that cannot be mixed or silently broken: one writer per folder, divergence anywhere in
the state, validation before anything is written, clean failed starts, resume from the saved
settings. Small synthetic CIFAR-shaped data keeps these fast."""
import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from numpy_adam.records import load_run
from numpy_adam.training import loop
from numpy_adam.training.checkpoint import load_checkpoint
from numpy_adam.training.config import TrainConfig
from numpy_adam.training.lock import RunLock, RunLocked
from numpy_adam.training.loop import TrainingDiverged, train

QUAD = TrainConfig(model="quadratic", optimizer="adam", lr=0.01, steps=40, checkpoint_every=10)


# --- one writer per folder -------------------------------------------------------------------

HOLD_LOCK = textwrap.dedent("""
    import sys, time
    from numpy_adam.training.lock import RunLock
    lock = RunLock(sys.argv[1]).acquire()
    print("locked", flush=True)
    time.sleep(120)
""")


def test_a_second_writer_fails_at_once_naming_the_holder_then_takes_over_a_dead_lock(tmp_path,
                                                                                    capsys):
    out = tmp_path / "run"
    out.mkdir()
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, str(out)], stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        began = time.monotonic()
        with pytest.raises(RunLocked, match=rf"{out} is being written by process {holder.pid}"):
            train(QUAD, out, quiet=True)
        assert time.monotonic() - began < 10, "the second writer must not wait"
        assert not (out / "config.json").exists(), "the refused writer wrote nothing"
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    run = train(QUAD, out)  # the kernel released the dead holder's lock
    assert run.summary["status"] == "finished"
    assert f"took over the lock of {out} left by process {holder.pid}" in capsys.readouterr().out


def test_the_lock_is_exclusive_within_one_process_too(tmp_path):
    with RunLock(tmp_path):
        with pytest.raises(RunLocked):
            RunLock(tmp_path).acquire()
    with RunLock(tmp_path) as again:  # released: free again, and no holder left to report
        assert again.note == ""


# --- divergence anywhere in the state ------------------------------------------------------------

def test_batchnorm_running_statistics_overflow_is_divergence(tmp_path, tiny_cifar):
    """SGD at α = 3e6: the loss stays finite while bn2.running_var overflows. The run must stop,
    name the buffer, and keep the last good checkpoint (it used to finish at chance accuracy)."""
    config = TrainConfig(model="cnn", optimizer="sgd", momentum=0.9, lr=3e6, steps=60,
                         batch_size=16, checkpoint_every=2)
    with np.errstate(over="ignore", invalid="ignore"), \
            pytest.raises(TrainingDiverged, match=r"step \d+: buffer bn\d\.running_var is not finite"):
        train(config, tmp_path / "run", data=tiny_cifar, quiet=True)
    saved = load_checkpoint(tmp_path / "run" / "checkpoint.npz")
    for name, array in saved["model"].items():
        assert np.all(np.isfinite(array)), f"the kept checkpoint holds a non-finite {name}"
    run = load_run(tmp_path / "run")
    assert run.summary["status"] == "diverged" and "running_var" in run.summary["message"]


def test_non_finite_optimizer_state_is_never_checkpointed(tmp_path, monkeypatch):
    calls = {"n": 0}

    def poisoned(optimizer):
        calls["n"] += 1
        return "optimizer state v" if calls["n"] >= 2 else None

    monkeypatch.setattr(loop, "first_nonfinite_optimizer_state", poisoned)
    with pytest.raises(TrainingDiverged, match=r"step 20: optimizer state v is not finite"):
        train(QUAD, tmp_path / "run", quiet=True)
    assert load_checkpoint(tmp_path / "run" / "checkpoint.npz")["step"] == 10


# --- validation before anything is written; clean failed starts -----------------------------------

@pytest.mark.parametrize("config, error, match", [
    (TrainConfig(model="cnn", batch_size=300, steps=1), ValueError,
     "batch_size must be at most the 256 training images"),
])
def test_settings_that_do_not_fit_the_data_are_refused_before_the_folder_exists(
        tmp_path, tiny_cifar, config, error, match):
    with pytest.raises(error, match=match):
        train(config, tmp_path / "run", data=tiny_cifar, quiet=True)
    assert not (tmp_path / "run").exists()


def test_a_batch_that_cannot_fit_in_memory_is_refused_with_the_estimate(tmp_path, tiny_cifar,
                                                                        monkeypatch):
    from numpy_adam.training import memory

    half_gib = 2 ** 29
    assert memory.training_bytes("cnn", 250) > half_gib, "the test needs an estimate above it"
    monkeypatch.setattr(memory, "available_bytes", lambda: half_gib)
    with pytest.raises(MemoryError, match=r"batch size 250 needs about 0.\d GiB, but only 0.5 GiB"):
        train(TrainConfig(model="cnn", batch_size=250, steps=1), tmp_path / "run",
              data=tiny_cifar, quiet=True)
    assert not (tmp_path / "run").exists()


def test_the_memory_estimate_is_linear_in_the_batch_and_counts_the_im2col_matrices():
    from numpy_adam.training.memory import cnn_bytes_per_sample, training_bytes

    # conv1 columns 3·25·1024, conv2 columns 16·25·256 twice, 2 × (16·1024 + 32·256) maps, input
    floats = 3 * 25 * 1024 + 2 * 16 * 25 * 256 + 2 * (16 * 1024 + 32 * 256) + 3 * 1024
    assert cnn_bytes_per_sample() == 4 * floats
    assert training_bytes("cnn", 200) - training_bytes("cnn", 100) == 100 * 4 * floats
    assert training_bytes("quadratic", 10 ** 6) == training_bytes("quadratic", 1)


@pytest.mark.parametrize("pre_existing", [False, True])
def test_a_start_that_fails_in_its_first_step_leaves_nothing_that_blocks_a_retry(
        tmp_path, monkeypatch, pre_existing):
    out = tmp_path / "run"
    if pre_existing:
        out.mkdir()
        (out / "notes.txt").write_text("mine")
    from numpy_adam.training import tasks

    def interrupted(self):
        raise KeyboardInterrupt

    with monkeypatch.context() as m:
        m.setattr(tasks.QuadraticTask, "train_step", interrupted)
        with pytest.raises(KeyboardInterrupt):
            train(QUAD, out, quiet=True)
    if pre_existing:
        assert sorted(p.name for p in out.iterdir()) == ["notes.txt"], "only the run's files go"
    else:
        assert not out.exists(), "the folder this run created goes"
    assert train(QUAD, out, quiet=True).summary["status"] == "finished", "the retry works"


@pytest.mark.parametrize("out, match", [("", "empty"), ("file", "is a file"),
                                        ("file/sub", "lies below")])
def test_bad_out_is_refused_before_anything_is_written(tmp_path, monkeypatch, out, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match=match):
        train(QUAD, out, quiet=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


# --- resume from the saved settings ---------------------------------------------------------------

def test_bare_resume_reads_the_saved_settings_and_extension_is_explicit(tmp_path):
    out = tmp_path / "run"
    train(QUAD, out, quiet=True)
    (out / ".checkpoint.npz.abc123.tmp").write_bytes(b"left by a killed write")
    again = train(None, out, resume=True, quiet=True)
    assert again.summary["steps"] == 40 and not list(out.glob(".*.tmp")), "stale temp files go"
    longer = TrainConfig(**{**QUAD.to_json(), "steps": 80, "x0": (1.0,), "channels": (16, 32)})
    with pytest.raises(ValueError, match=r"steps: saved 40, given 80"):
        train(longer, out, resume=True, quiet=True)
    extended = train(longer, out, resume=True, extend=True, quiet=True)
    assert extended.summary["steps"] == 80
    whole = train(longer, tmp_path / "whole", quiet=True)
    for key in ("loss", "update", "x"):
        np.testing.assert_array_equal(extended.metrics[key], whole.metrics[key], err_msg=key)


def test_resume_refuses_contradicting_settings_listing_each(tmp_path):
    out = tmp_path / "run"
    train(QUAD, out, quiet=True)
    other = TrainConfig(**{**QUAD.to_json(), "lr": 0.2, "seed": 3, "x0": (1.0,),
                           "channels": (16, 32)})
    with pytest.raises(ValueError, match=r"lr: saved 0.01, given 0.2, seed: saved 0, given 3"):
        train(other, out, resume=True, quiet=True)
    with pytest.raises(ValueError, match="only makes sense with resume"):
        train(QUAD, tmp_path / "x", extend=True, quiet=True)
    with pytest.raises(FileNotFoundError, match="no run was started"):
        train(None, tmp_path / "nothing", resume=True, quiet=True)
    assert not (tmp_path / "nothing").exists()


def test_files_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        train(QUAD, tmp_path / "run", quiet=True)
    finally:
        os.umask(old)
    for name in ("config.json", "metrics.npz", "summary.json", "checkpoint.npz"):
        assert (tmp_path / "run" / name).stat().st_mode & 0o777 == 0o644, name
