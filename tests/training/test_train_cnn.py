"""The CNN on real CIFAR-10 (slow): a short run of each optimizer, records, plot, resume."""
import os
import subprocess
import sys

import numpy as np
import pytest

from numpy_adam.training.config import TrainConfig
from numpy_adam.training.loop import train
from numpy_adam.records import STAT_KEYS, load_run
from numpy_adam.training.tasks import CifarData

pytestmark = pytest.mark.slow
DATA = os.environ.get("NUMPY_ADAM_DATA")


@pytest.fixture(scope="module")
def cifar():
    if not DATA or not os.path.isdir(os.path.join(DATA, "cifar-10-batches-py")):
        pytest.skip("real CIFAR-10 needed: set NUMPY_ADAM_DATA to a folder holding cifar-10-batches-py")
    return CifarData.load(DATA)


@pytest.mark.parametrize("optimizer, extra", [("adam", {}), ("sgd", {"momentum": 0.9, "lr": 1e-2})])
def test_short_run_learns_and_records_everything(cifar, tmp_path, optimizer, extra):
    config = TrainConfig(model="cnn", optimizer=optimizer, batch_size=16, steps=60, beta1=0.9,
                         beta2=0.999, **extra)
    run = train(config, tmp_path / optimizer, data=cifar, quiet=True)
    loss = run.metrics["loss"]
    assert loss[-20:].mean() < loss[:20].mean() - 0.1, f"loss did not decrease: {loss[:20].mean():.3f} " \
                                                       f"→ {loss[-20:].mean():.3f}"
    names = run.tensor_names
    assert names == ("conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"), names
    for key in STAT_KEYS:
        assert run.metrics[key].shape == (60, 4), (key, run.metrics[key].shape)
        assert np.all(np.isfinite(run.metrics[key])), f"{key} has non-finite entries"
    assert 0.0 <= run.summary["test_accuracy"] <= 1.0 and np.isfinite(run.summary["test_loss"])

    from numpy_adam.plots.spread_figure import main as plot_main

    (png,) = plot_main([run.path], tmp_path / f"{optimizer}.png")
    assert png.stat().st_size > 10_000, "the plot command must write a real PNG"


@pytest.mark.parametrize("betas", [(0.99, 0.99), (0.9, 0.999)])
def test_sampled_elements_satisfy_the_identity_on_real_data(cifar, tmp_path, betas):
    """Every recorded element-step of a real CNN run steps by 1/(√(γ²+1) + ε/|m̂|) within the
    rounding of θ, except (β1 ≠ β2 only) elements with v̂ < m̂²."""
    from numpy_adam.experiments.summary import run_numbers

    config = TrainConfig(model="cnn", optimizer="adam", batch_size=16, steps=40, beta1=betas[0],
                         beta2=betas[1])
    run = train(config, tmp_path / "adam", data=cifar, quiet=True)
    assert run.metrics["sample_m_hat"].shape == (40, 4 * 32), "32 elements of each of 4 weights"
    check = run_numbers(run)["sample_identity"]
    assert check["values"] == 40 * 128, check
    clamped = round(check["neg_var_share"] * check["values"])
    if betas[0] == betas[1]:
        assert clamped <= 128 and check["violations"] == 0, \
            f"β1 = β2: every element on the identity (v̂ < m̂² only by rounding at t = 1): {check}"
    else:
        assert check["violations"] <= clamped, f"only clamped elements may leave it: {check}"


def test_cnn_sigkill_then_resume_is_bitwise_identical(cifar, tmp_path, train_killed_after):
    # two parameter groups (decay on the weights only) and a step schedule: both resume exactly
    args = ["--model", "cnn", "--batch-size", "16", "--steps", "60", "--eval-every", "40",
            "--checkpoint-every", "10", "--data-dir", DATA, "--weight-decay", "0.01",
            "--weight-decay-on", "weights", "--lr-schedule", "step", "--lr-step-size", "15"]

    def cli(out, resume=False):
        command = [sys.executable, "-m", "numpy_adam", "train", *args, "--out", str(out),
                   "--quiet"] + (["--resume"] if resume else [])
        return subprocess.run(command, capture_output=True, text=True, timeout=600)

    saved = train_killed_after(tmp_path / "killed", args, step=10)
    assert saved in (10, 20, 30, 40, 50), saved
    resumed = cli(tmp_path / "killed", resume=True)
    assert resumed.returncode == 0, resumed.stderr
    whole = cli(tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    a, b = load_run(tmp_path / "killed"), load_run(tmp_path / "whole")
    np.testing.assert_allclose(np.unique(b.metrics["lr"]), [1e-6, 1e-5, 1e-4, 1e-3], rtol=1e-12)
    for key in b.metrics:
        np.testing.assert_array_equal(a.metrics[key], b.metrics[key], err_msg=key)
    assert a.summary["evaluations"] == b.summary["evaluations"]
    from numpy_adam.training.checkpoint import load_checkpoint

    pa = load_checkpoint(tmp_path / "killed" / "checkpoint.npz")["model"]
    pb = load_checkpoint(tmp_path / "whole" / "checkpoint.npz")["model"]
    for key in pb:
        np.testing.assert_array_equal(pa[key], pb[key], err_msg=key)


def test_batch_spread_probe_records_and_leaves_training_unchanged(cifar, tmp_path):
    base = dict(model="cnn", optimizer="adam", batch_size=16, steps=20, beta1=0.99, beta2=0.99)
    plain = train(TrainConfig(**base), tmp_path / "plain", data=cifar, quiet=True)
    probed = train(TrainConfig(**base, batch_spread=True), tmp_path / "probed", data=cifar,
                   quiet=True)
    for key in plain.metrics:
        np.testing.assert_array_equal(probed.metrics[key], plain.metrics[key], err_msg=key)
    for key in ("batch_mean_abs_g", "batch_sigma"):
        values = probed.metrics[key]
        assert values.shape == (20, 4) and np.all(np.isfinite(values)) and np.all(values > 0), key
    # fc2 comes after the last batchnorm: the per-sample mean is the minibatch gradient there,
    # whose size is of the order of the sampling spread s/√B it carries
    ratio = probed.metrics["batch_mean_abs_g"][:, 3] / (probed.metrics["batch_sigma"][:, 3] / 4.0)
    assert np.all((ratio > 0.3) & (ratio < 3.0)), ratio
