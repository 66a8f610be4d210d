"""RMSprop and Adagrad against torch.optim in float64: 500-step trajectories for several option
mixes, two parameter groups with different settings, and lr changed between steps
(optional: skips without torch)."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim.adagrad import Adagrad
from numpy_adam.optim.rmsprop import RMSprop

torch = pytest.importorskip("torch")
pytestmark = pytest.mark.torch

STEPS = 500
SHAPES = [(4, 3), (5,), (2, 2, 3), (6,)]
TOL = 1e-10  # on |θ − θ_torch|/(1 + |θ_torch|)

CASES = {
    "rmsprop": (RMSprop, dict()),
    "rmsprop-centered-wd": (RMSprop, dict(alpha=0.9, centered=True, weight_decay=0.1)),
    "rmsprop-momentum-eps": (RMSprop, dict(lr=0.005, momentum=0.9, eps=1e-6)),
    "rmsprop-centered-momentum-maximize": (RMSprop, dict(lr=0.001, centered=True, momentum=0.5,
                                                         maximize=True)),
    "adagrad": (Adagrad, dict(lr=0.1)),
    "adagrad-decay-init": (Adagrad, dict(lr=0.1, lr_decay=0.01, initial_accumulator_value=0.1)),
    "adagrad-wd-eps": (Adagrad, dict(lr=0.05, weight_decay=0.1, eps=1e-6)),
    "adagrad-decay-maximize": (Adagrad, dict(lr=0.01, lr_decay=0.001, maximize=True)),
}
GROUP_CASES = {  # (class, defaults, the second group's own settings)
    "rmsprop": (RMSprop, dict(lr=0.01, momentum=0.9),
                dict(lr=0.002, alpha=0.9, centered=True, weight_decay=0.01, momentum=0.0)),
    "adagrad": (Adagrad, dict(lr=0.05, lr_decay=0.01, initial_accumulator_value=0.2),
                dict(lr=0.1, lr_decay=0.0, weight_decay=0.05, eps=1e-8, maximize=True)),
}


def _torch_class(cls):
    return getattr(torch.optim, cls.__name__)


def _run(params, t_params, opt, t_opt, steps, before_step=None):
    """Step both with g = 0.5 θ + noise (each side's own θ, so a difference would feed back);
    returns the worst |θ − θ_torch|/(1 + |θ_torch|) over all steps."""
    rng = np.random.default_rng(70)
    noise = [rng.normal(size=(steps,) + p.data.shape) for p in params]
    worst = 0.0
    for t in range(steps):
        for p, tp, n in zip(params, t_params, noise):
            p.grad = 0.5 * p.data + n[t]
            tp.grad = 0.5 * tp.detach().clone() + torch.from_numpy(n[t])
        if before_step is not None:
            before_step(t)
        opt.step()
        t_opt.step()
        worst = max(worst, max(float(np.max(np.abs(p.data - tp.detach().numpy())
                                            / (1.0 + np.abs(tp.detach().numpy()))))
                               for p, tp in zip(params, t_params)))
    return worst


def _pair(seed=71):
    rng = np.random.default_rng(seed)
    init = [rng.normal(size=s) for s in SHAPES]
    return ([Parameter(x) for x in init],
            [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in init])


@pytest.mark.parametrize("cls, kwargs", list(CASES.values()), ids=list(CASES))
def test_trajectory_matches_torch_float64(cls, kwargs):
    params, t_params = _pair()
    init = [p.data.copy() for p in params]
    opt = cls(params, **kwargs)
    t_opt = _torch_class(cls)(t_params, foreach=False, **kwargs)
    worst = _run(params, t_params, opt, t_opt, STEPS)
    assert worst < TOL, f"max |θ − θ_torch|/(1 + |θ_torch|) over {STEPS} steps = {worst:.3g}"
    moved = max(float(np.max(np.abs(p.data - x))) for p, x in zip(params, init))
    assert moved > 0.1, f"the trajectory must go somewhere, moved {moved:.3g}"


@pytest.mark.parametrize("case", list(GROUP_CASES), ids=list(GROUP_CASES))
def test_two_groups_follow_torch(case):
    cls, defaults, second = GROUP_CASES[case]
    params, t_params = _pair(72)

    def groups(ps):
        return [{"params": ps[:2]}, {"params": ps[2:], **second}]

    opt = cls(groups(params), **defaults)
    t_opt = _torch_class(cls)(groups(t_params), foreach=False, **defaults)
    worst = _run(params, t_params, opt, t_opt, STEPS)
    assert worst < TOL, f"{case}: max relative |θ − θ_torch| over {STEPS} steps = {worst:.3g}"
    for g, tg in zip(opt.state_dict()["param_groups"], t_opt.state_dict()["param_groups"]):
        shared = {k: g[k] for k in g if k in tg and k != "params"}
        assert shared == {k: tg[k] for k in shared}, f"{case}: group values differ from torch's"
        assert set(opt.defaults) <= set(tg), f"{case}: a hyperparameter torch does not have"


@pytest.mark.parametrize("cls, kwargs", [(RMSprop, dict(centered=True, momentum=0.5)),
                                         (Adagrad, dict(lr_decay=0.05))],
                         ids=["rmsprop", "adagrad"])
def test_lr_changed_in_param_groups_between_steps_as_in_torch(cls, kwargs):
    """A schedule writes group["lr"]; Adagrad decays the current value: α/(1 + (t − 1)δ)."""
    params, t_params = _pair(73)
    opt = cls([{"params": params[:2]}, {"params": params[2:], "lr": 0.02}], lr=0.01, **kwargs)
    t_opt = _torch_class(cls)([{"params": t_params[:2]}, {"params": t_params[2:], "lr": 0.02}],
                              lr=0.01, foreach=False, **kwargs)

    def schedule(t):
        for group, t_group in zip(opt.param_groups, t_opt.param_groups):
            group["lr"] = t_group["lr"] = 0.01 * (1 + t % 5)

    worst = _run(params, t_params, opt, t_opt, 100, before_step=schedule)
    assert worst < TOL, f"max relative |θ − θ_torch| = {worst:.3g}"
