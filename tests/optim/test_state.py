"""state_dict / load_state_dict: save after k steps, restore into a fresh optimizer, continue
bitwise identically; everything a state holds is validated before anything changes."""
import numpy as np
import pytest

from numpy_adam.optim import SGD, Adam, AdamW
from numpy_adam.optim.stats import FIELDS

CASES = {
    "adam-amsgrad-l2": (Adam, dict(lr=0.01, amsgrad=True, weight_decay=0.01)),
    "adamw": (AdamW, dict(lr=0.01)),
    "sgd-momentum-probe": (SGD, dict(lr=0.01, momentum=0.9, dampening=0.1, weight_decay=0.01,
                                     probe_betas=(0.9, 0.99))),
    "sgd-plain": (SGD, dict(lr=0.01)),
}
K, N = 7, 13  # save after K steps, then N more


def _state_arrays(opt):
    return {k: v for k, v in opt.state_dict()["state"].items()}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls, kwargs", list(CASES.values()), ids=list(CASES))
def test_restore_continues_bitwise(cls, kwargs, dtype, make_params, gradient_stream,
                                   params_like):
    rng = np.random.default_rng(30)
    uninterrupted = cls(make_params(np.random.default_rng(31), dtype=dtype), **kwargs)
    first_half = cls(make_params(np.random.default_rng(31), dtype=dtype), **kwargs)
    grads = gradient_stream(rng, first_half.flat.data.size, K + N, dtype=dtype)
    for g in grads[:K]:
        for opt in (uninterrupted, first_half):
            opt.flat.grad[:] = g
            opt.step()
    saved = first_half.state_dict()
    restored = cls(params_like(first_half), **kwargs)
    restored.load_state_dict(saved)
    assert restored.t == K, f"t must be restored, got {restored.t}"
    for g in grads[K:]:
        for opt in (uninterrupted, restored):
            opt.flat.grad[:] = g
            opt.step()
    np.testing.assert_array_equal(restored.flat.data, uninterrupted.flat.data,
                                  err_msg="θ after restore must equal the uninterrupted run")
    want = _state_arrays(uninterrupted)
    for name, array in _state_arrays(restored).items():
        np.testing.assert_array_equal(array, want[name], err_msg=f"state {name}")
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(restored.last_stats, field),
                                      getattr(uninterrupted.last_stats, field), err_msg=field)


def test_state_dict_holds_copies_not_views(make_params, params_like):
    rng = np.random.default_rng(32)
    opt = Adam(make_params(rng), amsgrad=True)
    opt.flat.grad[:] = 1.0
    opt.step()
    state = opt.state_dict()
    assert set(state["state"]) == {"m", "v", "v_max"}, state["state"].keys()
    assert state["param_groups"][0]["betas"] == (0.9, 0.999), state["param_groups"]
    m_before = opt.m.copy()
    state["state"]["m"][:] = 123.0
    np.testing.assert_array_equal(opt.m, m_before, err_msg="state_dict must return copies")
    other = Adam(params_like(opt), amsgrad=True)
    other.load_state_dict(state)
    state["state"]["v"][:] = -1.0
    assert np.all(other.v >= 0), "load_state_dict must copy, not keep the caller's arrays"


def test_load_restores_hyperparameters_like_pytorch(make_params, params_like):
    rng = np.random.default_rng(33)
    a = Adam(make_params(rng), lr=0.05, betas=(0.8, 0.9))
    b = Adam(params_like(a), lr=1.0)
    b.load_state_dict(a.state_dict())
    assert b.lr == 0.05 and (b.hparams.beta1, b.hparams.beta2) == (0.8, 0.9), b.hparams
    s = SGD(make_params(rng), lr=0.1)
    target = SGD(params_like(s), lr=0.1, momentum=0.9, probe_betas=(0.9, 0.99))
    target.load_state_dict(s.state_dict())
    assert target.b is None and target.probe is None, "state arrays follow the hyperparameters"


def _bad_states(opt):
    """(id, mutate(state), expected message fragment)."""
    def set_key(path, value):
        def mutate(state):
            d = state
            for key in path[:-1]:
                d = d[key]
            d[path[-1]] = value
        return mutate

    P = opt.flat.data.size
    return [
        ("wrong-class", set_key(["optimizer"], "SGD"), "from 'SGD'"),
        ("missing-key", lambda s: s.pop("t"), "lacks keys"),
        ("negative-t", set_key(["t"], -1), "t must be"),
        ("float-t", set_key(["t"], 1.5), "t must be"),
        ("segments", set_key(["segments"], [("w", (P,))]), "shapes"),
        ("short-m", set_key(["state", "m"], np.zeros(P - 1)), "'m'"),
        ("dtype-v", set_key(["state", "v"], np.zeros(P, dtype=np.float32)), "'v'"),
        ("missing-vmax", set_key(["param_groups", 0, "amsgrad"], True), "'v_max'"),
        ("bad-lr", set_key(["param_groups", 0, "lr"], -1.0), r"param_groups\[0\]: lr must be"),
        ("missing-hyperparameter", lambda s: s["param_groups"][0].pop("eps"),
         r"lacks hyperparameters \['eps'\]"),
        ("group-params", set_key(["param_groups", 0, "params"], [0]), "holds parameters"),
        ("group-count", lambda s: s["param_groups"].append(dict(s["param_groups"][0])),
         "2 parameter groups"),
        ("extra-array", set_key(["state", "b"], np.zeros(P)), "unexpected state arrays"),
        ("negative-v", set_key(["state", "v"], np.full(P, -1.0)), "'v' holds negative"),
        ("nan-m", set_key(["state", "m"], np.full(P, np.nan)), "'m' holds NaN or Inf"),
        ("inf-v", set_key(["state", "v"], np.full(P, np.inf)), "'v' holds NaN or Inf"),
    ]


@pytest.mark.parametrize("case", range(16))
def test_load_rejects_bad_states_and_changes_nothing(case, make_params):
    rng = np.random.default_rng(34)
    opt = Adam(make_params(rng))
    opt.flat.grad[:] = 1.0
    opt.step()
    name, mutate, fragment = _bad_states(opt)[case]
    state = opt.state_dict()
    mutate(state)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=fragment):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert after["t"] == before["t"] and after["param_groups"] == before["param_groups"], name
    for key, array in before["state"].items():
        np.testing.assert_array_equal(after["state"][key], array, err_msg=f"{name}: {key} changed")
