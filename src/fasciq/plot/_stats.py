"""Small array computations behind the figures (pure functions, no drawing)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fasciq.errors import ParameterError
from fasciq.grids.grid import Grid
from fasciq.intervals import merge_spans

Spans = Sequence[tuple[float, float]] | np.ndarray


def rate_per_bin(
    times_s: np.ndarray, excluded: Spans, duration_s: float, bin_s: float = 60.0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """FPs and analysed time in consecutive bins.

    Parameters
    ----------
    times_s : ndarray
        FP times in seconds.
    excluded : sequence of (start_s, end_s)
        Spans that were not analysed.
    duration_s : float
        Length of the recording.
    bin_s : float
        Bin length in seconds.

    Returns
    -------
    starts : ndarray
        Start of each bin (s).
    n_fp : ndarray of int
        FPs in each bin.
    analysed_s : ndarray
        Seconds of each bin that were analysed (bin length minus exclusions).
    """
    if not (np.isfinite(bin_s) and bin_s > 0):
        raise ParameterError(
            f"bin length must be > 0 s, got {bin_s}", fix="give e.g. 60", source="bin_s"
        )
    duration_s = max(float(duration_s), 0.0)
    n_bins = max(1, int(np.ceil(duration_s / bin_s - 1e-9)))
    starts = np.arange(n_bins) * bin_s
    ends = np.minimum(starts + bin_s, duration_s)
    times = np.asarray(times_s, dtype=float).reshape(-1)
    times = times[np.isfinite(times)]
    idx = np.clip((times // bin_s).astype(np.int64), 0, n_bins - 1)
    n_fp = np.bincount(idx, minlength=n_bins)[:n_bins]
    analysed = ends - starts
    for start, end in merge_spans(excluded):
        overlap = np.clip(np.minimum(ends, end) - np.maximum(starts, start), 0.0, None)
        analysed = analysed - overlap
    return starts, n_fp, np.clip(analysed, 0.0, None)


def inter_fp_intervals(
    times_s: np.ndarray,
    units: np.ndarray | None = None,
    excluded: Spans = (),
) -> np.ndarray:
    """Intervals between successive FPs, in seconds.

    With ``units``, intervals are taken within each unit (FPs of unit -1 are
    left out); without, between successive FPs of the whole recording. An
    interval that contains an excluded span is dropped, since FPs there were
    not looked for.
    """
    times = np.asarray(times_s, dtype=float).reshape(-1)
    groups: list[np.ndarray]
    if units is not None and (np.asarray(units) >= 0).any():
        units = np.asarray(units).reshape(-1)
        groups = [np.sort(times[units == u]) for u in np.unique(units[units >= 0])]
    else:
        groups = [np.sort(times)]
    spans = merge_spans(excluded)
    out = []
    for t in groups:
        if len(t) < 2:
            continue
        a, b = t[:-1], t[1:]
        keep = np.ones(len(a), dtype=bool)
        for start, end in spans:
            keep &= ~((a < end) & (b > start))
        out.append((b - a)[keep])
    return np.concatenate(out) if out else np.zeros(0)


def counts_per_channel(channels: Sequence[str], labels: Sequence[str]) -> np.ndarray:
    """How many FPs have each of ``labels`` as their largest channel."""
    lookup = {str(lab): i for i, lab in enumerate(labels)}
    counts = np.zeros(len(labels), dtype=np.int64)
    for ch in channels:
        i = lookup.get(str(ch))
        if i is not None:
            counts[i] += 1
    return counts


def grid_image(values: np.ndarray, grid: Grid | None) -> np.ndarray:
    """Per-channel ``values`` laid out as the grid (NaN where no electrode).

    Without a grid the result is one row in channel order.
    """
    values = np.asarray(values, dtype=float).reshape(-1)
    if grid is None:
        return values[None, :].copy()
    if grid.n_channels != len(values):
        raise ParameterError(
            f"{len(values)} values for a grid of {grid.n_channels} electrodes",
            fix="give one value per channel of the recording",
            source="values",
        )
    image = np.full((grid.rows, grid.cols), np.nan)
    present = grid.layout >= 0
    image[present] = values[grid.layout[present]]
    return image


def channel_cells(n_channels: int, grid: Grid | None) -> np.ndarray:
    """``(n_channels, 2)`` ``(row, col)`` cell of each channel (one row without a grid)."""
    if grid is not None and grid.n_channels == n_channels:
        return np.asarray(grid.rowcol)
    return np.column_stack([np.zeros(n_channels, dtype=np.int64), np.arange(n_channels)])
