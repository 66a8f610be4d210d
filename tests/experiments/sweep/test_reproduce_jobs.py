"""numpy-adam reproduce --jobs: the reproduction's runs through the sweep's local pool give the
records, figures and summary of the one-after-another reproduction (short runs, no CIFAR-10)."""
import dataclasses
import json

import pytest

from numpy_adam.experiments import reproduce
from numpy_adam.experiments.plan import plan



@pytest.fixture
def offline_tiny_plan(monkeypatch, tiny_phase_map):
    from numpy_adam.datasets import download

    def offline(url, dest, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(download, "fetch", offline)  # never touch the network in tests
    tiny = lambda mode, seed: [
        dataclasses.replace(e, config=dataclasses.replace(e.config, steps=30))
        for e in plan(mode, seed)]
    monkeypatch.setattr(reproduce, "plan", tiny)


def _numbers(path):
    runs = json.loads((path / "summary.json").read_text())["runs"]
    for run in runs:
        run.pop("wall_seconds")
    return runs


@pytest.mark.slow
def test_two_jobs_reproduce_what_one_job_does(tmp_path, offline_tiny_plan, kit):
    no_data = tmp_path / "no-data"
    one = reproduce.run_reproduction("quick", tmp_path / "one", data_dir=no_data, quiet=True)
    two = reproduce.run_reproduction("quick", tmp_path / "two", data_dir=no_data, quiet=True,
                                     jobs=2)
    assert [p.name for p in two["figures"]] == [p.name for p in one["figures"]] == \
        ["figure3.png", "schedules.png", "figure6.png", "figure8.png"]
    assert two["skipped"]["runs"] == one["skipped"]["runs"] and len(one["skipped"]["runs"]) == 16
    assert two["skipped"]["figures"] == one["skipped"]["figures"]
    assert _numbers(tmp_path / "two") == _numbers(tmp_path / "one")
    for folder in (tmp_path / "one").iterdir():
        if (folder / "metrics.npz").exists():
            kit.assert_same_record(tmp_path / "two" / folder.name, folder)
    # finished runs are reused by the parallel path too
    stamps = {p: p.stat().st_mtime_ns for p in (tmp_path / "two").glob("*/metrics.npz")}
    reproduce.run_reproduction("quick", tmp_path / "two", data_dir=no_data, quiet=True, jobs=2)
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps


def test_a_failing_run_stops_the_reproduction_after_the_others(tmp_path, offline_tiny_plan,
                                                               monkeypatch):
    from numpy_adam.experiments.sweep.runner import SweepFailed

    tiny = reproduce.plan
    broken = lambda mode, seed: [
        dataclasses.replace(e, config=dataclasses.replace(e.config, lr=1e10))
        if e.name == "figure3-gd" else e for e in tiny(mode, seed)]
    monkeypatch.setattr(reproduce, "plan", broken)
    with pytest.raises(SweepFailed, match="figure3-gd: TrainingDiverged"):
        reproduce.run_reproduction("quick", tmp_path / "r", data_dir=tmp_path / "no-data",
                                   quiet=True, jobs=2)
    finished = [p for p in (tmp_path / "r").glob("*/summary.json")
                if json.loads(p.read_text())["status"] == "finished"]
    assert len(finished) == 18, "the 18 other runs that need no data finished"
