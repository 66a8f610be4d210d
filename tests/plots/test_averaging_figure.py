"""Figure 4, "What averaging does", from synthetic run records with an element sample."""
import numpy as np
import pytest
from matplotlib.collections import PathCollection, QuadMesh

from numpy_adam.records import relative_spread
from numpy_adam.plots.averaging_figure import (build_averaging_figure, cumulative_shares,
                                    draw_averaging_figure, sample_values)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def test_cumulative_shares_hand_values():
    # one tensor, one step, |m̂| = 1, 2, 3, 4 with σ̂ = 1: γ = 1, 1/2, 1/3, 1/4 (Σ = 25/12)
    m_abs = np.array([[3.0, 1.0, 4.0, 2.0]])
    values = {"m_abs": m_abs, "sigma": np.ones((1, 4)), "gamma": 1 / m_abs,
              "slot": np.zeros(4, dtype=np.int64)}
    shares = cumulative_shares(values)
    np.testing.assert_allclose(shares["fraction"], [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(shares["m_abs"], np.cumsum([0, 1, 2, 3, 4]) / 10)
    np.testing.assert_allclose(shares["sigma"], [0, 0.25, 0.5, 0.75, 1])
    np.testing.assert_allclose(shares["gamma"], np.cumsum([0, 1, 1 / 2, 1 / 3, 1 / 4]) / (25 / 12))


def test_figure_shows_density_curve_and_both_aggregations(cnn_like_runs):
    run = cnn_like_runs[("adam", 100)]
    fig = build_averaging_figure([run, cnn_like_runs[("adam", 16)]], "Figure 4", warmup=50)
    assert len(fig.subfigs) == 2 and fig.subfigs[0].get_suptitle() == run.label
    ax_density, ax_share = fig.subfigs[0].axes[:2]
    assert any(isinstance(c, QuadMesh) for c in ax_density.collections), "the element density"
    dots = [c for c in ax_density.collections if isinstance(c, PathCollection)]
    assert len(dots) == 2, "layer and element-mean dots"
    np.testing.assert_allclose(dots[0].get_offsets()[:, 0], relative_spread(run, "layer")[50:])
    np.testing.assert_allclose(dots[1].get_offsets()[:, 0], relative_spread(run, "element")[50:])
    legend = [t.get_text() for t in ax_density.get_legend().get_texts()]
    assert any("residual" in t and "γ̄" in t for t in legend), legend
    assert any("element mean" in t and "residual" in t for t in legend), legend
    curve = [ln for ln in ax_density.get_lines() if ln.get_linestyle() == ":"]
    g, u = curve[0].get_data()
    np.testing.assert_allclose(u, 1 / np.sqrt(g ** 2 + 1))
    assert len(ax_share.get_lines()) == 4, "Σγ, Σσ̂, Σ|m̂| and the diagonal"


def test_draw_writes_a_png(cnn_like_runs, tmp_path):
    (path,) = draw_averaging_figure([cnn_like_runs[("adam", 16)]], "t", tmp_path / "figure4.png")
    png = path.read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 20_000, f"PNG of {len(png)} bytes"


def test_a_run_without_sample_is_a_clear_error(cnn_like_runs):
    run = cnn_like_runs[("adam", 16)]
    bare = type(run)(path=run.path, config=run.config, summary=run.summary,
                     metrics={k: v for k, v in run.metrics.items() if not k.startswith("sample_")})
    with pytest.raises(ValueError, match="no element sample"):
        sample_values(bare)
    with pytest.raises(TypeError, match="non-empty list of Run"):
        build_averaging_figure([], "t")
