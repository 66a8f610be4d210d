"""Figure 7, drawn from real (tiny) runs of every method; the figure never trains."""
import dataclasses
import struct

import numpy as np
import pytest
from matplotlib.figure import Figure

from numpy_adam.experiments import one_axis
from numpy_adam.experiments.one_axis import (CURVE_FORMULAS, METHODS, NAMES, UNITS,
                                             one_axis_experiments, predicted_curve, unit_of)
from numpy_adam.plots import one_axis_figure
from numpy_adam.plots.one_axis_figure import (RMS_BINS, build_one_axis_figure,
                                              draw_one_axis_figure)
from numpy_adam.plots.spread_figure import DPI
from numpy_adam.training.loop import train

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
STEPS, WARMUP = 20, 4


@pytest.fixture(scope="module")
def runs(tmp_path_factory, tiny_cifar):
    """{method: Run}: the plan's settings on a tiny CNN with synthetic CIFAR-shaped data."""
    data = tiny_cifar  # tests/conftest.py
    root = tmp_path_factory.mktemp("one_axis_figure")
    out = {}
    for e in one_axis_experiments("quick"):
        config = dataclasses.replace(e.config, steps=STEPS, batch_size=16, channels=(2, 4),
                                     hidden=8, eval_every=STEPS, checkpoint_every=STEPS,
                                     label=e.config.label.replace("batch 100", "batch 16"))
        out[e.config.optimizer] = train(config, root / e.name, data=data, quiet=True)
    return out


@pytest.fixture(scope="module")
def figure(runs):
    return build_one_axis_figure(list(runs.values())[::-1], "test", warmup=WARMUP)


def _panels(fig):
    """The method panels, in drawing order: the axes whose title starts with a method name."""
    titled = {ax.get_title(): ax for ax in fig.axes if ax.get_visible()}
    return [next(ax for title, ax in titled.items() if title.startswith(NAMES[m] + " α="))
            for m in METHODS]


def test_one_panel_per_method_in_order_on_log_axes_in_its_unit(figure):
    panels = _panels(figure)
    assert len(set(map(id, panels))) == len(METHODS)
    visible = [ax for ax in figure.axes if ax.get_visible()]
    # 8 methods + the shapes + the residual summary + the colour bar
    assert len(visible) == len(METHODS) + 3
    for method, ax in zip(METHODS, panels):
        assert ax.get_xscale() == "log" and ax.get_yscale() == "log", method
        assert ax.get_ylabel() == UNITS[unit_of(method)], method
        assert ax.get_legend() is not None
        labels = [t.get_text() for t in ax.get_legend().get_texts()]
        assert any(lab.startswith("exact u = ") and lab.endswith("100.0%") for lab in labels), \
            (method, labels)
    scale_free = [ax.get_ylim() for m, ax in zip(METHODS, panels) if unit_of(m) != "alpha_m"]
    assert len(set(scale_free)) == 1, "the scale-free panels share one y range"
    assert len({ax.get_xlim() for ax in panels}) == 1, "one γ axis"


def test_each_panel_draws_its_own_prediction(figure, runs):
    for method, ax in zip(METHODS, _panels(figure)):
        run = runs[method]
        dashed = [ln for ln in ax.get_lines() if ln.get_linestyle() == "--"
                  and ln.get_color() == "black"]
        assert len(dashed) == 1, method
        x, y = dashed[0].get_data()
        if CURVE_FORMULAS[method] is None:  # RMSprop, Adagrad: RMS 1 and the measured RMS
            np.testing.assert_array_equal(y, [1.0, 1.0])
            measured = [ln for ln in ax.get_lines() if ln.get_marker() == "s"]
            assert len(measured) == 1 and measured[0].get_ydata().size == RMS_BINS, method
            assert np.all(np.abs(np.log(measured[0].get_ydata())) < np.log(3)), method
        else:  # the curve at the last step, on the panel's γ grid
            np.testing.assert_allclose(y, predicted_curve(method, x, run.config, STEPS),
                                       rtol=1e-12)
        dots = ax.collections[-1].get_offsets()
        assert dots.shape[0] == (STEPS - WARMUP) * 4, "one dot per tracked tensor and step"
    adam_curve = [ln for ln in _panels(figure)[METHODS.index("signum")].get_lines()
                  if ln.get_label() == "Adam's 1/√(γ²+1)"]
    x, y = adam_curve[0].get_data()
    np.testing.assert_allclose(y, 1 / np.sqrt(x ** 2 + 1)), "Adam's curve for comparison"


def test_summary_panels(figure):
    residual = next(ax for ax in figure.axes if ax.get_title().startswith("Each method"))
    ticks = [t.get_text().split("\n")[0] for t in residual.get_xticklabels()]
    assert ticks == [NAMES[m] for m in METHODS]
    assert residual.get_yscale() == "log"
    notes = [t.get_text() for t in residual.texts if t.get_text().startswith("exact: ")]
    n = (STEPS - WARMUP) * 128
    assert notes == [f"exact: {n:,}/{n:,}\nwithin rounding"] * len(METHODS)
    shapes = next(ax for ax in figure.axes if ax.get_title().startswith("every prediction"))
    labels = [t.get_text() for t in shapes.get_legend().get_texts()]
    assert all(any(lab.startswith(NAMES[m] + " (median γ") for lab in labels) for m in METHODS)


def test_draw_writes_a_real_png(runs, tmp_path, figure):
    paths = draw_one_axis_figure(runs, one_axis.TITLE, tmp_path / "fig7.png", warmup=WARMUP)
    assert paths == [tmp_path / "fig7.png"]
    data = paths[0].read_bytes()
    assert data[:8] == PNG_MAGIC and data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    w_in, h_in = figure.get_size_inches()
    assert (width, height) == (round(w_in * DPI), round(h_in * DPI)), (width, height)
    assert len(data) > 100_000, "a drawn figure, not an empty canvas"
    assert not list(tmp_path.glob(".*partial")), "no temporary file left behind"


def test_draw_into_a_folder_names_the_file_figure7(runs, tmp_path, monkeypatch):
    built = []
    monkeypatch.setattr(one_axis_figure, "build_one_axis_figure",  # the path logic only
                        lambda r, title, warmup: built.append((title, warmup)) or Figure())
    paths = draw_one_axis_figure(runs, "t", tmp_path, formats=("png", "svg"), warmup=3)
    assert paths == [tmp_path / "figure7.png", tmp_path / "figure7.svg"] and built == [("t", 3)]
    assert all(p.stat().st_size > 0 for p in paths)


def test_bad_inputs_are_named(runs, tmp_path):
    with pytest.raises(TypeError, match="non-empty dict or list of Run"):
        build_one_axis_figure([], "t")
    with pytest.raises(TypeError, match="non-empty dict or list of Run"):
        build_one_axis_figure([runs["adam"], "run"], "t")
    with pytest.raises(ValueError, match="formats must be"):
        draw_one_axis_figure(runs, "t", tmp_path / "f.png", formats=("jpg",))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        draw_one_axis_figure(runs, "t", tmp_path / "missing" / "f.png")
