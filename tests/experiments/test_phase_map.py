"""The phase map of Adam on x²: the vectorised run against single runs bit for bit, the classifier
on hand-made trajectories with known answers, the 2-cycle, the record's round trip."""
import math
from dataclasses import fields

import numpy as np
import pytest

from numpy_adam.experiments import phase_map as pm
from numpy_adam.experiments.phase_classify import (CLASS_NAMES, CONVERGES, CYCLE, GROWS, SPIKES,
                                                   UNSETTLED, classify, sign_changes,
                                                   two_cycle_amplitude)
from numpy_adam.models.quadratic import Quadratic
from numpy_adam.nn import Parameter
from numpy_adam.optim import Adam, adam_update

STEPS = 2000
# (β1, β2, α, ε): β1 = β2, β1 < β2, β1 > β2 (two), β2 = 0 (jumps), the largest α, both ε
POINTS = [(0.99, 0.99, 1e-2, 1e-12), (0.9, 0.999, 3e-3, 1e-8), (0.99, 0.5, 1e-1, 1e-12),
          (0.999, 0.95, 1e-1, 1e-8), (0.5, 0.0, 1e-1, 1e-12), (0.0, 0.9, 1e-4, 1e-12),
          (0.8, 0.999, 1e-1, 1e-12)]


def _single_run(beta1, beta2, lr, eps, steps):
    """x after each step of numpy_adam.optim.Adam on a 1-element Parameter, g = 2x."""
    p = Parameter(np.array([1.0]))
    opt = Adam([("x", p)], lr=lr, betas=(beta1, beta2), eps=eps)
    xs = np.empty(steps)
    for t in range(steps):
        p.grad[...] = 2.0 * p.data
        opt.step(compute_stats=False)
        xs[t] = p.data[0]
    return xs


def _box_run(beta1, beta2, lr, eps, steps):
    """The same with numpy_adam.optim.adam_update, the algorithm box in plain NumPy."""
    x, m, v = np.array([1.0]), np.zeros(1), np.zeros(1)
    xs = np.empty(steps)
    for t in range(1, steps + 1):
        x, m, v, _, _ = adam_update(x, 2.0 * x, m, v, None, t, lr, beta1, beta2, eps)
        xs[t - 1] = x[0]
    return xs


@pytest.fixture(scope="module")
def vectorised():
    """All POINTS in one vectorised run, together with 200 other grid points around them."""
    rng = np.random.default_rng(0)
    b = np.array([0.0, 0.5, 0.9, 0.99, 0.999])
    others = [(rng.choice(b), rng.choice(b), 10.0 ** rng.uniform(-4, -1), 1e-12)
              for _ in range(200)]
    b1, b2, lr, eps = map(np.array, zip(*(others[:100] + POINTS + others[100:])))
    run = pm.adam_x_squared(b1, b2, lr, eps, STEPS, keep_last=STEPS)
    return {point: run.tail[:, 100 + i] for i, point in enumerate(POINTS)}


@pytest.mark.parametrize("point", POINTS)
def test_vectorised_run_is_the_single_run_bit_for_bit(vectorised, point):
    single = _single_run(*point, STEPS)
    assert np.array_equal(vectorised[point], single), \
        f"{point}: first difference at step {np.flatnonzero(vectorised[point] != single)[:1]}"
    assert np.array_equal(vectorised[point], _box_run(*point, STEPS))
    assert np.all(np.isfinite(single)) and np.unique(single).size > STEPS // 2


def test_bit_for_bit_after_the_bias_corrections_reach_one():
    # with only β ≤ 0.9 in the run, c1 = c2 = 1.0 exactly from t ≈ 350 on and the vectorised
    # run stops recomputing them: still the single runs bit for bit
    points = [(0.9, 0.5, 1e-1, 1e-12), (0.5, 0.9, 1e-2, 1e-8)]
    b1, b2, lr, eps = map(np.array, zip(*points))
    run = pm.adam_x_squared(b1, b2, lr, eps, 1500, keep_last=1500)
    for i, point in enumerate(points):
        assert np.array_equal(run.tail[:, i], _single_run(*point, 1500)), point


def test_the_quadratic_model_gives_the_same_run():
    model = Quadratic()
    opt = Adam(model.named_parameters(), lr=0.05, betas=(0.9, 0.95), eps=1e-12)
    xs = []
    for _ in range(500):
        model.forward()
        model.backward()
        opt.step(compute_stats=False)
        xs.append(model.x.data[0])
    run = pm.adam_x_squared(0.9, 0.95, 0.05, 1e-12, 500, keep_last=500)
    assert np.array_equal(run.tail[:, 0], np.array(xs))


def test_recorded_envelope_and_state():
    run = pm.adam_x_squared([0.9, 0.99], [0.99, 0.99], 1e-2, 1e-12, 3000, keep_last=3000,
                            block=1000)
    assert run.block_max.shape == (3, 2) and run.t == 3000
    np.testing.assert_array_equal(run.block_max, np.abs(run.tail).reshape(3, 1000, 2).max(axis=1))
    np.testing.assert_array_equal(run.x, run.tail[-1])
    # earlier: max |x| over the W/2 steps from 2W before the end (from step 0 when 2W > steps)
    np.testing.assert_array_equal(run.earlier, np.abs(run.tail[:1500]).max(axis=0))
    short = pm.adam_x_squared(0.9, 0.99, 1e-2, 1e-12, 3000, keep_last=1000)
    np.testing.assert_array_equal(short.earlier, np.abs(run.tail[1000:1500, 0]).max())


# -- the classifier on hand-made trajectories ------------------------------------------------
T = 4096
t = np.arange(T)
LR = 1e-2


def _one(x, lr=LR, **kw):
    out = classify(x, lr, **kw)
    return {k: v[0] for k, v in out.items()}


def test_geometric_decay_converges():
    r = _one(0.9 ** t * (-1.0) ** t)
    assert CLASS_NAMES[r["cls"]] == "converges" and r["amplitude"] < 1e-80


def test_period_two_cycle_of_known_amplitude():
    a = 0.3 * LR
    r = _one(a * (-1.0) ** t)
    assert r["cls"] == CYCLE
    assert r["amplitude"] == pytest.approx(0.3, rel=1e-12)
    assert r["exact_period"] == 2 and r["recurrence"] == 2 and r["period"] == 2.0
    assert r["sign_rate"] == 1.0 and r["spike"] == 1.0 and r["growth"] == 1.0


def test_period_five_cycle_of_known_amplitude():
    r = _one(0.05 * LR * np.cos(2 * np.pi * t / 5))
    assert r["cls"] == CYCLE and r["amplitude"] == pytest.approx(0.05, rel=1e-12)
    assert r["exact_period"] == 5 and r["recurrence"] == 5
    assert r["period"] == pytest.approx(5.0, rel=2e-3)  # 2 sign changes per 5 steps


def test_quasi_periodic_cycle_has_no_exact_period():
    r = _one(4e-3 * LR * np.cos(2 * np.pi * 0.3846 * t + 0.3))  # ≈ 5/13, as Adam at β1 = β2
    assert r["cls"] == CYCLE and r["exact_period"] == 0 and r["recurrence"] == 13
    assert r["sign_rate"] == pytest.approx(2 * 0.3846, abs=2e-3)


def test_growing_series_grows():
    assert _one(0.5 * 1.001 ** t)["cls"] == GROWS                     # no sign change, > x0
    assert _one(0.2 * 1.001 ** t * (-1.0) ** t)["cls"] == GROWS       # oscillating, > x0, growing
    assert _one(np.full(T, np.nan))["cls"] == GROWS
    # a steady cycle larger than x0 (slow: steps below α) is not growth but a cycle
    r = _one(3.0 * np.cos(2 * np.pi * t / 2000))
    assert r["cls"] == CYCLE and r["amplitude"] == pytest.approx(300, rel=1e-6)


def test_spiky_series_spikes():
    x = 1e-8 * LR * (-1.0) ** t
    x[::300] = 0.5 * LR  # a burst every 300 steps out of a quiet state
    r = _one(x)
    assert r["cls"] == SPIKES and r["spike"] > 1e6 and r["amplitude"] == pytest.approx(0.5)
    y = 0.2 * LR * np.cos(2 * np.pi * t / 9)
    y[3000:] += 40 * LR  # one step of 40 α: a jump
    assert _one(y)["cls"] == SPIKES and _one(y)["jump"] > 39


def test_unsettled_and_earlier_window():
    slow = 0.1 * LR * np.exp(-t / 2000.0) * np.cos(2 * np.pi * t / 7)  # halves in ≈ 1400 steps
    assert _one(slow)["cls"] == UNSETTLED
    steady = 0.1 * LR * np.cos(2 * np.pi * t / 7)
    assert _one(steady, earlier=0.1 * LR)["cls"] == CYCLE
    assert _one(steady, earlier=0.5 * LR)["cls"] == UNSETTLED  # it was 5 times larger before


def test_sign_changes_skip_zeros_and_columns_are_independent():
    x = np.array([[1.0, 0.0], [0.0, 0.0], [-1.0, 2.0], [0.0, -2.0], [-3.0, 0.0], [2.0, 0.0]])
    np.testing.assert_array_equal(sign_changes(x), [2, 1])
    cols = np.stack([0.9 ** t, 0.3 * LR * (-1.0) ** t], axis=1)
    both = classify(cols, LR)
    assert list(both["cls"]) == [CONVERGES, CYCLE]
    with pytest.raises(ValueError, match="must be"):
        classify(np.zeros(10), LR)


def test_two_cycle_amplitude_closed_form():
    assert two_cycle_amplitude(0.0, 1e-2) == pytest.approx(5e-3)
    assert two_cycle_amplitude(0.99, 1.0) == pytest.approx(0.01 / 1.99 / 2)
    r = 0.01 / 1.99
    assert two_cycle_amplitude(0.99, 1e-2, eps=0.5 * r * 1e-2) == pytest.approx(r * 1e-2 / 4)
    assert math.isnan(two_cycle_amplitude(0.99, 1e-2, eps=r * 1e-2 * 1.01))


def test_two_cycle_is_an_orbit_and_its_stability():
    # started exactly on it (no perturbation) the run stays on ±a: to rounding where it
    # attracts (β1 = 0.1), for a few steps before rounding errors grow where it repels (0.9)
    for beta1, steps in ((0.1, 2000), (0.9, 10)):
        a = two_cycle_amplitude(beta1, 1e-2, 1e-12)
        r = (1 - beta1) / (1 + beta1)
        run = pm.adam_x_squared(beta1, 0.5, 1e-2, 1e-12, steps, x0=a, m0=-2 * a * r,
                                v0=4 * a * a, t0=pm.PROBE_T0, keep_last=steps)
        np.testing.assert_allclose(run.tail[:, 0], a * (-1.0) ** np.arange(1, steps + 1),
                                   rtol=1e-12)
    growth = pm.two_cycle_growth([0.0, 0.1, 0.5, 0.9], [0.9, 0.9, 0.9, 0.9], steps=3000)
    assert growth[0] < 1e-3 and growth[1] < 1e-3, growth  # attracts
    assert growth[2] > 1e3 and growth[3] > 1e3, growth    # repels


# -- the map, its record and its summary ------------------------------------------------------
TINY = dict(betas=(0.0, 0.9, 0.99), lrs=(1e-2, 1e-1), steps=6000, tail=1024,
            sweep_factors=(0.5, 2.0), probe_steps=2000)


@pytest.fixture(scope="module")
def tiny_map():
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(pm.GRIDS, "tiny", TINY)
        return pm.phase_map("tiny")


def test_tiny_map_classes_and_summary(tiny_map):
    r = tiny_map
    assert r.cls.shape == (2, 3, 3, 2) and r.block_max.shape == (6, 2, 3, 3, 2)
    assert r.probe_growth.shape == (len(pm.PROBE_BETAS1), 3)
    j = 2  # β1 = β2 = 0.99: the README's cycle, max|x| = 0.00406 α at every α
    assert np.all(r.cls[0, j, j] == CYCLE)
    np.testing.assert_allclose(r.amplitude[0, j, j], 0.00406, rtol=2e-3)
    # β1 = 0: the 2-cycle, A = α/2 (at β2 = 0.99 still approached to 1e-7 after 6000 steps)
    assert np.all(r.recurrence[0, 0, 1:] == 2) and np.all(r.exact_period[0, 0, 1] == 2)
    np.testing.assert_allclose(r.amplitude[0, 0, 1:], 0.5, rtol=1e-6)
    s = pm.summary(r)
    assert sum(s["eps=1e-12"]["fractions"].values()) == pytest.approx(1.0)
    assert s["eps=1e-12"]["diagonal"]["0.99"]["spread_over_lr"] < 1.001
    assert s["eps_sweep"]["0.9"]["largest_factor_with_cycle"] == 0.5
    assert s["eps_sweep"]["0.9"]["smallest_factor_converging"] == 2.0
    assert s["two_cycle_attracts_up_to_beta1"]["0.9"] < s["two_cycle_repels_from_beta1"]["0.9"]


def test_save_load_round_trip(tiny_map, tmp_path):
    path = pm.save_phase_map(tiny_map, tmp_path / "phase_map.npz")
    back = pm.load_phase_map(path)
    for f in fields(pm.PhaseMap):
        a, b = getattr(tiny_map, f.name), getattr(back, f.name)
        if isinstance(a, np.ndarray):
            assert a.dtype == b.dtype and np.array_equal(a, b, equal_nan=a.dtype.kind == "f"), \
                f.name
        else:
            assert a == b and type(a) is type(b), f.name
    assert not list(tmp_path.glob(".*tmp")), "no temporary file left behind"
    np.savez(tmp_path / "other.npz", cls=np.zeros(3))
    with pytest.raises(ValueError, match="not a phase map record"):
        pm.load_phase_map(tmp_path / "other.npz")


def test_unknown_mode_is_refused():
    with pytest.raises(ValueError, match="mode must be one of"):
        pm.phase_map("medium")


@pytest.mark.slow
def test_quick_map_numbers():
    r = pm.phase_map("quick")
    s = pm.summary(r)
    diag = s["eps=1e-12"]["diagonal"]
    assert diag["0.99"]["amplitude"] == pytest.approx([0.00406] * 4, rel=2e-3)
    assert diag["0.9"]["recurrence"] == 13
    assert s["eps=1e-12"]["converging_exact_zero"] == len(s["eps=1e-12"]["converging"]) > 0
    assert s["eps=1e-12"]["fractions"]["cycle"] > 0.5
