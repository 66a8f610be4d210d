"""Every failure the CLI expects, as a person meets it: exit status 2 for bad usage and 1 for
bad data or state, a short message that names the problem, no traceback, and nothing left
behind that blocks a corrected retry with the same --out."""
import errno
import pickle
from types import SimpleNamespace

import numpy as np
import pytest

from numpy_adam.cli import main
from numpy_adam.datasets import download
from numpy_adam.records import atomic
from numpy_adam.training.lock import RunLock

QUAD = ["--model", "quadratic", "--steps", "30", "--quiet"]


def cli(argv):
    """(exit status, stderr) of ``numpy-adam ARGV`` run in this process."""
    try:
        return main(argv), None
    except SystemExit as exit_info:  # argparse's usage errors
        return exit_info.code, None


def _quadratic_run(ctx, *extra):
    assert main(["train", *QUAD, "--out", str(ctx.out), *extra]) == 0


def _damaged_checkpoint(ctx):
    _quadratic_run(ctx)
    (ctx.out / "checkpoint.npz").write_bytes(b"not a zip file")


def _data_dir(ctx, write_first_batch):
    """A python-layout folder with every file present; data_batch_1 (read first) as given."""
    folder = ctx.tmp / "data" / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    for name in ("data_batch_1", "data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5",
                 "test_batch"):
        (folder / name).write_bytes(b"")
    write_first_batch(folder / "data_batch_1")


class _Evil:
    def __reduce__(self):
        return (print, ("this must never run",))


def _locked(ctx):
    ctx.out.mkdir()
    ctx.keep = RunLock(ctx.out).acquire()  # released by the fixture


def _fail_writes(monkeypatch, err, text):
    def refuse(*args, **kwargs):
        raise OSError(err, text)
    monkeypatch.setattr(atomic.tempfile, "mkstemp", refuse)


def _diverged_at_first_step(ctx):
    assert main(["train", *QUAD, "--x0", "1e200", "--out", str(ctx.out)]) == 1


# (id, argv with OUT/DATA/FILE placeholders, setup(ctx) or None, status, message regex,
#  whether OUT may hold a run afterwards: only where the case put one there itself)
CASES = [
    # --- bad usage: exit 2, nothing written ---
    ("lr", ["train", "--out", "OUT", "--lr", "-1"], None, 2, "lr must be a finite number >= 0"),
    ("beta1", ["train", "--out", "OUT", "--beta1", "1.0"], None, 2, r"beta1 must be .*\[0, 1\)"),
    ("beta2-nan", ["train", "--out", "OUT", "--beta2", "nan"], None, 2, "beta2 must be"),
    ("batch-0", ["train", "--out", "OUT", "--batch-size", "0"], None, 2, "batch_size must be"),
    ("batch-1", ["train", "--out", "OUT", "--batch-size", "1"], None, 2,
     "batch_size must be at least 2 for the CNN"),
    ("optimizer", ["train", "--out", "OUT", "--optimizer", "adamax"], None, 2, "invalid choice"),
    ("centered", ["train", "--out", "OUT", "--centered"], None, 2,
     "centered must be False unless optimizer is 'rmsprop'"),
    ("msvag-beta", ["train", *QUAD, "--out", "OUT", "--optimizer", "msvag", "--beta1", "0"], None,
     2, r"beta1 must be a number in \(0, 1\), got 0"),
    ("steps-and-epochs", ["train", "--out", "OUT", "--steps", "10", "--epochs", "1"], None, 2,
     "not allowed with argument"),
    ("quadratic-epochs", ["train", "--out", "OUT", "--model", "quadratic", "--epochs", "1"],
     None, 2, "epochs must be None for the quadratic"),
    ("nesterov", ["train", "--out", "OUT", "--nesterov"], None, 2, "nesterov must be False"),
    ("unknown-option", ["train", "--out", "OUT", "--no-such-option"], None, 2, "unrecognized"),
    ("checkpoint-every", ["train", "--out", "OUT", "--checkpoint-every", "0"], None, 2,
     "checkpoint_every must be a positive integer"),
    ("sample", ["train", "--out", "OUT", "--sample-per-tensor", "-1"], None, 2,
     "sample_per_tensor must be"),
    ("eval-every", ["train", "--out", "OUT", "--eval-every", "0"], None, 2, "eval_every must be"),
    ("out-empty", ["train", *QUAD, "--out", ""], None, 2, "--out must name a folder"),
    ("out-file", ["train", *QUAD, "--out", "FILE"], None, 2, "is a file, not a folder"),
    ("out-below-file", ["train", *QUAD, "--out", "FILE/sub"], None, 2, "lies below .*file"),
    ("memory", ["train", "--out", "OUT", "--batch-size", "300000"], None, 2,
     r"batch size 300000 needs about \d+\.\d GiB, but only"),
    ("extend-alone", ["train", *QUAD, "--out", "OUT", "--extend"], None, 2,
     "--extend continues a saved run"),
    ("resume-mismatch", ["train", "--out", "OUT", "--resume", "--lr", "0.5"], _quadratic_run, 2,
     r"differ from the saved run \(lr: saved 0.001, given 0.5\)"),
    ("lr-schedule", ["train", "--out", "OUT", "--lr-schedule", "linear"], None, 2,
     "invalid choice: 'linear'"),
    ("lr-decay", ["train", "--out", "OUT", "--lr-schedule", "step", "--lr-decay", "0"], None, 2,
     "lr_decay must be a finite number > 0, got 0"),
    ("lr-warmup-start", ["train", "--out", "OUT", "--lr-warmup-start", "1.5"], None, 2,
     r"lr_warmup_start must be a number in \(0, 1\]"),
    ("warmup-too-long", ["train", *QUAD, "--out", "OUT", "--lr-schedule", "warmup-cosine",
                         "--lr-warmup-steps", "30"], None, 2,
     "lr_warmup_steps must be below the run's 30 steps, got 30"),
    ("decay-on", ["train", "--out", "OUT", "--weight-decay-on", "biases"], None, 2,
     "invalid choice: 'biases'"),
    ("reproduce-seed", ["reproduce", "--seed", "-1"], None, 2, "--seed must be >= 0"),
    ("reproduce-mode", ["reproduce", "--quick", "--full"], None, 2, "not allowed with argument"),
    ("gradcheck-seed", ["gradcheck", "--seed", "-5"], None, 2, "--seed must be >= 0, got -5"),
    ("plot-gamma", ["plot", "OUT", "--gamma", "median"], None, 2, "invalid choice: 'median'"),
    ("command", ["frobnicate"], None, 2, "invalid choice: 'frobnicate'"),
    # --- bad data or state: exit 1 ---
    ("no-data", ["train", "--steps", "1", "--out", "OUT", "--data-dir", "DATA/nowhere"], None, 1,
     r"(?s)CIFAR-10 is not under .*nowhere.*--data-dir DIR.*NUMPY_ADAM_DATA"),
    ("truncated-data", ["train", "--steps", "1", "--out", "OUT", "--data-dir", "DATA"],
     lambda ctx: _data_dir(ctx, lambda p: p.write_bytes(pickle.dumps({"data": 1})[:-3])), 1,
     "data_batch_1: the pickle is truncated or corrupt"),
    ("unsafe-pickle", ["train", "--steps", "1", "--out", "OUT", "--data-dir", "DATA"],
     lambda ctx: _data_dir(ctx, lambda p: p.write_bytes(pickle.dumps(_Evil()))), 1,
     r"data_batch_1.*builtins.*print"),
    ("missing-batch", ["train", "--steps", "1", "--out", "OUT", "--data-dir", "DATA"],
     lambda ctx: _data_dir(ctx, lambda p: p.unlink()), 1, r"missing train batch file\(s\)"),
    ("damaged-checkpoint", ["train", "--out", "OUT", "--resume"], _damaged_checkpoint, 1,
     "checkpoint .* is damaged or not a numpy-adam checkpoint"),
    ("resume-nothing", ["train", "--out", "OUT", "--resume"], None, 1, "no run was started"),
    ("run-exists", ["train", *QUAD, "--out", "OUT"], _quadratic_run, 1,
     "already holds a run: pass --resume"),
    ("locked", ["train", *QUAD, "--out", "OUT"], _locked, 1, "is being written by process"),
    ("diverged", ["train", *QUAD, "--optimizer", "sgd", "--lr", "1e200", "--out", "OUT"], None,
     1, r"training diverged at step \d+: .* not finite|the loss is"),
    ("plot-missing", ["plot", "OUT"], None, 1, "run directory .* does not exist"),
    ("plot-diverged", ["plot", "OUT", "--out", "FIG.png"], _diverged_at_first_step, 1,
     r"has no recorded steps to plot \(step 1: the loss is inf\)"),
    ("plot-damaged", ["plot", "OUT", "--out", "FIG.png"],
     lambda ctx: (_quadratic_run(ctx), (ctx.out / "metrics.npz").write_bytes(b"junk")), 1,
     "metrics.npz: not a readable .npz file"),
]
HOLDS_RUN_ON_PURPOSE = {"resume-mismatch", "damaged-checkpoint", "run-exists", "plot-diverged",
                        "plot-damaged", "diverged"}


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_expected_failures_exit_with_a_short_message_and_leave_nothing_in_the_way(
        case, tmp_path, capsys, monkeypatch):
    name, argv, setup, status, pattern = case
    monkeypatch.setattr(download, "fetch", lambda *a, **k: (_ for _ in ()).throw(
        OSError("network unreachable (test)")))  # never touch the network
    ctx = SimpleNamespace(tmp=tmp_path, out=tmp_path / "run", keep=None)
    (tmp_path / "file").write_text("x")
    monkeypatch.chdir(tmp_path)
    if setup is not None:
        setup(ctx)
        capsys.readouterr()
    paths = {"OUT": str(ctx.out), "DATA": str(tmp_path / "data"), "FILE": "file",
             "FIG.png": str(tmp_path / "fig.png")}
    argv = [paths.get(a, a.replace("FILE", "file").replace("DATA", str(tmp_path / "data")))
            for a in argv]
    try:
        code, _ = cli(argv)
    finally:
        if ctx.keep is not None:
            ctx.keep.release()
    err = capsys.readouterr().err
    assert code == status, f"{name}: exit {code}, expected {status}; stderr: {err}"
    assert "Traceback" not in err, f"{name}: a traceback for an expected failure:\n{err}"
    import re

    assert re.search(pattern, err), f"{name}: {pattern!r} not in:\n{err}"
    assert len(err.strip().splitlines()) <= 6, f"{name}: a long message:\n{err}"
    if name not in HOLDS_RUN_ON_PURPOSE:
        assert not (ctx.out / "checkpoint.npz").exists() and \
            not (ctx.out / "config.json").exists(), f"{name}: left a run in {ctx.out}"
    assert not (tmp_path / "data" / "nowhere").exists(), "a failed download creates no folder"


@pytest.mark.parametrize("err, text", [(errno.ENOSPC, "No space left on device"),
                                       (errno.EROFS, "Read-only file system")])
def test_a_full_or_read_only_disk_is_a_one_line_error_and_a_clean_start(tmp_path, capsys,
                                                                        monkeypatch, err, text):
    _fail_writes(monkeypatch, err, text)
    out = tmp_path / "run"
    assert main(["train", *QUAD, "--out", str(out)]) == 1
    message = capsys.readouterr().err
    assert text in message and "Traceback" not in message, message
    assert not out.exists(), "the failed start leaves no folder behind"
    monkeypatch.undo()
    assert main(["train", *QUAD, "--out", str(out)]) == 0, "the retry works"


def test_debug_shows_the_traceback(tmp_path):
    with pytest.raises(FileNotFoundError, match="no run was started"):
        main(["train", "--out", str(tmp_path / "none"), "--resume", "--debug"])


def test_bare_resume_continues_with_the_saved_settings_and_extend_runs_further(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *QUAD, "--lr", "0.05", "--out", str(out)]) == 0
    assert main(["train", "--out", str(out), "--resume", "--quiet"]) == 0
    assert main(["train", "--out", str(out), "--resume", "--steps", "50", "--extend",
                 "--quiet"]) == 0
    whole = tmp_path / "whole"
    assert main(["train", "--model", "quadratic", "--steps", "50", "--lr", "0.05", "--quiet",
                 "--out", str(whole)]) == 0
    a, b = (np.load(p / "metrics.npz") for p in (out, whole))
    for key in ("loss", "x", "update"):
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)


def test_every_train_option_states_its_default(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--help"])
    text = " ".join(capsys.readouterr().out.split("options:", 1)[1].split())
    for flag in ("--model", "--optimizer", "--lr", "--beta1", "--beta2", "--eps", "--momentum",
                 "--dampening", "--nesterov", "--centered", "--weight-decay", "--batch-size", "--steps",
                 "--epochs", "--seed", "--eval-every", "--checkpoint-every",
                 "--sample-per-tensor", "--x0", "--label", "--data-dir", "--quiet"):
        after = text.split(f" {flag} ", 1)[1].split(" --", 1)[0]
        assert "(default" in after, f"{flag}: no default in its help: {after!r}"
