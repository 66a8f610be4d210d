"""numpy-adam sweep, summarize and reproduce --jobs on the command line: the one error path
(2 for bad usage, 1 for state), nothing run or written before the settings are checked, every
option's default stated, and a clear message when Dask is asked for but not installed."""
import re
import sys

import pytest

from numpy_adam.cli import build_parser, main

QUAD = ["--set", "model=quadratic", "--set", "steps=20"]


def run(argv, capsys):
    """(exit status, stderr) of ``numpy-adam ARGV`` in this process."""
    try:
        status = main(argv)
    except SystemExit as exit_info:  # argparse's usage errors
        status = exit_info.code
    return status, capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["--grid", "lr=0.1,-1"], r"sweep point 2 \(model='quadratic', steps=20, lr=-1\): "
                              "TrainConfig: lr must be"),
    (["--grid", "learning_rate=0.1"], "unknown setting 'learning_rate'"),
    (["--set", "lr"], "--set takes KEY=VALUE"),
    (["--point", "seed=1", "--grid", "seed=1,2"], "sets seed, which the grid sweeps"),
    (["--set", "epochs=2"], "exactly one of steps and epochs|epochs must be None"),
    (["--jobs", "0"], "--jobs must be >= 1"),
    (["--jobs", "2", "--dask-local", "2"], "--jobs sets the local pool's processes"),
    (["--scheduler", "tcp://127.0.0.1:1", "--dask-local", "2"], "not allowed with argument"),
    (["--threads-per-run", "0"], "--threads-per-run must be >= 1"),
])
def test_bad_sweeps_are_refused_before_anything_is_written(tmp_path, capsys, argv, message):
    out = tmp_path / "sweep"
    status, err = run(["sweep", "--out", str(out), *QUAD, *argv], capsys)
    assert status == 2, err
    assert len(err.strip().splitlines()) <= 2 and "Traceback" not in err, err
    assert re.search(message, err), err
    assert not out.exists()


def test_a_sweep_without_points_says_how_to_give_them(tmp_path, capsys):
    status, err = run(["sweep", "--out", str(tmp_path / "sweep")], capsys)
    assert status == 2 and "no points to run: give a spec file or --set/--grid/--point" in err


def test_a_bad_spec_file_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "spec.json").write_text('{"grid": {"seed": "0,1"}}')
    status, err = run(["sweep", str(tmp_path / "spec.json"), "--out", str(tmp_path / "o")], capsys)
    assert status == 2 and "grid: seed must be a non-empty list" in err, err


def test_asking_for_dask_without_it_says_how_to_install_it(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed → ImportError
    for option in (["--dask-local", "2"], ["--scheduler", "tcp://127.0.0.1:8786"]):
        status, err = run(["sweep", "--out", str(tmp_path / "sweep"), *QUAD, *option], capsys)
        assert status == 1, err
        assert "pip install -e '.[sweep]'" in err and "'distributed' package" in err, err
        assert not (tmp_path / "sweep").exists()


def test_an_unreachable_scheduler_is_a_state_error(tmp_path, capsys):
    pytest.importorskip("distributed", reason="Dask is the optional [sweep] extra")
    import socket

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from numpy_adam.experiments.sweep import executors

    monkey = pytest.MonkeyPatch()
    monkey.setattr(executors, "CONNECT_TIMEOUT", "2s")
    try:
        status, err = run(["sweep", "--out", str(tmp_path / "sweep"), *QUAD, "--scheduler",
                           f"tcp://127.0.0.1:{port}", "--quiet"], capsys)
    finally:
        monkey.undo()
    assert status == 1 and f"cannot reach the Dask scheduler at tcp://127.0.0.1:{port}" in err


@pytest.mark.parametrize("command", ["sweep", "summarize", "reproduce"])
def test_every_option_states_its_default(command):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    for action in sub._actions:
        if action.dest in ("help",) or not action.option_strings and action.dest != "spec":
            continue
        text = action.help or ""
        assert "default" in text or "required" in text, (command, action.option_strings, text)


def test_reproduce_jobs_is_checked(tmp_path, capsys):
    status, err = run(["reproduce", "--jobs", "0", "--out", str(tmp_path / "r")], capsys)
    assert status == 2 and "--jobs must be >= 1" in err
    assert not (tmp_path / "r").exists()


def test_a_toml_spec_with_command_line_additions_lists_its_points(tmp_path, capsys):
    (tmp_path / "spec.toml").write_text('[base]\nmodel = "quadratic"\nsteps = 20\n'
                                        '[grid]\nlr = [0.01, 0.1]\n')
    out = tmp_path / "sweep"
    status, _ = run(["sweep", str(tmp_path / "spec.toml"), "--out", str(out),
                     "--grid", "seed=0,1", "--dry-run"], capsys)
    assert status == 0
    import json

    points = json.loads((out / "sweep.json").read_text())["points"]
    assert len(points) == 4 and {p["state"] for p in points} == {"pending"}
    assert {(p["settings"]["lr"], p["settings"].get("seed", 0)) for p in points} == \
        {(0.01, 0), (0.01, 1), (0.1, 0), (0.1, 1)}
    assert not [p for p in out.iterdir() if p.is_dir()], "a dry run makes no run folder"
