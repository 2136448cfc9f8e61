"""Discharge patterns: double discharges, isolated vs continual, time-locked unit pairs.

* A **double discharge** is a pair of consecutive discharges of one unit
  10–110 ms apart (one count per such interval).
* A discharge is **isolated** when both intervals to its unit's neighbouring
  discharges exceed 250 ms (a missing neighbour, before the first or after
  the last discharge, does not count against it); otherwise it is
  **continual**.
* Two units are **time-locked** when one discharges at a consistent latency
  after the other: the cross-correlogram (latencies of the nearest
  discharge of B around each of A within ±``lock_window_s``) has a peak
  (``lock_bin_s`` wide) holding at least ``lock_min_pairs`` coincidences,
  more than B's train circularly shifted by random offsets gives in a
  fraction ``lock_alpha`` of the shuffles.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fasciq.units.params import PatternParams


@dataclass(frozen=True)
class TrainPattern:
    """Patterns of one unit's discharges.

    Parameters
    ----------
    doublets : int
        Intervals within the double-discharge range.
    doublet_intervals_s : ndarray
        Those intervals.
    isolated, continual : int
        Discharges of each kind.
    is_isolated : ndarray of bool
        Per discharge (time order).
    """

    doublets: int
    doublet_intervals_s: np.ndarray
    isolated: int
    continual: int
    is_isolated: np.ndarray


def train_pattern(times_s: np.ndarray, params: PatternParams | None = None) -> TrainPattern:
    """Double discharges and isolated/continual discharges of one unit.

    Parameters
    ----------
    times_s : array of float
        Discharge times of the unit (any order).
    params : PatternParams, optional
        Interval limits.

    Returns
    -------
    TrainPattern
    """
    params = params or PatternParams()
    t = np.sort(np.asarray(times_s, dtype=np.float64))
    isi = np.diff(t)
    dbl = (isi >= params.doublet_min_s) & (isi <= params.doublet_max_s)
    before = np.concatenate([[np.inf], isi])
    after = np.concatenate([isi, [np.inf]])
    iso = (
        (before > params.isolated_s) & (after > params.isolated_s) if t.size else np.zeros(0, bool)
    )
    return TrainPattern(
        doublets=int(dbl.sum()),
        doublet_intervals_s=isi[dbl],
        isolated=int(iso.sum()),
        continual=int(t.size - iso.sum()),
        is_isolated=iso,
    )


def nearest_latencies(a: np.ndarray, b: np.ndarray, window_s: float) -> np.ndarray:
    """Latency ``b − a`` of the nearest discharge of ``b`` around each of ``a``.

    Parameters
    ----------
    a, b : array of float
        Sorted discharge times.
    window_s : float
        Only latencies within ``±window_s`` are returned.

    Returns
    -------
    ndarray of float
    """
    if a.size == 0 or b.size == 0:
        return np.zeros(0)
    j = np.searchsorted(b, a)
    left = b[np.clip(j - 1, 0, b.size - 1)] - a
    right = b[np.clip(j, 0, b.size - 1)] - a
    lat = np.where(np.abs(left) <= np.abs(right), left, right)
    return lat[np.abs(lat) <= window_s]


def _peak_count(lat: np.ndarray, window_s: float, bin_s: float) -> tuple[int, float]:
    """Largest number of latencies within one bin (sliding), and the bin's centre."""
    if lat.size == 0:
        return 0, float("nan")
    lat = np.sort(lat)
    hi = np.searchsorted(lat, lat + bin_s, side="right")
    counts = hi - np.arange(lat.size)
    i = int(counts.argmax())
    return int(counts[i]), float(np.median(lat[i : hi[i]]))


def _shuffled_peak_counts(
    a: np.ndarray, b: np.ndarray, offsets: np.ndarray, duration_s: float, params: PatternParams
) -> np.ndarray:
    """:func:`_peak_count` of ``a`` against ``b`` circularly shifted by each offset.

    All shuffles at once, with the same arithmetic as one at a time
    (:func:`nearest_latencies`, then :func:`_peak_count`), so the counts are
    the same; only the binary searches run row by row.
    """
    shifted = np.sort(np.mod(b[None, :] + offsets[:, None], duration_s), axis=1)
    last = b.size - 1
    j = np.stack([np.searchsorted(row, a) for row in shifted])
    rows = np.arange(len(offsets))[:, None]
    left = shifted[rows, np.clip(j - 1, 0, last)] - a[None, :]
    right = shifted[rows, np.clip(j, 0, last)] - a[None, :]
    lat = np.where(np.abs(left) <= np.abs(right), left, right)
    # latencies outside the window are left out: sorted after every other
    lat = np.sort(np.where(np.abs(lat) <= params.lock_window_s, lat, np.inf), axis=1)
    n_in = np.isfinite(lat).sum(axis=1)
    counts = np.zeros(len(offsets), dtype=np.int64)
    for s, row in enumerate(lat):
        valid = row[: n_in[s]]
        if valid.size:
            hi = np.searchsorted(valid, valid + params.lock_bin_s, side="right")
            counts[s] = int((hi - np.arange(valid.size)).max())
    return counts


@dataclass(frozen=True)
class LockedPair:
    """Two units firing at a consistent latency.

    Parameters
    ----------
    unit_a, unit_b : int
        The units (``unit_b`` follows ``unit_a`` by ``latency_s``; a
        negative latency means it precedes).
    latency_s : float
        Median latency within the correlogram peak.
    count : int
        Coincidences within the peak.
    p_value : float
        Fraction of shuffles reaching ``count`` (with the +1 correction).
    """

    unit_a: int
    unit_b: int
    latency_s: float
    count: int
    p_value: float


def time_locked_pairs(
    trains: dict[int, np.ndarray],
    duration_s: float,
    params: PatternParams | None = None,
    seed: int = 0,
) -> list[LockedPair]:
    """Pairs of units with a significant, consistent cross-correlogram peak.

    Parameters
    ----------
    trains : dict
        Unit → discharge times (s).
    duration_s : float
        Span over which trains are circularly shifted for the surrogate test.
    params : PatternParams, optional
        Window, bin, minimum count, significance and number of shuffles.
    seed : int
        Seed of the shuffles.

    Returns
    -------
    list of LockedPair
        In order of ``(unit_a, unit_b)``.
    """
    params = params or PatternParams()
    rng = np.random.default_rng(seed)
    units = sorted(u for u, t in trains.items() if len(t) >= params.lock_min_pairs)
    sorted_trains = {u: np.sort(np.asarray(trains[u], dtype=np.float64)) for u in units}
    out: list[LockedPair] = []
    if duration_s <= 0:
        return out
    for ia, ua in enumerate(units):
        for ub in units[ia + 1 :]:
            a, b = sorted_trains[ua], sorted_trains[ub]
            lat = nearest_latencies(a, b, params.lock_window_s)
            count, latency = _peak_count(lat, params.lock_window_s, params.lock_bin_s)
            if count < params.lock_min_pairs:
                continue
            offsets = rng.uniform(0.0, duration_s, params.n_shuffles)
            null = _shuffled_peak_counts(a, b, offsets, duration_s, params)
            exceed = int((null >= count).sum())
            p = (1.0 + exceed) / (1.0 + params.n_shuffles)
            if p < params.lock_alpha:
                out.append(LockedPair(int(ua), int(ub), latency, count, float(p)))
    return out
