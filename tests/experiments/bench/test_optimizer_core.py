"""The optimizer rows time Adam as training runs it: the kernel's sums, then γ's element mean
from the element sample (never timings)."""
import numpy as np

from numpy_adam.experiments.bench.optimizer_core import training_adam
from numpy_adam.nn.module import Parameter
from numpy_adam.training.config import TrainConfig


def test_timed_step_keeps_trainings_sample_and_measures_every_statistic():
    rng = np.random.default_rng(0)
    adam = training_adam([("w", Parameter(rng.standard_normal(5000, dtype=np.float32),
                                          kind="weight"))])
    adam.flat.grad[...] = rng.standard_normal(5000, dtype=np.float32)
    assert adam.sample_layout.size == TrainConfig.sample_per_tensor, adam.sample_layout.size
    adam.step()
    for field, values in adam.last_stats.as_dict().items():
        assert np.isfinite(values).all(), f"{field} not measured by the timed step: {values}"

