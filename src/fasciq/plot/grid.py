"""Per-electrode values drawn on the grid: heat maps and channel quality."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from fasciq.grids.grid import Grid
from fasciq.plot._base import new_axes, reason_colour
from fasciq.plot._stats import channel_cells, grid_image


def plot_grid_heatmap(
    values: np.ndarray | Sequence[float],
    grid: Grid | None = None,
    *,
    labels: Sequence[str] | None = None,
    ax: Axes | None = None,
    cmap: str = "viridis",
    colorbar_label: str = "",
    annotate: bool = True,
    fmt: str = "{:.0f}",
    title: str | None = None,
) -> Figure:
    """Per-channel values as an image of the electrode grid.

    Parameters
    ----------
    values : array-like, shape (n_channels,)
        One value per channel, in recording order (e.g. FP counts or a
        unit's peak-to-peak amplitude).
    grid : Grid, optional
        Electrode layout; without it channels are drawn in one row.
    labels : sequence of str, optional
        Channel labels (shown on hover-less output as text when there is room).
    ax : Axes, optional
        Where to draw.
    cmap : str
        Colour map.
    colorbar_label : str
        Label of the colour bar.
    annotate : bool
        Write each value in its cell (grids of up to 128 electrodes).
    fmt : str
        Format of the written values.
    title : str, optional
        Axes title.

    Returns
    -------
    Figure
        ``ax.images[0].get_array()`` is the grid image (NaN where the grid
        has no electrode).
    """
    vals = np.asarray(values, dtype=float).reshape(-1)
    image = grid_image(vals, grid)
    rows, cols = image.shape
    aspect = rows / max(cols, 1)
    fig, ax = new_axes(ax, (min(2.2 + 0.42 * cols, 9.0), min(1.2 + 3.4 * aspect, 6.0)))
    finite = image[np.isfinite(image)]
    vmin = float(finite.min()) if finite.size else 0.0
    vmax = float(finite.max()) if finite.size else 1.0
    if vmax <= vmin:
        vmax = vmin + 1.0
    im = ax.imshow(
        np.ma.masked_invalid(image), cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest"
    )
    im.set_gid("grid-heatmap")
    if annotate and vals.size <= 128:
        cells = channel_cells(len(vals), grid)
        for (r, c), v in zip(cells, vals, strict=True):
            if not np.isfinite(v):
                continue
            r_, g_, b_, _ = im.cmap(im.norm(v))
            dark = 0.299 * r_ + 0.587 * g_ + 0.114 * b_ < 0.5
            ax.text(
                c,
                r,
                fmt.format(v),
                ha="center",
                va="center",
                fontsize=6.5,
                color="white" if dark else "black",
            )
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    if title:
        ax.set_title(title, fontsize=9)
    bar = ax.figure.colorbar(im, ax=ax, shrink=0.85, pad=0.02)
    bar.ax.tick_params(labelsize=7)
    if colorbar_label:
        bar.set_label(colorbar_label, fontsize=8)
    return fig


def plot_bad_channels(
    bad_channels: Mapping[str, Sequence[str]],
    labels: Sequence[str],
    grid: Grid | None = None,
    *,
    ax: Axes | None = None,
) -> Figure:
    """The electrodes of the grid, bad ones coloured by their first reason.

    Parameters
    ----------
    bad_channels : mapping of label to list of reasons
        Channels judged unusable and why (e.g. ``{"R3C2": ["flat"]}``).
    labels : sequence of str
        All channel labels, in recording order.
    grid : Grid, optional
        Electrode layout; without it channels are drawn in one row.
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    Figure
        One scatter (gid ``"electrodes"``) whose face colours mark bad
        channels; bad channels are also labelled in text.
    """
    labels = [str(c) for c in labels]
    n = len(labels)
    cells = channel_cells(n, grid)
    rows = int(cells[:, 0].max()) + 1 if n else 1
    cols = int(cells[:, 1].max()) + 1 if n else 1
    fig, ax = new_axes(ax, (min(2.0 + 0.42 * cols, 9.0), min(1.0 + 0.42 * rows, 6.0)))
    colours = []
    reasons_seen: list[str] = []
    for lab in labels:
        reasons = list(bad_channels.get(lab, []))
        if reasons:
            colours.append(reason_colour(reasons[0]))
            for r in reasons[:1]:
                if r not in reasons_seen:
                    reasons_seen.append(r)
        else:
            colours.append("#e5e7eb")
    scatter = ax.scatter(
        cells[:, 1], cells[:, 0], s=90, c=colours, edgecolors="#9ca3af", linewidths=0.6
    )
    scatter.set_gid("electrodes")
    for i, lab in enumerate(labels):
        if bad_channels.get(lab):
            ax.text(
                cells[i, 1], cells[i, 0] + 0.55, lab, ha="center", va="top", fontsize=6
            ).set_gid(f"bad:{lab}")
    ax.set_xlim(-0.8, cols - 0.2)
    ax.set_ylim(rows - 0.2, -0.8)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    for side in ax.spines.values():
        side.set_visible(False)
    handles = [
        Line2D([], [], marker="o", ls="", color=reason_colour(r), label=r) for r in reasons_seen
    ] or [Line2D([], [], marker="o", ls="", color="#e5e7eb", label="all channels good")]
    ax.legend(
        handles=handles, fontsize=7, frameon=False, loc="upper left", bbox_to_anchor=(1.0, 1.0)
    )
    return fig
