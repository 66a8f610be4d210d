"""signSGD, Signum, Lion and M-SVAG: hyperparameter checks, state_dict round trips that continue
bitwise, and parameter groups (each group its own settings, as in torch.optim)."""
import re

import numpy as np
import pytest

from numpy_adam.nn import Parameter
from numpy_adam.optim.lion import Lion, lion_update
from numpy_adam.optim.msvag import MSVAG, msvag_update
from numpy_adam.optim.sign import SignSGD, Signum, sign_sgd_update, signum_update
from numpy_adam.optim.stats import FIELDS, bias_corrections, spread_stats

NAN, INF = float("nan"), float("inf")

BAD = [  # (optimizer, keyword arguments, the message after "<Owner>: ")
    (SignSGD, dict(lr=-1e-3), "lr must be a finite number >= 0, got -0.001"),
    (SignSGD, dict(weight_decay=NAN), "weight_decay must be a finite number >= 0, got NaN"),
    (SignSGD, dict(maximize="yes"), "maximize must be True or False, got 'yes'"),
    (SignSGD, dict(probe_betas=(1.0, 0.9)),
     "beta1 (probe_betas[0]) must be a number in [0, 1), got 1.0"),
    (SignSGD, dict(probe_betas=0.9), "probe_betas must be a pair (beta1, beta2), got 0.9"),
    (Signum, dict(beta=1.0), "beta must be a number in [0, 1), got 1.0"),
    (Signum, dict(beta=-0.1), "beta must be a number in [0, 1), got -0.1"),
    (Signum, dict(beta=NAN), "beta must be a number in [0, 1), got NaN"),
    (Signum, dict(beta="0.9"), "beta must be a number in [0, 1), got '0.9' of type str"),
    (Signum, dict(lr=INF), "lr must be a finite number >= 0, got inf"),
    (Signum, dict(weight_decay=-0.1), "weight_decay must be a finite number >= 0, got -0.1"),
    (Lion, dict(betas=(0.9, 1.0)), "beta2 (betas[1]) must be a number in [0, 1), got 1.0"),
    (Lion, dict(betas=(-0.5, 0.99)), "beta1 (betas[0]) must be a number in [0, 1), got -0.5"),
    (Lion, dict(betas=0.9), "betas must be a pair (beta1, beta2), got 0.9"),
    (Lion, dict(weight_decay=-1.0), "weight_decay must be a finite number >= 0, got -1.0"),
    (Lion, dict(maximize=1), "maximize must be True or False, got 1"),
    (Lion, dict(probe_betas=(0.9, NAN)),
     "beta2 (probe_betas[1]) must be a number in [0, 1), got NaN"),
    (MSVAG, dict(beta=0.0), "beta must be a number in (0, 1), got 0.0"),
    (MSVAG, dict(beta=1.0), "beta must be a number in (0, 1), got 1.0"),
    (MSVAG, dict(beta=NAN), "beta must be a number in (0, 1), got NaN"),
    (MSVAG, dict(beta=True), "beta must be a number in (0, 1), got True of type bool"),
    (MSVAG, dict(beta="0.9"), "beta must be a number in (0, 1), got '0.9' of type str"),
    (MSVAG, dict(lr=-0.1), "lr must be a finite number >= 0, got -0.1"),
    (MSVAG, dict(weight_decay=INF), "weight_decay must be a finite number >= 0, got inf"),
    (MSVAG, dict(maximize=None), "maximize must be True or False, got None"),
]


def _params():
    return [("w", Parameter(np.ones((2, 2)))), ("b", Parameter(np.zeros(2), kind="bias"))]


@pytest.mark.parametrize("cls, kwargs, message", BAD,
                         ids=[f"{c.__name__}-{'-'.join(k)}-{i}" for i, (c, k, _) in enumerate(BAD)])
def test_bad_hyperparameter_raises_value_error_naming_it(cls, kwargs, message):
    with pytest.raises(ValueError) as info:
        cls(_params(), **kwargs)
    assert str(info.value) == f"{cls.__name__}: {message}", str(info.value)
    assert re.fullmatch(r"\w+: \S.* must be .+, got .+", str(info.value)), "the one format"


def test_msvag_has_no_probe_and_groups_are_checked_at_each_step():
    with pytest.raises(TypeError, match="probe_betas"):
        MSVAG(_params(), probe_betas=(0.9, 0.99))  # M-SVAG has its own m̂, v̂
    (_, a), (_, b) = _params()
    with pytest.raises(ValueError, match=re.escape(
            "Lion param_groups[1]: beta2 (betas[1]) must be a number in [0, 1), got 1.0")):
        Lion([{"params": [a]}, {"params": [b], "betas": (0.9, 1.0)}])
    opt = MSVAG(_params())
    opt.param_groups[0]["beta"] = 0.0  # e.g. by a schedule
    before = opt.flat.data.copy()
    with pytest.raises(ValueError, match=re.escape("MSVAG: beta must be a number in (0, 1)")):
        opt.step()
    assert opt.t == 0 and np.array_equal(opt.flat.data, before), "a refused step changes nothing"


# -- state_dict ------------------------------------------------------------------------------

CASES = {
    "signsgd-probe": (SignSGD, dict(lr=0.01, weight_decay=0.01, probe_betas=(0.9, 0.99))),
    "signum-maximize": (Signum, dict(lr=0.01, beta=0.8, maximize=True)),
    "lion-wd-probe": (Lion, dict(lr=0.01, weight_decay=0.1, probe_betas=(0.9, 0.999))),
    "msvag-wd": (MSVAG, dict(lr=0.01, beta=0.9, weight_decay=0.01)),
}
K, N = 7, 13  # save after K steps, then N more


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cls, kwargs", list(CASES.values()), ids=list(CASES))
def test_restore_continues_bitwise(cls, kwargs, dtype, make_params, gradient_stream,
                                   params_like):
    rng = np.random.default_rng(120)
    uninterrupted = cls(make_params(np.random.default_rng(121), dtype=dtype), **kwargs)
    first_half = cls(make_params(np.random.default_rng(121), dtype=dtype), **kwargs)
    grads = gradient_stream(rng, first_half.flat.data.size, K + N, dtype=dtype)
    for g in grads[:K]:
        for opt in (uninterrupted, first_half):
            opt.flat.grad[:] = g
            opt.step()
    saved = first_half.state_dict()
    no_probe = {k: v for k, v in kwargs.items() if k != "probe_betas"}
    restored = cls(params_like(first_half), **no_probe)  # the probe comes with the state
    restored.load_state_dict(saved)
    assert restored.t == K and getattr(restored, "probe_betas", None) == kwargs.get("probe_betas")
    for g in grads[K:]:
        for opt in (uninterrupted, restored):
            opt.flat.grad[:] = g
            opt.step()
    np.testing.assert_array_equal(restored.flat.data, uninterrupted.flat.data,
                                  err_msg="θ after restore must equal the uninterrupted run")
    want = uninterrupted.state_dict()["state"]
    got = restored.state_dict()["state"]
    assert sorted(got) == sorted(want), (sorted(got), sorted(want))
    for name, array in got.items():
        assert array.dtype == dtype, f"state {name} keeps θ's dtype"
        np.testing.assert_array_equal(array, want[name], err_msg=f"state {name}")
    for field in FIELDS:
        np.testing.assert_array_equal(getattr(restored.last_stats, field),
                                      getattr(uninterrupted.last_stats, field), err_msg=field)


@pytest.mark.parametrize("cls, mutate, fragment", [
    (MSVAG, lambda s: s["state"].__setitem__("v", -s["state"]["v"] - 1), "'v' holds negative"),
    (Signum, lambda s: s["state"].pop("m"), "state array 'm' must be"),
    (SignSGD, lambda s: s["state"].__setitem__("m", s["state"]["probe_m"]),
     "unexpected state arrays"),
    (Lion, lambda s: s.__setitem__("optimizer", "Signum"), "from 'Signum'"),
    (Lion, lambda s: s.__setitem__("probe_betas", [0.9, 1.0]), "probe_betas"),
], ids=["msvag-negative-v", "signum-missing-m", "signsgd-extra-m", "wrong-class", "probe-betas"])
def test_load_rejects_bad_states_and_changes_nothing(cls, mutate, fragment, make_params):
    rng = np.random.default_rng(122)
    opt = cls(make_params(rng), probe_betas=(0.9, 0.99)) if cls is not MSVAG else \
        cls(make_params(rng))
    opt.flat.grad[:] = 1.0
    opt.step()
    state = opt.state_dict()
    mutate(state)
    before = opt.state_dict()
    with pytest.raises(ValueError, match=re.escape(fragment)):
        opt.load_state_dict(state)
    after = opt.state_dict()
    assert after["t"] == before["t"] and after["param_groups"] == before["param_groups"]
    for key, array in before["state"].items():
        np.testing.assert_array_equal(after["state"][key], array, err_msg=f"{key} changed")


# -- parameter groups ------------------------------------------------------------------------

SHAPES = [(4, 3), (5,), (2, 2, 3), (6,)]
GROUPS = {  # id: (class, defaults, the second group's settings)
    "signsgd": (SignSGD, dict(lr=0.01), dict(lr=0.03, weight_decay=0.1, maximize=True)),
    "signum": (Signum, dict(lr=0.01, beta=0.9), dict(beta=0.5, weight_decay=0.05)),
    "lion": (Lion, dict(lr=0.01), dict(betas=(0.8, 0.9), weight_decay=0.5, maximize=True)),
    "msvag": (MSVAG, dict(lr=0.01, beta=0.9), dict(lr=0.05, beta=0.7, weight_decay=0.01)),
}


def _plain_step(cls, h, theta, g, state, t):
    """One step of the method's plain box on a slice; ``state`` holds m (and v)."""
    if cls is SignSGD:
        return sign_sgd_update(theta, g, h.lr, h.weight_decay, h.maximize)[0]
    if cls is Signum:
        theta, state["m"], _, _ = signum_update(theta, g, state["m"], h.lr, h.beta,
                                                h.weight_decay, h.maximize)
    elif cls is Lion:
        theta, state["m"], _, _ = lion_update(theta, g, state["m"], h.lr, h.beta1, h.beta2,
                                              h.weight_decay, h.maximize)
    else:
        theta, state["m"], state["v"], _ = msvag_update(theta, g, state["m"], state["v"], t,
                                                        h.lr, h.beta, h.weight_decay, h.maximize)
    return theta


@pytest.mark.parametrize("case", list(GROUPS), ids=list(GROUPS))
def test_two_groups_follow_their_own_plain_boxes(case):
    """Params 0-1 use the defaults, params 2-3 the second group's settings; at step 40 the
    second group's lr is changed, as a schedule would. Statistics use each group's β."""
    cls, defaults, second = GROUPS[case]
    rng = np.random.default_rng(123)
    params = [Parameter(rng.normal(size=s)) for s in SHAPES]
    opt = cls([{"params": params[:2]}, {"params": params[2:], **second}], sample_size=3,
              **defaults)
    cut = params[0].data.size + params[1].data.size  # the groups' slices of the flat buffer
    slices = (slice(0, cut), slice(cut, opt.flat.data.size))
    theta = opt.flat.data.copy()
    states = [{"m": np.zeros(s.stop - s.start), "v": np.zeros(s.stop - s.start)} for s in slices]
    for t in range(1, 81):
        if t == 40:
            opt.param_groups[1]["lr"] = 0.002
        g = 0.5 * theta + rng.normal(size=theta.shape)
        opt.flat.grad[:] = g
        opt.step()
        for i, part in enumerate(slices):
            theta[part] = _plain_step(cls, opt.group_hparams(i), theta[part], g[part], states[i], t)
        np.testing.assert_allclose(opt.flat.data, theta, rtol=0, atol=1e-12, err_msg=f"step {t}")
    if cls is MSVAG:  # statistics and the sample use each group's own β
        segments = [opt.flat.segments[i] for i in opt.tracked]
        want = [spread_stats(np.concatenate([states[0]["m"], states[1]["m"]]),
                             np.concatenate([states[0]["v"], states[1]["v"]]),
                             np.zeros_like(theta), 80, beta, beta, [seg],
                             gamma_at=[opt.sample_layout.element[opt.sample_layout.slot == k]])
                for k, (seg, beta) in enumerate(zip(segments, (0.9, 0.9, 0.7, 0.7)))]
        for field in ("mean_abs_m", "sigma", "gamma"):
            np.testing.assert_allclose(getattr(opt.last_stats, field),
                                       [getattr(w, field)[0] for w in want], rtol=1e-12)
        groups = np.array([0, 0, 1, 1])[opt.sample_layout.slot]
        c = np.array([bias_corrections(b, b, 80)[0] for b in (0.9, 0.7)])[groups]
        np.testing.assert_allclose(opt.last_sample.m_hat,
                                   opt.m[opt.sample_layout.flat_index] * c, rtol=1e-15)


def test_add_param_group_keeps_the_memory_and_starts_the_new_one_at_zero():
    rng = np.random.default_rng(124)
    a, b = Parameter(rng.normal(size=(3, 2))), Parameter(rng.normal(size=(4,)))
    opt = Lion([a], lr=0.01, probe_betas=(0.9, 0.99))
    for _ in range(5):
        a.grad[...] = rng.normal(size=a.data.shape)
        opt.step()
    m_before, probe_before = opt.m.copy(), opt.probe.m.copy()
    opt.add_param_group({"params": [b], "betas": (0.5, 0.6)})
    assert opt.m.shape == (10,) and opt.probe.m.shape == (10,), opt.m.shape
    np.testing.assert_array_equal(opt.m[:6], m_before)
    np.testing.assert_array_equal(opt.probe.m[:6], probe_before)
    assert not np.any(opt.m[6:]) and not np.any(opt.probe.v[6:]), "new elements start at 0"
    b.grad[...] = 1.0
    opt.step()
    np.testing.assert_allclose(opt.m[6:], 0.4, rtol=1e-15, err_msg="m_1 = (1 − β2) g, β2 = 0.6")
