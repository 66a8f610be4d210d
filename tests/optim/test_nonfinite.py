"""A non-finite gradient is refused before anything changes, naming the tensors."""
import numpy as np
import pytest

from numpy_adam.optim import (MSVAG, SGD, Adagrad, Adam, Lion, NonFiniteGradientError, RMSprop,
                              SignSGD, Signum)

PROBE = dict(probe_betas=(0.9, 0.99), sample_size=3)  # γ from the sample: that path too
OPTIMIZERS = {
    "adam-amsgrad": lambda p: Adam(p, lr=0.01, amsgrad=True, sample_size=3),
    "sgd-momentum-probe": lambda p: SGD(p, lr=0.01, momentum=0.9, **PROBE),
    "signsgd-probe": lambda p: SignSGD(p, lr=0.01, **PROBE),
    "signum-probe": lambda p: Signum(p, lr=0.01, **PROBE),
    "lion-probe": lambda p: Lion(p, lr=0.01, **PROBE),
    "rmsprop-centered-probe": lambda p: RMSprop(p, lr=0.01, centered=True, **PROBE),
    "adagrad-probe": lambda p: Adagrad(p, lr=0.01, **PROBE),
    "msvag": lambda p: MSVAG(p, lr=0.01, sample_size=3),
}


@pytest.mark.parametrize("make_opt", OPTIMIZERS.values(), ids=OPTIMIZERS.keys())
def test_nonfinite_gradient_is_rejected_and_named(make_opt, make_params):
    rng = np.random.default_rng(40)
    params = make_params(rng, dtype=np.float32)
    opt = make_opt(params)
    for _ in range(3):
        opt.flat.grad[:] = rng.normal(size=opt.flat.grad.shape)
        opt.step()
    before = {"theta": opt.flat.data.copy(), **opt.state_dict()["state"]}
    stats_before, sample_before = opt.last_stats, opt.last_sample
    assert np.isfinite(stats_before.gamma).all(), "the sample's γ must be measured"
    named = dict(params)
    named["0.bias"].grad[1] = np.nan
    named["2.weight"].grad[0, 3] = -np.inf
    with pytest.raises(NonFiniteGradientError) as info:
        opt.step()
    err = info.value
    assert isinstance(err, FloatingPointError), "must be a FloatingPointError"
    assert err.names == ("0.bias", "2.weight"), f"offending tensors, got {err.names}"
    assert "0.bias" in str(err) and "2.weight" in str(err) and "step 4" in str(err), str(err)
    assert opt.t == 3, f"t must be unchanged, got {opt.t}"
    assert opt.last_stats is stats_before, "statistics of the last good step are kept"
    assert opt.last_sample is sample_before, "the sample of the last good step is kept"
    after = {"theta": opt.flat.data, **opt.state_dict()["state"]}
    for key, array in before.items():
        np.testing.assert_array_equal(after[key], array, err_msg=f"{key} changed")
    # the training loop can recover: a finite gradient steps normally again
    opt.flat.grad[:] = 1.0
    opt.step()
    assert opt.t == 4 and np.all(np.isfinite(opt.flat.data)), "a finite step must proceed"
