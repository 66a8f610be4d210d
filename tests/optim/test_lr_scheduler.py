"""Learning-rate schedules: bitwise parity with torch.optim.lr_scheduler (optional), the
closed forms by hand, state_dict round trips, bad arguments."""
import json
import math

import numpy as np
import pytest

from numpy_adam.optim import lr_scheduler as ours
from numpy_adam.optim.lr_scheduler import (CosineAnnealingLR, ExponentialLR, LinearLR,
                                           SequentialLR, StepLR, warmup_cosine)

LRS = (0.1, 0.03)  # two groups with different base rates
STEPS = 1000


class StandIn:
    """The optimizer interface a schedule relies on: param_groups, dicts holding "lr"."""

    def __init__(self, lrs=LRS):
        self.param_groups = [{"lr": lr} for lr in lrs]


# id: build(module, optimizer) -> scheduler, written once for torch's module and ours
CASES = {
    "step-3-0.5": lambda L, o: L.StepLR(o, step_size=3, gamma=0.5),
    "step-7-default": lambda L, o: L.StepLR(o, step_size=7),
    "step-1-0.97": lambda L, o: L.StepLR(o, step_size=1, gamma=0.97),
    "exp-0.99": lambda L, o: L.ExponentialLR(o, gamma=0.99),
    "exp-0.9": lambda L, o: L.ExponentialLR(o, gamma=0.9),
    "exp-1.001": lambda L, o: L.ExponentialLR(o, gamma=1.001),
    "cos-100": lambda L, o: L.CosineAnnealingLR(o, T_max=100),  # runs 5 periods past T_max
    "cos-37-eta": lambda L, o: L.CosineAnnealingLR(o, T_max=37, eta_min=1e-4),
    "cos-1000-eta": lambda L, o: L.CosineAnnealingLR(o, T_max=STEPS, eta_min=1e-3),
    "linear-default": lambda L, o: L.LinearLR(o),
    "linear-warmup": lambda L, o: L.LinearLR(o, start_factor=0.01, total_iters=100),
    "linear-decay": lambda L, o: L.LinearLR(o, start_factor=1.0, end_factor=0.1,
                                            total_iters=333),
    "seq-warmup-cos": lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, start_factor=0.1, total_iters=10),
            L.CosineAnnealingLR(o, T_max=STEPS - 10)], milestones=[10]),
    "seq-warmup-cos-eta": lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, start_factor=0.01, total_iters=50),
            L.CosineAnnealingLR(o, T_max=200, eta_min=1e-3)], milestones=[50]),
    "seq-three": lambda L, o: L.SequentialLR(
        o, [L.LinearLR(o, total_iters=5), L.ExponentialLR(o, gamma=0.95),
            L.StepLR(o, step_size=10, gamma=0.5)], milestones=[5, 40]),
}


def run(sched, opt_step=lambda: None, steps=STEPS):
    """get_last_lr() after construction and after each of ``steps`` steps."""
    lrs = [sched.get_last_lr()]
    for _ in range(steps):
        opt_step()
        sched.step()
        lrs.append(sched.get_last_lr())
    return lrs


def torch_optimizer(torch, lrs=LRS, initial_lrs=None):
    groups = [{"params": [torch.zeros(1, requires_grad=True)], "lr": lr} for lr in lrs]
    for group, initial in zip(groups, initial_lrs or ()):
        group["initial_lr"] = initial
    return torch.optim.SGD(groups)


# ---- parity with PyTorch: == on floats on purpose, the point is the same bits ----

@pytest.mark.torch
@pytest.mark.parametrize("build", list(CASES.values()), ids=list(CASES))
def test_every_step_equals_torch_bitwise(build):
    torch = pytest.importorskip("torch")
    t_opt = torch_optimizer(torch)
    theirs = run(build(torch.optim.lr_scheduler, t_opt), t_opt.step)  # no grads: a no-op
    opt = StandIn()
    mine = run(build(ours, opt))
    assert mine == theirs  # exact: every step, both groups
    assert [g["lr"] for g in opt.param_groups] == [g["lr"] for g in t_opt.param_groups]


@pytest.mark.torch
@pytest.mark.parametrize("w, n, s, eta", [(10, STEPS, 1 / 3, 0.0), (100, 600, 0.01, 1e-4)])
def test_warmup_cosine_equals_torch_sequential(w, n, s, eta):
    torch = pytest.importorskip("torch")
    L = torch.optim.lr_scheduler
    t_opt = torch_optimizer(torch)
    t_sched = L.SequentialLR(t_opt, [L.LinearLR(t_opt, start_factor=s, total_iters=w),
                                     L.CosineAnnealingLR(t_opt, T_max=n - w, eta_min=eta)],
                             milestones=[w])
    theirs = run(t_sched, t_opt.step)
    assert run(warmup_cosine(StandIn(), w, n, start_factor=s, eta_min=eta)) == theirs


RESUMED = {  # id: (class name, arguments) of a schedule built with last_epoch=6
    "step": ("StepLR", dict(step_size=3, gamma=0.5)),
    "exp": ("ExponentialLR", dict(gamma=0.9)),
    "cos": ("CosineAnnealingLR", dict(T_max=37, eta_min=1e-4)),
    "linear": ("LinearLR", dict(start_factor=0.01, total_iters=100)),
}


@pytest.mark.torch
@pytest.mark.parametrize("cls, kwargs", list(RESUMED.values()), ids=list(RESUMED))
def test_resume_with_last_epoch_equals_torch(cls, kwargs):
    """last_epoch >= 0 on groups that hold "initial_lr": the same (odd) first step as torch."""
    torch = pytest.importorskip("torch")
    lrs, initial = (0.05, 0.02), (0.1, 0.03)
    t_opt = torch_optimizer(torch, lrs, initial)
    t_sched = getattr(torch.optim.lr_scheduler, cls)(t_opt, last_epoch=6, **kwargs)
    opt = StandIn(lrs)
    for group, lr in zip(opt.param_groups, initial):
        group["initial_lr"] = lr
    sched = getattr(ours, cls)(opt, last_epoch=6, **kwargs)
    assert run(sched, steps=200) == run(t_sched, t_opt.step, steps=200)


@pytest.mark.torch
@pytest.mark.parametrize("name", ["step-3-0.5", "cos-37-eta", "seq-warmup-cos-eta"])
def test_torch_state_dict_loads_and_continues(name):
    """A PyTorch schedule's state_dict, through JSON, continues here as it does in torch."""
    torch = pytest.importorskip("torch")
    t_opt = torch_optimizer(torch)
    t_sched = CASES[name](torch.optim.lr_scheduler, t_opt)
    run(t_sched, t_opt.step, steps=77)
    saved = json.loads(json.dumps(t_sched.state_dict()))
    sched = CASES[name](ours, StandIn())
    sched.load_state_dict(saved)
    assert run(sched, steps=300) == run(t_sched, t_opt.step, steps=300)


# ---- closed forms by hand (no torch) ----

def test_step_lr_by_hand():
    lrs = run(StepLR(StandIn([1.0]), step_size=3, gamma=0.5), steps=9)
    expected = [1, 1, 1, 0.5, 0.5, 0.5, 0.25, 0.25, 0.25, 0.125]
    assert [lr for (lr,) in lrs] == pytest.approx(expected, rel=1e-15)


def test_exponential_lr_by_hand():
    lrs = run(ExponentialLR(StandIn([2.0]), gamma=0.9), steps=50)
    assert [lr for (lr,) in lrs] == pytest.approx([2.0 * 0.9 ** t for t in range(51)],
                                                  rel=1e-13)


def test_cosine_by_hand():
    alpha0, eta, T = 1.0, 0.01, 10
    lrs = [lr for (lr,) in run(CosineAnnealingLR(StandIn([alpha0]), T_max=T, eta_min=eta),
                                 steps=2 * T)]
    assert lrs[0] == alpha0
    assert lrs[T // 2] == pytest.approx((alpha0 + eta) / 2, rel=1e-14)
    assert lrs[T] == pytest.approx(eta, rel=1e-12)
    assert lrs[T + T // 2] == pytest.approx((alpha0 + eta) / 2, rel=1e-12)  # rising again
    assert lrs[2 * T] == pytest.approx(alpha0, rel=1e-12)
    assert all(a > b for a, b in zip(lrs[:T], lrs[1:T + 1]))  # strictly down to η


def test_linear_warmup_by_hand():
    lrs = [lr for (lr,) in run(LinearLR(StandIn([0.4]), start_factor=0.25, total_iters=4),
                                 steps=10)]
    expected = [0.1, 0.175, 0.25, 0.325] + [0.4] * 7
    assert lrs == pytest.approx(expected, rel=1e-14)


def test_warmup_cosine_endpoints_by_hand():
    w, n, s, eta = 20, 120, 0.05, 1e-3
    opt = StandIn()
    lrs = run(warmup_cosine(opt, w, n, start_factor=s, eta_min=eta), steps=n)
    for g, alpha0 in enumerate(LRS):
        assert lrs[0][g] == pytest.approx(s * alpha0, rel=1e-14)
        assert lrs[w // 2][g] == pytest.approx(alpha0 * (s + (1 - s) / 2), rel=1e-14)
        assert lrs[w][g] == pytest.approx(alpha0, rel=1e-15)
        assert lrs[w + (n - w) // 2][g] == pytest.approx((alpha0 + eta) / 2, rel=1e-13)
        assert lrs[n][g] == pytest.approx(eta, rel=1e-10)
        assert opt.param_groups[g]["initial_lr"] == alpha0


@pytest.mark.parametrize("name", [n for n in CASES if not n.startswith("seq")])
def test_recursion_follows_closed_form(name):
    sched = CASES[name](ours, StandIn())
    for _ in range(STEPS):
        sched.step()
        closed = sched._get_closed_form_lr()
        assert sched.get_last_lr() == pytest.approx(closed, rel=1e-9, abs=1e-15)


def test_construction_sets_initial_lr_and_writes_groups():
    opt = StandIn()
    sched = ExponentialLR(opt, gamma=0.5)
    assert [g["initial_lr"] for g in opt.param_groups] == list(LRS) == sched.base_lrs
    assert sched.last_epoch == 0 and sched.get_last_lr() == list(LRS)
    sched.step()
    assert [g["lr"] for g in opt.param_groups] == [0.05, 0.015] == sched.get_last_lr()


def test_resume_needs_initial_lr_in_every_group():
    opt = StandIn()
    opt.param_groups[0]["initial_lr"] = 0.1
    with pytest.raises(KeyError, match=r"initial_lr.*param_groups\[1\]"):
        StepLR(opt, step_size=3, last_epoch=4)


# ---- state_dict: JSON and a bitwise continuation ----

@pytest.mark.parametrize("name", list(CASES), ids=list(CASES))
@pytest.mark.parametrize("k", [0, 7, 123])
def test_state_dict_round_trip_continues_identically(name, k):
    build = CASES[name]
    whole = run(build(ours, StandIn()), steps=k + 300)
    first = build(ours, StandIn())
    run(first, steps=k)
    saved = json.loads(json.dumps(first.state_dict()))  # what a JSON checkpoint holds
    first.step()  # a state_dict is a copy: later steps do not change it
    assert json.loads(json.dumps(first.state_dict())) != saved
    opt = StandIn()
    resumed = build(ours, opt)  # fresh optimizer, fresh schedule, then the saved state
    resumed.load_state_dict(saved)
    assert [g["lr"] for g in opt.param_groups] == whole[k]
    assert run(resumed, steps=300) == whole[k:]


def test_sequential_state_dict_holds_the_sub_states():
    sched = warmup_cosine(StandIn(), 5, 50)
    state = sched.state_dict()
    assert [s["T_max"] for s in state["_schedulers"][1:]] == [45]
    assert state["_milestones"] == [5] and "optimizer" not in state


# ---- the project's optimizers ----

def skip_without_param_groups():
    from numpy_adam.nn import Parameter
    from numpy_adam.optim import Adam

    if not hasattr(Adam([("w", Parameter(np.ones(3)))], lr=0.1), "param_groups"):
        pytest.skip("the optimizers have no param_groups yet")


def test_drives_the_real_optimizers():
    from numpy_adam.nn import Parameter
    from numpy_adam.optim import SGD, Adam

    def groups():
        return [{"params": [(name, Parameter(np.ones(3)))], "lr": lr}
                for name, lr in zip("ab", LRS)]

    skip_without_param_groups()
    for make in (Adam, SGD):
        opt, stand_in = make(groups()), StandIn()
        sched = warmup_cosine(opt, 10, 100, eta_min=1e-4)
        expected = run(warmup_cosine(stand_in, 10, 100, eta_min=1e-4), steps=60)
        assert run(sched, steps=60) == expected
        assert [g["lr"] for g in opt.param_groups] == expected[-1]
        assert json.dumps(sched.state_dict())


def test_sgd_steps_with_the_scheduled_lr():
    from numpy_adam.nn import Parameter
    from numpy_adam.optim import SGD

    skip_without_param_groups()
    params = [Parameter(np.ones(3)), Parameter(np.ones(2))]
    opt = SGD([{"params": [(name, p)], "lr": lr} for name, p, lr in zip("ab", params, LRS)])
    sched = ExponentialLR(opt, gamma=0.5)
    for _ in range(3):
        sched.step()
    for p in params:
        p.grad = np.ones_like(p.data)
    opt.step()
    for p, lr in zip(params, LRS):  # θ ← θ − α_3 g with α_3 = α_0 / 8
        np.testing.assert_allclose(p.data, 1.0 - lr / 8, rtol=1e-15)


# ---- bad arguments ----

BAD = [  # (build(optimizer), exception type, fragments of the message)
    (lambda o: StepLR(o, step_size=0), ValueError, ["StepLR: step_size must be", "got 0"]),
    (lambda o: StepLR(o, step_size=2.0), TypeError, ["step_size", "positive int", "2.0"]),
    (lambda o: StepLR(o, step_size=True), TypeError, ["step_size", "True"]),
    (lambda o: StepLR(o, 3, gamma=0.0), ValueError, ["StepLR: gamma", "> 0", "got 0.0"]),
    (lambda o: StepLR(o, 3, gamma=math.nan), ValueError, ["gamma", "finite", "nan"]),
    (lambda o: StepLR(o, 3, gamma="0.1"), TypeError, ["gamma", "'0.1'"]),
    (lambda o: StepLR(o, 3, last_epoch=-2), ValueError, ["last_epoch", ">= -1", "-2"]),
    (lambda o: ExponentialLR(o, gamma=-0.5), ValueError, ["ExponentialLR: gamma", "-0.5"]),
    (lambda o: ExponentialLR(o, gamma=math.inf), ValueError, ["gamma", "finite", "inf"]),
    (lambda o: CosineAnnealingLR(o, T_max=0), ValueError, ["CosineAnnealingLR: T_max", "0"]),
    (lambda o: CosineAnnealingLR(o, T_max=10.5), TypeError, ["T_max", "10.5"]),
    (lambda o: CosineAnnealingLR(o, 10, eta_min=-1e-3), ValueError,
     ["eta_min", ">= 0", "-0.001"]),
    (lambda o: CosineAnnealingLR(o, 10, eta_min=None), TypeError, ["eta_min", "None"]),
    (lambda o: LinearLR(o, start_factor=0.0), ValueError,
     ["LinearLR: start_factor must be a number in (0, 1], got 0.0"]),
    (lambda o: LinearLR(o, start_factor=1.5), ValueError, ["start_factor", "1.5"]),
    (lambda o: LinearLR(o, end_factor=1.2), ValueError, ["end_factor", "[0, 1]", "1.2"]),
    (lambda o: LinearLR(o, total_iters=0), ValueError, ["total_iters", "positive int", "0"]),
    (lambda o: SequentialLR(o, [], []), ValueError, ["SequentialLR: schedulers", "non-empty"]),
    (lambda o: SequentialLR(o, LinearLR(o), []), TypeError, ["schedulers", "list"]),
    (lambda o: SequentialLR(o, [LinearLR(o), "cosine"], [5]), TypeError,
     ["schedulers[1] must be a scheduler", "'cosine'"]),
    (lambda o: SequentialLR(o, [LinearLR(o), StepLR(StandIn(), 3)], [5]), ValueError,
     ["schedulers[1] must be on the same optimizer", "StepLR"]),
    (lambda o: SequentialLR(o, [LinearLR(o), ExponentialLR(o, 0.9)], []), ValueError,
     ["milestones must be 1 increasing positive ints", "got []"]),
    (lambda o: SequentialLR(o, [LinearLR(o), ExponentialLR(o, 0.9)], [0]), ValueError,
     ["milestones", "positive", "got 0"]),
    (lambda o: SequentialLR(o, [LinearLR(o), ExponentialLR(o, 0.9), StepLR(o, 2)], [9, 4]),
     ValueError, ["milestones must be 2 increasing", "[9, 4]"]),
    (lambda o: SequentialLR(o, [LinearLR(o), ExponentialLR(o, 0.9)], [2.5]), TypeError,
     ["milestones", "2.5"]),
    (lambda o: SequentialLR(o, [LinearLR(o), ExponentialLR(o, 0.9)], [5], last_epoch=3),
     ValueError, ["last_epoch must be -1", "got 3"]),
    (lambda o: warmup_cosine(o, 0, 100), ValueError, ["warmup_cosine: warmup_steps", "got 0"]),
    (lambda o: warmup_cosine(o, 10, 10), ValueError, ["total_steps", "> warmup_steps", "10"]),
    (lambda o: warmup_cosine(o, 10, 100, start_factor=0), ValueError, ["start_factor", "0"]),
    (lambda o: StepLR(object(), 3), TypeError, ["StepLR: optimizer must be", "param_groups"]),
    (lambda o: ExponentialLR([{"lr": 0.1}], 0.9), TypeError, ["optimizer", "[{'lr': 0.1}]"]),
]


class NoLr:
    param_groups = [{"learning_rate": 0.1}]


@pytest.mark.parametrize("build, exc, fragments", BAD)
def test_bad_arguments_are_refused_with_a_message(build, exc, fragments):
    with pytest.raises(exc) as info:
        build(StandIn())
    for fragment in fragments:
        assert fragment in str(info.value)


def test_groups_without_lr_are_not_an_optimizer():
    with pytest.raises(TypeError, match="CosineAnnealingLR: optimizer must be"):
        CosineAnnealingLR(NoLr(), T_max=10)
