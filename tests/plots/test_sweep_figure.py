"""The sweep figure: lines that share a category are drawn side by side, not on top."""
import numpy as np

from numpy_adam.plots.sweep_figure import build_sweep_figure


def _group(optimizer, beta1, value):
    numbers = {"pearson": value, "spearman": value, "residual_layer": value,
               "residual_element": value}
    return {"settings": {"optimizer": optimizer, "beta1": beta1}, "mean": numbers,
            "sd": dict.fromkeys(numbers, 0.01), "n": 5}


def _marker_x(ax):
    return sorted({round(float(x), 6) for line in ax.get_lines()
                   for x in np.atleast_1d(line.get_xdata()) if line.get_marker() not in ("", "None")})


def test_categories_dodge_their_lines_and_numbers_do_not():
    groups = [_group("adam", 0.9, 0.5), _group("adam", 0.99, 0.6),
              _group("sgd", 0.9, 0.9), _group("sgd", 0.99, 0.95)]
    ax_b, _ = build_sweep_figure(groups, "optimizer").axes[:2]
    assert _marker_x(ax_b) == [-0.15, 0.15, 0.85, 1.15], "two lines, ±0.15 around 0 and 1"
    ax_b, _ = build_sweep_figure(groups, "beta1").axes[:2]
    assert _marker_x(ax_b) == [0.9, 0.99], "a numeric axis keeps the true values"
