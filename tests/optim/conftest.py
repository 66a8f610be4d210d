"""Shared fixtures for the optimizer tests: small parameter sets, gradient streams, the plain
NumPy algorithm boxes run step by step beside an optimizer, and the option tables.

Tests import nothing from here (pytest runs with --import-mode=importlib): helpers come as
fixtures (``make_params``, ``gradient_stream``, ``reference_run``) and a test that takes an
argument ``adam_options`` or ``sgd_options`` is parametrized over the whole table.
"""
from __future__ import annotations

import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim import kernels
from numpy_adam.optim.adam import adam_update
from numpy_adam.optim.probe import probe_update
from numpy_adam.optim.sgd import sgd_update
from numpy_adam.optim.stats import spread_stats

# (name, shape, kind): conv and fc weights, biases, batchnorm affine; P = 64
SMALL_LAYOUT = (("0.weight", (2, 1, 2, 3), "weight"), ("0.bias", (2,), "bias"),
                ("1.weight", (2,), "batchnorm"), ("1.bias", (2,), "batchnorm"),
                ("2.weight", (3, 14), "weight"), ("2.bias", (3,), "bias"),
                ("3.weight", (1, 1), "weight"))

ADAM_OPTIONS = {  # id: keyword arguments of Adam (every combination of amsgrad × decay mode)
    "plain": dict(),
    "amsgrad": dict(amsgrad=True),
    "l2": dict(weight_decay=0.1),
    "l2-amsgrad": dict(weight_decay=0.1, amsgrad=True),
    "decoupled": dict(weight_decay=0.1, decoupled_weight_decay=True),
    "decoupled-amsgrad": dict(weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True),
}

SGD_OPTIONS = {  # id: keyword arguments of SGD (momentum forms × weight decay × probe)
    f"{m_id}{'-wd' if wd else ''}{'-probe' if probe else ''}": dict(
        **m_kw, weight_decay=wd, probe_betas=(0.9, 0.99) if probe else None)
    for m_id, m_kw in {"plain": dict(momentum=0.0),
                       "momentum": dict(momentum=0.9),
                       "dampening": dict(momentum=0.9, dampening=0.9),
                       "nesterov": dict(momentum=0.9, nesterov=True)}.items()
    for wd in (0.0, 0.05) for probe in (False, True)
}


def pytest_generate_tests(metafunc):
    for arg, table in (("adam_options", ADAM_OPTIONS), ("sgd_options", SGD_OPTIONS)):
        if arg in metafunc.fixturenames:
            metafunc.parametrize(arg, list(table.values()), ids=list(table))


def _make_params(rng, dtype=np.float64, layout=SMALL_LAYOUT):
    """(name, Parameter) pairs with normal(0, 1) values, in the given dtype."""
    return [(name, Parameter(rng.normal(size=shape).astype(dtype), kind=kind))
            for name, shape, kind in layout]


def _gradient_stream(rng, P: int, steps: int, dtype=np.float64) -> np.ndarray:
    """(steps, P) gradients: a per-element drift plus noise of per-element scale (spread from
    1e-3 to 10), exact zeros on element 0 (so m̂ = 0 happens) and a sign flip half way."""
    drift = rng.normal(size=P)                                  # (P,)
    scale = 10.0 ** rng.uniform(-3, 1, size=P)                   # (P,)
    g = drift + scale * rng.normal(size=(steps, P))              # (steps, P)
    g[steps // 2:] -= 2 * drift
    g[:, 0] = 0.0
    return g.astype(dtype)


@pytest.fixture
def make_params():
    """make_params(rng, dtype=float64, layout=SMALL_LAYOUT) -> [(name, Parameter)]."""
    return _make_params


@pytest.fixture
def gradient_stream():
    """gradient_stream(rng, P, steps, dtype=float64) -> (steps, P) gradients."""
    return _gradient_stream


def _params_like(opt):
    """New Parameters holding the optimizer's current θ (what a model checkpoint restores), for
    an optimizer that is then given a saved state."""
    return [(s.name, Parameter(opt.flat.data[s.offset:s.stop].reshape(s.shape).copy(),
                               kind=s.kind)) for s in opt.flat.segments]


@pytest.fixture
def params_like():
    """params_like(opt) -> [(name, Parameter)] holding opt's current θ."""
    return _params_like


@pytest.fixture
def reference_run():
    """ReferenceRun(kind, theta0, hparams_dict, tracked_segments), with .step(g) -> stats."""
    return ReferenceRun


@pytest.fixture
def small_chunks(monkeypatch):
    """Chunks of 7 elements, so tensors span several chunks and chunks end mid-tensor."""
    monkeypatch.setattr(kernels, "CHUNK_SIZE", 7)


class ReferenceRun:
    """The plain NumPy boxes (adam_update, sgd_update, probe_update, spread_stats) stepped
    beside an optimizer: same θ_0, same hyperparameters."""

    def __init__(self, kind: str, theta0: np.ndarray, hp: dict, segments, gamma_at=None):
        self.kind, self.hp, self.segments = kind, dict(hp), segments
        self.gamma_at = gamma_at  # the optimizer's sampled elements per tensor (γ's mean)
        self.theta = theta0.copy()
        zeros = np.zeros_like(theta0)
        self.t = 0
        self.m, self.v = zeros.copy(), zeros.copy()
        self.v_max = zeros.copy() if hp.get("amsgrad") else None
        self.b = zeros.copy()

    def step(self, g: np.ndarray):
        """One step; returns the plain SpreadStats of that step."""
        self.t += 1
        hp = self.hp
        if self.kind == "adam":
            self.theta, self.m, self.v, self.v_max, u = adam_update(
                self.theta, g, self.m, self.v, self.v_max, self.t, hp["lr"], *hp["betas"],
                hp["eps"], hp["weight_decay"], hp["amsgrad"], hp["decoupled_weight_decay"],
                hp.get("maximize", False))
            return spread_stats(self.m, self.v, u, self.t, *hp["betas"], self.segments,
                                gamma_at=self.gamma_at)
        self.theta, self.b, u, d = sgd_update(
            self.theta, g, self.b, self.t, hp["lr"], hp["momentum"], hp["dampening"],
            hp["weight_decay"], hp["nesterov"], hp.get("maximize", False))
        if hp.get("probe_betas") is None:
            return spread_stats(self.m, self.v, u, self.t, 0.0, 0.0, self.segments,
                                has_spread=False)
        self.m, self.v = probe_update(d, self.m, self.v, *hp["probe_betas"])
        return spread_stats(self.m, self.v, u, self.t, *hp["probe_betas"], self.segments,
                            gamma_at=self.gamma_at)

    @staticmethod
    def sampled_elements(opt):
        """Per tracked tensor, the indices of the optimizer's sampled elements (spread_stats'
        ``gamma_at``), or None without a sample."""
        layout = opt.sample_layout
        if layout.size == 0:
            return None
        return [layout.element[layout.slot == k] for k in range(len(opt.tracked_names))]
