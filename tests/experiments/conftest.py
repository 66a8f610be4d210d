"""Fixtures shared by the analysis and summary tests."""
import math

import numpy as np
import pytest


def _adam_on_x_squared(steps=600, lr=1e-2, beta=0.99, eps=1e-12):
    """Per-step (x, g, |m̂|, γ, |Δ|/α) of Adam with β1 = β2 on f(x) = x² from x = 1."""
    x, m, v, rows = 1.0, 0.0, 0.0, []
    for t in range(1, steps + 1):
        g = 2 * x
        m, v = beta * m + (1 - beta) * g, beta * v + (1 - beta) * g * g
        m_hat, v_hat = m / (1 - beta ** t), v / (1 - beta ** t)
        delta = -lr * m_hat / (math.sqrt(v_hat) + eps)
        x += delta
        gamma = math.sqrt(max(v_hat - m_hat * m_hat, 0.0)) / abs(m_hat)
        rows.append((x, g, abs(m_hat), gamma, abs(delta) / lr))
    return np.array(rows).T


@pytest.fixture
def adam_on_x_squared():
    """The function ``(steps=600, lr=1e-2, beta=0.99, eps=1e-12) -> (5, steps)`` rows
    x, g, |m̂|, γ, |Δ|/α of Adam on f(x) = x², written out in plain Python."""
    return _adam_on_x_squared


TINY_PHASE_GRID = dict(betas=(0.0, 0.9, 0.99), lrs=(1e-2, 1e-1), steps=6000, tail=1024,
                       sweep_factors=(0.5, 2.0), probe_steps=2000)


@pytest.fixture
def tiny_phase_map(monkeypatch):
    """The reproduction's x² phase map on a 3 × 3 × 2 grid (a fraction of a second), so the
    end-to-end reproduction tests stay fast; the real grids are tested in test_phase_map.py."""
    from numpy_adam.experiments import phase_map

    monkeypatch.setitem(phase_map.GRIDS, "quick", TINY_PHASE_GRID)
