"""Data root: argument, then NUMPY_ADAM_DATA, then the user cache; either layout, python first."""
import numpy as np
import pytest

from numpy_adam.datasets import load_cifar10
from numpy_adam.datasets.locate import (BINARY, ENV_VAR, LAYOUT_DIRS, PYTHON, data_root, default_cache_dir,
                             find_layout)


def test_explicit_root_beats_environment(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert data_root(tmp_path / "arg") == tmp_path / "arg", data_root(tmp_path / "arg")


def test_environment_beats_cache(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "env"))
    assert data_root() == tmp_path / "env", data_root()


def test_cache_folder_from_xdg_or_home(tmp_path, monkeypatch):
    monkeypatch.delenv(ENV_VAR, raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_root() == tmp_path / "xdg" / "numpy-adam", data_root()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "numpy-adam", default_cache_dir()


def test_empty_environment_variable_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv(ENV_VAR, "")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert data_root() == tmp_path / "numpy-adam", data_root()


def test_env_var_used_by_load(fx, tmp_path, arrays, monkeypatch):
    fx.write_tree(tmp_path, PYTHON, arrays)
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    images, _ = load_cifar10(split="test", download=False, records_per_batch=4)
    np.testing.assert_array_equal(images, arrays["test"][0], err_msg="not read from NUMPY_ADAM_DATA")


def test_python_preferred_when_both_exist(fx, tmp_path, arrays):
    fx.write_tree(tmp_path, PYTHON, arrays)
    fx.write_tree(tmp_path, BINARY, arrays)
    assert find_layout(tmp_path) == (PYTHON, tmp_path / LAYOUT_DIRS[PYTHON]), find_layout(tmp_path)


@pytest.mark.parametrize("fmt", [PYTHON, BINARY])
def test_root_may_be_the_layout_folder_itself(fx, tmp_path, arrays, fmt):
    fx.write_tree(tmp_path, PYTHON, arrays)
    fx.write_tree(tmp_path, BINARY, arrays)
    folder = tmp_path / LAYOUT_DIRS[fmt]
    assert find_layout(folder) == (fmt, folder), f"{folder} should select the {fmt} layout"
    images, labels = load_cifar10(folder, "test", download=False, records_per_batch=4)
    np.testing.assert_array_equal(labels, arrays["test"][1], err_msg=f"labels via {folder}")


def test_nothing_found(tmp_path):
    assert find_layout(tmp_path) is None, "an empty folder has no layout"
