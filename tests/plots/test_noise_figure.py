"""Figure 6, drawn from real (short) runs of the noise experiment; the figure never trains."""
import math
import struct
from dataclasses import replace

import numpy as np
import pytest

from numpy_adam.experiments import noise_plan
from numpy_adam.experiments.stationary import run_measures
from numpy_adam.plots.noise_figure import build_noise_figure, draw_noise_figure, noise_series
from numpy_adam.plots.spread_figure import DPI
from numpy_adam.training.loop import train

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
NOISES = (0.0, 1e-3, 0.1)


@pytest.fixture(scope="module")
def noise_runs(tmp_path_factory):
    """Adam and SGD at three noise levels, 3000 steps each (the plan's settings, shorter): SGD
    at s = 0 then has RMS x ≈ 1e-20, far below the panel's floor."""
    root = tmp_path_factory.mktemp("noise")
    return [train(replace(e.config, steps=3000, checkpoint_every=3000), root / e.name, quiet=True)
            for e in noise_plan.noise_experiments("quick") if e.config.noise_std in NOISES]


def _marker_lines(ax, marker):
    return [ln for ln in ax.get_lines()
            if ln.get_marker() == marker and ln.get_linestyle() == "None"]


def _closed_form(ax):
    return [ln for ln in ax.get_lines() if ln.get_label().endswith("closed form")
            and ln.get_linestyle() == "--"]


def test_series_group_runs_by_optimizer_sorted_by_s(noise_runs):
    series = noise_series(noise_runs[::-1])
    assert [key[0] for key in series] == ["adam", "sgd"], "Adam first"
    for points in series.values():
        assert [m["noise_std"] for m in points] == list(NOISES)


def test_figure_layout_and_closed_form_lines(noise_runs):
    fig = build_noise_figure(noise_runs, "test")
    assert len(fig.axes) == 4, "four panels"
    ax_x, ax_step, ax_sign, ax_gamma = fig.axes
    assert [a.get_ylabel() for a in ax_sign.child_axes] == ["period 2/rate (steps)"]
    assert [ax.get_title()[:3] for ax in fig.axes[:4]] == ["(a)", "(b)", "(c)", "(d)"]
    for ax in (ax_x, ax_step, ax_sign, ax_gamma):
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log"
    assert ax_x.get_xticklabels()[0].get_text() == "0", "s = 0 has its own tick"
    # (a): SGD's closed form √(α s²/(1 − α)) as a dashed line; Adam's three runs as circles
    dashed = _closed_form(ax_x)
    assert len(dashed) == 1
    s, y = dashed[0].get_data()
    np.testing.assert_allclose(y, np.sqrt(0.01 * s ** 2 / 0.99), rtol=1e-12)
    adam = _marker_lines(ax_x, "o")
    assert len(adam) == 1 and adam[0].get_ydata().size == 3
    measured = [run_measures(r)["rms_x"] for r in noise_runs if r.config["optimizer"] == "adam"]
    np.testing.assert_allclose(sorted(adam[0].get_ydata()), sorted(measured))
    # SGD at s = 0 (x → 0) sits on the floor as an open downward triangle, the others as triangles
    assert len(_marker_lines(ax_x, "v")) == 1 and _marker_lines(ax_x, "^")[0].get_ydata().size == 2
    # (c): the closed-form rate arccos(1 − 2α)/π, flat in s
    flat = _closed_form(ax_sign)[0].get_ydata()
    np.testing.assert_allclose(flat, math.acos(0.98) / math.pi)
    # (d): the dotted curve 1/√(γ²+1) and one median marker per Adam run
    dotted = [ln for ln in ax_gamma.get_lines() if ln.get_linestyle() == ":"]
    gamma, curve = dotted[0].get_data()
    np.testing.assert_allclose(curve, 1 / np.sqrt(gamma ** 2 + 1))
    labels = [t.get_text() for t in ax_gamma.get_legend().get_texts()]
    assert labels == ["s = 0", "s = 0.001", "s = 0.1", "1/√(γ²+1)"], labels
    assert len(ax_gamma.collections) == 3 and all(c.get_offsets().shape[0] > 100
                                                  for c in ax_gamma.collections)


def test_draw_writes_a_real_png_and_svg(noise_runs, tmp_path):
    paths = draw_noise_figure(noise_runs, noise_plan.TITLE, tmp_path / "fig6.png",
                              formats=("png", "svg"))
    assert [p.name for p in paths] == ["fig6.png", "fig6.svg"]
    data = paths[0].read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (round(10.0 * DPI), round(7.6 * DPI)), (width, height)
    assert len(data) > 50_000, "a drawn figure, not an empty canvas"
    assert paths[1].read_text(encoding="utf-8").lstrip().startswith("<?xml")
    assert not list(tmp_path.glob(".*partial")), "no temporary file left behind"
    into_folder = draw_noise_figure(noise_runs, "t", tmp_path)
    assert into_folder == [tmp_path / "noise_figure.png"] and into_folder[0].stat().st_size > 0


def test_bad_inputs_are_named(noise_runs, tmp_path):
    with pytest.raises(ValueError, match="runs must be a non-empty list"):
        build_noise_figure([], "t")
    with pytest.raises(TypeError, match=r"runs\[1\] must be a Run"):
        build_noise_figure([noise_runs[0], "run"], "t")
    with pytest.raises(ValueError, match="formats must be"):
        draw_noise_figure(noise_runs, "t", tmp_path / "f.png", formats=("jpg",))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        draw_noise_figure(noise_runs, "t", tmp_path / "missing" / "f.png")
