"""The spread figure, drawn from synthetic run records (see conftest.py); never trains."""
import numpy as np
import pytest
from matplotlib.collections import PathCollection

from numpy_adam.records import relative_spread
from numpy_adam.plots.spread_figure import (FOOTNOTES, build_spread_figure, describe_runs,
                                 draw_spread_figure, group_rows, main)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def cnn_rows(runs):
    return [[runs[("adam", 16)], runs[("sgd", 16)]], [runs[("adam", 100)], runs[("sgd", 100)]]]


def test_cnn_figure_layout(cnn_like_runs):
    fig = build_spread_figure(cnn_rows(cnn_like_runs), "test")
    assert len(fig.axes) == 2 * (3 + 2), "per row: 3 panels and one colorbar per run"
    labels = [sf.get_suptitle() for sf in fig.subfigs]
    assert labels == ["batch 16", "batch 100"], labels
    for r in range(2):
        ax_loss, ax_m, ax_gamma = fig.subfigs[r].axes[:3]
        assert ax_loss.get_yscale() == "log", "the loss spans decades"
        assert ax_gamma.get_xscale() == "log", "γ spans decades"
        scatters = [c for c in ax_gamma.collections if isinstance(c, PathCollection)]
        assert len(scatters) == 2, "Adam and SGD dots in panel (c)"
        assert scatters[0].get_array().size > 100, "dots coloured by step"
        dotted = [ln for ln in ax_gamma.get_lines() if ln.get_linestyle() == ":"]
        assert len(dotted) == 1, "panel (c) carries the dotted curve 1/√(γ²+1)"
        gamma, curve = dotted[0].get_data()
        np.testing.assert_allclose(curve, 1 / np.sqrt(gamma ** 2 + 1), err_msg="the curve")
        cbar_labels = [ax.get_ylabel() for ax in fig.subfigs[r].axes[3:]]
        assert cbar_labels == ["Adam step", "SGD step"], cbar_labels


def test_draw_writes_png_and_pdf(cnn_like_runs, tmp_path):
    paths = draw_spread_figure(cnn_rows(cnn_like_runs), "Figure 1", tmp_path / "fig1.png",
                               formats=("png", "pdf"))
    assert [p.name for p in paths] == ["fig1.png", "fig1.pdf"], paths
    png, pdf = (p.read_bytes() for p in paths)
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000, f"PNG of {len(png)} bytes"
    assert pdf.startswith(b"%PDF") and len(pdf) > 10_000, f"PDF of {len(pdf)} bytes"
    width = int.from_bytes(png[16:20], "big")
    assert 900 <= width <= 1300, f"readable at README width, got {width} px"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig1.pdf", "fig1.png"], \
        "no partial files left"


def test_quadratic_figure(quadratic_runs, tmp_path):
    row = [quadratic_runs["adam"], quadratic_runs["gd"]]
    fig = build_spread_figure([row], "x²")
    assert len(fig.axes) == 3 + 2
    assert fig.subfigs[0].get_suptitle() == "f(x) = x², full batch"
    assert fig.subfigs[0].axes[4].get_ylabel() == "GD step", "SGD without momentum is GD"
    assert fig.get_supxlabel() == FOOTNOTES["layer"]
    (path,) = draw_spread_figure([row], "x²", tmp_path)
    assert path == tmp_path / "spread_figure.png" and path.read_bytes().startswith(PNG_MAGIC)


def test_main_groups_rows_by_batch_size_adam_first(cnn_like_runs, tmp_path):
    shuffled = [cnn_like_runs[k] for k in [("sgd", 100), ("adam", 16), ("adam", 100), ("sgd", 16)]]
    rows = group_rows(shuffled)
    assert [[(r.config["optimizer"], r.config["batch_size"]) for r in row] for row in rows] == \
        [[("adam", 16), ("sgd", 16)], [("adam", 100), ("sgd", 100)]]
    assert describe_runs(shuffled) == "CIFAR-10 CNN: Adam β1=0.99, β2=0.99 vs SGD momentum 0.99"
    (path,) = main([r.path for r in shuffled], tmp_path / "all.png")
    assert path.stat().st_size > 20_000


def test_runs_without_statistics_still_draw(cnn_like_runs, tmp_path):
    run = cnn_like_runs[("adam", 16)]
    blank = type(run)(path=run.path, config=run.config, summary=run.summary,
                      metrics={**run.metrics, **{k: np.full_like(run.metrics[k], np.nan)
                                                 for k in ("mean_abs_m", "gamma", "update")}})
    (path,) = draw_spread_figure([[blank]], "no stats", tmp_path / "blank.png")
    assert path.read_bytes().startswith(PNG_MAGIC)


@pytest.mark.parametrize("kwargs, error, match", [
    (dict(rows=[]), ValueError, "non-empty"),
    (dict(rows=[[]]), ValueError, "non-empty"),
    (dict(rows=[["runs/adam"]]), TypeError, r"rows\[0\]\[0\] must be a Run"),
    (dict(formats=("jpg",)), ValueError, "formats must be"),
    (dict(row_labels=["a", "b"]), ValueError, "row_labels has 2 entries"),
    (dict(out_path="missing/fig.png"), FileNotFoundError, "does not exist"),
])
def test_bad_arguments(quadratic_runs, tmp_path, kwargs, error, match):
    args = dict(rows=[[quadratic_runs["adam"]]], title="t", out_path=tmp_path / "f.png")
    args.update(kwargs)
    if isinstance(args["out_path"], str):
        args["out_path"] = tmp_path / args["out_path"]
    with pytest.raises(error, match=match):
        draw_spread_figure(**args)


def test_log_axes_are_not_squeezed_by_gd_decay(quadratic_runs):
    fig = build_spread_figure([[quadratic_runs["adam"], quadratic_runs["gd"]]], "x²")
    ax_loss, _, ax_gamma = fig.axes[:3]
    bottom, top = ax_loss.get_ylim()
    assert ax_loss.get_yscale() == "log" and top / bottom < 1e17, \
        f"loss axis spans {bottom:.3g}..{top:.3g}; GD's decay must leave the axis instead"
    adam_loss = quadratic_runs["adam"].metrics["loss"]
    assert bottom <= adam_loss[adam_loss > 0].min(), "Adam's whole loss curve stays visible"
    assert ax_gamma.get_yscale() == "log" and ax_gamma.get_xscale() == "log"


@pytest.mark.parametrize("gamma, label", [("layer", "layer relative spread γ̄"),
                                          ("element", "element mean of γ")])
def test_panel_c_plots_the_chosen_aggregation_and_says_which(cnn_like_runs, gamma, label):
    fig = build_spread_figure(cnn_rows(cnn_like_runs), "test", gamma=gamma)
    ax_gamma = fig.subfigs[0].axes[2]
    assert ax_gamma.get_xlabel().startswith(label), ax_gamma.get_xlabel()
    assert fig.get_supxlabel() == FOOTNOTES[gamma]
    adam_dots = [c for c in ax_gamma.collections if isinstance(c, PathCollection)][0]
    x = adam_dots.get_offsets()[:, 0]
    expected = relative_spread(cnn_like_runs[("adam", 16)], gamma)
    np.testing.assert_allclose(np.sort(x), np.sort(expected[np.isin(expected, x)]))
    assert x.size > 0.9 * expected.size, "nearly every step is drawn"
    assert np.isin(x, expected).all(), f"panel (c) must plot the {gamma} aggregation"
    with pytest.raises(ValueError, match="gamma must be one of"):
        build_spread_figure(cnn_rows(cnn_like_runs), "test", gamma="median")
