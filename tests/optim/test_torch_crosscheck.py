"""500-step trajectories against torch.optim in float64 (optional: skips without torch)."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim import SGD, Adam, AdamW

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

STEPS = 500
SHAPES = [(4, 3), (5,), (2, 2, 3)]

CASES = {
    "adam": (Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.9, 0.99), eps=1e-8)),
    "adam-l2": (Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1)),
    "adam-amsgrad": (Adam, torch.optim.Adam, dict(lr=0.01, betas=(0.8, 0.95), amsgrad=True)),
    "adam-decoupled": (Adam, torch.optim.Adam, dict(lr=0.01, weight_decay=0.1,
                                                    decoupled_weight_decay=True)),
    "adamw": (AdamW, torch.optim.AdamW, dict(lr=0.01, weight_decay=0.05)),
    "adamw-amsgrad": (AdamW, torch.optim.AdamW, dict(lr=0.01, amsgrad=True)),
    "sgd": (SGD, torch.optim.SGD, dict(lr=0.01)),
    "sgd-momentum-wd": (SGD, torch.optim.SGD, dict(lr=0.01, momentum=0.9, weight_decay=0.01)),
    "sgd-dampening": (SGD, torch.optim.SGD, dict(lr=0.01, momentum=0.9, dampening=0.3)),
    "sgd-nesterov-wd": (SGD, torch.optim.SGD, dict(lr=0.01, momentum=0.8, nesterov=True,
                                                   weight_decay=0.01)),
}


@pytest.mark.parametrize("ours, theirs, kwargs", list(CASES.values()), ids=list(CASES))
def test_trajectory_matches_torch_float64(ours, theirs, kwargs):
    rng = np.random.default_rng(50)
    init = [rng.normal(size=s) for s in SHAPES]
    noise = [rng.normal(size=(STEPS,) + s) for s in SHAPES]  # per-step gradient noise
    params = [(f"p{i}", Parameter(x)) for i, x in enumerate(init)]
    opt = ours(params, **kwargs)
    t_params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in init]
    t_opt = theirs(t_params, foreach=False, **kwargs)
    worst = 0.0
    for t in range(STEPS):
        for (_, p), tp, n in zip(params, t_params, noise):
            # g = 0.5 θ + noise: each side's own θ, so any difference would feed back
            p.grad[...] = 0.5 * p.data + n[t]
            tp.grad = 0.5 * tp.detach().clone() + torch.from_numpy(n[t])
        opt.step()
        t_opt.step()
        diff = max(float(np.max(np.abs(p.data - tp.detach().numpy())))
                   for (_, p), tp in zip(params, t_params))
        worst = max(worst, diff)
    assert worst < 1e-10, f"max |θ − θ_torch| over {STEPS} steps = {worst:.3g}"
