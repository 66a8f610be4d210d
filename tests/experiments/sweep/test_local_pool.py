"""Sweeps on the local process pool: the same records as runs made one by one, failures kept to
their point, threads pinned per worker, finished runs never run again."""
import json
import os

import pytest

from numpy_adam.cli import main
from numpy_adam.experiments.sweep.executors import LocalPool
from numpy_adam.experiments.sweep.runner import run_sweep
from numpy_adam.experiments.sweep.spec import expand, spec_from_options
from numpy_adam.experiments.sweep.worker import THREAD_VARIABLES, thread_report



def test_a_local_sweep_gives_the_records_of_runs_made_one_by_one(tmp_path, one_by_one, kit):
    out = tmp_path / "sweep"
    argv = ["sweep", "--out", str(out), *kit.QUAD_SETTINGS, "--grid", "seed=0,1",
            "--point", "optimizer=adam lr=0.01", "--point", "optimizer=sgd lr=0.05 momentum=0.9",
            "--jobs", "2", "--quiet"]
    assert main(argv) == 0
    state = kit.sweep_state(out)
    assert len(state) == 4 and all(p["state"] == "finished" for p in state.values()), state
    assert all(p["attempts"] == 1 and p["resumed_from"] == 0 for p in state.values())
    configs = [kit.quad(optimizer="adam", lr=0.01, seed=s) for s in (0, 1)] + \
              [kit.quad(optimizer="sgd", lr=0.05, momentum=0.9, seed=s) for s in (0, 1)]
    for config in configs:
        folder = one_by_one(config)
        kit.assert_same_record(out / folder.name, folder)
    # seeds matter (noisy x²), so identical records are not a coincidence of equal runs
    adam = [p["final_loss"] for p in state.values() if "optimizer" not in p["settings"]]
    assert len(adam) == 2 and adam[0] != adam[1]

    stamps = {p: p.stat().st_mtime_ns for p in out.glob("*/metrics.npz")}
    assert main(argv) == 0  # again: everything is finished, nothing runs
    assert {p: p.stat().st_mtime_ns for p in stamps} == stamps
    assert all(p["attempts"] == 1 for p in kit.sweep_state(out).values())


def test_a_failing_point_is_recorded_and_the_others_finish(tmp_path, capsys, kit):
    out = tmp_path / "sweep"
    argv = ["sweep", "--out", str(out), *kit.QUAD_SETTINGS, "--set", "optimizer=sgd",
            "--set", "noise_std=0", "--grid", "lr=0.01,10,0.1", "--jobs", "2"]
    assert main(argv) == 1
    captured = capsys.readouterr()
    state = kit.sweep_state(out)
    failed = [p for p in state.values() if p["state"] == "failed"]
    assert [p["settings"]["lr"] for p in failed] == [10.0]
    assert failed[0]["kind"] == "diverged" and "diverged at step" in failed[0]["error"]
    assert sum(p["state"] == "finished" for p in state.values()) == 2
    assert "1 of 3 points failed" in captured.err and "sweep.json" in captured.err
    assert "failed — TrainingDiverged" in captured.out, "a status line per completed run"
    # a diverged run is deterministic: the next invocation reports it without running it again
    diverged = out / failed[0]["name"] / "metrics.npz"
    stamp = diverged.stat().st_mtime_ns
    assert main(argv) == 1
    assert diverged.stat().st_mtime_ns == stamp
    assert kit.sweep_state(out)[failed[0]["name"]]["attempts"] == 1


def test_each_worker_gets_its_share_of_the_cores_before_numpy_loads(tmp_path):
    before = {k: os.environ.get(k) for k in THREAD_VARIABLES}
    with LocalPool(2, threads=1) as pool:
        reports = [f.result() for f in [pool._pool.submit(thread_report) for _ in range(4)]]
    for report in reports:
        assert report["env"] == {k: "1" for k in THREAD_VARIABLES}, report
        assert report["numba"] == 1 and report["numba_pool"] == 1, report
        assert all(n == 1 for n in report["blas"]), report
    assert {k: os.environ.get(k) for k in THREAD_VARIABLES} == before, "parent env restored"
    assert report["pid"] != os.getpid()


def test_a_folder_holding_other_settings_is_refused_before_anything_runs(tmp_path, kit):
    out = tmp_path / "sweep"
    spec = spec_from_options(["model=quadratic", "steps=20"], ["seed=0,1"], [])
    [first, second] = expand(spec)
    (out / second.name).mkdir(parents=True)
    (out / second.name / "config.json").write_text(json.dumps({**kit.quad().to_json(), "seed": 7}))
    with pytest.raises(FileExistsError, match="holds a run with other settings"):
        run_sweep(spec, out, LocalPool(1), quiet=True)
    assert not (out / first.name).exists() and not (out / "sweep.json").exists()


def test_a_sweep_folder_accumulates_points_and_continues_without_a_spec(tmp_path, kit):
    out = tmp_path / "sweep"
    assert main(["sweep", "--out", str(out), *kit.QUAD_SETTINGS, "--grid", "seed=0", "--jobs", "1",
                 "--quiet"]) == 0
    assert main(["sweep", "--out", str(out), *kit.QUAD_SETTINGS, "--grid", "seed=1", "--jobs", "1",
                 "--dry-run", "--quiet"]) == 0
    state = kit.sweep_state(out)
    assert sorted(p["state"] for p in state.values()) == ["finished", "pending"]
    assert main(["sweep", "--out", str(out), "--jobs", "1", "--quiet"]) == 0
    assert all(p["state"] == "finished" for p in kit.sweep_state(out).values())


def test_runs_that_fit_alone_but_not_side_by_side_are_refused(tmp_path, monkeypatch):
    from numpy_adam.training import memory
    from numpy_adam.training.errors import InsufficientMemory

    one = memory.training_bytes("cnn", 100)
    monkeypatch.setattr(memory, "available_bytes", lambda: int(1.5 * one))
    spec = spec_from_options(["model=cnn", "steps=5"], ["seed=0,1"], [])
    with pytest.raises(InsufficientMemory, match="2 runs at once need about .*fewer --jobs"):
        run_sweep(spec, tmp_path / "sweep", LocalPool(2), quiet=True)
    assert not (tmp_path / "sweep").exists()
    run_sweep(spec, tmp_path / "sweep", LocalPool(1), quiet=True, dry_run=True)  # one fits


class _ReadsTheReportAtEachHandOff(LocalPool):
    """A local pool that reads sweep.json whenever a point is handed to a worker: what a kill
    of the sweep at that moment would leave on disk."""

    def __init__(self, out, jobs):
        super().__init__(jobs)
        self.out, self.seen = out, []

    def submit(self, task):
        saved = json.loads((self.out / "sweep.json").read_text())["points"]
        point = next(p for p in saved if p["name"] == task["name"])
        self.seen.append((task["name"], point["state"], point["attempts"]))
        return super().submit(task)


def test_sweep_json_counts_an_attempt_before_the_worker_is_given_it(tmp_path):
    """A sweep killed just after a hand-off leaves a worker that runs on for a moment and
    checkpoints: sweep.json must already count that attempt, or the next invocation's
    count says the resumed run was given out only once."""
    out = tmp_path / "sweep"
    spec = spec_from_options(["model=quadratic", "steps=20"], ["seed=0,1,2"], [])
    pool = _ReadsTheReportAtEachHandOff(out.absolute(), 2)
    run_sweep(spec, out, pool, quiet=True)
    names = sorted(p.name for p in expand(spec))
    assert sorted(pool.seen) == [(name, "running", 1) for name in names], pool.seen
