"""What a run is built from: its parameter groups and its schedule, from the settings."""
import numpy as np
import pytest

from numpy_adam.models.cifar_cnn import CifarCNN
from numpy_adam.nn import Parameter
from numpy_adam.optim.lr_scheduler import CosineAnnealingLR, SequentialLR, StepLR
from numpy_adam.training.build import make_optimizer, make_scheduler
from numpy_adam.training.config import TrainConfig
from numpy_adam.training.errors import SettingsError


def test_decay_on_weights_puts_biases_and_batchnorm_in_a_group_without_decay():
    model = CifarCNN(rng=np.random.default_rng(0))
    config = TrainConfig(weight_decay=0.01, weight_decay_on="weights", steps=1)
    opt = make_optimizer(config, model.named_parameters())
    first, second = opt.param_groups
    assert first["param_names"] == ["conv1.weight", "conv2.weight", "fc1.weight", "fc2.weight"]
    assert first["weight_decay"] == 0.01 and second["weight_decay"] == 0.0
    assert set(second["param_names"]) == {n for n, p in model.named_parameters()
                                          if p.kind != "weight"}
    single = make_optimizer(TrainConfig(weight_decay=0.01, steps=1),
                            CifarCNN(rng=np.random.default_rng(0)).named_parameters())
    assert len(single.param_groups) == 1 and single.param_groups[0]["weight_decay"] == 0.01


@pytest.mark.parametrize("schedule, cls", [("constant", type(None)), ("step", StepLR),
                                           ("cosine", CosineAnnealingLR),
                                           ("warmup-cosine", SequentialLR)])
def test_the_schedule_a_config_names(schedule, cls):
    model = CifarCNN(rng=np.random.default_rng(0))
    config = TrainConfig(lr_schedule=schedule, lr_warmup_steps=5, steps=50)
    opt = make_optimizer(config, model.named_parameters())
    assert isinstance(make_scheduler(config, opt, 50), cls)
    with pytest.raises(SettingsError, match="lr_warmup_steps must be below the run's 5 steps"):
        make_scheduler(TrainConfig(lr_schedule="warmup-cosine", lr_warmup_steps=5, steps=5),
                       opt, 5)


OPTIMIZER_CASES = [  # (config, class, the optimizer's settings the config must have set)
    (dict(optimizer="adam", beta1=0.8, beta2=0.95, eps=1e-6),
     "Adam", dict(betas=(0.8, 0.95), eps=1e-6)),
    (dict(optimizer="adamw", weight_decay=0.1), "AdamW", dict(weight_decay=0.1)),
    (dict(optimizer="sgd", momentum=0.9, dampening=0.1), "SGD", dict(momentum=0.9, dampening=0.1)),
    (dict(optimizer="signsgd", lr=0.01), "SignSGD", dict(lr=0.01)),
    (dict(optimizer="signum", beta1=0.8), "Signum", dict(beta=0.8)),
    (dict(optimizer="lion", beta1=0.8, beta2=0.97), "Lion", dict(betas=(0.8, 0.97))),
    (dict(optimizer="rmsprop", beta2=0.95, eps=1e-6, momentum=0.5, centered=True), "RMSprop",
     dict(alpha=0.95, eps=1e-6, momentum=0.5, centered=True)),
    (dict(optimizer="adagrad", eps=1e-7), "Adagrad", dict(eps=1e-7)),
    (dict(optimizer="msvag", beta1=0.8), "MSVAG", dict(beta=0.8)),
]


@pytest.mark.parametrize("settings, cls, expected", OPTIMIZER_CASES,
                         ids=[c[0]["optimizer"] for c in OPTIMIZER_CASES])
def test_every_optimizer_name_builds_its_method_with_the_mapped_settings(settings, cls,
                                                                          expected):
    from numpy_adam.training.config import OPTIMIZERS

    assert {c[0]["optimizer"] for c in OPTIMIZER_CASES} == set(OPTIMIZERS)
    config = TrainConfig(model="quadratic", steps=3, beta1=settings.pop("beta1", 0.9),
                         beta2=settings.pop("beta2", 0.999), **settings)
    opt = make_optimizer(config, [("x", Parameter(np.ones(3)))])
    assert type(opt).__name__ == cls
    group = opt.param_groups[0]
    for key, value in expected.items():
        assert group[key] == value, (key, group[key], value)
    # the methods without Adam's moments watch the gradient with the run's (beta1, beta2)
    probed = cls not in ("Adam", "AdamW", "MSVAG")
    assert getattr(opt, "probe_betas", None) == (
        (config.beta1, config.beta2) if probed else None)


@pytest.mark.parametrize("name", ["signsgd", "signum", "lion", "rmsprop", "adagrad", "msvag"])
def test_every_new_method_trains_the_quadratic_and_records_its_spread(name, tmp_path):
    """A short run of each method through the training loop: the loss falls and the records
    carry a finite γ at every step (from the probe, or M-SVAG's own moments)."""
    from numpy_adam.training.loop import train

    lr = {"adagrad": 0.3, "rmsprop": 0.01, "msvag": 0.1}.get(name, 0.05)  # sign: 0.05 a step
    config = TrainConfig(model="quadratic", optimizer=name, lr=lr, beta1=0.9, beta2=0.99,
                         steps=40, x0=(1.0, -2.0, 0.5))
    run = train(config, tmp_path / name, quiet=True)
    loss = run.metrics["loss"]
    assert loss[-1] < 0.5 * loss[0], (name, loss[0], loss[-1])
    assert np.isfinite(run.metrics["gamma"]).all()
    assert np.isfinite(run.metrics["update"]).all() and (run.metrics["update"] > 0).all()
