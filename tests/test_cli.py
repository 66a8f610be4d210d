"""The command line: the CLI and the optimizers share their rules; train and plot work end to end.
(Every failure the CLI expects, with its exit status and message: test_cli_errors.py.)"""
import pytest

from numpy_adam.cli import main


INF, NAN = float("inf"), float("nan")


@pytest.mark.parametrize("name", ["signsgd", "signum", "lion", "rmsprop", "adagrad", "msvag"])
def test_train_runs_every_optimizer_it_lists(name, tmp_path):
    from numpy_adam.records import load_run

    extra = ["--centered", "--momentum", "0.5"] if name == "rmsprop" else []
    assert main(["train", "--model", "quadratic", "--optimizer", name, "--steps", "3",
                 "--out", str(tmp_path / name), "--quiet", *extra]) == 0
    config = load_run(tmp_path / name).config
    assert config["optimizer"] == name
    assert config["centered"] is (name == "rmsprop")


@pytest.mark.parametrize("argv, kwargs", [
    (["--momentum", "1.5"], dict(momentum=1.5)),  # accepted by both (PyTorch: momentum >= 0)
    (["--momentum", "-0.5"], dict(momentum=-0.5)),
    (["--momentum", "nan"], dict(momentum=NAN)),
    (["--momentum", "0.9", "--dampening", "1.5"], dict(momentum=0.9, dampening=1.5)),
    (["--momentum", "0.9", "--dampening", "1.0"], dict(momentum=0.9, dampening=1.0)),
    (["--nesterov"], dict(nesterov=True)),
    (["--momentum", "0.9", "--nesterov"], dict(momentum=0.9, nesterov=True)),
    (["--weight-decay", "-1"], dict(weight_decay=-1.0)),
    (["--lr", "inf"], dict(lr=INF)),
])
def test_cli_and_sgd_accept_and_refuse_the_same_options(argv, kwargs, tmp_path, capsys):
    """`numpy-adam train --optimizer sgd ...` runs exactly when SGD(...) accepts the options, and
    otherwise exits 2 with SGD's message (after the owner's name)."""
    import numpy as np

    from numpy_adam.nn import Parameter
    from numpy_adam.optim import SGD

    try:
        SGD([("x", Parameter(np.ones(1)))], **kwargs)
        sgd_error = None
    except ValueError as error:
        sgd_error = str(error)
    cli = ["train", "--model", "quadratic", "--optimizer", "sgd", "--steps", "2", *argv,
           "--out", str(tmp_path / "run"), "--quiet"]
    if sgd_error is None:
        assert main(cli) == 0, f"SGD accepts {kwargs}, the CLI must run"
        return
    with pytest.raises(SystemExit) as exit_info:
        main(cli)
    err = capsys.readouterr().err
    assert exit_info.value.code == 2, err
    assert sgd_error.split(": ", 1)[1] in err, f"SGD says {sgd_error!r}, the CLI said {err!r}"


def test_quadratic_train_from_the_cli(tmp_path, capsys):
    assert main(["train", "--model", "quadratic", "--steps", "20", "--lr", "0.1",
                 "--out", str(tmp_path / "q"), "--quiet"]) == 0
    assert "20 steps" in capsys.readouterr().out


def test_missing_data_is_a_clear_error_with_status_1(tmp_path, capsys, monkeypatch):
    from numpy_adam.datasets import download

    def offline(url, dest, **kwargs):
        raise OSError("network unreachable (test)")

    monkeypatch.setattr(download, "fetch", offline)  # never touch the network in tests
    code = main(["train", "--steps", "1", "--out", str(tmp_path / "r"), "--data-dir",
                 str(tmp_path / "empty"), "--quiet"])
    assert code == 1
    err = capsys.readouterr().err
    assert "cifar-10-batches-py" in err, err


def test_plot_draws_either_aggregation(tmp_path, capsys):
    run = tmp_path / "q"
    assert main(["train", "--model", "quadratic", "--steps", "30", "--lr", "0.1",
                 "--out", str(run), "--quiet"]) == 0
    for gamma in ("layer", "element"):
        out = tmp_path / f"{gamma}.png"
        assert main(["plot", str(run), "--gamma", gamma, "--out", str(out)]) == 0
        assert out.read_bytes().startswith(b"\x89PNG"), gamma
