"""M-SVAG against a NumPy transcription of the authors' TensorFlow implementation
(github.com/lballes/msvag, ``MSVAGOptimizer._apply_dense``), in float64 for hundreds of steps.

Their code forms ρ and s as the paper prints them, caps ρ at 0.999 (so s_1 = 0 and r_1 = 1),
clips r to [0, 1] and sets r = 0 where it is NaN (m = v = 0). Ours computes κ = ρ/(1 − ρ) in
closed form with κ_1 = 0 and clamps σ̂² at 0: the same steps up to rounding."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim.msvag import MSVAG

STEPS = 500
SHAPES = [(4, 3), (5,), (2, 2, 3)]


def _authors_msvag_step(theta, m_tilde, v_tilde, grad, t, lr, beta):
    """One step of MSVAGOptimizer, t ≥ 1 (their beta_power is β^t at step t)."""
    beta_power = beta ** t
    rho = (1.0 - beta) ** 2 * (1.0 - beta_power ** 2)
    rho /= (1.0 - beta_power) ** 2 * (1.0 - beta ** 2)
    rho = min(rho, 0.999)
    m_tilde = beta * m_tilde + (1.0 - beta) * grad
    v_tilde = beta * v_tilde + (1.0 - beta) * grad ** 2
    m = m_tilde / (1.0 - beta_power)
    v = v_tilde / (1.0 - beta_power)
    m2 = m ** 2
    s = (v - m2) / (1.0 - rho)
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = m2 / (m2 + rho * s)
    factor = np.clip(factor, 0.0, 1.0)
    factor = np.where(np.isnan(factor), 0.0, factor)
    return theta - lr * factor * m, m_tilde, v_tilde


@pytest.mark.parametrize("lr, beta", [(0.01, 0.9), (0.05, 0.5), (0.003, 0.99)])
def test_msvag_follows_the_authors_implementation(lr, beta):
    rng = np.random.default_rng(140)
    init = [rng.normal(size=s) for s in SHAPES]
    noise = [rng.normal(size=(STEPS,) + s) for s in SHAPES]
    params = [(f"p{i}", Parameter(x.copy())) for i, x in enumerate(init)]
    opt = MSVAG(params, lr=lr, beta=beta)
    theta = np.concatenate([x.ravel() for x in init])
    m_tilde, v_tilde = np.zeros_like(theta), np.zeros_like(theta)
    dead = np.zeros_like(theta, dtype=bool)
    dead[[0, 7]] = True  # two elements whose gradient is always 0: m = v = 0, r = 0/0 → 0
    worst = 0.0
    for t in range(1, STEPS + 1):
        n = np.concatenate([x[t - 1].ravel() for x in noise])
        # g = 0.5 θ + noise: each side's own θ, so any difference would feed back
        opt.flat.grad[:] = np.where(dead, 0.0, 0.5 * opt.flat.data + n)
        opt.step()
        grad = np.where(dead, 0.0, 0.5 * theta + n)
        theta, m_tilde, v_tilde = _authors_msvag_step(theta, m_tilde, v_tilde, grad, t, lr, beta)
        worst = max(worst, float(np.max(np.abs(opt.flat.data - theta) / (1 + np.abs(theta)))))
    assert worst < 1e-10, f"max |θ − θ_authors|/(1 + |θ_authors|) over {STEPS} steps = {worst:.3g}"
    np.testing.assert_allclose(opt.m, m_tilde, rtol=1e-9, atol=1e-12, err_msg="m_t")
    np.testing.assert_allclose(opt.v, v_tilde, rtol=1e-9, atol=1e-12, err_msg="v_t")
    np.testing.assert_array_equal(opt.flat.data[dead], [init[0].ravel()[0], init[0].ravel()[7]],
                                  err_msg="a zero gradient never moves its element")
