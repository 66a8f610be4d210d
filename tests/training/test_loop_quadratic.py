"""The training engine on f(x) = x²: the note's Figure 3 claims, resume after SIGKILL, NaN guard."""
import os
import subprocess
import sys

import numpy as np
import pytest

from numpy_adam.training.checkpoint import load_checkpoint
from numpy_adam.training.config import TrainConfig
from numpy_adam.training.loop import TrainingDiverged, train
from numpy_adam.records import load_run

ADAM = TrainConfig(model="quadratic", optimizer="adam", lr=0.01, beta1=0.99, beta2=0.99, eps=1e-12,
                   steps=1500, checkpoint_every=100)
GD = TrainConfig(model="quadratic", optimizer="sgd", lr=0.1, beta1=0.99, beta2=0.99, steps=300)


def test_adam_step_is_one_over_sqrt_gamma_squared_plus_one_per_element(tmp_path):
    run = train(ADAM, tmp_path / "adam", quiet=True)
    gamma, update = run.metrics["gamma"][:, 0], run.metrics["update"][:, 0]
    mean_abs_m = run.metrics["mean_abs_m"][:, 0]
    # exact form with ε: |Δ|/α = 1/(√(γ²+1) + ε/|m̂|); with ε = 1e-12 the ε term is below 1e-6 here
    predicted = 1.0 / (np.sqrt(gamma ** 2 + 1.0) + ADAM.eps / mean_abs_m)
    np.testing.assert_allclose(update, predicted, rtol=0, atol=1e-12,
                               err_msg="per-element identity with the ε term")
    np.testing.assert_allclose(update, 1.0 / np.sqrt(gamma ** 2 + 1.0), rtol=0, atol=1e-6,
                               err_msg="|Δθ|/α = 1/√(γ²+1) to 1e-6 at every step")
    assert np.all(run.metrics["neg_var_frac"] == 0), "β1 = β2 never gives v̂ < m̂²"


def test_gd_gradient_decays_monotonically_and_adam_grows_back(tmp_path):
    gd = train(GD, tmp_path / "gd", quiet=True)
    adam = train(ADAM, tmp_path / "adam", quiet=True)
    gd_abs = np.abs(gd.metrics["grad"])
    assert np.all(np.diff(gd_abs) < 0), "GD's |gradient| must decrease at every step"
    assert gd_abs[-1] < 1e-6, f"GD's final |gradient| {gd_abs[-1]:.3g} must be < 1e-6"
    adam_abs = np.abs(adam.metrics["grad"])
    first_min = int(np.argmax(np.diff(adam_abs) > 0))  # first step after which |g| grows
    assert first_min > 0 and adam_abs[first_min + 1] > adam_abs[first_min], \
        "Adam's |gradient| must grow back after a minimum"
    signs = np.sign(adam.metrics["grad"])
    assert np.count_nonzero(signs[1:] != signs[:-1]) >= 5, "Adam's gradient changes sign repeatedly"
    assert adam_abs[-1] > 1e3 * gd_abs[-1], "Adam has not settled where GD has"


def test_sgd_probe_records_statistics(tmp_path):
    run = train(GD, tmp_path / "gd", quiet=True)
    for key in ("mean_abs_m", "sigma", "gamma", "update"):
        assert np.all(np.isfinite(run.metrics[key][1:])), f"SGD probe statistic {key} not finite"
    # GD's step is α·g, so |Δθ|/α = |g|
    np.testing.assert_allclose(run.metrics["update"][:, 0], np.abs(run.metrics["grad"]), rtol=1e-12)


QUADRATIC_CLI = ["--model", "quadratic", "--optimizer", "adam", "--lr", "0.01", "--beta1", "0.99",
                 "--beta2", "0.99", "--steps", "4000", "--checkpoint-every", "64"]


def _train_cli(out, resume=False):
    args = [sys.executable, "-m", "numpy_adam", "train", *QUADRATIC_CLI, "--out", str(out),
            "--quiet"] + (["--resume"] if resume else [])
    return subprocess.run(args, env=dict(os.environ), capture_output=True, text=True, timeout=300)


def test_sigkill_then_resume_is_bitwise_identical(tmp_path, train_killed_after):
    saved = train_killed_after(tmp_path / "killed", QUADRATIC_CLI, step=128)
    assert saved % 64 == 0 and 128 <= saved < 4000, saved
    resumed = _train_cli(tmp_path / "killed", resume=True)
    assert resumed.returncode == 0, resumed.stderr
    whole = _train_cli(tmp_path / "whole")
    assert whole.returncode == 0, whole.stderr
    a, b = load_run(tmp_path / "killed"), load_run(tmp_path / "whole")
    assert a.metrics.keys() == b.metrics.keys()
    for key in a.metrics:
        np.testing.assert_array_equal(a.metrics[key], b.metrics[key], err_msg=key)
    pa = load_checkpoint(tmp_path / "killed" / "checkpoint.npz")
    pb = load_checkpoint(tmp_path / "whole" / "checkpoint.npz")
    np.testing.assert_array_equal(pa["model"]["x"], pb["model"]["x"])


def test_run_directory_is_not_overwritten_without_resume(tmp_path):
    train(GD, tmp_path / "run", quiet=True)
    with pytest.raises(FileExistsError, match="--resume"):
        train(GD, tmp_path / "run", quiet=True)


def test_resume_with_other_settings_is_refused(tmp_path):
    train(GD, tmp_path / "run", quiet=True)
    with pytest.raises(ValueError, match="lr"):
        train(TrainConfig(**{**GD.to_json(), "lr": 0.2, "x0": (1.0,), "channels": (16, 32)}),
              tmp_path / "run", resume=True, quiet=True)


def test_nan_guard_stops_with_message_and_keeps_a_loadable_checkpoint(tmp_path):
    absurd = TrainConfig(model="quadratic", optimizer="sgd", lr=1e200, steps=50, checkpoint_every=1)
    with pytest.raises(TrainingDiverged, match=r"diverged at step \d+.*checkpoint"):
        train(absurd, tmp_path / "nan", quiet=True)
    saved = load_checkpoint(tmp_path / "nan" / "checkpoint.npz")
    assert np.all(np.isfinite(saved["model"]["x"])), "the kept checkpoint holds finite parameters"
    run = load_run(tmp_path / "nan")
    assert run.summary["status"] == "diverged" and "step" in run.summary["message"]
    assert np.all(np.isfinite(run.metrics["loss"])), "only good steps are recorded"


def test_summary_numbers_report_the_identity_for_adam_only(tmp_path):
    from numpy_adam.experiments.summary import run_numbers

    adam = run_numbers(train(ADAM, tmp_path / "adam", quiet=True))
    gd = run_numbers(train(GD, tmp_path / "gd", quiet=True))
    assert adam["residual_per_element"]["max_abs"] < 1e-12, adam["residual_per_element"]
    assert gd["residual_per_element"] is None, "the identity is Adam's; SGD has no such residual"
    assert adam["oscillation"]["grows_back_after_min"] and not gd["oscillation"]["grows_back_after_min"]


# --- learning-rate schedules in runs -------------------------------------------------------------

def test_records_show_the_schedule_step_by_step(tmp_path):
    from numpy_adam.nn import Parameter
    from numpy_adam.optim import Adam
    from numpy_adam.optim.lr_scheduler import warmup_cosine

    config = TrainConfig(model="quadratic", optimizer="adam", lr=0.05, steps=60,
                         lr_schedule="warmup-cosine", lr_warmup_steps=10, lr_warmup_start=0.1,
                         lr_min=0.001)
    run = train(config, tmp_path / "run", quiet=True)
    opt = Adam([Parameter(np.ones(1))], lr=0.05)
    sched = warmup_cosine(opt, warmup_steps=10, total_steps=60, start_factor=0.1, eta_min=0.001)
    expected = []
    for _ in range(60):
        expected.append(opt.param_groups[0]["lr"])
        sched.step()
    np.testing.assert_array_equal(run.metrics["lr"], expected, err_msg="lr of each step")
    assert run.metrics["lr"][0] == pytest.approx(0.005) and run.metrics["lr"][10] == 0.05


def test_sigkill_then_resume_is_bitwise_identical_with_a_schedule(tmp_path, train_killed_after):
    args = [*QUADRATIC_CLI[:-4], "--steps", "4000", "--checkpoint-every", "64",
            "--lr-schedule", "cosine", "--lr-min", "0.001"]
    saved = train_killed_after(tmp_path / "killed", args, step=128)
    assert 128 <= saved < 4000, saved
    command = [sys.executable, "-m", "numpy_adam", "train", "--quiet"]
    resumed = subprocess.run([*command, "--out", str(tmp_path / "killed"), "--resume"],
                             capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    whole = subprocess.run([*command, *args, "--out", str(tmp_path / "whole")],
                           capture_output=True, text=True, timeout=300)
    assert whole.returncode == 0, whole.stderr
    a, b = load_run(tmp_path / "killed"), load_run(tmp_path / "whole")
    for key in b.metrics:
        np.testing.assert_array_equal(a.metrics[key], b.metrics[key], err_msg=key)
    assert b.metrics["lr"][-1] < 0.0011, "the cosine reached its floor"


# --- the noisy quadratic f(x; ξ) = (x − ξ)² ------------------------------------------------------

class _LegacyQuadraticTask:
    """The quadratic task as it was before the noise (a verbatim copy of its behaviour): the
    model Quadratic with f = Σ a x x, g = 2 a x, no draws, extras x and grad, test loss f."""

    steps_per_epoch = None

    def __init__(self, config, rng=None):  # the data generator build gives every task is unused
        from numpy_adam.nn.module import Module, Parameter

        class LegacyQuadratic(Module):
            def __init__(self, x0):
                super().__init__()
                self.curvature = np.ones_like(x0)
                self.x = Parameter(x0, kind="weight")
                self.flat = self.flatten()

            def forward(self):
                x = self.x.data
                with np.errstate(over="ignore"):
                    return float(np.sum(self.curvature * x * x))

            def backward(self):
                self.x.grad[...] = 2.0 * self.curvature * self.x.data

        self.model = LegacyQuadratic(np.array(config.x0, dtype=np.float64))
        self._grad = None

    def train_step(self):
        loss = self.model.forward()
        self.model.backward()
        self._grad = self.model.x.grad.copy()
        return loss

    def after_step(self):
        return {"x": float(self.model.x.data[0]), "grad": float(self._grad[0])}

    def evaluate(self):
        return {"test_loss": self.model.forward(), "test_accuracy": None}

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


NOISY = TrainConfig(model="quadratic", optimizer="adam", lr=0.01, beta1=0.99, beta2=0.99, eps=1e-12,
                    batch_size=3, noise_std=0.2, steps=200, checkpoint_every=64)


def _assert_same_runs(a, b):
    assert a.metrics.keys() == b.metrics.keys()
    for key in b.metrics:
        np.testing.assert_array_equal(a.metrics[key], b.metrics[key], err_msg=key)


@pytest.mark.parametrize("config", [ADAM, GD], ids=["adam", "gd"])
def test_noise_free_run_is_bit_for_bit_the_x_squared_run(tmp_path, monkeypatch, config):
    from numpy_adam.training import build

    config = TrainConfig(**{**config.to_json(), "steps": 400, "noise_std": 0.0, "x0": (1.0,),
                            "channels": (16, 32)})
    now = train(config, tmp_path / "now", quiet=True)
    monkeypatch.setattr(build, "QuadraticTask", _LegacyQuadraticTask)
    assert isinstance(build.make_task(config), _LegacyQuadraticTask)
    legacy = train(config, tmp_path / "legacy", quiet=True)
    _assert_same_runs(now, legacy)
    assert "xi" not in now.metrics, "s = 0 records exactly what x² recorded"
    assert now.summary["test_loss"] == legacy.summary["test_loss"]


def test_noisy_run_records_x_grad_and_xi_and_the_gradient_it_used(tmp_path):
    from numpy_adam.training.build import run_seeds

    run = train(NOISY, tmp_path / "noisy", quiet=True)
    m = run.metrics
    assert {"x", "grad", "xi"} <= set(m)
    assert m["x"].shape == m["grad"].shape == m["xi"].shape == (200,)
    x_before = np.concatenate([[NOISY.x0[0]], m["x"][:-1]])  # x_{t−1}
    np.testing.assert_array_equal(m["grad"], 2.0 * (x_before - m["xi"]),
                                  err_msg="g_t = 2(x_{t−1} − ξ_t)")
    np.testing.assert_array_equal(m["loss"], (x_before - m["xi"]) ** 2, err_msg="f(x_{t−1}; ξ_t)")
    draws = np.random.default_rng(run_seeds(NOISY)[1])  # ξ comes from the run's data seed
    expected = [draws.normal(0.0, 0.2, size=(3, 1)).mean(axis=0)[0] for _ in range(200)]
    np.testing.assert_array_equal(m["xi"], expected)
    assert run.summary["test_loss"] == m["x"][-1] ** 2, "test loss: f at ξ = 0"


def test_task_defaults_to_the_generator_make_task_would_pass():
    from numpy_adam.training.build import run_seeds
    from numpy_adam.training.tasks import QuadraticTask

    implicit = QuadraticTask(NOISY)
    explicit = QuadraticTask(NOISY, np.random.default_rng(run_seeds(NOISY)[1]))
    for _ in range(3):
        np.testing.assert_array_equal(implicit.model.resample(), explicit.model.resample())
    assert implicit.state_dict() == explicit.state_dict()


def test_noisy_task_state_round_trips_and_rejects_foreign_state():
    from numpy_adam.training.tasks import QuadraticTask

    task = QuadraticTask(NOISY)
    task.train_step()
    state = task.state_dict()
    ahead = [task.model.resample().copy() for _ in range(4)]
    fresh = QuadraticTask(NOISY)
    fresh.load_state_dict(state)
    np.testing.assert_array_equal([fresh.model.resample().copy() for _ in range(4)], ahead)
    with pytest.raises(ValueError, match=r"keys \['xi_rng'\]"):
        fresh.load_state_dict({})
    quiet = QuadraticTask(ADAM)
    assert quiet.state_dict() == {}
    with pytest.raises(ValueError, match=r"keys \[\]"):
        quiet.load_state_dict(state)


def test_noisy_run_extended_after_a_checkpoint_is_bitwise_the_whole_run(tmp_path):
    short = TrainConfig(**{**NOISY.to_json(), "steps": 100, "x0": (1.0,), "channels": (16, 32)})
    train(short, tmp_path / "extended", quiet=True)
    extended = train(NOISY, tmp_path / "extended", resume=True, extend=True, quiet=True)
    whole = train(NOISY, tmp_path / "whole", quiet=True)
    _assert_same_runs(extended, whole)
    assert extended.metrics["step"][-1] == 200


@pytest.mark.slow
def test_noisy_sigkill_then_resume_is_bitwise_identical(tmp_path, train_killed_after):
    args = [*QUADRATIC_CLI, "--noise-std", "0.1", "--batch-size", "2"]
    saved = train_killed_after(tmp_path / "killed", args, step=128)
    assert saved % 64 == 0 and 128 <= saved < 4000, saved
    resumed = _train_cli(tmp_path / "killed", resume=True)
    assert resumed.returncode == 0, resumed.stderr
    whole = subprocess.run([sys.executable, "-m", "numpy_adam", "train", *args, "--out",
                            str(tmp_path / "whole"), "--quiet"], capture_output=True, text=True,
                           timeout=300)
    assert whole.returncode == 0, whole.stderr
    a, b = load_run(tmp_path / "killed"), load_run(tmp_path / "whole")
    _assert_same_runs(a, b)
    assert np.std(b.metrics["xi"]) > 0.05, "the noise is on"
