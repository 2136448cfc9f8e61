"""A motor unit's template drawn on the electrode grid, with example discharges."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.collections import LineCollection
from matplotlib.figure import Figure

from fasciq.errors import ParameterError
from fasciq.grids.grid import Grid
from fasciq.plot._base import new_axes, unit_colour
from fasciq.plot._stats import channel_cells

#: Fraction of a grid cell used by one waveform (the rest is the gap).
CELL_FILL = 0.86


def layout_waveforms(
    waveforms: np.ndarray, cells: np.ndarray, scale_uv: float
) -> tuple[np.ndarray, np.ndarray]:
    """Plot coordinates of ``(n_samples, n_channels)`` waveforms placed in grid cells.

    Channel ``k`` occupies the cell ``cells[k] = (row, col)``: time runs over
    ``CELL_FILL`` of the cell width, and ``scale_uv`` µV span ``CELL_FILL`` of
    its height (the same scale for every channel). Rows go downwards.

    Returns
    -------
    x, y : ndarray, shape (n_samples, n_channels)
    """
    n = waveforms.shape[0]
    t = np.linspace(-CELL_FILL / 2, CELL_FILL / 2, n) if n > 1 else np.zeros(1)
    x = cells[None, :, 1] + t[:, None]
    y = cells[None, :, 0] - waveforms / scale_uv * CELL_FILL
    return x, y


def plot_unit_template(
    template: np.ndarray,
    grid: Grid | None = None,
    fs: float | None = None,
    *,
    examples: np.ndarray | None = None,
    unit: int | None = None,
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    max_examples: int = 8,
) -> Figure:
    """Template waveform of each channel at its place on the grid.

    Parameters
    ----------
    template : ndarray, shape (n_samples, n_channels)
        Mean discharge in µV.
    grid : Grid, optional
        Electrode layout; channels in one row without it.
    fs : float, optional
        Sampling rate, for the time scale bar.
    examples : ndarray, shape (k, n_samples, n_channels), optional
        Single discharges drawn thin beneath the template (shape stability).
    unit : int, optional
        Unit id (sets the colour and the title).
    labels : sequence of str, optional
        Channel labels (unused for drawing; checked for length).
    ax : Axes, optional
        Where to draw.
    max_examples : int
        Draw at most this many examples.

    Returns
    -------
    Figure
        One ``Line2D`` per channel with gid ``"template"``; examples in a
        ``LineCollection`` with gid ``"examples"`` (one segment per example
        and channel).
    """
    tpl = np.asarray(template, dtype=float)
    if tpl.ndim != 2:
        raise ParameterError(
            f"a template must be (n_samples, n_channels), got shape {tpl.shape}",
            fix="pass one unit's template as a 2-D array",
            source="template",
        )
    n_ch = tpl.shape[1]
    if labels is not None and len(labels) != n_ch:
        raise ParameterError(
            f"{len(labels)} labels for {n_ch} template channels",
            fix="give one label per template column",
            source="labels",
        )
    cells = channel_cells(n_ch, grid)
    rows, cols = int(cells[:, 0].max()) + 1, int(cells[:, 1].max()) + 1
    fig, ax = new_axes(ax, (min(1.2 + 0.55 * cols, 7.0), min(1.0 + 0.42 * rows, 7.0)))
    colour = unit_colour(unit if unit is not None else 0)
    ex = None if examples is None else np.asarray(examples, dtype=float)[:max_examples]
    if ex is not None and (ex.ndim != 3 or ex.shape[1:] != tpl.shape):
        ex = None
    ptp = float(np.ptp(tpl, axis=0).max()) if tpl.size else 0.0
    scale = ptp if ptp > 0 else 1.0
    if ex is not None and len(ex):
        segments = []
        for e in ex:
            x, y = layout_waveforms(e, cells, scale)
            segments.extend(np.stack([x[:, k], y[:, k]], axis=1) for k in range(n_ch))
        coll = LineCollection(segments, colors=colour, linewidths=0.4, alpha=0.3)
        coll.set_gid("examples")
        ax.add_collection(coll)
    x, y = layout_waveforms(tpl, cells, scale)
    for k in range(n_ch):
        (line,) = ax.plot(x[:, k], y[:, k], color=colour, lw=1.0)
        line.set_gid("template")
    # scale bars: CELL_FILL in y is `scale` µV; in x the whole template length
    x0, y0 = cols - 0.5, rows - 0.1
    ax.plot([x0, x0], [y0, y0 + CELL_FILL * 0.5], color="black", lw=1.2)
    ax.text(x0 + 0.08, y0 + CELL_FILL * 0.25, f"{scale / 2:.0f} µV", fontsize=6.5, va="center")
    if fs:
        length_ms = tpl.shape[0] / fs * 1000.0
        ax.plot([x0 - CELL_FILL, x0], [y0 + CELL_FILL * 0.5] * 2, color="black", lw=1.2)
        ax.text(
            x0 - CELL_FILL / 2,
            y0 + CELL_FILL * 0.6,
            f"{length_ms:.0f} ms",
            fontsize=6.5,
            ha="center",
            va="top",
        )
    ax.set_xlim(-0.6, cols - 0.4)
    ax.set_ylim(rows + 0.4, -0.6)
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if unit is not None:
        ax.set_title(f"unit {unit}", fontsize=9, color=colour)
    return fig
