"""Bad hyperparameters: each a ValueError naming the argument and the value."""
import numpy as np
import pytest

from numpy_adam.nn import Parameter, Sequential
from numpy_adam.optim import SGD, Adam, AdamW

NAN = float("nan")

BAD = [  # (optimizer, keyword arguments, fragments the message must contain)
    (Adam, dict(lr=-1e-3), ["lr", "-0.001"]),
    (Adam, dict(lr=NAN), ["lr", "NaN"]),
    (Adam, dict(lr="0.1"), ["lr", "'0.1'"]),
    (Adam, dict(lr=float("inf")), ["lr", "inf"]),
    (Adam, dict(betas=(1.0, 0.999)), ["beta1", "1.0"]),
    (Adam, dict(betas=(-0.1, 0.999)), ["beta1", "-0.1"]),
    (Adam, dict(betas=(0.9, 1.0)), ["beta2", "1.0"]),
    (Adam, dict(betas=(0.9, 1.5)), ["beta2", "1.5"]),
    (Adam, dict(betas=(0.9, NAN)), ["beta2", "NaN"]),
    (Adam, dict(betas=0.9), ["betas", "0.9"]),
    (Adam, dict(betas=(0.9, 0.99, 0.999)), ["betas", "(0.9, 0.99, 0.999)"]),
    (Adam, dict(eps=-1e-8), ["eps", "-1e-08"]),
    (Adam, dict(eps=NAN), ["eps", "NaN"]),
    (Adam, dict(weight_decay=-0.1), ["weight_decay", "-0.1"]),
    (Adam, dict(weight_decay=NAN), ["weight_decay", "NaN"]),
    (Adam, dict(amsgrad="yes"), ["amsgrad", "'yes'"]),
    (Adam, dict(amsgrad=1), ["amsgrad", "1"]),
    (Adam, dict(decoupled_weight_decay=None), ["decoupled_weight_decay", "None"]),
    (Adam, dict(track=("weights",)), ["track", "weights"]),
    (Adam, dict(track=5), ["track", "5"]),
    (AdamW, dict(weight_decay=-1e-2), ["AdamW", "weight_decay", "-0.01"]),
    (AdamW, dict(betas=(0.9, -0.5)), ["AdamW", "beta2", "-0.5"]),
    (SGD, dict(lr=-0.1), ["lr", "-0.1"]),
    (SGD, dict(momentum=-0.9), ["momentum", "-0.9"]),
    (SGD, dict(momentum=NAN), ["momentum", "NaN"]),
    (SGD, dict(dampening=1.5), ["dampening", "1.5"]),
    (SGD, dict(dampening=-0.1), ["dampening", "-0.1"]),
    (SGD, dict(weight_decay=-1.0), ["weight_decay", "-1.0"]),
    (SGD, dict(nesterov=True), ["nesterov", "momentum=0.0"]),
    (SGD, dict(nesterov=True, momentum=0.9, dampening=0.1), ["nesterov", "dampening=0.1"]),
    (SGD, dict(nesterov="True", momentum=0.9), ["nesterov", "'True'"]),
    (SGD, dict(probe_betas=(1.0, 0.9)), ["beta1", "probe_betas", "1.0"]),
    (SGD, dict(probe_betas=(0.9, NAN)), ["beta2", "probe_betas", "NaN"]),
    (SGD, dict(probe_betas=0.9), ["probe_betas", "0.9"]),
]


def _params():
    return [("w", Parameter(np.ones((2, 2)))), ("b", Parameter(np.zeros(2), kind="bias"))]


@pytest.mark.parametrize("cls, kwargs, fragments", BAD,
                         ids=[f"{c.__name__}-{'-'.join(k)}-{i}" for i, (c, k, _) in enumerate(BAD)])
def test_bad_hyperparameter_raises_value_error_naming_it(cls, kwargs, fragments):
    with pytest.raises(ValueError) as info:
        cls(_params(), **kwargs)
    message = str(info.value)
    for fragment in fragments:
        assert fragment in message, f"message {message!r} should contain {fragment!r}"


@pytest.mark.parametrize("cls", [Adam, AdamW, SGD])
def test_empty_parameter_list(cls):
    with pytest.raises(ValueError, match="params is an empty parameter list"):
        cls([])
    with pytest.raises(ValueError, match="params"):
        cls(iter(()))


def test_module_instead_of_parameters():
    with pytest.raises(ValueError, match="named_parameters"):
        Adam(Sequential())


def test_lr_setter_and_step_flag_are_validated():
    opt = Adam(_params())
    opt.lr = 0.5
    assert opt.lr == 0.5 and opt.hparams.lr == 0.5, opt.hparams
    with pytest.raises(ValueError, match="lr"):
        opt.lr = -1.0
    assert opt.lr == 0.5, "a rejected lr must leave the old value"
    with pytest.raises(ValueError, match="compute_stats"):
        opt.step(compute_stats="yes")
    assert opt.t == 0, "a rejected step must not count"


def test_boundary_values_are_accepted():
    Adam(_params(), lr=0.0, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0)
    Adam(_params(), betas=[np.float32(0.5), 0.99], lr=np.float64(1e-3))
    SGD(_params(), momentum=0.9, dampening=1.0)
    SGD(_params(), momentum=0.9, nesterov=np.bool_(True))
