"""Noise level over time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fasciq.errors import ParameterError
from fasciq.plot._base import new_axes, tidy, unit_colour
from fasciq.plot.timeline import excluded_spans, shade_excluded


def plot_noise(
    times_s: np.ndarray | Sequence[float],
    values: np.ndarray,
    channels: Sequence[str] | None = None,
    *,
    excluded: pd.DataFrame | Sequence[tuple[float, float, str]] | None = None,
    max_lines: int = 8,
    ax: Axes | None = None,
) -> Figure:
    """Noise level (µV RMS) of the channels over the recording.

    Parameters
    ----------
    times_s : array-like, shape (n_times,)
        Time of each noise estimate.
    values : ndarray, shape (n_times, n_channels)
        Noise level of each channel at each time, in µV.
    channels : sequence of str, optional
        Channel labels (legend when each channel gets its own line).
    excluded : DataFrame or list of (start_s, end_s, reason), optional
        Spans not analysed, shaded by reason.
    max_lines : int
        Up to this many channels are drawn one line each; beyond, the
        median over channels is drawn with the 10-90 % band.
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    Figure
        With many channels: a line with gid ``"median"`` and a band with gid
        ``"band"``; otherwise one line per channel with gid ``"noise:<label>"``.
    """
    t = np.asarray(times_s, dtype=float).reshape(-1)
    v = np.asarray(values, dtype=float)
    if v.ndim == 1:
        v = v[:, None]
    if v.shape[0] != t.size:
        raise ParameterError(
            f"{t.size} times for {v.shape[0]} rows of noise values",
            fix="give one row of values (one per channel) per time",
            source="values",
        )
    labels = list(channels) if channels is not None else [f"ch{i + 1}" for i in range(v.shape[1])]
    fig, ax = new_axes(ax, (6.0, 2.6))
    end = float(t.max(initial=0.0))
    minutes = end > 180
    scale = 60.0 if minutes else 1.0
    shade_excluded(ax, excluded_spans(excluded), scale)
    x = t / scale
    if v.shape[1] <= max_lines:
        for k in range(v.shape[1]):
            (line,) = ax.plot(x, v[:, k], lw=1.0, color=unit_colour(k), label=labels[k])
            line.set_gid(f"noise:{labels[k]}")
        if v.shape[1] > 1:
            ax.legend(fontsize=6.5, frameon=False, ncol=4)
    else:
        with np.errstate(all="ignore"):
            lo, med, hi = np.nanpercentile(v, [10, 50, 90], axis=1)
        band = ax.fill_between(x, lo, hi, color="#93c5fd", alpha=0.5, lw=0, label="10-90 %")
        band.set_gid("band")
        (line,) = ax.plot(x, med, color="#1d4ed8", lw=1.2, label="median channel")
        line.set_gid("median")
        ax.legend(fontsize=6.5, frameon=False, ncol=2)
    ax.set_ylim(bottom=0)
    ax.set_xlabel("time (min)" if minutes else "time (s)", fontsize=9)
    ax.set_ylabel("noise (µV RMS)", fontsize=9)
    tidy(ax)
    return fig
