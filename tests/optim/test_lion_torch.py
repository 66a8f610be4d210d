"""Lion against a straight PyTorch transcription of the paper's Algorithm 2 (Chen et al. 2023),
in float64 for hundreds of steps (optional: skips without torch). The package lion-pytorch, the
authors' reference in PyTorch, is not a dependency; the transcription below is the algorithm
box of the paper, with its θ line written as printed: θ ← θ − η (sign(c) + λ θ)."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim.lion import Lion

STEPS = 500
SHAPES = [(4, 3), (5,), (2, 2, 3)]

CASES = {  # id: Lion keyword arguments
    "defaults": dict(lr=1e-2),
    "weight-decay": dict(lr=1e-2, weight_decay=0.5),
    "betas": dict(lr=3e-3, betas=(0.95, 0.98), weight_decay=0.1),
    "equal-betas": dict(lr=1e-2, betas=(0.9, 0.9)),
    "maximize": dict(lr=1e-2, weight_decay=0.1, maximize=True),
}


def _paper_lion_step(torch, theta, m, grad, lr, beta1, beta2, wd, maximize):
    """Algorithm 2, line by line (maximize: ascend, i.e. use −g as torch.optim does)."""
    g = -grad if maximize else grad
    c = beta1 * m + (1 - beta1) * g                      # c_t ← β1 m_{t−1} + (1 − β1) g_t
    theta = theta - lr * (torch.sign(c) + wd * theta)    # θ_t ← θ_{t−1} − η (sign(c_t) + λθ_{t−1})
    m = beta2 * m + (1 - beta2) * g                      # m_t ← β2 m_{t−1} + (1 − β2) g_t
    return theta, m


@pytest.mark.torch
@pytest.mark.parametrize("kwargs", list(CASES.values()), ids=list(CASES))
def test_lion_follows_the_papers_algorithm_in_torch(kwargs):
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(130)
    init = [rng.normal(size=s) for s in SHAPES]
    noise = [rng.normal(size=(STEPS,) + s) for s in SHAPES]
    params = [(f"p{i}", Parameter(x.copy())) for i, x in enumerate(init)]
    opt = Lion(params, **kwargs)
    beta1, beta2 = kwargs.get("betas", (0.9, 0.99))
    hp = (kwargs["lr"], beta1, beta2, kwargs.get("weight_decay", 0.0),
          kwargs.get("maximize", False))
    thetas = [torch.tensor(x, dtype=torch.float64) for x in init]
    moms = [torch.zeros_like(x) for x in thetas]
    worst = 0.0
    for t in range(STEPS):
        for i, ((_, p), n) in enumerate(zip(params, noise)):
            # g = 0.5 θ + noise: each side's own θ, so any difference would feed back
            p.grad[...] = 0.5 * p.data + n[t]
            grad = 0.5 * thetas[i] + torch.from_numpy(n[t])
            thetas[i], moms[i] = _paper_lion_step(torch, thetas[i], moms[i], grad, *hp)
        opt.step()
        worst = max(worst, max(float(np.max(np.abs(p.data - x.numpy()) / (1 + np.abs(x.numpy()))))
                               for (_, p), x in zip(params, thetas)))
    assert worst < 1e-10, f"max |θ − θ_paper|/(1 + |θ_paper|) over {STEPS} steps = {worst:.3g}"
    m = np.concatenate([x.numpy().ravel() for x in moms])
    np.testing.assert_allclose(opt.m, m, rtol=1e-9, atol=1e-12, err_msg="the memory m_t")
