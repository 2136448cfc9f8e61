"""Raw traces around one fasciculation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fasciq.plot._base import new_axes, unit_colour


def plot_fp_example(
    traces: np.ndarray,
    fs: float,
    labels: Sequence[str] | None = None,
    *,
    t0_s: float = 0.0,
    peak_s: float | None = None,
    highlight: int | None = None,
    unit: int | None = None,
    spacing_uv: float | None = None,
    ax: Axes | None = None,
) -> Figure:
    """Stacked traces (one per channel) around an FP.

    Parameters
    ----------
    traces : ndarray, shape (n_samples, n_channels)
        Signal in µV.
    fs : float
        Sampling rate in Hz.
    labels : sequence of str, optional
        Channel labels (y tick labels).
    t0_s : float
        Time of the first sample (recording time, s).
    peak_s : float, optional
        FP time; marked by a vertical line, and the x axis is relative to it.
    highlight : int, optional
        Column drawn in the unit colour and thicker (the peak channel).
    unit : int, optional
        Unit of the FP (colour of the highlighted trace).
    spacing_uv : float, optional
        Vertical distance between traces (default: the largest
        peak-to-peak, so traces do not overlap).
    ax : Axes, optional
        Where to draw.

    Returns
    -------
    Figure
        One line per channel, gid ``"trace:<label>"``; trace ``k`` is drawn at
        ``y = signal - k * spacing``.
    """
    x = np.asarray(traces, dtype=float)
    if x.ndim == 1:
        x = x[:, None]
    n, n_ch = x.shape
    names = list(labels) if labels is not None else [f"ch{i + 1}" for i in range(n_ch)]
    fig, ax = new_axes(ax, (3.6, 0.9 + 0.32 * n_ch))
    ref = peak_s if peak_s is not None else t0_s
    t_ms = (t0_s + np.arange(n) / fs - ref) * 1000.0
    centred = x - np.median(x, axis=0, keepdims=True) if n else x
    ptp = float(np.ptp(centred, axis=0).max()) if n else 0.0
    spacing = spacing_uv if spacing_uv else (ptp * 0.9 if ptp > 0 else 1.0)
    for k in range(n_ch):
        main = highlight is not None and k == highlight
        (line,) = ax.plot(
            t_ms,
            centred[:, k] - k * spacing,
            lw=1.1 if main else 0.7,
            color=unit_colour(unit if unit is not None else 0) if main else "#374151",
        )
        line.set_gid(f"trace:{names[k]}")
    if peak_s is not None:
        ax.axvline(0.0, color="#dc2626", lw=0.6, ls=":")
    ax.set_yticks(-np.arange(n_ch) * spacing)
    ax.set_yticklabels(names, fontsize=6.5)
    ax.set_xlabel("ms from FP peak" if peak_s is not None else "ms", fontsize=8)
    ax.tick_params(axis="x", labelsize=7)
    for side in ("top", "right", "left"):
        ax.spines[side].set_visible(False)
    ax.tick_params(axis="y", length=0)
    if n:
        ax.set_xlim(t_ms[0], t_ms[-1])
    ax.text(
        1.0,
        1.0,
        f"{spacing:.0f} µV / trace",
        transform=ax.transAxes,
        fontsize=6.5,
        ha="right",
        va="bottom",
        color="#6b7280",
    )
    return fig
