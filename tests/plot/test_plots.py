import numpy as np
import pandas as pd
import pytest
from matplotlib.collections import EventCollection, LineCollection
from matplotlib.figure import Figure

from fasciq import plot
from fasciq.grids import get_grid
from fasciq.plot._stats import counts_per_channel, inter_fp_intervals, rate_per_bin


def _gid(artists, prefix):
    return [a for a in artists if (a.get_gid() or "").startswith(prefix)]


def test_rate_per_bin_and_intervals():
    times = np.array([5.0, 10.0, 65.0, 70.0, 75.0, 130.0])
    starts, n, analysed = rate_per_bin(times, [(60.0, 90.0), (80.0, 100.0)], 150.0, 60.0)
    np.testing.assert_array_equal(starts, [0, 60, 120])
    np.testing.assert_array_equal(n, [2, 3, 1])
    np.testing.assert_allclose(analysed, [60.0, 20.0, 30.0])
    iv = inter_fp_intervals(times, np.array([0, 0, 1, 1, 0, 1]), [(100.0, 110.0)])
    # unit 0: 5 -> 10 -> 75 ; unit 1: 65 -> 70 -> 130 (crosses the excluded span: dropped)
    np.testing.assert_allclose(np.sort(iv), [5.0, 5.0, 65.0])
    assert counts_per_channel(["b", "a", "b", "z"], ["a", "b", "c"]).tolist() == [1, 2, 0]


def test_timeline_bars_and_spans():
    ex = pd.DataFrame({"start_s": [60.0], "end_s": [120.0], "reason": ["voluntary"]})
    times = np.r_[np.linspace(1, 59, 30), np.linspace(121, 179, 12)]
    fig = plot.plot_timeline(ex, 180.0, times, bin_s=60.0)
    assert isinstance(fig, Figure)
    ax = fig.axes[0]
    bars = _gid(ax.patches, "rate")
    assert len(bars) == 2  # the excluded minute has no bar
    np.testing.assert_allclose([b.get_height() for b in bars], [30.0, 12.0])
    spans = _gid(ax.patches, "excluded:")
    assert [s.get_gid() for s in spans] == ["excluded:voluntary"]


def test_raster_rows_per_unit():
    times = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    units = np.array([2, 0, 2, -1, 0])
    fig = plot.plot_raster(times, units, duration_s=10.0)
    ax = fig.axes[0]
    rows = [c for c in ax.collections if isinstance(c, EventCollection)]
    assert [c.get_gid() for c in rows] == ["unit:0", "unit:2", "unit:-1"]
    np.testing.assert_allclose(rows[1].get_positions(), [1.0, 3.0])
    assert [t.get_text() for t in ax.get_yticklabels()] == ["U0", "U2", "unsorted"]


def test_grid_heatmap_equals_counts():
    grid = get_grid("GR08MM1305")
    values = np.arange(64, dtype=float)
    fig = plot.plot_grid_heatmap(values, grid)
    image = fig.axes[0].images[0].get_array()
    rows, cols = np.nonzero(grid.layout >= 0)
    np.testing.assert_array_equal(image[rows, cols], values[grid.layout[rows, cols]])
    assert image.mask[0, 0]  # the missing corner
    texts = [t.get_text() for t in fig.axes[0].texts]
    assert len(texts) == 64 and "63" in texts


def test_bad_channels_coloured():
    grid = get_grid("4x4@8")
    labels = [f"c{i}" for i in range(16)]
    fig = plot.plot_bad_channels({"c5": ["flat"], "c9": ["noisy"]}, labels, grid)
    ax = fig.axes[0]
    sc = _gid(ax.collections, "electrodes")[0]
    colours = sc.get_facecolors()
    grey = colours[0]
    bad = [i for i in range(16) if not np.allclose(colours[i], grey)]
    assert bad == [5, 9]
    assert sorted(t.get_gid() for t in _gid(ax.texts, "bad:")) == ["bad:c5", "bad:c9"]
    np.testing.assert_allclose(sc.get_offsets()[5], [1, 1])  # row 1, col 1


def test_unit_template_one_line_per_channel():
    grid = get_grid("GR08MM1305")
    rng = np.random.default_rng(0)
    tpl = rng.normal(size=(41, 64))
    ex = tpl[None] + rng.normal(size=(3, 41, 64)) * 0.1
    fig = plot.plot_unit_template(tpl, grid, 2048.0, examples=ex, unit=4)
    ax = fig.axes[0]
    lines = _gid(ax.lines, "template")
    assert len(lines) == 64
    coll = _gid([c for c in ax.collections if isinstance(c, LineCollection)], "examples")[0]
    assert len(coll.get_segments()) == 3 * 64
    # channel 0 sits at row 1, col 0 of this grid; its trace is the template, scaled
    assert tuple(grid.rowcol[0]) == (1, 0)
    scale = np.ptp(tpl, axis=0).max()
    y = lines[0].get_ydata()
    np.testing.assert_allclose(y, 1 - tpl[:, 0] / scale * 0.86)
    assert abs(np.mean(lines[0].get_xdata()) - 0.0) < 1e-9


def test_histograms_count_everything():
    amp = np.array([50.0, 60.0, 200.0, 800.0, np.nan])
    fig = plot.plot_amplitude_hist(amp, units=[0, 0, 1, -1, 0])
    heights = [b.get_height() for b in _gid(fig.axes[0].patches, "amplitude")]
    assert sum(heights) == 4
    times = np.array([0.0, 0.05, 1.0, 3.0])
    fig = plot.plot_interval_hist(times)
    heights = [b.get_height() for b in _gid(fig.axes[0].patches, "interval")]
    assert sum(heights) == 3


def test_noise_median_and_lines():
    t = np.arange(5.0)
    v = np.arange(5.0)[:, None] + np.arange(20.0)[None, :]
    fig = plot.plot_noise(t, v)
    med = _gid(fig.axes[0].lines, "median")[0]
    np.testing.assert_allclose(med.get_ydata(), np.median(v, axis=1))
    fig = plot.plot_noise(t, v[:, :3], ["a", "b", "c"])
    assert [ln.get_gid() for ln in _gid(fig.axes[0].lines, "noise:")] == [
        "noise:a",
        "noise:b",
        "noise:c",
    ]


def test_fp_example_traces_and_ax_reuse():
    fig = Figure()
    ax = fig.add_subplot()
    x = np.zeros((205, 3))
    x[100, 1] = 100.0
    out = plot.plot_fp_example(
        x, 2048.0, ["a", "b", "c"], t0_s=1.0, peak_s=1.0 + 100 / 2048, highlight=1, ax=ax
    )
    assert out is fig
    traces = _gid(ax.lines, "trace:")
    assert [t.get_gid() for t in traces] == ["trace:a", "trace:b", "trace:c"]
    x_ms = traces[1].get_xdata()
    assert x_ms[100] == pytest.approx(0.0)
    spacing = 90.0
    assert traces[2].get_ydata()[0] == pytest.approx(-2 * spacing)


def test_no_backend_switch_on_import():
    import subprocess
    import sys

    code = (
        "import matplotlib, fasciq.plot.timeline, fasciq.report; "
        "import sys; print('matplotlib.pyplot' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
