"""Sweep specs: grids, lists, validation before anything runs, and names derived from settings."""
import json

import pytest

from numpy_adam.experiments.sweep.spec import (expand, load_spec, merge_specs, normalise_spec,
                                               run_name, spec_from_options)
from numpy_adam.training.config import TrainConfig
from numpy_adam.training.errors import SettingsError


def test_a_grid_crossed_with_a_list_gives_every_combination_in_order():
    points = expand({"base": {"model": "quadratic", "steps": 50},
                     "grid": {"seed": [0, 1, 2], "beta1": [0.9, 0.99]},
                     "points": [{"optimizer": "adam", "lr": 0.01},
                                {"optimizer": "sgd", "lr": 0.1}]})
    assert len(points) == 12 and len({p.name for p in points}) == 12
    got = [(p.config.optimizer, p.config.seed, p.config.beta1) for p in points]
    assert got[:3] == [("adam", 0, 0.9), ("adam", 0, 0.99), ("adam", 1, 0.9)], got
    assert got[6] == ("sgd", 0, 0.9)
    assert all(p.config.steps == 50 and p.config.model == "quadratic" for p in points)
    assert {p.config.lr for p in points if p.config.optimizer == "sgd"} == {0.1}


def test_names_are_a_pure_function_of_the_settings():
    config = TrainConfig(model="quadratic", lr=0.01, steps=500, seed=2)
    name = run_name(config)
    assert name.startswith("model=quadratic,lr=0.01,steps=500,seed=2-"), name
    assert name == "model=quadratic,lr=0.01,steps=500,seed=2-" + name.rsplit("-", 1)[1]
    # the same point from another spec, with an int for a float setting and other points beside
    [same] = [p for p in expand({"grid": {"seed": [1, 2]}, "base": {"model": "quadratic",
                                                                  "lr": 0.01, "steps": 500}})
              if p.config.seed == 2]
    assert same.name == name
    assert run_name(TrainConfig(model="quadratic", lr=1, steps=5)) == \
        run_name(TrainConfig(model="quadratic", lr=1.0, steps=5))
    # a label is not shown but still tells two runs apart; defaults never appear
    labelled = run_name(TrainConfig(model="quadratic", lr=0.01, steps=500, seed=2, label="x"))
    assert labelled != name and labelled.split("-")[0] == name.split("-")[0]
    assert "beta1" not in name and "/" not in run_name(TrainConfig(model="quadratic", steps=1,
                                                                   label="a/b"))


def test_a_fixed_name_stays_fixed_across_versions():
    """A sweep folder must be resumable by later versions: this name may never change."""
    config = TrainConfig(model="quadratic", optimizer="sgd", lr=0.1, momentum=0.9, steps=300,
                         seed=3, x0=(1.0, -0.5))
    assert run_name(config) == ("model=quadratic,optimizer=sgd,lr=0.1,momentum=0.9,steps=300,"
                                "seed=3,x0=1.0_-0.5-" + run_name(config).rsplit("-", 1)[1])
    # the first 8 hex digits of SHA-256 of the non-default settings as sorted JSON
    assert run_name(config).rsplit("-", 1)[1] == "21b242f5"


@pytest.mark.parametrize("spec, message", [
    ({"grid": {"lr": [0.1, -1.0]}, "base": {"model": "quadratic"}}, "sweep point 2 .*lr must be"),
    ({"grid": {"learning_rate": [0.1]}}, "unknown setting 'learning_rate'"),
    ({"grid": {"seed": 3}}, "seed must be a non-empty list"),
    ({"grid": {"seed": []}}, "seed must be a non-empty list"),
    ({"grid": {"seed": [0]}, "points": [{"seed": 1}]}, "sets seed, which the grid sweeps"),
    ({"grid": {"seed": [0, 0]}, "base": {"model": "quadratic"}}, "same run as sweep point 1"),
    ({"grids": {}}, "unknown part"),
    ({"base": {"model": "quadratic", "epochs": 2}}, "epochs must be None for the quadratic"),
    ({"base": {"model": "cnn", "batch_size": 1}}, "batch_size must be at least 2"),
])
def test_bad_points_are_refused_naming_the_point_and_the_setting(spec, message):
    with pytest.raises(SettingsError, match=message):
        expand(spec)


def test_length_follows_train_and_a_later_part_replaces_steps_with_epochs():
    [quadratic] = expand({"base": {"model": "quadratic"}})
    [cnn] = expand({"base": {"model": "cnn"}})
    assert (quadratic.config.steps, quadratic.config.epochs) == (1000, None)
    assert (cnn.config.steps, cnn.config.epochs) == (None, 1.0)
    a, b = expand({"base": {"model": "cnn", "steps": 10}, "points": [{}, {"epochs": 0.5}]})
    assert (a.config.steps, a.config.epochs) == (10, None)
    assert (b.config.steps, b.config.epochs) == (None, 0.5)


def test_json_toml_and_command_line_give_the_same_points(tmp_path):
    spec = {"base": {"model": "quadratic", "steps": 40},
            "grid": {"seed": [0, 1], "lr": [0.01, 0.1]},
            "points": [{"optimizer": "adam"}, {"optimizer": "sgd", "momentum": 0.9}]}
    (tmp_path / "s.json").write_text(json.dumps(spec))
    (tmp_path / "s.toml").write_text(
        '[base]\nmodel = "quadratic"\nsteps = 40\n[grid]\nseed = [0, 1]\nlr = [0.01, 0.1]\n'
        '[[points]]\noptimizer = "adam"\n[[points]]\noptimizer = "sgd"\nmomentum = 0.9\n')
    options = spec_from_options(["model=quadratic", "steps=40"], ["seed=0,1", "lr=0.01,0.1"],
                                ["optimizer=adam", "optimizer=sgd momentum=0.9"])
    names = [p.name for p in expand(load_spec(tmp_path / "s.json"))]
    assert len(names) == 8
    assert [p.name for p in expand(load_spec(tmp_path / "s.toml"))] == names
    assert [p.name for p in expand(options)] == names
    # layered: the command line adds an axis value and overrides a base setting
    merged = merge_specs(load_spec(tmp_path / "s.json"),
                         normalise_spec(spec_from_options(["steps=20"], ["seed=5"], [])))
    assert {(p.config.seed, p.config.steps) for p in expand(merged)} == {(5, 20)}


def test_command_line_values_are_json_when_they_parse_and_text_otherwise():
    spec = spec_from_options(
        ["x0=[1,2]", "lr-schedule=cosine", "nesterov=false", "eval_every=null"],
        ["batch-size=[16, 100]"], [])
    assert spec["base"] == {"x0": [1, 2], "lr-schedule": "cosine", "nesterov": False,
                            "eval_every": None}
    assert spec["grid"] == {"batch-size": [16, 100]}
    assert normalise_spec(spec)["base"]["lr_schedule"] == "cosine"
    with pytest.raises(SettingsError, match="KEY=VALUE"):
        spec_from_options(["lr"], [], [])


def test_unreadable_spec_files_are_usage_errors(tmp_path):
    with pytest.raises(SettingsError, match="does not exist"):
        load_spec(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(SettingsError, match="not valid JSON"):
        load_spec(tmp_path / "bad.json")
    (tmp_path / "bad.toml").write_text("[base\n")
    with pytest.raises(SettingsError, match="not valid TOML"):
        load_spec(tmp_path / "bad.toml")
