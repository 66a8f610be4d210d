"""SGD's steady state on f(x; ξ) = (x − ξ)² in closed form, checked by hand, by a numerical
Lyapunov solve and by long simulations with the project's SGD; Adam's stationary measures on
series with known answers; Figure 6's runs."""
import math

import numpy as np
import pytest

from numpy_adam.experiments import noise_plan
from numpy_adam.experiments.stationary import (
    discrete_lyapunov, noise_variance, period_from_rate, run_measures, sgd_autocorrelation,
    sgd_comparison, sgd_is_stable, sgd_lag1_correlation, sgd_sign_change_rate,
    sgd_stationary_covariance, sgd_stationary_variance, sgd_step_rms, sgd_transition,
    sign_change_rate, stationary_measures, stationary_slice, variance_standard_error)
from numpy_adam.models.quadratic import Quadratic
from numpy_adam.optim import SGD
from numpy_adam.optim.sgd import sgd_update
from numpy_adam.training.config import TrainConfig
from numpy_adam.training.loop import train

# --- (a) hand-derived values ---------------------------------------------------------------------


def test_plain_sgd_variance_by_hand():
    # α = 1/2, h = 2: x_t = (1 − 1) x_{t−1} + ξ_t = ξ_t, so Var x = σ_ξ²
    assert sgd_stationary_variance(0.5, 3.0) == pytest.approx(3.0, rel=1e-15)
    # α = 0.2: V = 0.36 V + 0.16 σ² ⇒ V = σ²/4 = α σ²/(1 − α)
    assert sgd_stationary_variance(0.2, 1.0) == pytest.approx(0.25, rel=1e-15)
    # general curvature h = 1, α = 0.5: V = αhσ²/(2 − αh) = 0.5/1.5
    assert sgd_stationary_variance(0.5, 1.0, curvature=1.0) == pytest.approx(1 / 3, rel=1e-15)
    assert noise_variance(2.0, 4) == 1.0 and noise_variance(0.0, 1) == 0.0


def test_heavy_ball_covariance_by_hand():
    # μ = 1/2, α = 1/4, h = 2, σ² = 1: x_t = x_{t−1} − x_{t−1}/2 ... as AR(2),
    # x_t = φ1 x_{t−1} + φ2 x_{t−2} + ε_t with φ1 = 1 + μ − αh = 1, φ2 = −μ = −1/2,
    # Var ε = (αh)² = 1/4.
    # Yule–Walker: γ1 = φ1 γ0/(1 − φ2) = 2γ0/3, γ0 = φ1 γ1 + φ2 γ2 + 1/4 with γ2 = φ1 γ1 + φ2 γ0:
    # γ0 = 2γ0/3 − (2γ0/3 − γ0/2)/2 + 1/4 = 7γ0/12 + 1/4 ⇒ γ0 = 3/5.
    # b_t = (x_{t−1} − x_t)/α: Var b = 2(γ0 − γ1)/α² = 16 · 2/5 = 32/5;
    # Cov(x_t, b_t) = (γ1 − γ0)/α = −4/5.
    P = sgd_stationary_covariance(0.25, 1.0, 0.5)
    np.testing.assert_allclose(P, [[0.6, -0.8], [-0.8, 6.4]], rtol=1e-14)
    assert sgd_step_rms(0.25, 1.0, 0.5) == pytest.approx(0.25 * math.sqrt(6.4), rel=1e-14)
    assert sgd_lag1_correlation(0.25, 0.5) == pytest.approx(2 / 3, rel=1e-15)


def test_sign_change_rate_by_hand():
    # α = 1/2: x_t = ξ_t independent ⇒ a sign change half the time;
    # α = 1/4: ρ1 = 1/2 ⇒ arccos(1/2)/π = 1/3
    assert sgd_sign_change_rate(0.5) == pytest.approx(0.5, rel=1e-15)
    assert sgd_sign_change_rate(0.25) == pytest.approx(1 / 3, rel=1e-15)
    assert period_from_rate(0.25) == 8.0 and period_from_rate(0.0) == math.inf


def test_stability_boundaries():
    assert sgd_is_stable(0.999) and not sgd_is_stable(1.0) and not sgd_is_stable(0.0)
    assert sgd_is_stable(1.49, 0.5) and not sgd_is_stable(1.5, 0.5)  # 0 < αh < 2(1 + μ)
    assert not sgd_is_stable(0.01, 1.0)
    with pytest.raises(ValueError, match="no steady state: expected 0 <= momentum < 1"):
        sgd_stationary_variance(1.0, 1.0)
    with pytest.raises(ValueError, match="lr must be a finite number >= 0"):
        sgd_stationary_variance(-0.1, 1.0)
    with pytest.raises(ValueError, match="noise_var must be a finite number >= 0"):
        sgd_stationary_variance(0.1, float("nan"))
    with pytest.raises(ValueError, match="batch_size must be a positive integer"):
        noise_variance(1.0, 0)
    with pytest.raises(ValueError, match="component must be 0"):
        sgd_autocorrelation(0.1, component=2)


# --- (b) against a numerical solution of the discrete Lyapunov equation --------------------------

@pytest.mark.parametrize("lr, momentum, curvature", [
    (0.01, 0.0, 2.0), (0.3, 0.0, 2.0), (0.01, 0.9, 2.0), (0.001, 0.99, 2.0), (1.2, 0.5, 2.0),
    (0.05, 0.7, 0.3), (2.5, 0.4, 1.0)])
def test_closed_form_solves_the_lyapunov_equation(lr, momentum, curvature):
    A, c = sgd_transition(lr, momentum, curvature=curvature)
    numeric = discrete_lyapunov(A, 0.7 * np.outer(c, c))
    closed = sgd_stationary_covariance(lr, 0.7, momentum, curvature=curvature)
    np.testing.assert_allclose(closed, numeric, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(A @ closed @ A.T + 0.7 * np.outer(c, c), closed, rtol=1e-12,
                               atol=1e-15)
    rho = sgd_autocorrelation(lr, momentum, 3, curvature=curvature)
    assert rho[0] == 1.0
    assert rho[1] == pytest.approx(sgd_lag1_correlation(lr, momentum, curvature=curvature))


def test_discrete_lyapunov_on_a_scalar_and_its_errors():
    np.testing.assert_allclose(discrete_lyapunov([[0.5]], [[3.0]]), [[4.0]])  # p = q/(1 − a²)
    with pytest.raises(ValueError, match="square of one shape"):
        discrete_lyapunov(np.eye(2), np.eye(3))


# --- (c) long simulations with the project's SGD over several seeds ------------------------------

def _simulate(lr, momentum, s, batch, seed, chains, steps, burn_in):
    """K independent chains as K coordinates of one noisy quadratic, trained by numpy_adam's SGD.
    Returns the (steps, K) x and b after the burn-in."""
    model = Quadratic(x0=np.zeros(chains), noise_std=s, batch_size=batch,
                      rng=np.random.default_rng(seed))
    opt = SGD(model.named_parameters(), lr=lr, momentum=momentum)
    xs, bs = np.empty((steps, chains)), np.empty((steps, chains))
    for t in range(burn_in + steps):
        model.resample()
        model.forward()
        model.backward()
        g = model.x.grad.copy()
        opt.step(compute_stats=False)
        if t >= burn_in:
            xs[t - burn_in] = model.x.data
            bs[t - burn_in] = opt.b if momentum else g
    return xs, bs


def test_simulation_is_the_recursion_bit_for_bit():
    """The simulation is SGD on g = 2(x − ξ): the same as sgd_update step by step."""
    lr, mu = 0.05, 0.8
    xs, _ = _simulate(lr, mu, 0.5, 2, seed=9, chains=3, steps=50, burn_in=0)
    rng = np.random.default_rng(9)
    theta, b = np.zeros(3), None
    for t in range(1, 51):
        xi = rng.normal(0.0, 0.5, size=(2, 3)).mean(axis=0)
        theta, b, _, _ = sgd_update(theta, 2.0 * (theta - xi), b, t, lr, momentum=mu)
        np.testing.assert_array_equal(xs[t - 1], theta)


SIMULATED = [(0.01, 0.0, 0.3, 1), (0.1, 0.0, 1.0, 4), (0.01, 0.9, 0.3, 1), (0.05, 0.5, 2.0, 2)]


@pytest.mark.parametrize("lr, momentum, s, batch", SIMULATED)
def test_simulated_steady_state_matches_the_closed_form_over_seeds(lr, momentum, s, batch):
    """E x², E b² and the sign-change rate of K = 64 chains × n = 4000 steps, for 4 seeds.

    Tolerance for E x² and E b²: 4 standard errors of a mean of squares of a correlated
    Gaussian series, (V/√(nK))·√(2[1 + 2Σ(1 − k/n)ρ_k²]) (variance_standard_error: exact for
    stationary Gaussian chains, which these are after the burn-in); 16 comparisons at 4 SE leave
    a chance of about 1e-3 of a false alarm. The sign-change rate is a mean over 64 independent
    chains: 5 empirical standard errors of that mean (chain-to-chain spread / √64).
    Burn-in: until ρ(A)^t < 1e-8, so what is left of the start (x = b = 0) is far below one SE.
    """
    chains, n = 64, 4000
    A, _ = sgd_transition(lr, momentum)
    radius = float(np.max(np.abs(np.linalg.eigvals(A))))
    burn_in = int(math.ceil(math.log(1e-8) / math.log(radius)))
    sigma2 = noise_variance(s, batch)
    P = sgd_stationary_covariance(lr, sigma2, momentum)
    rate = sgd_sign_change_rate(lr, momentum)
    for seed in range(4):
        xs, bs = _simulate(lr, momentum, s, batch, seed, chains, n, burn_in)
        for i, series in ((0, xs), (1, bs)):
            se = variance_standard_error(lr, sigma2, momentum, n=n, chains=chains, component=i)
            measured = float(np.mean(series * series))
            assert abs(measured - P[i, i]) < 4 * se, \
                f"seed {seed}, {'xb'[i]}: E² {measured:.6g}, closed form {P[i, i]:.6g}, SE {se:.3g}"
        per_chain = np.array([sign_change_rate(xs[:, k]) for k in range(chains)])
        se_rate = per_chain.std(ddof=1) / math.sqrt(chains)
        assert abs(per_chain.mean() - rate) < 5 * se_rate, (seed, per_chain.mean(), rate, se_rate)


def test_standard_error_matches_the_spread_over_chains():
    """The derived standard error is the real one: the spread of per-chain mean squares."""
    lr, n, chains = 0.1, 2000, 64
    xs, _ = _simulate(lr, 0.0, 1.0, 1, seed=21, chains=chains, steps=n, burn_in=200)
    per_chain = np.mean(xs * xs, axis=0)
    se_one = variance_standard_error(lr, 1.0, n=n)
    # the sample SD of 64 values is within ±30 % of the true SD with probability > 0.99
    assert 0.7 < per_chain.std(ddof=1) / se_one < 1.3, (per_chain.std(ddof=1), se_one)


def test_a_trained_sgd_run_matches_the_closed_form(tmp_path):
    config = TrainConfig(model="quadratic", optimizer="sgd", lr=0.01, beta1=0.99, beta2=0.99,
                         noise_std=0.1, batch_size=1, steps=6000, checkpoint_every=6000)
    result = sgd_comparison(train(config, tmp_path / "sgd", quiet=True))
    assert abs(result["variance_z"]) < 4, result
    assert result["transient"] < 1e-20
    assert result["closed_form"]["rms_x"] == pytest.approx(math.sqrt(0.01 * 0.01 / 0.99))
    assert result["measured"]["n"] == 3000 and result["measured"]["first_step"] == 3000


# --- Adam's stationary measures on series with known answers --------------------------------------

def test_sign_change_rate_on_known_series():
    assert sign_change_rate([1, -1, 1, -1, 1]) == 1.0
    assert sign_change_rate([1, 1, -1, -1]) == pytest.approx(1 / 3)
    assert sign_change_rate([1.0, 0.0, -1.0, 0.0, 1.0]) == 0.5, "zeros carry no sign"
    assert sign_change_rate([2.0, 3.0, 1.0]) == 0.0
    t = np.arange(20000)
    # 400 periods: 800 changes, give or take one at the ends, over 19999 transitions
    assert sign_change_rate(np.sin(2 * np.pi * t / 50 + 0.1)) == pytest.approx(2 / 50, abs=1e-4)
    both = np.stack([[1, -1, 1, -1], [1, 1, 1, 1]], axis=1)
    assert sign_change_rate(both) == 0.5, "mean over coordinates"
    assert math.isnan(sign_change_rate([1.0]))


def test_stationary_measures_of_a_sine_use_the_last_half_only():
    T, P, amp, lr = 4000, 40, 0.3, 0.01
    t = np.arange(T)
    x = np.where(t < T // 2, 100.0, amp * np.sin(2 * np.pi * (t + 0.5) / P))
    update = np.where(t < T // 2, 9.0, 0.5)
    grad = 2 * x
    m = stationary_measures(x, update, lr, grad, noise_var=3 * amp ** 2 / 2)
    assert m["first_step"] == 2000 and m["n"] == 2000
    assert m["rms_x"] == pytest.approx(amp / math.sqrt(2), rel=1e-12)
    assert m["mean_x"] == pytest.approx(0.0, abs=1e-12)
    assert m["rms_step_lr"] == 0.5 and m["rms_step"] == pytest.approx(0.005, rel=1e-14)
    assert m["sign_change_rate_x"] == pytest.approx(2 / P, rel=0.01)
    assert m["period_x"] == pytest.approx(P, rel=0.01)
    assert m["sign_change_rate_grad"] == m["sign_change_rate_x"]
    assert m["sampling_share"] == pytest.approx(0.75, rel=1e-12), "σ² / (E x² + σ²) = 3/4"
    lr_series = np.full(T, 0.02)
    quarter = stationary_measures(x, update, lr_series, fraction=0.25)
    assert quarter["rms_step"] == pytest.approx(0.01) and quarter["n"] == 1000
    assert math.isnan(stationary_measures(x, update, lr)["sampling_share"]), "no noise_var given"


def test_measure_errors_name_the_argument():
    with pytest.raises(ValueError, match="x must be .* and update"):
        stationary_measures(np.zeros(10), np.zeros(9), 0.1)
    with pytest.raises(ValueError, match=r"fraction must be in \(0, 1\]"):
        stationary_slice(10, 1.5)
    with pytest.raises(ValueError, match="fraction must be a finite number > 0"):
        stationary_slice(10, 0.0)
    with pytest.raises(ValueError, match="T must be at least 2"):
        stationary_slice(1)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        variance_standard_error(0.1, 1.0, n=0)
    assert stationary_slice(10, 0.5) == slice(5, 10)


def test_run_measures_and_sgd_comparison_refuse_other_runs(tmp_path):
    adam = TrainConfig(model="quadratic", optimizer="adam", lr=0.01, beta1=0.99, beta2=0.99,
                       eps=1e-12, noise_std=0.01, batch_size=1, steps=300)
    run = train(adam, tmp_path / "adam", quiet=True)
    m = run_measures(run)
    assert m["optimizer"] == "adam" and m["noise_var"] == pytest.approx(1e-4)
    assert m["n"] == 150 and np.isfinite(m["gamma_median"])
    with pytest.raises(ValueError, match=r"plain heavy-ball SGD.*'optimizer': 'adam'"):
        sgd_comparison(run)


# --- Figure 6's runs ------------------------------------------------------------------------------

def test_noise_plan_names_and_settings():
    runs = noise_plan.noise_experiments("quick", seed=3)
    assert len(runs) == 2 * len(noise_plan.NOISE_STDS)
    names = [r.name for r in runs]
    assert names[:4] == ["figure6-adam-s0", "figure6-sgd-s0", "figure6-adam-s1e-05",
                         "figure6-sgd-s1e-05"] and "figure6-sgd-s0.1" in names
    assert len(set(names)) == len(names)
    assert names == [r.name for r in noise_plan.noise_experiments("quick", seed=3)], "deterministic"
    for r in runs:
        c = r.config
        assert r.figure == "figure6" and noise_plan.NOISE_STDS[r.row] == c.noise_std
        assert (c.model, c.x0, c.batch_size, c.seed, c.steps) == ("quadratic", (1.0,), 1, 3, 6000)
        if c.optimizer == "adam":
            assert (c.lr, c.beta1, c.beta2, c.eps) == (0.01, 0.99, 0.99, 1e-12)
        else:
            assert c.optimizer == "sgd" and c.momentum == 0 and sgd_is_stable(c.lr)
    assert {r.config.steps for r in noise_plan.noise_experiments("full")} == {20000}
    with pytest.raises(ValueError, match="mode must be one of"):
        noise_plan.noise_experiments("medium")


@pytest.mark.slow
def test_quick_noise_plan_reaches_the_steady_state_and_moves_from_update_to_sampling(tmp_path):
    runs = {e.name: train(e.config, tmp_path / e.name, quiet=True)
            for e in noise_plan.noise_experiments("quick")}
    adam = [run_measures(runs[noise_plan.run_name("adam", s)]) for s in noise_plan.NOISE_STDS]
    for s in noise_plan.NOISE_STDS[1:]:
        result = sgd_comparison(runs[noise_plan.run_name("sgd", s)])
        assert abs(result["variance_z"]) < 4 and result["transient"] < 1e-20, (s, result)
    # s = 0: the limit cycle is reached: third and fourth quarter agree
    x = runs["figure6-adam-s0"].metrics["x"]
    quarters = [np.sqrt(np.mean(q ** 2)) for q in np.array_split(x, 4)[2:]]
    assert quarters[0] == pytest.approx(quarters[1], rel=0.02), quarters
    # from update-driven to sampling-driven spread, monotone in s
    share = [m["sampling_share"] for m in adam]
    assert share[0] == 0 and share[1] < 0.05 and share[-1] > 0.95
    assert np.all(np.diff(share) > 0), share
    assert np.all(np.diff([m["rms_x"] for m in adam]) > 0)
    assert np.all(np.diff([m["sign_change_rate_x"] for m in adam]) < 0)
