"""Sweeps on Dask: a LocalCluster (--dask-local) and a real scheduler with two workers started as
subprocesses on 127.0.0.1 (--scheduler ADDRESS) give the records of runs made one by one."""
import json
import os
import subprocess
import sys
import time

import pytest

distributed = pytest.importorskip(
    "distributed", reason="Dask is the optional [sweep] extra: pip install -e '.[sweep]'")

from numpy_adam.cli import main  # noqa: E402



@pytest.mark.slow
def test_a_sweep_on_a_dask_local_cluster_matches_runs_made_one_by_one(tmp_path, one_by_one, kit):
    out = tmp_path / "sweep"
    argv = ["sweep", "--out", str(out), *kit.QUAD_SETTINGS, "--grid", "seed=0,1,2",
            "--grid", "lr=0.01,0.03", "--dask-local", "2", "--quiet"]
    assert main(argv) == 0
    state = kit.sweep_state(out)
    assert len(state) == 6 and all(p["state"] == "finished" for p in state.values()), state
    for seed in range(3):
        for lr in (0.01, 0.03):
            folder = one_by_one(kit.quad(seed=seed, lr=lr))
            kit.assert_same_record(out / folder.name, folder)
    executor = json.loads((out / "sweep.json").read_text())["executor"]
    assert "LocalCluster of 2 processes" in executor, executor


@pytest.fixture
def dask_cluster(tmp_path):
    """A Dask scheduler and two single-threaded workers, as subprocesses on 127.0.0.1; yields
    the scheduler's address and stops them all afterwards."""
    scheduler_file = tmp_path / "scheduler.json"
    dask = [sys.executable, "-m", "dask"]
    logs = [open(tmp_path / f"{name}.log", "w") for name in ("scheduler", "worker1", "worker2")]
    processes = [subprocess.Popen(
        [*dask, "scheduler", "--host", "127.0.0.1", "--port", "0", "--no-dashboard",
         "--scheduler-file", str(scheduler_file)], stdout=logs[0], stderr=subprocess.STDOUT,
        cwd=tmp_path)]
    try:
        deadline = time.monotonic() + 120
        while not scheduler_file.exists():
            if processes[0].poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the Dask scheduler did not start: "
                            f"{(tmp_path / 'scheduler.log').read_text()[-2000:]}")
            time.sleep(0.1)
        address = json.loads(scheduler_file.read_text())["address"]
        assert address.startswith("tcp://127.0.0.1:"), address
        for log in logs[1:]:
            processes.append(subprocess.Popen(
                [*dask, "worker", address, "--nworkers", "1", "--nthreads", "1", "--host",
                 "127.0.0.1", "--no-dashboard", "--local-directory", str(tmp_path / "dask")],
                stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path))
        with distributed.Client(address, timeout="60s") as client:
            client.wait_for_workers(2, timeout=120)
        yield address
    finally:
        for process in reversed(processes):
            process.terminate()
        for process in reversed(processes):
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for log in logs:
            log.close()


@pytest.mark.slow
def test_a_sweep_on_a_dask_scheduler_with_two_workers(tmp_path, dask_cluster, one_by_one, kit):
    out = tmp_path / "sweep"
    argv = ["sweep", "--out", str(out), *kit.QUAD_SETTINGS, "--grid", "seed=0,1,2,3",
            "--point", "optimizer=adam lr=0.01", "--point", "optimizer=sgd lr=20 noise_std=0",
            "--scheduler", dask_cluster]
    assert main(argv) == 1, "the diverging SGD points fail, the others finish"
    state = kit.sweep_state(out)
    assert len(state) == 8, state
    by_optimizer = {}
    for point in state.values():
        optimizer = point["settings"].get("optimizer", "adam")
        by_optimizer.setdefault(optimizer, set()).add(point["state"])
    assert by_optimizer == {"adam": {"finished"}, "sgd": {"failed"}}, state
    for seed in range(4):
        folder = one_by_one(kit.quad(seed=seed, lr=0.01))
        kit.assert_same_record(out / folder.name, folder)
    # both workers took part, each its own process, neither of them this one
    workers = {p["worker"] for p in state.values()}
    assert len(workers) == 2 and all(not w.endswith(f" {os.getpid()}") for w in workers), workers
    executor = json.loads((out / "sweep.json").read_text())["executor"]
    assert "2 worker processes" in executor and dask_cluster in executor, executor
