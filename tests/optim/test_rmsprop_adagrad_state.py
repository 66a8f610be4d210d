"""RMSprop's and Adagrad's hyperparameter checks (PyTorch's, in this project's message format),
their state_dict round trips (bitwise continuation) and what load_state_dict refuses."""
import json

import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim.adagrad import Adagrad
from numpy_adam.optim.rmsprop import RMSprop
from numpy_adam.optim.stats import FIELDS

NUMBER = "a finite number >= 0"
BAD = [  # (class, keyword arguments, message after "<Owner>: ", PyTorch refuses it too)
    (RMSprop, dict(lr=-0.1), f"lr must be {NUMBER}, got -0.1", True),
    (RMSprop, dict(lr=float("nan")), f"lr must be {NUMBER}, got NaN", True),
    (RMSprop, dict(lr=float("inf")), f"lr must be {NUMBER}, got inf", False),
    (RMSprop, dict(lr="0.1"), f"lr must be {NUMBER}, got '0.1' of type str", False),
    (RMSprop, dict(eps=-1e-8), f"eps must be {NUMBER}, got -1e-08", True),
    (RMSprop, dict(weight_decay=-0.5), f"weight_decay must be {NUMBER}, got -0.5", True),
    (RMSprop, dict(momentum=-0.9), f"momentum must be {NUMBER}, got -0.9", True),
    (RMSprop, dict(alpha=-0.1), "alpha must be a number in [0, 1], got -0.1", True),
    (RMSprop, dict(alpha=1.5), "alpha must be a number in [0, 1], got 1.5", False),
    (RMSprop, dict(centered=1), "centered must be True or False, got 1", False),
    (RMSprop, dict(maximize="yes"), "maximize must be True or False, got 'yes'", False),
    (RMSprop, dict(probe_betas=(1.0, 0.9)),
     "beta1 (probe_betas[0]) must be a number in [0, 1), got 1.0", False),
    (Adagrad, dict(lr=-1.0), f"lr must be {NUMBER}, got -1.0", True),
    (Adagrad, dict(lr_decay=-0.01), f"lr_decay must be {NUMBER}, got -0.01", True),
    (Adagrad, dict(weight_decay=-1), f"weight_decay must be {NUMBER}, got -1", True),
    (Adagrad, dict(initial_accumulator_value=-0.1),
     f"initial_accumulator_value must be {NUMBER}, got -0.1", True),
    (Adagrad, dict(eps=-1e-10), f"eps must be {NUMBER}, got -1e-10", True),
    (Adagrad, dict(eps=True), f"eps must be {NUMBER}, got True of type bool", False),
    (Adagrad, dict(probe_betas=0.9), "probe_betas must be a pair (beta1, beta2), got 0.9", False),
]
IDS = [f"{c.__name__}-{next(iter(kw))}={kw[next(iter(kw))]!r}" for c, kw, _, _ in BAD]


def _p():
    return Parameter(np.ones((2, 2)))


@pytest.mark.parametrize("cls, kwargs, message, torch_refuses", BAD, ids=IDS)
def test_bad_hyperparameters_are_refused_with_owner_argument_and_value(cls, kwargs, message,
                                                                       torch_refuses):
    with pytest.raises(ValueError) as error:
        cls([_p()], **kwargs)
    assert str(error.value) == f"{cls.__name__}: {message}"
    if "probe_betas" in kwargs:
        return  # optimizer-wide, not a group hyperparameter
    with pytest.raises(ValueError) as error:
        cls([{"params": [_p()]}, {"params": [_p()], **kwargs}])
    assert str(error.value) == f"{cls.__name__} param_groups[1]: {message}", "the group is named"


@pytest.mark.torch
@pytest.mark.parametrize("cls, kwargs", [(c, kw) for c, kw, _, refused in BAD if refused],
                         ids=[i for i, case in zip(IDS, BAD) if case[3]])
def test_pytorch_refuses_the_same_inputs(cls, kwargs):
    """The inputs PyTorch's constructor checks (the rest it accepts, or fails on otherwise)."""
    torch = pytest.importorskip("torch")
    with pytest.raises(ValueError):
        getattr(torch.optim, cls.__name__)([torch.ones(2, requires_grad=True)], **kwargs)


def test_boundary_values_are_accepted():
    edges = [(RMSprop, dict(lr=0.0, alpha=0.0, eps=0.0, weight_decay=0.0, momentum=0.0)),
             (RMSprop, dict(alpha=1.0)),
             (Adagrad, dict(lr=0.0, lr_decay=0.0, eps=0.0, initial_accumulator_value=0.0))]
    for cls, kwargs in edges:
        hparams = cls([_p()], **kwargs).hparams.as_dict()
        assert {k: hparams[k] for k in kwargs} == kwargs, (cls.__name__, hparams)


# --- state_dict -------------------------------------------------------------------------------

CASES = {
    "rmsprop-centered-momentum-probe": (RMSprop, dict(momentum=0.9, centered=True,
                                                      weight_decay=0.01, probe_betas=(0.9, 0.99))),
    "rmsprop-plain": (RMSprop, dict()),
    "adagrad-decay-init-probe": (Adagrad, dict(lr_decay=0.05, initial_accumulator_value=0.1,
                                               probe_betas=(0.8, 0.9))),
    "adagrad-plain": (Adagrad, dict()),
}
K, N = 7, 13  # save after K steps, then N more


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls, kwargs", list(CASES.values()), ids=list(CASES))
def test_restore_continues_bitwise(cls, kwargs, dtype, make_params, gradient_stream,
                                   params_like):
    rng = np.random.default_rng(100)
    uninterrupted = cls(make_params(np.random.default_rng(101), dtype=dtype), **kwargs)
    first_half = cls(make_params(np.random.default_rng(101), dtype=dtype), **kwargs)
    grads = gradient_stream(rng, first_half.flat.data.size, K + N, dtype=dtype)
    for g in grads[:K]:
        for opt in (uninterrupted, first_half):
            opt.flat.grad[:] = g
            opt.step()
    saved = first_half.state_dict()
    meta = json.loads(json.dumps({k: v for k, v in saved.items() if k != "state"}))
    restored = cls(params_like(first_half), lr=0.5)  # other defaults: the state wins
    restored.load_state_dict({**meta, "state": saved["state"]})
    assert restored.t == K and restored.probe_betas == first_half.probe_betas
    for g in grads[K:]:
        for opt in (uninterrupted, restored):
            opt.flat.grad[:] = g
            opt.step()
    np.testing.assert_array_equal(restored.flat.data, uninterrupted.flat.data,
                                  err_msg="θ after restore must equal the uninterrupted run")
    want = uninterrupted.state_dict()["state"]
    assert set(restored.state_dict()["state"]) == set(want)
    for name, array in restored.state_dict()["state"].items():
        np.testing.assert_array_equal(array, want[name], err_msg=f"state {name}")
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(restored.last_stats, field),
                                      getattr(uninterrupted.last_stats, field), err_msg=field)


@pytest.mark.parametrize("cls, kwargs, names", [
    (RMSprop, dict(), {"v"}),
    (RMSprop, dict(centered=True, momentum=0.5, probe_betas=(0.9, 0.9)),
     {"v", "g_avg", "b", "probe_m", "probe_v"}),
    (Adagrad, dict(), {"s"}),
    (Adagrad, dict(probe_betas=(0.9, 0.99)), {"s", "probe_m", "probe_v"})])
def test_state_dict_holds_the_arrays_the_options_need(cls, kwargs, names):
    opt = cls([("w", _p())], **kwargs)
    state = opt.state_dict()
    assert state["optimizer"] == cls.__name__ and set(state["state"]) == names, state["state"]
    betas = kwargs.get("probe_betas")
    assert state["probe_betas"] == (None if betas is None else list(betas))
    state["state"][next(iter(names))][:] = 123.0
    assert not np.any(opt._arrays()[next(iter(names))] == 123.0), "state_dict must copy"


@pytest.mark.parametrize("cls, name", [(RMSprop, "v"), (Adagrad, "s")])
def test_negative_square_sums_are_refused_on_load(cls, name):
    opt = cls([("w", _p())])
    state = opt.state_dict()
    state["state"][name][0] = -1.0
    with pytest.raises(ValueError, match=f"{cls.__name__}.load_state_dict: state array '{name}' "
                                         "holds negative values"):
        opt.load_state_dict(state)


def test_load_refuses_arrays_that_do_not_fit_the_options():
    plain = RMSprop([("w", _p())]).state_dict()
    centered = RMSprop([("w", _p())], centered=True)
    with pytest.raises(ValueError, match=r"state array 'g_avg' must be a float64 array of "
                                         r"shape \(4,\), got 'NoneType'"):
        centered.load_state_dict({**plain, "param_groups": centered.state_dict()["param_groups"]})
    with pytest.raises(ValueError, match="state_dict is from 'RMSprop', not 'Adagrad'"):
        Adagrad([("w", _p())]).load_state_dict(plain)
    probed = RMSprop([("w", _p())], probe_betas=(0.9, 0.99)).state_dict()
    with pytest.raises(ValueError, match=r"unexpected state arrays \['probe_m', 'probe_v'\]"):
        RMSprop([("w", _p())]).load_state_dict({**probed, "probe_betas": None})
