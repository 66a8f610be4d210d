"""Figure 8 (the phase map) from a hand-made record: panels, class colours, labels, a real PNG."""
import numpy as np
import pytest
from matplotlib.colors import to_rgba
from matplotlib.image import AxesImage

from numpy_adam.experiments.phase_classify import CLASS_NAMES, CONVERGES, CYCLE, GROWS, SPIKES
from numpy_adam.experiments.phase_map import PROBE_BETAS1, PhaseMap, load_phase_map, save_phase_map
from numpy_adam.plots.phase_figure import (CLASS_COLORS, build_phase_figure, class_colors,
                                           draw_phase_figure)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
BETAS = np.array([0.0, 0.9, 0.99])
LRS = np.array([1e-3, 1e-2, 1e-1])


def _record() -> PhaseMap:
    """A 2 ε × 3 β1 × 3 β2 × 3 α record: a cycle of 0.00406 α on the diagonal at 0.99, the
    2-cycle at β1 = 0, spikes, growth, convergence and one unsettled cell off the diagonal."""
    shape = (2, 3, 3, 3)
    cls = np.full(shape, CYCLE)
    amp = np.full(shape, 0.3)
    amp[:, 2, 2] = 0.00406
    amp[:, 0, :] = 0.5
    cls[:, 1, 0] = SPIKES
    amp[:, 1, 0] = 300.0
    cls[:, 2, 0] = GROWS
    amp[:, 2, 0] = 5e4
    cls[:, 0, 2] = CONVERGES
    amp[:, 0, 2] = 0.0
    cls[0, 1, 2, 1] = 4  # unsettled
    ones = np.ones(shape)
    f = np.array([0.5, 0.9, 1.1])
    return PhaseMap(
        mode="test", steps=1000, x0=1.0, betas1=BETAS, betas2=BETAS.copy(), lrs=LRS,
        eps=np.array([1e-12, 1e-8]), cls=cls, amplitude=amp, growth=ones, spike=ones, jump=ones,
        sign_rate=0.77 * ones, period=2.6 * ones, exact_period=np.zeros(shape, dtype=np.int64),
        recurrence=np.full(shape, 13), min_abs_x=amp * 1e-3, final_zero=cls == CONVERGES,
        block_max=np.stack([amp, amp]), sweep_betas=np.array([0.9, 0.99]), sweep_factors=f,
        sweep_lr=1e-2, sweep_cls=np.array([[CYCLE, CYCLE, CONVERGES]] * 2),
        sweep_amplitude=np.array([[0.3 * 0.5, 0.3 * 0.1, 0.0], [0.00203, 0.000406, 0.0]]),
        probe_betas1=np.array(PROBE_BETAS1),
        probe_growth=np.where(np.array(PROBE_BETAS1)[:, None] < 0.2, 1e-8, 1e6) * np.ones((1, 3)),
        tail_steps=256)


def test_figure_structure_and_class_colours():
    r = _record()
    fig = build_phase_figure(r, "Figure 8")
    top, bottom = fig.subfigs
    maps = [ax for ax in top.axes if ax.images]
    assert len(maps) == 3, "one class map per shown α (smallest, middle, largest)"
    assert [ax.get_title() for ax in maps] == ["(a) α = 1e-03, ε = 1e-12",
                                               "(b) α = 1e-02, ε = 1e-12",
                                               "(c) α = 1e-01, ε = 1e-12"]
    for k, ax in enumerate(maps):
        (image,) = [im for im in ax.images if isinstance(im, AxesImage)]
        rgba = image.get_array()
        assert rgba.shape == (3, 3, 4)
        np.testing.assert_allclose(rgba, class_colors(r.cls[0, :, :, k], r.amplitude[0, :, :, k]))
        for (p, q), name in (((1, 0), "spikes"), ((2, 0), "grows"), ((0, 2), "converges")):
            np.testing.assert_allclose(rgba[p, q], to_rgba(CLASS_COLORS[name]))
        texts = {t.get_text() for t in ax.texts}
        assert {"4e-3", ".50", "300", "5e4"} <= texts, texts
        assert sum(1 for patch in ax.patches if not patch.get_fill()) == 3, "diagonal outlined"
    # the unsettled cell (α = 1e-2 map) is grey, cycles are shaded blue, darker when larger
    middle, first = maps[1].images[0].get_array(), maps[0].images[0].get_array()
    np.testing.assert_allclose(middle[1, 2], to_rgba(CLASS_COLORS["unsettled"]))
    cycle_small, cycle_large = first[2, 2], first[1, 1]  # 0.00406 α and 0.3 α
    assert cycle_large[:3].sum() < cycle_small[:3].sum() and cycle_small[2] > cycle_small[0]
    legend = [t.get_text() for t in top.legends[0].get_texts()]
    assert legend == list(CLASS_NAMES)
    ax_probe, ax_diag, ax_sweep = [ax for ax in bottom.axes if ax.get_title()][:3]
    assert ax_probe.images[0].get_array().shape == (len(PROBE_BETAS1), 3)
    lines = [ln for ln in ax_diag.get_lines() if ln.get_label() == "β1 = β2 = 0.99"]
    x, y = lines[0].get_data()
    np.testing.assert_allclose(x, LRS)
    np.testing.assert_allclose(y, 0.00406)
    sweep = [ln for ln in ax_sweep.get_lines() if ln.get_label() == "β1 = β2 = 0.99"][0]
    np.testing.assert_allclose(sweep.get_data()[1], [0.5, 0.1], rtol=1e-12)
    assert fig.get_suptitle() == "Figure 8"


def test_draw_writes_a_png_from_a_saved_record(tmp_path):
    record = save_phase_map(_record(), tmp_path / "phase_map.npz")
    (path,) = draw_phase_figure(load_phase_map(record), "Figure 8", tmp_path)
    assert path.name == "figure8.png"
    png = path.read_bytes()
    assert png.startswith(PNG_MAGIC) and len(png) > 50_000, f"PNG of {len(png)} bytes"
    width, height = int.from_bytes(png[16:20], "big"), int.from_bytes(png[20:24], "big")
    assert 1000 <= width <= 1400 and 700 <= height <= 1100, (width, height)
    assert not list(tmp_path.glob(".*partial")), "no temporary file left behind"
    with pytest.raises(ValueError, match="formats"):
        draw_phase_figure(_record(), "t", tmp_path / "x", formats=("gif",))
