"""Helpers shared by the sweep tests: tiny quadratic points and a bitwise record comparison,
handed to test modules as the ``kit`` fixture (pytest's importlib mode cannot import conftest)."""
import json
from types import SimpleNamespace

import pytest

from numpy_adam.records import load_run
from numpy_adam.training.config import TrainConfig

# noisy x² (ξ drawn per step from the seed's generator), so seeds give different runs
QUAD_SETTINGS = ["--set", "model=quadratic", "--set", "steps=300", "--set", "noise_std=0.1",
                 "--set", "x0=[1.0,-0.5]", "--set", "checkpoint_every=100"]


def quad(**settings) -> TrainConfig:
    base = dict(model="quadratic", steps=300, noise_std=0.1, x0=(1.0, -0.5), checkpoint_every=100)
    return TrainConfig(**{**base, **settings})


def assert_same_record(a_dir, b_dir):
    """Two run folders hold bit-identical records: every metrics array (dtype, shape, bytes),
    the config, and the summary apart from its wall time."""
    a, b = load_run(a_dir), load_run(b_dir)
    assert sorted(a.metrics) == sorted(b.metrics), (a_dir, b_dir)
    for key in a.metrics:
        x, y = a.metrics[key], b.metrics[key]
        assert x.dtype == y.dtype and x.shape == y.shape and x.tobytes() == y.tobytes(), \
            f"{key} differs between {a_dir} and {b_dir}"
    assert a.config == b.config
    drop = lambda s: {k: v for k, v in s.items() if k != "wall_seconds"}
    assert drop(a.summary) == drop(b.summary)


def sweep_state(out) -> dict:
    """sweep.json's points by name."""
    return {p["name"]: p for p in json.loads((out / "sweep.json").read_text())["points"]}


@pytest.fixture
def one_by_one(tmp_path):
    """``make(config) -> folder``: the same run made alone with train(), in this process."""
    from numpy_adam.training.loop import train

    def make(config):
        from numpy_adam.experiments.sweep.spec import run_name

        folder = tmp_path / "one-by-one" / run_name(config)
        train(config, folder, quiet=True)
        return folder
    return make


@pytest.fixture(scope="session")
def kit():
    """QUAD_SETTINGS, quad(**settings), assert_same_record(a, b) and sweep_state(out)."""
    return SimpleNamespace(QUAD_SETTINGS=QUAD_SETTINGS, quad=quad,
                           assert_same_record=assert_same_record, sweep_state=sweep_state)
