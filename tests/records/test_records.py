"""Atomic writes, MetricsLog, run records on disk (load_run) and tensor aggregation."""
import json
import os
from types import SimpleNamespace

import numpy as np
import pytest

from numpy_adam.records import atomic
from numpy_adam.records.atomic import atomic_save_npz, atomic_write_bytes, atomic_write_json
from numpy_adam.records import (SAMPLE_KEYS, STAT_KEYS, MetricsLog, Run, aggregate, load_run,
                                relative_spread, save_config, save_run_metrics, save_summary)

NAMES = ("conv1.weight", "fc1.weight")
CONFIG = dict(model="cnn", optimizer="adam", lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8,
              momentum=0.0, dampening=0.0, weight_decay=0.0, batch_size=16, steps=3, seed=0,
              label="Adam, batch 16", tracked_tensors=list(NAMES), versions={})
SUMMARY = dict(final_loss=1.0, test_loss=1.1, test_accuracy=0.5, wall_seconds=2.0, steps=3)


def stats_for(t, names=NAMES):
    base = np.arange(len(names), dtype=np.float64) + t
    return SimpleNamespace(names=names, mean_abs_m=base, sigma=2 * base, gamma=3 * base,
                           update=4 * base, neg_var_frac=0.0 * base)


def leftovers(folder):
    return [p.name for p in folder.iterdir() if p.name.endswith(".tmp")]


# --- atomic writes -------------------------------------------------------------------------

def test_atomic_write_bytes_replaces_the_file(tmp_path):
    target = tmp_path / "f.bin"
    atomic_write_bytes(target, b"old")
    atomic_write_bytes(target, b"new")
    assert target.read_bytes() == b"new", "the second write must replace the first"
    assert leftovers(tmp_path) == [], "no temp files may remain"


@pytest.mark.parametrize("fail_in", ["fsync", "replace"])
def test_failed_write_keeps_the_old_file_and_no_temp(tmp_path, monkeypatch, fail_in):
    target = tmp_path / "summary.json"
    atomic_write_json(target, {"a": 1})

    def boom(*args, **kwargs):
        raise OSError(f"simulated failure in {fail_in}")

    monkeypatch.setattr(atomic.os, fail_in, boom)
    with pytest.raises(OSError, match="simulated"):
        atomic_write_json(target, {"a": 2})
    monkeypatch.undo()
    assert json.loads(target.read_text()) == {"a": 1}, "the old file must stay intact"
    assert leftovers(tmp_path) == [], f"temp files left after a failed write: {leftovers(tmp_path)}"


def test_failure_while_serialising_npz_keeps_the_old_file(tmp_path, monkeypatch):
    target = tmp_path / "metrics.npz"
    atomic_save_npz(target, a=np.arange(3))

    def half_write(f, **arrays):
        f.write(b"PK\x03\x04 half a zip")
        raise KeyboardInterrupt

    monkeypatch.setattr(atomic.np, "savez", half_write)
    with pytest.raises(KeyboardInterrupt):
        atomic_save_npz(target, a=np.arange(5))
    monkeypatch.undo()
    with np.load(target) as npz:
        np.testing.assert_array_equal(npz["a"], np.arange(3), err_msg="old npz must survive")
    assert leftovers(tmp_path) == [], "a half-written temp file must be removed"


def test_json_nan_becomes_null_and_stays_valid(tmp_path):
    target = tmp_path / "s.json"
    atomic_write_json(target, {"loss": float("nan"), "acc": np.float32(0.5),
                               "hist": np.array([1.0, np.inf]), "n": np.int64(3), "t": (1, 2)})

    def refuse(token):
        raise AssertionError(f"invalid JSON constant {token}")

    data = json.loads(target.read_text(encoding="utf-8"), parse_constant=refuse)
    assert data == {"loss": None, "acc": 0.5, "hist": [1.0, None], "n": 3, "t": [1, 2]}, data


def test_json_nonfinite_error_policy_names_the_key(tmp_path):
    with pytest.raises(ValueError, match=r"\$\.outer\.loss"):
        atomic_write_json(tmp_path / "s.json", {"outer": {"loss": float("inf")}},
                          nonfinite="error")
    assert not (tmp_path / "s.json").exists(), "nothing may be written on a refused object"


def test_json_unserialisable_object_writes_nothing(tmp_path):
    target = tmp_path / "s.json"
    atomic_write_json(target, {"ok": True})
    with pytest.raises(TypeError, match=r"\$\.bad"):
        atomic_write_json(target, {"bad": object()})
    assert json.loads(target.read_text()) == {"ok": True}
    assert leftovers(tmp_path) == []


def test_npz_path_is_exact_and_object_arrays_refused(tmp_path):
    path = atomic_save_npz(tmp_path / "checkpoint.tmpnpz", names=np.array(["a", "bc"]))
    assert path.exists() and not (tmp_path / "checkpoint.tmpnpz.npz").exists(), \
        "the target name must be used as given"
    with pytest.raises(TypeError, match="object"):
        atomic_save_npz(tmp_path / "x.npz", bad=np.array([{}, 1], dtype=object))


def test_missing_folder_is_a_clear_error(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        atomic_write_bytes(tmp_path / "nope" / "f.bin", b"x")


# --- MetricsLog ------------------------------------------------------------------------------

def make_log(steps=3, extras=False):
    log = MetricsLog(NAMES)
    for t in range(1, steps + 1):
        more = dict(x=np.array([t, -t], dtype=np.float64), grad=0.5 * t) if extras else {}
        log.append(t, 1.0 / t, 1e-3, stats_for(t) if t != 2 else None, **more)
    return log


def test_metrics_log_arrays_have_documented_shapes():
    arrays = make_log(3, extras=True).as_arrays()
    assert arrays["step"].dtype == np.int64 and arrays["step"].tolist() == [1, 2, 3]
    assert arrays["loss"].shape == (3,) and arrays["lr"].shape == (3,)
    assert arrays["tensor_names"].tolist() == list(NAMES)
    for k in STAT_KEYS:
        assert arrays[k].shape == (3, 2) and arrays[k].dtype == np.float64, k
    assert np.isnan(arrays["gamma"][1]).all(), "a step without stats must be a NaN row"
    np.testing.assert_allclose(arrays["gamma"][2], [9.0, 12.0], err_msg="3 × (t + index)")
    assert arrays["x"].shape == (3, 2) and arrays["grad"].shape == (3,)


def test_metrics_log_copies_stats(tmp_path):
    log = MetricsLog(NAMES)
    s = stats_for(1)
    log.append(1, 0.5, 1e-3, s)
    s.update[:] = -1.0  # the optimizer may reuse its buffers
    assert log.as_arrays()["update"][0].tolist() == [4.0, 8.0], "append must copy"


def test_metrics_round_trip_through_disk(tmp_path):
    log = make_log(4, extras=True)
    save_config(tmp_path, CONFIG)
    save_run_metrics(tmp_path, log)
    save_summary(tmp_path, SUMMARY)
    run = load_run(tmp_path)
    assert isinstance(run, Run) and run.tensor_names == NAMES and run.label == CONFIG["label"]
    for k, v in log.as_arrays().items():
        np.testing.assert_array_equal(run.metrics[k], v, err_msg=k)
    again = MetricsLog.from_arrays(run.metrics)
    for k, v in log.as_arrays().items():
        np.testing.assert_array_equal(again.as_arrays()[k], v, err_msg=f"from_arrays {k}")


def test_rebuilt_log_continues_like_an_uninterrupted_one():
    """--resume rebuilds the log from the checkpoint's arrays and appends the later steps."""
    full = make_log(5, extras=True)
    resumed = MetricsLog.from_arrays(make_log(2, extras=True).as_arrays())
    assert len(resumed) == 2
    for t in range(3, 6):
        resumed.append(t, 1.0 / t, 1e-3, stats_for(t), x=np.array([t, -t], float), grad=0.5 * t)
    for k, v in full.as_arrays().items():
        np.testing.assert_array_equal(resumed.as_arrays()[k], v, err_msg=k)


def test_empty_log_round_trip():
    log = MetricsLog(NAMES)
    arrays = log.as_arrays()
    assert arrays["gamma"].shape == (0, 2) and arrays["step"].shape == (0,)
    assert len(MetricsLog.from_arrays(arrays)) == 0


@pytest.mark.parametrize("call, error, match", [
    (lambda log: log.append(1, 0.1, 1e-3), ValueError, "strictly increase"),
    (lambda log: log.append(2.0, 0.1, 1e-3), TypeError, "step must be an int"),
    (lambda log: log.append(2, 0.1, 1e-3, stats_for(2, names=("a", "b"))), ValueError, "differ"),
    (lambda log: log.append(2, 0.1, 1e-3, SimpleNamespace(mean_abs_m=np.zeros(2))), TypeError,
     "no attribute 'sigma'"),
    (lambda log: log.append(2, 0.1, 1e-3, stats_for(2, names=("a",))), ValueError, "differ"),
    (lambda log: log.append(2, 0.1, 1e-3, grad=1.0), ValueError, "extras"),
    (lambda log: log.append(2, 0.1, 1e-3, x=np.zeros(3), grad=1.0), ValueError, "extras"),
    (lambda log: log.append(2, 0.1, 1e-3, x=np.zeros(2), grad="a"), TypeError, "numeric"),
])
def test_bad_metrics_log_calls(call, error, match):
    log = MetricsLog(NAMES)
    log.append(1, 0.1, 1e-3, stats_for(1), x=np.zeros(2), grad=0.0)
    with pytest.raises(error, match=match):
        call(log)
    assert len(log) == 1, "a refused append must not change the log"


def test_stats_with_wrong_shape_is_refused():
    log = MetricsLog(NAMES)
    bad = stats_for(1)
    bad.sigma = np.zeros(3)
    with pytest.raises(ValueError, match=r"stats.sigma has shape \(3,\), expected \(2,\)"):
        log.append(1, 0.1, 1e-3, bad)


def test_reserved_extra_names_are_refused():
    with pytest.raises(ValueError, match="reserved"):
        MetricsLog(NAMES).append(1, 0.1, 1e-3, gamma=1.0)


# --- load_run -------------------------------------------------------------------------------

def write_run(folder, config=CONFIG, summary=SUMMARY, arrays=None):
    folder.mkdir(parents=True, exist_ok=True)
    save_config(folder, config)
    atomic_save_npz(folder / "metrics.npz", **(arrays or make_log(3).as_arrays()))
    if summary is not None:
        save_summary(folder, summary)
    return folder


def test_unknown_metric_keys_are_kept(tmp_path):
    arrays = make_log(3).as_arrays()
    arrays["grad_norm"] = np.ones(3)
    arrays["note"] = np.array("free text")
    run = load_run(write_run(tmp_path / "r", arrays=arrays))
    assert "grad_norm" in run.metrics and str(run.metrics["note"]) == "free text"


def test_unfinished_run_loads_without_summary(tmp_path):
    run = load_run(write_run(tmp_path / "r", summary=None), require_summary=False)
    assert run.summary == {}
    with pytest.raises(FileNotFoundError, match="summary.json does not exist"):
        load_run(tmp_path / "r")


def _drop(key):
    arrays = make_log(3).as_arrays()
    del arrays[key]
    return arrays


def _reshape(key, shape):
    arrays = make_log(3).as_arrays()
    arrays[key] = np.zeros(shape)
    return arrays


@pytest.mark.parametrize("setup, error, match", [
    (lambda d: d / "absent", FileNotFoundError, "run directory .*absent does not exist"),
    (lambda d: (write_run(d), (d / "config.json").unlink(), d)[-1], FileNotFoundError,
     "config.json does not exist"),
    (lambda d: (write_run(d), (d / "metrics.npz").unlink(), d)[-1], FileNotFoundError,
     "metrics.npz does not exist"),
    (lambda d: (write_run(d), (d / "config.json").write_text("{oops"), d)[-1], ValueError,
     "config.json: not valid JSON"),
    (lambda d: (write_run(d), (d / "metrics.npz").write_bytes(b"junk"), d)[-1], ValueError,
     "metrics.npz: not a readable .npz"),
    (lambda d: write_run(d, config={k: v for k, v in CONFIG.items() if k != "optimizer"}),
     ValueError, r"config.json: missing keys \['optimizer'\]"),
    (lambda d: write_run(d, summary={"final_loss": 1.0}), ValueError,
     "summary.json: missing keys"),
    (lambda d: write_run(d, arrays=_drop("gamma")), ValueError,
     r"metrics.npz: missing keys \['gamma'\]"),
    (lambda d: write_run(d, arrays=_reshape("sigma", (3, 3))), ValueError,
     r"metrics.npz: 'sigma' has shape \(3, 3\), expected \(3, 2\)"),
    (lambda d: write_run(d, arrays=_reshape("loss", (2,))), ValueError,
     r"metrics.npz: 'loss' has shape \(2,\), expected \(3,\)"),
    (lambda d: write_run(d, arrays={**make_log(3).as_arrays(), "grad": np.zeros(4)}), ValueError,
     r"metrics.npz: 'grad' has shape \(4,\)"),
    (lambda d: write_run(d, arrays={**make_log(3).as_arrays(), "step": np.ones(3)}), ValueError,
     "'step' must hold integers"),
])
def test_load_run_errors_name_the_file(tmp_path, setup, error, match):
    with pytest.raises(error, match=match):
        load_run(setup(tmp_path / "run"))


def test_save_run_metrics_refuses_inconsistent_arrays(tmp_path):
    with pytest.raises(ValueError, match="metrics.npz: 'sigma' has shape"):
        save_run_metrics(tmp_path, _reshape("sigma", (3, 1)))
    assert not (tmp_path / "metrics.npz").exists()


# --- aggregate --------------------------------------------------------------------------------

def test_aggregate_is_a_nan_aware_mean_across_tensors():
    gamma = np.array([[1.0, 3.0], [np.nan, 4.0], [np.nan, np.nan]])  # (T=3, L=2)
    got = aggregate({"gamma": gamma}, "gamma")
    np.testing.assert_allclose(got[:2], [2.0, 4.0], err_msg="NaN entries are ignored")
    assert np.isnan(got[2]), "an all-NaN step aggregates to NaN"
    assert aggregate({"gamma": np.empty((2, 0))}, "gamma").shape == (2,)


def test_aggregate_rejects_unknown_key():
    with pytest.raises(ValueError, match="key must be one of"):
        aggregate({"loss": np.zeros((3, 1))}, "loss")


def test_no_temp_files_after_a_full_run_write(tmp_path):
    write_run(tmp_path / "r")
    names = sorted(os.listdir(tmp_path / "r"))
    assert names == ["config.json", "metrics.npz", "summary.json"], names


@pytest.mark.parametrize("settings, label", [
    (dict(optimizer="adam", beta1=0.9, beta2=0.999, batch_size=16), "Adam β1=0.9, β2=0.999, batch 16"),
    (dict(optimizer="sgd", momentum=0.9, batch_size=100), "SGD momentum 0.9, batch 100"),
    (dict(optimizer="sgd", momentum=0.0, model="quadratic", batch_size=1), "GD"),
])
def test_run_label_falls_back_to_the_settings(settings, label):
    config = {**CONFIG, "label": "", **settings}
    run = Run(path=None, config=config, metrics={}, summary={})
    assert run.label == label, run.label


# --- the element sample -----------------------------------------------------------------------

SLOT, ELEMENT = np.array([0, 0, 1]), np.array([3, 7, 0])


def sample_for(t):
    base = np.array([1.0, -2.0, 3.0]) * t
    return SimpleNamespace(m_hat=base, v_hat=base ** 2 + 1, update=-base / 10, param=base + 0.5)


def make_sampled_log(steps=3):
    log = MetricsLog(NAMES, SLOT, ELEMENT, np.float32)
    for t in range(1, steps + 1):
        log.append(t, 1.0 / t, 1e-3, stats_for(t), sample_for(t) if t != 2 else None)
    return log


def test_sampled_log_has_documented_shapes_and_round_trips(tmp_path):
    log = make_sampled_log(3)
    arrays = log.as_arrays()
    np.testing.assert_array_equal(arrays["sample_slot"], SLOT)
    np.testing.assert_array_equal(arrays["sample_element"], ELEMENT)
    for key in SAMPLE_KEYS:
        assert arrays[key].shape == (3, 3) and arrays[key].dtype == np.float32, key
    assert np.isnan(arrays["sample_update"][1]).all(), "a step without a sample is a NaN row"
    np.testing.assert_array_equal(arrays["sample_m_hat"][2], [3.0, -6.0, 9.0])
    run = load_run(write_run(tmp_path / "r", arrays=arrays))
    again = MetricsLog.from_arrays(run.metrics).as_arrays()
    for k, v in arrays.items():
        np.testing.assert_array_equal(again[k], v, err_msg=k)
        assert again[k].dtype == v.dtype, k
    resumed = MetricsLog.from_arrays(make_sampled_log(1).as_arrays())
    resumed.append(2, 0.5, 1e-3, stats_for(2))
    resumed.append(3, 1 / 3, 1e-3, stats_for(3), sample_for(3))
    for k, v in arrays.items():
        np.testing.assert_array_equal(resumed.as_arrays()[k], v, err_msg=f"resumed {k}")


@pytest.mark.parametrize("make, match", [
    (lambda: MetricsLog(NAMES, SLOT, None), "both sample_slot and sample_element"),
    (lambda: MetricsLog(NAMES, [0, 2], [0, 1]), r"index the 2 tracked tensors"),
    (lambda: MetricsLog(NAMES, [0, 1], [0]), "of one length"),
    (lambda: MetricsLog(NAMES, [0, 1], [0, -1]), "sample_element must be >= 0"),
    (lambda: MetricsLog(NAMES).append(1, 0.1, 1e-3, stats_for(1), sample_for(1)),
     "without a sample layout"),
    (lambda: MetricsLog(NAMES, [0], [1]).append(1, 0.1, 1e-3, stats_for(1), sample_for(1)),
     r"sample.m_hat has shape \(3,\), expected \(1,\)"),
])
def test_bad_sample_layouts_and_rows_are_refused(make, match):
    with pytest.raises(ValueError, match=match):
        make()


@pytest.mark.parametrize("edit, match", [
    (lambda a: a.pop("sample_param"), r"lacks \['sample_param'\]"),
    (lambda a: a.__setitem__("sample_update", np.zeros((3, 2))),
     r"'sample_update' has shape \(3, 2\), expected \(3, 3\)"),
    (lambda a: a.__setitem__("sample_slot", np.array([0.0, 0.0, 1.0])), "must hold integers"),
])
def test_load_run_checks_the_sample(tmp_path, edit, match):
    arrays = make_sampled_log(3).as_arrays()
    edit(arrays)
    with pytest.raises(ValueError, match=match):
        load_run(write_run(tmp_path / "r", arrays=arrays))


# --- relative spread: the two aggregations --------------------------------------------------

def test_relative_spread_layer_is_a_ratio_of_means_element_is_the_recorded_mean():
    metrics = {"sigma": np.array([[1.0, 6.0], [2.0, np.nan]]),       # S_l, (T=2, L=2)
               "mean_abs_m": np.array([[0.5, 2.0], [4.0, 1.0]]),     # M_l
               "gamma": np.array([[10.0, 20.0], [30.0, 50.0]])}      # element means of γ
    # step 1: γ̄ = (1/0.5 + 6/2)/2 = 2.5; step 2: only tensor 0 has S: 2/4 = 0.5
    np.testing.assert_allclose(relative_spread(metrics, "layer"), [2.5, 0.5])
    np.testing.assert_allclose(relative_spread(metrics, "element"), [15.0, 40.0])
    with pytest.raises(ValueError, match="aggregation must be one of"):
        relative_spread(metrics, "median")


def test_atomic_writes_respect_the_umask(tmp_path):
    old = os.umask(0o027)
    try:
        path = atomic_write_bytes(tmp_path / "summary.md", b"x")
    finally:
        os.umask(old)
    assert path.stat().st_mode & 0o777 == 0o640, oct(path.stat().st_mode)
