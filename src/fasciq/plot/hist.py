"""Histograms of FP amplitude and of the intervals between FPs."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from fasciq.plot._base import FP_COLOUR, new_axes, tidy, unit_colour
from fasciq.plot._stats import inter_fp_intervals
from fasciq.plot.timeline import excluded_spans

#: Double discharges: intervals of 10-110 ms (Kleine et al.; de Carvalho & Swash).
DOUBLET_MS = (10.0, 110.0)
#: An FP is "isolated" when both neighbouring intervals exceed this.
ISOLATED_MS = 250.0


def _log_bins(values: np.ndarray, n: int, lo: float, hi: float) -> np.ndarray:
    if values.size:
        lo = max(min(lo, float(values.min()) * 0.9), 1e-3)
        hi = max(hi, float(values.max()) * 1.1)
    return np.geomspace(lo, hi, n + 1)


def plot_amplitude_hist(
    amplitudes_uv: np.ndarray | Sequence[float],
    units: np.ndarray | Sequence[int] | None = None,
    *,
    bins: int = 30,
    ax: Axes | None = None,
) -> Figure:
    """Histogram of FP peak-to-peak amplitude on log-spaced bins.

    With ``units`` (and at most 12 of them) the bars are stacked by unit in
    the unit colours; unsorted FPs are grey.

    Returns
    -------
    Figure
        Bars with gid ``"amplitude"``; their heights sum to the number of
        finite amplitudes.
    """
    amp = np.asarray(amplitudes_uv, dtype=float).reshape(-1)
    lab = (
        np.full(amp.shape, -1, dtype=np.int64)
        if units is None
        else np.asarray(units, dtype=np.int64).reshape(-1)
    )
    ok = np.isfinite(amp) & (amp > 0)
    amp, lab = amp[ok], lab[ok]
    fig, ax = new_axes(ax, (4.4, 2.8))
    edges = _log_bins(amp, bins, 10.0, 1000.0)
    ids = sorted(set(lab.tolist()), key=lambda u: (u < 0, u))
    if len(ids) > 12 or len(ids) <= 1:
        groups = [(amp, FP_COLOUR if not ids or ids == [-1] else unit_colour(ids[0]), "FPs")]
    else:
        groups = [(amp[lab == u], unit_colour(u), "unsorted" if u < 0 else f"U{u}") for u in ids]
    bottom = np.zeros(len(edges) - 1)
    for values, colour, name in groups:
        counts, _ = np.histogram(values, edges)
        bars = ax.bar(
            edges[:-1],
            counts,
            width=np.diff(edges),
            bottom=bottom,
            align="edge",
            color=colour,
            edgecolor="white",
            linewidth=0.4,
            label=name,
        )
        for bar in bars:
            bar.set_gid("amplitude")
        bottom = bottom + counts
    ax.set_xscale("log")
    ax.set_xlabel("amplitude, peak-to-peak (µV)", fontsize=9)
    ax.set_ylabel("FPs", fontsize=9)
    if len(groups) > 1:
        ax.legend(fontsize=6.5, frameon=False, ncol=2)
    tidy(ax)
    return fig


def plot_interval_hist(
    times_s: np.ndarray | Sequence[float],
    units: np.ndarray | Sequence[int] | None = None,
    *,
    excluded: pd.DataFrame | Sequence[tuple[float, float, str]] | None = None,
    bins: int = 40,
    ax: Axes | None = None,
) -> Figure:
    """Histogram of inter-FP intervals (log time axis), doublet range marked.

    With ``units``, intervals are taken within each motor unit (the
    inter-discharge intervals), otherwise between successive FPs. Intervals
    spanning an excluded period are left out.

    Returns
    -------
    Figure
        Bars with gid ``"interval"``; heights sum to the number of intervals.
    """
    spans = [(a, b) for a, b, _ in excluded_spans(excluded)]
    per_unit = units is not None and (np.asarray(units) >= 0).any()
    iv_ms = inter_fp_intervals(np.asarray(times_s, dtype=float), units, spans) * 1000.0
    iv_ms = iv_ms[iv_ms > 0]
    fig, ax = new_axes(ax, (4.4, 2.8))
    edges = _log_bins(iv_ms, bins, 5.0, 60_000.0)
    counts, _ = np.histogram(iv_ms, edges)
    ax.axvspan(*DOUBLET_MS, color="#fde68a", alpha=0.6, lw=0, zorder=0, label="doublet range")
    ax.axvline(ISOLATED_MS, color="#92400e", lw=0.8, ls="--", label=f"{ISOLATED_MS:.0f} ms")
    bars = ax.bar(
        edges[:-1],
        counts,
        width=np.diff(edges),
        align="edge",
        color=FP_COLOUR,
        edgecolor="white",
        linewidth=0.4,
    )
    for bar in bars:
        bar.set_gid("interval")
    ax.set_xscale("log")
    ax.set_xlabel(
        "interval within unit (ms)" if per_unit else "interval between FPs (ms)", fontsize=9
    )
    ax.set_ylabel("intervals", fontsize=9)
    ax.legend(fontsize=6.5, frameon=False)
    tidy(ax)
    return fig
