"""Figure 5, where Adam's spread comes from, drawn from records with a within-batch spread."""
import numpy as np
import pytest
from matplotlib.lines import Line2D

from numpy_adam.records import Run
from numpy_adam.plots.sources_figure import build_sources_figure, draw_sources_figure

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


def _with_batch_spread(run, factor):
    """The run with a within-batch spread s = factor · √B · Adam's σ̂ (sampling share factor²)."""
    batch = run.config["batch_size"]
    sigma = run.metrics["sigma"]
    extra = {"batch_sigma": factor * np.sqrt(batch) * sigma,
             "batch_mean_abs_g": np.abs(run.metrics["mean_abs_m"])}
    return Run(path=run.path, config=run.config, metrics={**run.metrics, **extra},
               summary=run.summary)


def test_rows_panels_and_the_sampling_share(cnn_like_runs):
    runs = [_with_batch_spread(cnn_like_runs[("adam", 16)], 0.5),
            _with_batch_spread(cnn_like_runs[("adam", 100)], 0.5)]
    fig = build_sources_figure(runs, "Figure 5", warmup=50)
    assert len(fig.subfigs) == 2 and fig.subfigs[1].get_suptitle() == runs[1].label
    ax_s, ax_share, ax_u = fig.subfigs[0].axes
    share_lines = [ln for ln in ax_share.get_lines() if ln.get_linestyle() == "-"]
    assert len(share_lines) == 3, "one line per tracked tensor"
    for line in share_lines:
        np.testing.assert_allclose(line.get_ydata(), 0.25, rtol=1e-9,
                                   err_msg="(S_sample/S)² = 0.5² by construction")
    assert ax_share.get_yscale() == "log" and ax_u.get_yscale() == "log"
    labels = [t.get_text() for t in ax_u.get_legend().get_texts()]
    assert labels == ["measured", "from Adam's γ̄ = S/M", "from sampling γ_s = S_sample/M"]
    first_step = min(float(np.min(ln.get_xdata())) for ln in ax_s.get_lines()
                     if isinstance(ln, Line2D))
    assert first_step > 50, "the warm-up is left out"


def test_draw_writes_a_png_and_refuses_non_runs(cnn_like_runs, tmp_path):
    run = _with_batch_spread(cnn_like_runs[("adam", 16)], 1.0)
    (path,) = draw_sources_figure([run], "t", tmp_path / "figure5.png", warmup=10)
    assert path.read_bytes().startswith(PNG_MAGIC) and path.stat().st_size > 20_000
    with pytest.raises(TypeError, match="non-empty list of Run"):
        build_sources_figure(["run"], "t")
    with pytest.raises(ValueError, match="--batch-spread"):
        build_sources_figure([cnn_like_runs[("adam", 16)]], "t")
