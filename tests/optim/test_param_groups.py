"""Parameter groups and ``maximize`` with torch.optim's semantics: trajectories against torch
with two groups of different settings, PyTorch's own table of error inputs, state_dict round
trips with groups, add_param_group, and statistics that stay per tracked tensor."""
import json

import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim import SGD, Adam, AdamW

SHAPES = [(4, 3), (5,), (2, 2, 3), (6,)]
STEPS = 400


def _init(seed=60):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s) for s in SHAPES], rng


def _groups(params, second):
    """Two groups: params 0-1 with the defaults, params 2-3 with ``second``'s settings."""
    return [{"params": params[:2]}, {"params": params[2:], **second}]


GROUP_CASES = {
    "adam": (Adam, "Adam", dict(lr=0.01, betas=(0.9, 0.99)),
             dict(lr=0.05, betas=(0.8, 0.9), weight_decay=0.1, amsgrad=True)),
    "adam-maximize": (Adam, "Adam", dict(lr=0.01, maximize=True),
                      dict(lr=0.002, eps=1e-3, maximize=False)),
    "adamw": (AdamW, "AdamW", dict(lr=0.01, weight_decay=0.05),
              dict(weight_decay=0.0, maximize=True)),
    "sgd": (SGD, "SGD", dict(lr=0.01, momentum=0.9),
            dict(lr=0.03, momentum=0.5, dampening=0.2, weight_decay=0.01)),
    "sgd-nesterov-maximize": (SGD, "SGD", dict(lr=0.01, momentum=0.8, nesterov=True),
                              dict(lr=0.02, nesterov=False, momentum=0.9, maximize=True)),
}


@pytest.mark.torch
@pytest.mark.parametrize("case", list(GROUP_CASES), ids=list(GROUP_CASES))
def test_two_groups_follow_torch_for_hundreds_of_steps(case):
    torch = pytest.importorskip("torch")
    ours, theirs, defaults, second = GROUP_CASES[case]
    init, rng = _init()
    noise = [rng.normal(size=(STEPS,) + s) for s in SHAPES]
    params = [Parameter(x) for x in init]
    opt = ours(_groups(params, second), **defaults)
    t_params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in init]
    t_opt = getattr(torch.optim, theirs)(_groups(t_params, second), foreach=False, **defaults)
    worst = 0.0
    for t in range(STEPS):
        for p, tp, n in zip(params, t_params, noise):
            p.grad = 0.5 * p.data + n[t]  # each side's own θ, so a difference would feed back
            tp.grad = 0.5 * tp.detach().clone() + torch.from_numpy(n[t])
        opt.step()
        t_opt.step()
        worst = max(worst, max(float(np.max(np.abs(p.data - tp.detach().numpy())
                                            / (1.0 + np.abs(tp.detach().numpy()))))
                               for p, tp in zip(params, t_params)))
    # relative: a maximizing group ascends 0.25 θ² + ..., so its θ grows without bound
    assert worst < 1e-10, f"{case}: max |θ − θ_torch|/(1 + |θ_torch|) over {STEPS} steps = {worst:.3g}"
    ours_groups = opt.state_dict()["param_groups"]
    for g, tg in zip(ours_groups, t_opt.state_dict()["param_groups"]):
        shared = {k: g[k] for k in g if k in tg and k != "params"}
        assert shared == {k: (tuple(tg[k]) if isinstance(tg[k], (list, tuple)) else tg[k])
                          for k in shared}, f"{case}: group values differ from torch's"


@pytest.mark.torch
@pytest.mark.parametrize("cls, name", [(Adam, "Adam"), (SGD, "SGD")])
def test_lr_changed_in_param_groups_between_steps_as_in_torch(cls, name):
    torch = pytest.importorskip("torch")
    init, _ = _init(61)
    params = [Parameter(x) for x in init]
    opt = cls(_groups(params, dict(lr=0.02)), lr=0.01)
    t_params = [torch.tensor(x, dtype=torch.float64, requires_grad=True) for x in init]
    t_opt = getattr(torch.optim, name)(_groups(t_params, dict(lr=0.02)), lr=0.01, foreach=False)
    for t in range(50):
        for p, tp in zip(params, t_params):
            p.grad = np.cos(p.data)
            tp.grad = torch.cos(tp.detach())
        for group, t_group in zip(opt.param_groups, t_opt.param_groups):
            group["lr"] = t_group["lr"] = 0.01 * (1 + t % 5)
        opt.step()
        t_opt.step()
    for p, tp in zip(params, t_params):
        np.testing.assert_allclose(p.data, tp.detach().numpy(), rtol=0, atol=1e-12)


def test_maximize_ascends_a_concave_function():
    x = Parameter(np.array([0.0]))
    opt = Adam([x], lr=0.1, maximize=True)
    for _ in range(200):
        x.grad = -2.0 * (x.data - 3.0)  # ∇ of −(x − 3)², maximal at 3
        opt.step()
    assert abs(x.data[0] - 3.0) < 0.2, x.data


# --- PyTorch's table of error inputs (its test suite's common_optimizers), replayed ----------------

def _p():
    return Parameter(np.ones((1, 1)))


P1, P2 = _p(), _p()
ERROR_TABLE = [  # (id, params, kwargs, error, message) — PyTorch's error type, our wording
    ("invalid param type", lambda: P1, {}, TypeError,
     "params argument given to the optimizer should be an iterable"),
    ("duplicates across groups", lambda: [{"params": P1}, {"params": P1}], {}, ValueError,
     "some parameters appear in more than one parameter group"),
    ("names missing", lambda: [("weight", P1), P2], {}, ValueError,
     "all optimizer params should be with/without names. Some param names are missing"),
    ("groups with and without names",
     lambda: [{"params": [P1], "lr": 1e-2}, {"params": [("weight", P2)]}], {}, ValueError,
     "all optimizer param groups should be with/without names. cannot add param group with "
     "names to the optimizer"),
    ("empty", lambda: [], {}, ValueError, "optimizer got an empty parameter list"),
    ("a set", lambda: {P1}, {}, TypeError, "not a set"),
    ("group not a dict", lambda: [{"params": [P1]}, [P2]], {}, TypeError,
     r"param_groups\[1\] must be a dict"),
]
ADAM_ERRORS = [
    ("beta1 in [0, 1)", {"lr": 1e-2, "betas": (1.0, 0.0)}, r"beta1 \(betas\[0\]\) must be a number "
                                                           r"in \[0, 1\), got 1.0"),
    ("weight_decay >= 0", {"lr": 1e-2, "weight_decay": -1}, "weight_decay must be a finite "
                                                            "number >= 0, got -1"),
]
SGD_ERRORS = [("momentum >= 0", {"lr": 1e-2, "momentum": -0.5}, "momentum must be a finite number "
                                                                ">= 0, got -0.5")]


@pytest.mark.parametrize("cls", [Adam, AdamW, SGD])
@pytest.mark.parametrize("case", ERROR_TABLE, ids=[c[0] for c in ERROR_TABLE])
def test_pytorchs_error_inputs_for_every_optimizer(cls, case):
    _, params, kwargs, error, message = case
    with pytest.raises(error, match=message):
        cls(params(), **kwargs)


@pytest.mark.parametrize("cls, case", [(c, e) for c in (Adam, AdamW) for e in ADAM_ERRORS]
                         + [(SGD, e) for e in SGD_ERRORS], ids=lambda v: getattr(v, "__name__", None))
def test_pytorchs_hyperparameter_error_inputs(cls, case):
    _, kwargs, message = case
    with pytest.raises(ValueError, match=message):
        cls([_p()], **kwargs)
    with pytest.raises(ValueError, match=r"param_groups\[1\]: " + message.split(" ", 1)[0]):
        cls([{"params": [_p()]}, {"params": [_p()], **kwargs}])


def test_duplicates_inside_one_group_warn_as_in_torch_and_count_once():
    p = _p()
    with pytest.warns(UserWarning, match="a parameter group with duplicate parameters"):
        opt = SGD([p, p], lr=0.1)
    assert opt.flat.data.size == 1 and len(opt.param_groups[0]["params"]) == 1


# --- state, groups and statistics -------------------------------------------------------------------

def test_state_dict_round_trips_groups_through_json_and_continues_bitwise():
    init, rng = _init(62)
    grads = rng.normal(size=(40, sum(int(np.prod(s)) for s in SHAPES)))

    def make():
        params = [(f"p{i}", Parameter(x)) for i, x in enumerate(init)]
        return Adam(_groups(params, dict(lr=0.05, amsgrad=True, maximize=True)), lr=0.01)

    whole, first = make(), make()
    for g in grads[:20]:
        for opt in (whole, first):
            opt.flat.grad[:] = g
            opt.step()
    state = first.state_dict()
    meta = json.loads(json.dumps({k: v for k, v in state.items() if k != "state"}))
    state["param_groups"][1]["initial_lr"] = 0.05  # a key a schedule adds is kept, as in torch
    meta["param_groups"][1]["initial_lr"] = 0.05
    restored = make()
    restored.flat.data[:] = first.flat.data  # the model's own checkpoint carries θ
    restored.load_state_dict({**meta, "state": state["state"]})
    assert restored.param_groups[1]["initial_lr"] == 0.05 and restored.param_groups[1]["maximize"]
    for g in grads[20:]:
        for opt in (whole, restored):
            opt.flat.grad[:] = g
            opt.step()
    np.testing.assert_array_equal(restored.flat.data, whole.flat.data)


def test_add_param_group_appends_to_the_flat_buffer_with_zero_state():
    a, b = Parameter(np.array([1.0, 2.0])), Parameter(np.array([3.0]))
    opt = Adam([("a", a)], lr=0.1)
    a.grad = np.array([1.0, -1.0])
    opt.step()
    m_before = opt.m.copy()
    opt.add_param_group({"params": [("b", b)], "lr": 0.5})
    assert opt.flat.data.size == 3 and opt.flat.names == ("a", "b")
    np.testing.assert_array_equal(opt.flat.data[:2], a.data)
    np.testing.assert_array_equal(opt.m, [*m_before, 0.0])
    b.grad = np.array([2.0])
    a.grad = np.zeros(2)
    b_before = b.data.copy()
    opt.step()
    # b's first Adam step at t = 2: m̂ = 0.1·2/(1 − 0.9²), v̂ = 0.001·4/(1 − 0.999²): |u| ≈ 0.55
    m_hat, v_hat = 0.2 / (1 - 0.81), 0.004 / (1 - 0.999 ** 2)
    np.testing.assert_allclose(b_before - b.data, 0.5 * m_hat / (np.sqrt(v_hat) + 1e-8))
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [("a2", a)]})


def test_statistics_stay_per_tracked_tensor_across_groups():
    rng = np.random.default_rng(63)
    params = [(f"l{i}.weight", Parameter(rng.normal(size=(30, 20)))) for i in range(3)]
    one = Adam([pair for pair in params], lr=0.01)
    init = [p.data.copy() for _, p in params]
    params2 = [(n, Parameter(x)) for (n, _), x in zip(params, init)]
    two = Adam([{"params": params2[:1]}, {"params": params2[1:]}], lr=0.01)
    for _ in range(5):
        g = rng.normal(size=one.flat.data.size)
        one.flat.grad[:] = g
        two.flat.grad[:] = g
        one.step()
        two.step()
    assert two.last_stats.names == one.last_stats.names == ("l0.weight", "l1.weight", "l2.weight")
    for field in ("mean_abs_m", "sigma", "update", "neg_var_frac"):
        np.testing.assert_array_equal(getattr(two.last_stats, field), getattr(one.last_stats, field))
