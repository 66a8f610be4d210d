"""A non-finite gradient is refused before anything changes, naming the tensors."""
import numpy as np
import pytest

from numpy_adam.optim import SGD, Adam, NonFiniteGradientError


@pytest.mark.parametrize("make_opt", [
    lambda p: Adam(p, lr=0.01, amsgrad=True),
    lambda p: SGD(p, lr=0.01, momentum=0.9, probe_betas=(0.9, 0.99)),
], ids=["adam-amsgrad", "sgd-momentum-probe"])
def test_nonfinite_gradient_is_rejected_and_named(make_opt, make_params):
    rng = np.random.default_rng(40)
    params = make_params(rng, dtype=np.float32)
    opt = make_opt(params)
    for _ in range(3):
        opt.flat.grad[:] = rng.normal(size=opt.flat.grad.shape)
        opt.step()
    before = {"theta": opt.flat.data.copy(), **opt.state_dict()["state"]}
    stats_before = opt.last_stats
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
    after = {"theta": opt.flat.data, **opt.state_dict()["state"]}
    for key, array in before.items():
        np.testing.assert_array_equal(after[key], array, err_msg=f"{key} changed")
    # the training loop can recover: a finite gradient steps normally again
    opt.flat.grad[:] = 1.0
    opt.step()
    assert opt.t == 4 and np.all(np.isfinite(opt.flat.data)), "a finite step must proceed"
