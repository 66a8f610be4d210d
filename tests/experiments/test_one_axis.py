"""Figure 7, "One axis": the plan, every method's predicted curve against hand-derived values,
the exact per-element relations on short real runs (a tiny CNN on synthetic CIFAR-shaped data
in float32, the noisy quadratic in float64) and their failure when perturbed, the numbers;
and one run of the quick plan on real CIFAR-10 (slow)."""
import dataclasses
import math
import os

import numpy as np
import pytest

from numpy_adam.experiments import one_axis
from numpy_adam.experiments.one_axis import (METHODS, SETTINGS, UNITS, method_of,
                                             one_axis_experiments, predicted_curve,
                                             sample_metrics)
from numpy_adam.experiments.one_axis_exact import (RELATIONS, exact_check, gradient_rounding,
                                                   lion_interpolation, recovered_gradient)
from numpy_adam.experiments.one_axis_numbers import (element_values, natural_step,
                                                     one_axis_numbers, relative_residual,
                                                     rms_by_gamma, rms_check)
from numpy_adam.optim.msvag import msvag_kappa
from numpy_adam.records import Run
from numpy_adam.training.config import TrainConfig
from numpy_adam.training.loop import train
from numpy_adam.training.tasks import CifarData

TINY_STEPS, TINY_WARMUP = 30, 5


@pytest.fixture(scope="module")
def cnn_runs(tmp_path_factory, tiny_cifar):
    """{method: Run}: the plan's settings on a tiny CNN (float32), 30 steps at batch 16."""
    root, data = tmp_path_factory.mktemp("one_axis_cnn"), tiny_cifar
    runs = {}
    for e in one_axis_experiments("quick"):
        config = dataclasses.replace(e.config, steps=TINY_STEPS, batch_size=16, channels=(2, 4),
                                     hidden=8, eval_every=TINY_STEPS, checkpoint_every=TINY_STEPS)
        runs[e.config.optimizer] = train(config, root / e.name, data=data, quiet=True)
    return runs


@pytest.fixture(scope="module")
def quadratic_runs(tmp_path_factory):
    """{method: Run}: the plan's settings on the noisy quadratic (float64, 12 coordinates),
    whose record holds the gradient g_t each step used."""
    root = tmp_path_factory.mktemp("one_axis_quadratic")
    return {m: train(TrainConfig(model="quadratic", optimizer=m, steps=40, batch_size=4,
                                 x0=tuple(np.linspace(-1.0, 1.0, 12)), noise_std=1.0,
                                 eval_every=40, checkpoint_every=40, **SETTINGS[m]),
                     root / m, quiet=True)
            for m in METHODS}


def _with_config(run: Run, **changes) -> Run:
    return dataclasses.replace(run, config={**run.config, **changes})


# --- the plan ----------------------------------------------------------------------------

def test_plan_has_one_run_per_method_with_the_settings_the_relations_need():
    runs = one_axis_experiments("quick", seed=3)
    assert [e.config.optimizer for e in runs] == list(METHODS)
    assert [e.name for e in runs] == [f"figure7-{m}" for m in METHODS]
    assert [e.row for e in runs] == list(range(len(METHODS)))
    for e in runs:
        c = e.config
        assert (c.model, c.batch_size, c.seed, c.steps) == ("cnn", 100, 3, one_axis.QUICK_STEPS)
        assert c.weight_decay == 0 and c.sample_per_tensor > 0 and c.label.endswith("batch 100")
        assert (c.beta1, c.beta2) == ((0.9, 0.99) if c.optimizer == "lion" else (0.9, 0.9)), e.name
        method_of(Run(e.name, c.to_json(), {}, {}))  # the relations' settings hold
    sgd, msvag = runs[METHODS.index("sgd")].config, runs[METHODS.index("msvag")].config
    assert sgd.momentum == sgd.beta1 and sgd.dampening == 0 and not sgd.nesterov
    assert sgd.lr / (1 - sgd.momentum) == pytest.approx(0.1) == msvag.lr, "one effective rate"
    assert "μ=0.9" in sgd.label and "probe β1=β2=0.9" in sgd.label
    assert {e.config.steps for e in one_axis_experiments("full")} == {one_axis.FULL_STEPS}
    with pytest.raises(ValueError, match="mode must be one of"):
        one_axis_experiments("medium")


def test_method_of_refuses_settings_the_relations_do_not_cover():
    base = dict(optimizer="sgd", momentum=0.9, beta1=0.9, dampening=0.0, nesterov=False)
    assert method_of(Run("r", base, {}, {})) == "sgd"
    for bad in ({"dampening": 0.9}, {"nesterov": True}, {"momentum": 0.99}):
        with pytest.raises(ValueError, match="momentum = beta1"):
            method_of(Run("r", {**base, **bad}, {}, {}))
    with pytest.raises(ValueError, match="not centered"):
        method_of(Run("r", {"optimizer": "rmsprop", "centered": True}, {}, {}))
    with pytest.raises(ValueError, match="must be one of"):
        method_of(Run("r", {"optimizer": "adamw"}, {}, {}))


def test_records_without_the_whole_element_sample_are_refused(cnn_runs):
    run = cnn_runs["adam"]
    no_sample = {k: v for k, v in run.metrics.items() if not k.startswith("sample_")}
    with pytest.raises(ValueError, match="sample_per_tensor > 0"):
        sample_metrics(dataclasses.replace(run, metrics=no_sample))
    gappy = {**run.metrics, "step": run.metrics["step"] * 2}
    with pytest.raises(ValueError, match="every step recorded from 1 on"):
        sample_metrics(dataclasses.replace(run, metrics=gappy))


# --- the curves, by hand -----------------------------------------------------------------

def test_each_predicted_curve_against_hand_derived_values():
    cfg = {"momentum": 0.9, "beta1": 0.9}
    # Adam 1/√(γ²+1): 1 at γ = 0, ½ at γ = √3, 1/√101 at γ = 10
    np.testing.assert_allclose(predicted_curve("adam", [0.0, math.sqrt(3), 10.0], cfg),
                               [1.0, 0.5, 1 / math.sqrt(101)], rtol=1e-15)
    for method in ("signsgd", "signum", "lion"):  # flat: |u| = 1 whatever γ
        np.testing.assert_array_equal(predicted_curve(method, [0.0, 1.0, 1e3], cfg), 1.0)
    # SGD (1 − μ^t)/(1 − μ): b_1 = g_1 (1), b_2 = μ g + g (1.9), t → ∞: 1/(1 − μ) = 10
    np.testing.assert_allclose(predicted_curve("sgd", [5.0, 5.0], cfg, step=np.array([1, 2])),
                               [1.0, 1.9], rtol=1e-15)
    np.testing.assert_allclose(predicted_curve("sgd", 3.0, cfg), 10.0, rtol=1e-15)
    # M-SVAG 1/(1 + κ γ²): κ_∞ = (1 − β)/(2β) = 1/18 halves it at γ = √18; κ_1 = 0;
    # κ_2 = (1 + β²)/(2β) = 1.81/1.8
    assert msvag_kappa(0.9) == pytest.approx(1 / 18)
    np.testing.assert_allclose(predicted_curve("msvag", math.sqrt(18), cfg), 0.5, rtol=1e-14)
    np.testing.assert_allclose(predicted_curve("msvag", [2.0, 1.0], cfg, step=np.array([1, 2])),
                               [1.0, 1 / (1 + 1.81 / 1.8)], rtol=1e-14)
    # t broadcasts against γ: (T, 1) steps × (N,) spreads
    out = predicted_curve("msvag", np.array([0.0, 1.0, 3.0]), cfg, np.array([[2], [50]]))
    assert out.shape == (2, 3) and np.all(out[:, 0] == 1.0) and np.all(out[0, 1:] < out[1, 1:])
    assert predicted_curve("rmsprop", [1.0], cfg) is None
    assert predicted_curve("adagrad", [1.0], cfg) is None
    with pytest.raises(ValueError, match="method must be one of"):
        predicted_curve("adamw", [1.0], cfg)


def test_natural_units():
    u, m_abs, t = np.array([0.5, 0.5, 0.5]), np.array([0.25, 0.0, 1.0]), np.array([4, 9, 16])
    np.testing.assert_array_equal(natural_step("adam", -u, m_abs, t), u)
    np.testing.assert_array_equal(natural_step("sgd", u, m_abs, t), [2.0, np.nan, 0.5])
    np.testing.assert_array_equal(natural_step("adagrad", u, m_abs, t), [1.0, 1.5, 2.0])
    assert UNITS[one_axis.unit_of("msvag")] == "|Δθ|/(α|m̂|)"
    assert UNITS[one_axis.unit_of("adagrad")] == "√t·|Δθ|/α"


# --- g_t and Lion's c_t, by hand ---------------------------------------------------------

def test_recovered_gradient_inverts_the_ema_exactly():
    g = np.array([[1.0, -3.0], [-2.0, 0.0], [3.0, 1e-3], [0.5, 7.0]])
    beta = 0.9
    m, m_hat = np.zeros(2), []
    for t, row in enumerate(g, start=1):  # m̂_t as the probe forms it
        m = beta * m + (1 - beta) * row
        m_hat.append(m / (1 - beta ** t))
    np.testing.assert_allclose(recovered_gradient(np.array(m_hat), beta), g, rtol=0, atol=1e-13)
    np.testing.assert_array_equal(recovered_gradient(g, 0.0), g)  # β1 = 0: m̂ is g
    assert not np.allclose(recovered_gradient(np.array(m_hat), 0.8), g), "β1 matters"
    with pytest.raises(ValueError, match=r"\(T, N\)"):
        recovered_gradient(np.ones(3), beta)


def test_recovered_gradient_is_the_gradient_a_real_run_used(quadratic_runs):
    for method in ("adam", "sgd", "lion"):  # the optimizer's own m̂, or a probe's
        run = quadratic_runs[method]
        beta1 = run.config["beta1"]
        m_hat = run.metrics["sample_m_hat"]
        g = recovered_gradient(m_hat, beta1)
        used = run.metrics["grad"][:, run.metrics["sample_element"]]
        error = np.abs(g - used)
        assert np.all(error <= gradient_rounding(m_hat, g, beta1, np.finfo(np.float64).eps)), \
            method
        assert error.max() < 1e-13 * np.abs(used).max()


def test_lion_interpolation_by_hand():
    g = np.array([[1.0], [2.0], [-1.0]])
    # c_1 = 0.1·1; m_1 = 0.01; c_2 = 0.9·0.01 + 0.1·2 = 0.209; m_2 = 0.99·0.01 + 0.01·2 = 0.0299;
    # c_3 = 0.9·0.0299 − 0.1 = −0.07309
    np.testing.assert_allclose(lion_interpolation(g, 0.9, 0.99)[:, 0], [0.1, 0.209, -0.07309],
                               rtol=1e-14)
    # β1 = β2 = β: c_t is the EMA m_t itself (Lion is Signum)
    ema = np.array([0.1, 0.1 * 0.9 + 0.2, (0.1 * 0.9 + 0.2) * 0.9 - 0.1])
    np.testing.assert_allclose(lion_interpolation(g, 0.9, 0.9)[:, 0], ema, rtol=1e-14)


# --- the exact relations on real runs ----------------------------------------------------

@pytest.mark.parametrize("method", METHODS)
def test_exact_relation_holds_on_every_element_of_a_float32_cnn_run(cnn_runs, method):
    check = exact_check(cnn_runs[method], warmup=TINY_WARMUP)
    n = (TINY_STEPS - TINY_WARMUP) * 4 * 32  # 32 sampled elements of each of the 4 weights
    assert check["values"] == n and check["passed"] == n and check["fraction"] == 1.0, check
    assert check["max_tolerance_ratio"] <= 1.0
    assert check["ambiguous"] <= n // 100, "a sign is undetermined on at most a few elements"
    assert check["median_relative_error"] < 1e-5, "float32: a few ulp"
    assert check["relation"] == RELATIONS[method]


@pytest.mark.parametrize("method", METHODS)
def test_exact_relation_holds_to_float64_rounding_on_the_quadratic(quadratic_runs, method):
    check = exact_check(quadratic_runs[method])
    assert check["passed"] == check["values"] == 40 * 12, check
    assert check["max_abs_error"] < 1e-12, "float64: the tolerance shrinks with the dtype"


PERTURBED = {  # a wrong β (or ε) the relation reads, per method; Signum's reads none
    "adam": {"eps": 1e-4}, "sgd": {"momentum": 0.89, "beta1": 0.89}, "signsgd": {"beta1": 0.8},
    "lion": {"beta2": 0.98}, "rmsprop": {"beta2": 0.89}, "adagrad": {"beta1": 0.89},
    "msvag": {"beta1": 0.89}}


@pytest.mark.parametrize("method", sorted(PERTURBED))
def test_exact_relation_fails_with_a_wrong_setting(cnn_runs, method):
    check = exact_check(_with_config(cnn_runs[method], **PERTURBED[method]), TINY_WARMUP)
    assert check["passed"] < check["values"], check
    assert check["max_tolerance_ratio"] > 100, check
    if method not in ("signsgd", "lion"):  # a sign flips only where g_t or c_t is small
        assert check["fraction"] < 0.5, check


@pytest.mark.parametrize("method", METHODS)
def test_exact_relation_fails_where_the_measured_step_is_off_by_a_thousandth(cnn_runs, method):
    run = cnn_runs[method]
    u = run.metrics["sample_update"].copy()
    rows = np.arange(TINY_WARMUP, TINY_STEPS, 5)
    cols = np.argmax(np.abs(u[rows]), axis=1)  # the largest step of a few rows
    u[rows, cols] *= np.float32(1.001)
    check = exact_check(dataclasses.replace(run, metrics={**run.metrics, "sample_update": u}),
                        TINY_WARMUP)
    assert check["values"] - check["passed"] == rows.size, check


# --- the numbers -------------------------------------------------------------------------

def test_residual_and_rms_helpers_by_hand():
    r = relative_residual([2.0, 1.0, np.nan], np.array([1.0, 1.0, 1.0]))
    assert r["median"] == pytest.approx(0.5) and r["p90"] == pytest.approx(0.9) and r["n"] == 2
    assert relative_residual([1.0], None) is None
    binned = rms_by_gamma([4.0, 1.0, 0.0, 3.0, np.nan, 2.0], [3.0, 1.0, 9.0, 3.0, 9.0, 1.0], 2)
    assert binned["rms"] == pytest.approx(math.sqrt(5.0)), "γ = 0 and NaN left out"
    assert binned["gamma_median"] == [1.5, 3.5] and binned["rms_by_bin"] == [1.0, 3.0]
    assert math.isnan(rms_by_gamma([1.0], [1.0], 2)["rms"])
    values = {"method": "rmsprop", "gamma": np.array([1.0, 2.0, 3.0, 4.0, 5.0]),
              "y": np.array([1.0, 1.0, 1.0, 1.0, 1.0])}
    check = rms_check(values)
    assert check["rms"] == 1.0 and check["residual"] == 0.0 and check["max_bin_residual"] == 0.0
    assert rms_check({**values, "method": "adam"}) is None


def test_numbers_of_the_tiny_runs(cnn_runs):
    numbers = one_axis_numbers(cnn_runs, warmup=TINY_WARMUP)
    assert list(numbers) == list(METHODS)
    for method, n in numbers.items():
        assert n["method"] == method and n["steps"] == TINY_STEPS and n["warmup"] == TINY_WARMUP
        assert n["exact"]["fraction"] == 1.0, method
        assert n["median_gamma"] > 0 and math.isfinite(n["median_layer_gamma"]), method
        assert n["unit"] == UNITS[one_axis.unit_of(method)]
        if method in ("rmsprop", "adagrad"):
            assert n["curve"] is None and n["element_residual"] is None
            assert 0.3 < n["rms"]["rms"] < 3 and math.isfinite(n["rms"]["residual"]), n["rms"]
        else:
            assert n["rms"] is None and math.isfinite(n["layer_residual"]["median"])
            # per element the curve is the exact relation: rounding (Adam: plus ε/|m̂|)
            assert n["element_residual"]["median"] < 1e-4, (method, n["element_residual"])
    for method in ("adam", "sgd", "signum", "msvag"):  # they step along m̂
        assert numbers[method]["sign_agreement"] == 1.0, method
    for method in ("signsgd", "signum", "lion"):  # a mean of ±1 steps is 1 exactly
        assert numbers[method]["layer_residual"]["median"] == 0.0
        assert numbers[method]["median_step"] == pytest.approx(1.0, rel=1e-4)
    assert numbers["sgd"]["layer_residual"]["p90"] < 1e-5, "U_l/M_l = (1 − μ^t)/(1 − μ)"
    assert numbers["adam"]["layer_residual"]["median"] > 1e-3, "a mean is not the curve at γ̄"


def test_numbers_refuse_bad_input(cnn_runs):
    with pytest.raises(TypeError, match="non-empty dict"):
        one_axis_numbers([cnn_runs["adam"]])
    with pytest.raises(TypeError, match=r"runs\['x'\] must be a Run"):
        one_axis_numbers({"x": "run"})
    for warmup in (-1, True, 2.0, TINY_STEPS):
        with pytest.raises(ValueError, match="warmup must be"):
            one_axis_numbers({"adam": cnn_runs["adam"]}, warmup=warmup)
    values = element_values(cnn_runs["adagrad"], TINY_WARMUP)
    np.testing.assert_allclose(values["y"], values["update"] * np.sqrt(values["step"]))


# --- the quick plan on real CIFAR-10 -----------------------------------------------------

@pytest.mark.slow
def test_quick_plan_on_real_cifar_holds_every_exact_relation(tmp_path):
    data_dir = os.environ.get("NUMPY_ADAM_DATA")
    if not data_dir or not os.path.isdir(os.path.join(data_dir, "cifar-10-batches-py")):
        pytest.skip("real CIFAR-10 needed: set NUMPY_ADAM_DATA")
    from numpy_adam.plots.one_axis_figure import draw_one_axis_figure

    data = CifarData.load(data_dir)
    data = dataclasses.replace(data, test_images=data.test_images[:1000],  # a shorter final
                               test_labels=data.test_labels[:1000])        # evaluation
    steps, warmup = 12, 2
    runs = {e.config.optimizer: train(dataclasses.replace(e.config, steps=steps),
                                      tmp_path / e.name, data=data, quiet=True)
            for e in one_axis_experiments("quick")}
    numbers = one_axis_numbers(runs, warmup=warmup)
    for method, n in numbers.items():
        exact = n["exact"]
        assert exact["values"] == (steps - warmup) * 128 == exact["passed"], (method, exact)
        assert exact["max_tolerance_ratio"] <= 1.0, (method, exact)
        assert math.isfinite(n["final_loss"]) and n["median_gamma"] > 0, method
        if n["curve"] is None:
            assert math.isfinite(n["rms"]["residual"]), method
        else:
            for key in ("element_residual", "layer_residual"):
                assert math.isfinite(n[key]["median"]) and math.isfinite(n[key]["p90"]), method
    png = draw_one_axis_figure(runs, one_axis.TITLE, tmp_path, warmup=warmup)[0]
    assert png.name == "figure7.png" and png.stat().st_size > 100_000
