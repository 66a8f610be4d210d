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
    with pytest.raises(ValueError, match="optimizer got an empty parameter list"):
        cls([])
    with pytest.raises(ValueError, match="empty parameter list"):
        cls(iter(()))


def test_module_instead_of_parameters():
    with pytest.raises(TypeError, match="named_parameters"):
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


def test_boundary_values_are_accepted_and_stored_as_given():
    h = Adam(_params(), lr=0.0, betas=(0.0, 0.0), eps=0.0, weight_decay=0.0).hparams
    assert (h.lr, h.beta1, h.beta2, h.eps, h.weight_decay) == (0.0, 0.0, 0.0, 0.0, 0.0), h
    h = Adam(_params(), betas=[np.float32(0.5), 0.99], lr=np.float64(1e-3)).hparams
    assert (h.beta1, h.beta2, h.lr) == (0.5, 0.99, 1e-3), h
    assert all(type(x) is float for x in (h.beta1, h.beta2, h.lr)), "NumPy scalars become floats"
    h = SGD(_params(), momentum=0.9, dampening=1.0).hparams
    assert (h.momentum, h.dampening) == (0.9, 1.0), h
    h = SGD(_params(), momentum=0.9, nesterov=np.bool_(True)).hparams
    assert h.nesterov is True, h


# --- one rule set: TrainConfig (and so the CLI) and the optimizers accept and refuse alike ---

INF = float("inf")
SHARED = [  # (TrainConfig keywords, optimizer class, the same setting as its keywords)
    *[(dict(lr=x), cls, dict(lr=x)) for x in (0.0, 1e-3, np.float32(0.1), -1e-3, INF, NAN, "0.1",
                                              True) for cls in (Adam, SGD)],
    *[(dict(eps=x), Adam, dict(eps=x)) for x in (0.0, 1e-8, -1e-8, NAN)],
    *[(dict(weight_decay=x), cls, dict(weight_decay=x)) for x in (0.0, 0.1, -0.1, INF)
      for cls in (Adam, SGD)],
    *[(dict(momentum=x), SGD, dict(momentum=x)) for x in (0.0, 0.9, 1.0, 1.5, -0.1, INF, NAN)],
    *[(dict(momentum=0.9, dampening=x), SGD, dict(momentum=0.9, dampening=x))
      for x in (0.0, 0.9, 1.0, 1.5, -0.1, NAN)],
    *[(dict(beta1=x), Adam, dict(betas=(x, 0.999))) for x in (0.0, 0.99, 1.0, -0.1, NAN)],
    *[(dict(beta2=x), Adam, dict(betas=(0.9, x))) for x in (0.0, 0.999, 1.0, 1.5)],
    *[(dict(beta1=x), SGD, dict(probe_betas=(x, 0.999))) for x in (0.9, 1.0)],  # SGD runs' probe
    (dict(nesterov=True, momentum=0.9), SGD, dict(nesterov=True, momentum=0.9)),
    (dict(nesterov=np.bool_(True), momentum=0.9), SGD,
     dict(nesterov=np.bool_(True), momentum=0.9)),
    (dict(nesterov=True), SGD, dict(nesterov=True)),
    (dict(nesterov=True, momentum=0.9, dampening=0.1), SGD,
     dict(nesterov=True, momentum=0.9, dampening=0.1)),
    (dict(nesterov="yes", momentum=0.9), SGD, dict(nesterov="yes", momentum=0.9)),
]


def _outcome(build):
    """None when ``build()`` accepts, else (owner, argument, expectation and value)."""
    try:
        build()
    except ValueError as error:
        owner, rest = str(error).split(": ", 1)
        name, tail = rest.split(" must be ", 1)
        return owner, name, tail
    return None


@pytest.mark.parametrize("config_kwargs, cls, kwargs", SHARED,
                         ids=[f"{c.__name__}-{k}" for k, c, _ in SHARED])
def test_train_config_and_optimizer_share_the_rules_and_messages(config_kwargs, cls, kwargs):
    from numpy_adam.training.config import TrainConfig

    optimizer = "sgd" if cls is SGD else "adam"
    by_config = _outcome(lambda: TrainConfig(model="quadratic", optimizer=optimizer, steps=1,
                                             **config_kwargs))
    by_optimizer = _outcome(lambda: cls(_params(), **kwargs))
    if by_optimizer is None:
        assert by_config is None, f"{cls.__name__} accepts {kwargs}, TrainConfig: {by_config}"
        return
    assert by_config is not None, f"{cls.__name__}: {by_optimizer}, TrainConfig accepts"
    (config_owner, config_name, config_tail), (owner, name, tail) = by_config, by_optimizer
    assert (config_owner, owner) == ("TrainConfig", cls.__name__), (config_owner, owner)
    assert name.split(" (")[0] == config_name, f"both name the argument: {name!r}, {config_name!r}"
    assert tail == config_tail, f"messages differ after the argument:\n{tail}\n{config_tail}"


def test_train_config_keeps_the_checked_values():
    """The values the optimizer will use (floats, bools), so config.json can hold them."""
    from numpy_adam.training.config import TrainConfig

    config = TrainConfig(model="quadratic", optimizer="sgd", steps=1, lr=np.float32(0.5),
                         momentum=1, nesterov=np.bool_(True), sample_per_tensor=np.int64(3))
    assert (config.lr, config.momentum, config.nesterov, config.sample_per_tensor) == (0.5, 1.0,
                                                                                      True, 3)
    assert [type(config.lr), type(config.momentum), type(config.nesterov),
            type(config.sample_per_tensor)] == [float, float, bool, int]
    with pytest.raises(ValueError, match="TrainConfig: nesterov must be False unless optimizer "
                                         "is 'sgd', got nesterov=True with optimizer='adam'"):
        TrainConfig(model="quadratic", steps=1, momentum=0.9, nesterov=True)
