"""numpy-adam summarize: every point's numbers, seed means ± sd, and the seed-averaged figure."""
import json
import math

import numpy as np
import pytest

from numpy_adam.cli import main
from numpy_adam.experiments.summary import run_numbers
from numpy_adam.records import load_run



@pytest.fixture(scope="module")
def swept(tmp_path_factory, kit):
    """A finished sweep: Adam on noisy x² over two β1 and three seeds, plus a diverging point."""
    out = tmp_path_factory.mktemp("summarize") / "sweep"
    assert main(["sweep", "--out", str(out), *kit.QUAD_SETTINGS, "--set", "x0=[1.0]",
                 "--set", "beta2=0.99",
                 "--grid", "beta1=0.9,0.99", "--grid", "seed=0,1,2", "--jobs", "2",
                 "--quiet"]) == 0
    assert main(["sweep", "--out", str(out), *kit.QUAD_SETTINGS, "--set", "x0=[1.0]",
                 "--set", "beta2=0.99", "--point", "optimizer=sgd lr=20 noise_std=0",
                 "--jobs", "1", "--quiet"]) == 1
    return out


def test_the_table_holds_every_point_and_the_seed_means(swept):
    assert main(["summarize", str(swept), "--warmup", "20"]) == 0
    data = json.loads((swept / "summary.json").read_text())
    assert data["swept"] == ["optimizer", "lr", "beta1", "seed", "noise_std"], data["swept"]
    assert data["x"] == "lr", "the first swept number other than the seed"
    points = {p["name"]: p for p in data["points"]}
    assert len(points) == 7
    [failed] = [p for p in points.values() if p["state"] == "failed"]
    assert failed["numbers"] is None and "diverged" in failed["error"]
    for name, point in points.items():  # the reproduction's own numbers, per point
        if point["state"] == "finished":
            expected = run_numbers(load_run(swept / name), 20)
            assert point["numbers"]["pearson"] == pytest.approx(
                expected["pearson_update_vs_mean_abs_m"], nan_ok=True)
            assert point["numbers"]["residual_element"] == pytest.approx(
                expected["panel_c"]["element"]["relative_residual"])
    groups = [g for g in data["groups"] if g["n"] == 3]
    assert sorted(g["settings"]["beta1"] for g in groups) == [0.9, 0.99]
    for group in groups:
        members = [p for p in points.values() if p["state"] == "finished"
                   and p["settings"]["beta1"] == group["settings"]["beta1"]]
        assert sorted(group["seeds"]) == [0, 1, 2] and len(members) == 3
        for key in ("final_loss", "residual_layer", "spearman"):
            values = np.array([m["numbers"][key] for m in members], dtype=float)
            assert group["mean"][key] == pytest.approx(values.mean())
            assert group["sd"][key] == pytest.approx(values.std(ddof=1))
            assert group["sd"][key] > 0 or key == "spearman", (key, values)
    md = (swept / "summary.md").read_text()
    assert "mean ± sd" in md and " ± " in md and "| failed: training diverged at step" in md
    assert md.count("\n| `") == 7, "one row per point"


def test_the_figure_is_drawn_against_the_chosen_setting(swept):
    assert main(["summarize", str(swept), "--x", "beta1", "--pdf"]) == 0
    data = json.loads((swept / "summary.json").read_text())
    assert data["x"] == "beta1" and data["warmup"] == 100
    png, pdf = swept / "sweep_figure.png", swept / "sweep_figure.pdf"
    assert png.stat().st_size > 20_000 and pdf.stat().st_size > 5_000
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_summarize_refuses_what_is_not_a_sweep(tmp_path, swept, capsys):
    assert main(["summarize", str(tmp_path)]) == 1
    assert "is not a sweep folder" in capsys.readouterr().err
    assert main(["summarize", str(swept), "--x", "momentum"]) == 2
    assert "not a swept setting" in capsys.readouterr().err


def test_a_run_that_run_numbers_refuses_still_gets_its_table_numbers(tmp_path, kit):
    out = tmp_path / "sweep"  # noisy x² of two elements: no steady-state measures
    assert main(["sweep", "--out", str(out), *kit.QUAD_SETTINGS, "--grid", "seed=0,1",
                 "--jobs", "1", "--quiet"]) == 0
    assert main(["summarize", str(out)]) == 0
    points = json.loads((out / "summary.json").read_text())["points"]
    assert all(p["run_numbers"] is None and "1-D" in p["note"] for p in points)
    assert all(math.isfinite(p["numbers"]["residual_layer"]) for p in points)
    assert (out / "sweep_figure.png").exists()


def test_seed_statistics_leave_out_what_is_not_a_number():
    from numpy_adam.experiments.sweep.summarize import mean_sd

    assert mean_sd([1.0, None, math.nan, 3.0]) == (2.0, pytest.approx(math.sqrt(2)))
    assert mean_sd([4.0]) == (4.0, None) and mean_sd([None]) == (None, None)
