"""What a run is built from: its parameter groups and its schedule, from the settings."""
import numpy as np
import pytest

from numpy_adam.models.cifar_cnn import CifarCNN
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
