"""The reproduction plan, and one end-to-end reproduction with tiny runs on real data (slow)."""
import dataclasses
import json
import os

import pytest

from numpy_adam.experiments import plan as plan_module
from numpy_adam.experiments import reproduce
from numpy_adam.experiments.plan import plan


def test_plan_holds_the_notes_experiments():
    runs = plan("quick")
    cnn = [e for e in runs if e.config.model == "cnn" and e.figure != "figure7"]
    axis = [e for e in runs if e.figure == "figure7"]
    assert sorted(e.config.optimizer for e in axis) == sorted(
        ["adam", "sgd", "signsgd", "signum", "lion", "rmsprop", "adagrad", "msvag"])
    assert all(e.config.batch_size == 100 and e.config.seed == 0 for e in axis)
    assert {(e.figure, e.config.batch_size, e.config.optimizer) for e in cnn} == {
        (f, b, o) for f in ("figure1", "figure2") for b in (16, 100) for o in ("adam", "sgd")}
    for e in cnn:
        c = e.config
        if e.figure == "figure1":
            assert (c.beta1, c.beta2) == (0.99, 0.99), e.name
            assert c.optimizer == "adam" or c.momentum == 0.99, e.name
        else:
            assert (c.beta1, c.beta2) == (0.9, 0.999), e.name
            assert c.optimizer == "adam" or c.momentum == 0.9, e.name
        if c.optimizer == "sgd":  # effective heavy-ball step α/(1-μ) = 0.1 in both figures
            assert c.lr / (1 - c.momentum) == pytest.approx(0.1), e.name
    quad = {e.config.optimizer: e.config for e in runs if e.figure == "figure3"}
    assert quad["adam"].beta1 == quad["adam"].beta2 == 0.99 and quad["sgd"].momentum == 0
    assert len({e.name for e in runs}) == len(runs), "run directories must be distinct"
    assert all(e.config.epochs for e in plan("full") if e.config.model == "cnn"
               and e.figure != "figure7"), "the note's runs are whole epochs in full mode"
    with pytest.raises(ValueError, match="mode"):
        plan("medium")


@pytest.mark.slow
def test_tiny_reproduction_writes_figures_and_summary(tmp_path, monkeypatch, tiny_phase_map):
    data = os.environ.get("NUMPY_ADAM_DATA")
    if not data or not os.path.isdir(os.path.join(data, "cifar-10-batches-py")):
        pytest.skip("real CIFAR-10 needed: set NUMPY_ADAM_DATA")
    # every run, 12 steps each (each CNN run ends with a full test-set evaluation)
    tiny = lambda mode, seed: [dataclasses.replace(e, config=dataclasses.replace(e.config, steps=12))
                               for e in plan(mode, seed)]
    monkeypatch.setattr(plan_module, "SUMMARY_WARMUP", 2)
    monkeypatch.setattr(reproduce, "plan", tiny)
    monkeypatch.setattr(reproduce, "SUMMARY_WARMUP", 2)
    full_load = reproduce.CifarData.load

    def short_test_set(*args, **kwargs):  # each run's final evaluation on 1000 test images
        loaded = full_load(*args, **kwargs)
        return dataclasses.replace(loaded, test_images=loaded.test_images[:1000],
                                   test_labels=loaded.test_labels[:1000])

    monkeypatch.setattr(reproduce.CifarData, "load", staticmethod(short_test_set))
    result = reproduce.run_reproduction("quick", tmp_path, data_dir=data, quiet=True)
    assert [p.name for p in result["figures"]] == ["figure1.png", "figure2.png", "figure3.png",
                                                   "schedules.png", "figure4.png", "figure5.png",
                                                   "figure6.png", "figure7.png", "figure8.png"]
    assert all(p.stat().st_size > 20_000 for p in result["figures"]), "figures must be real PNGs"
    numbers = json.loads((tmp_path / "summary.json").read_text())["runs"]
    assert len(numbers) == 35 and all(n["steps"] == 12 for n in numbers)
    adam = [n for n in numbers if n["optimizer"] == "adam" and n["model"] == "cnn"]
    assert all(n["sample_identity"]["values"] == 10 * 128 for n in adam), "12 steps − 2 warm-up"
    text = (tmp_path / "summary.md").read_text()
    assert "Pearson" in text and "element mean of γ" in text and "off the identity" in text
    axis = json.loads((tmp_path / "summary.json").read_text())["one_axis"]
    assert len(axis) == 8 and all(n["warmup"] == 6 for n in axis.values()), "half of 12 steps"
    assert all(n["exact"]["passed"] == n["exact"]["values"] > 0 for n in axis.values()), axis
    assert "## One axis (Figure 7)" in text
    assert "| Lion α=0.0003, β1=0.9, β2=0.99, batch 100 | \\|Δθ\\|/α | 1 |" in text, "its row"
    stamps = {p: p.stat().st_mtime_ns for p in tmp_path.glob("*/metrics.npz")}
    reproduce.run_reproduction("quick", tmp_path, data_dir=data, quiet=True)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps, \
        "finished runs are reused, not retrained"


def test_without_data_the_reproduction_draws_what_needs_none_and_names_the_rest(
        tmp_path, monkeypatch, tiny_phase_map):
    from numpy_adam.datasets import download

    def offline(url, dest, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(download, "fetch", offline)  # never touch the network in tests
    tiny = lambda mode, seed: [dataclasses.replace(e, config=dataclasses.replace(e.config, steps=30))
                               for e in plan(mode, seed)]
    monkeypatch.setattr(reproduce, "plan", tiny)
    result = reproduce.run_reproduction("quick", tmp_path / "out", data_dir=tmp_path / "no-data",
                                        quiet=True)
    assert [p.name for p in result["figures"]] == ["figure3.png", "schedules.png", "figure6.png",
                                                   "figure8.png"]
    skipped = result["skipped"]
    assert skipped["figures"] == ["figure1", "figure2", "figure4", "figure5", "figure7"], skipped
    assert len(skipped["runs"]) == 16 and all("-b" in name or name.startswith("figure7-")
                                              for name in skipped["runs"]), skipped
    assert "--data-dir" in skipped["reason"] and "NUMPY_ADAM_DATA" in skipped["reason"]
    numbers = json.loads((tmp_path / "out" / "summary.json").read_text())["runs"]
    assert [n["run"] for n in numbers][:5] == ["figure3-adam", "figure3-gd", "schedules-constant",
                                               "schedules-step", "schedules-cosine"]
    assert len(numbers) == 5 + 14 and all(n["stationary"] for n in numbers[5:]), "Figure 6's runs"
    ratios = [n["amplitude_per_lr"]["ratio"] for n in numbers[2:5]]
    assert all(len(r) == 10 for r in ratios), ratios
    assert not (tmp_path / "no-data").exists(), "no data folder is created by a failed download"
    phase = json.loads((tmp_path / "out" / "summary.json").read_text())["phase_map"]
    assert phase["mode"] == "quick" and phase["steps"] == 6000, "the (tiny) quick grid"
    shares = phase["eps=1e-12"]["fractions"]
    assert sum(shares.values()) == pytest.approx(1.0)
    text = (tmp_path / "out" / "summary.md").read_text()
    assert "Adam on x²: the phase map (Figure 8, quick, 6000" in text
    assert f"| 1e-12 | all | {100 * shares['converges']:.1f} % | {100 * shares['cycle']:.1f} %" \
        in text, "the Markdown carries the JSON's numbers"
    assert (tmp_path / "out" / "phase_map.npz").exists(), "Figure 8 is drawn from its record"
