"""Discharge raster: one row per motor unit."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fasciq.plot._base import new_axes, tidy, unit_colour
from fasciq.plot.timeline import excluded_spans, shade_excluded


def plot_raster(
    times_s: np.ndarray | Sequence[float],
    units: np.ndarray | Sequence[int] | None = None,
    *,
    duration_s: float | None = None,
    excluded: pd.DataFrame | Sequence[tuple[float, float, str]] | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Each FP as a tick in the row of its motor unit.

    Parameters
    ----------
    times_s : array-like
        FP times in seconds.
    units : array-like of int, optional
        Unit of each FP (-1: none); all in one row if omitted.
    duration_s : float, optional
        Length of the recording (x range).
    excluded : DataFrame or list of (start_s, end_s, reason), optional
        Spans not analysed, shaded by reason.
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    Figure
        One event row (``EventCollection`` with gid ``"unit:<id>"``) per
        unit, unsorted FPs in the bottom row.
    """
    times = np.asarray(times_s, dtype=float).reshape(-1)
    labels = (
        np.full(len(times), -1, dtype=np.int64)
        if units is None
        else np.asarray(units, dtype=np.int64).reshape(-1)
    )
    ids = sorted(set(labels.tolist()), key=lambda u: (u < 0, u))
    fig, ax = new_axes(ax, (9.0, 0.9 + 0.22 * max(len(ids), 1)))
    end = float(duration_s) if duration_s else float(times.max(initial=0.0)) or 1.0
    minutes = end > 180
    scale = 60.0 if minutes else 1.0
    shade_excluded(ax, excluded_spans(excluded), scale)
    if ids:
        positions = [times[labels == u] / scale for u in ids]
        collections = ax.eventplot(
            positions,
            lineoffsets=np.arange(len(ids)),
            linelengths=0.8,
            linewidths=0.9,
            colors=[unit_colour(u) for u in ids],
        )
        for coll, u in zip(collections, ids, strict=True):
            coll.set_gid(f"unit:{u}")
    ax.set_yticks(np.arange(len(ids)))
    ax.set_yticklabels(["unsorted" if u < 0 else f"U{u}" for u in ids], fontsize=7)
    ax.set_ylim(-0.7, max(len(ids), 1) - 0.3)
    ax.invert_yaxis()
    ax.set_xlim(0, end / scale)
    ax.set_xlabel("time (min)" if minutes else "time (s)", fontsize=9)
    tidy(ax)
    ax.grid(False, axis="y")
    return fig
