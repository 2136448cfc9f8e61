"""The recording timeline: excluded spans by reason and the FP rate over time."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from fasciq.plot._base import FP_COLOUR, new_axes, reason_colour, tidy
from fasciq.plot._stats import rate_per_bin


def excluded_spans(excluded: pd.DataFrame | Sequence[tuple[float, float, str]] | None) -> list:
    """``[(start_s, end_s, reason), ...]`` from a table or a list of tuples."""
    if excluded is None:
        return []
    if isinstance(excluded, pd.DataFrame):
        if len(excluded) == 0:
            return []
        reasons = (
            excluded["reason"].astype(str) if "reason" in excluded else ["excluded"] * len(excluded)
        )
        return [
            (float(a), float(b), str(r))
            for a, b, r in zip(excluded["start_s"], excluded["end_s"], reasons, strict=True)
        ]
    return [(float(a), float(b), str(r)) for a, b, r in excluded]


def shade_excluded(ax: Axes, spans: list, scale: float = 1.0) -> list[str]:
    """Shade excluded spans on ``ax`` (x in seconds / ``scale``); return reasons drawn."""
    reasons: list[str] = []
    for start, end, reason in spans:
        patch = ax.axvspan(
            start / scale, end / scale, color=reason_colour(reason), alpha=0.28, lw=0, zorder=0
        )
        patch.set_gid(f"excluded:{reason}")
        if reason not in reasons:
            reasons.append(reason)
    return reasons


def plot_timeline(
    excluded: pd.DataFrame | Sequence[tuple[float, float, str]] | None,
    duration_s: float,
    fp_times_s: np.ndarray | Sequence[float] = (),
    *,
    bin_s: float = 60.0,
    ax: Axes | None = None,
) -> Figure:
    """FP rate per bin of analysed time, over the excluded spans coloured by reason.

    Parameters
    ----------
    excluded : DataFrame or list of (start_s, end_s, reason)
        Spans not analysed.
    duration_s : float
        Length of the recording in seconds.
    fp_times_s : array-like
        FP times in seconds.
    bin_s : float
        Bin length; the rate of a bin is its FPs per minute of analysed time.
    ax : Axes, optional
        Where to draw; a new figure is made if omitted.

    Returns
    -------
    Figure
        Bars carry gid ``"rate"``, shaded spans ``"excluded:<reason>"``.
    """
    fig, ax = new_axes(ax, (9.0, 2.6))
    spans = excluded_spans(excluded)
    starts, n_fp, analysed = rate_per_bin(
        np.asarray(fp_times_s, dtype=float), [(a, b) for a, b, _ in spans], duration_s, bin_s
    )
    minutes = duration_s > 180
    scale = 60.0 if minutes else 1.0
    reasons = shade_excluded(ax, spans, scale)
    ok = analysed > 0
    rate = np.full(len(starts), np.nan)
    rate[ok] = n_fp[ok] / analysed[ok] * 60.0
    widths = np.minimum(bin_s, np.maximum(duration_s - starts, 0.0)) / scale
    bars = ax.bar(
        starts[ok] / scale,
        rate[ok],
        width=widths[ok] * 0.92,
        align="edge",
        color=FP_COLOUR,
        alpha=0.85,
        label="FP rate",
    )
    for bar in bars:
        bar.set_gid("rate")
    ax.set_xlim(0, max(duration_s, 1e-9) / scale)
    ax.set_xlabel("time (min)" if minutes else "time (s)", fontsize=9)
    ax.set_ylabel("FP / min analysed", fontsize=9)
    tidy(ax)
    handles = [Patch(color=FP_COLOUR, label="FP rate")] + [
        Patch(color=reason_colour(r), alpha=0.4, label=f"excluded: {r}") for r in reasons
    ]
    ax.legend(
        handles=handles,
        fontsize=7,
        loc="lower right",
        bbox_to_anchor=(1.0, 1.0),
        frameon=False,
        ncol=len(handles),
    )
    return fig
