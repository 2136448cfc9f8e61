"""Features of each detected FP, from the band-passed traces around it."""

from __future__ import annotations

import numpy as np
import pandas as pd

from fasciq.detect.detector import Events
from fasciq.detect.params import FeatureParams

#: Columns of the FP table, in order.
FEATURE_COLUMNS = (
    "time_s",
    "unit",
    "channel",
    "amplitude_uv",
    "duration_ms",
    "phases",
    "turns",
    "area_uv_ms",
    "n_channels",
    "centroid_x_mm",
    "centroid_y_mm",
)


def _windows(x: np.ndarray, centres: np.ndarray, half: int) -> np.ndarray:
    """``(n_events, 2 * half + 1, n_channels)`` windows of ``x`` (edge samples repeated)."""
    idx = centres[:, None] + np.arange(-half, half + 1)[None, :]
    idx = np.clip(idx, 0, x.shape[0] - 1)
    return x[idx]


def waveform_features(
    w: np.ndarray, sigma: np.ndarray, fs: float, edge_fraction: float = 0.1
) -> dict[str, np.ndarray]:
    """Duration, phases, turns and area of single-channel waveforms.

    Parameters
    ----------
    w : ndarray, shape (n_events, n_samples)
        Waveforms on each event's peak channel, µV.
    sigma : ndarray, shape (n_events,)
        Noise σ on that channel.
    fs : float
        Sampling rate in Hz.
    edge_fraction : float
        Onset/end: first/last sample above ``max(edge_fraction · peak, 2 σ)``.

    Returns
    -------
    dict of ndarray
        ``duration_ms``, ``phases`` (baseline crossings + 1 within the
        duration, only between excursions above 2 σ), ``turns`` (direction
        changes of at least 2 σ) and ``area_uv_ms`` (∫|x| dt within the
        duration).
    """
    n_ev, _n_s = w.shape
    out = {k: np.zeros(n_ev) for k in ("duration_ms", "phases", "turns", "area_uv_ms")}
    dt_ms = 1000.0 / fs
    for i in range(n_ev):
        x = w[i].astype(np.float64)
        level = max(edge_fraction * np.abs(x).max(), 2.0 * sigma[i])
        idx = np.flatnonzero(np.abs(x) >= level)
        if idx.size == 0:
            continue
        a, b = idx[0], idx[-1] + 1
        seg = x[a:b]
        out["duration_ms"][i] = (b - a) * dt_ms
        out["area_uv_ms"][i] = np.abs(seg).sum() * dt_ms
        # phases: sign changes between excursions that exceed 2σ
        big = seg[np.abs(seg) >= 2.0 * sigma[i]]
        signs = np.sign(big)
        out["phases"][i] = 1 + int(np.count_nonzero(np.diff(signs) != 0)) if big.size else 1
        # turns: alternating extrema with steps of at least 2σ (hysteresis)
        step = 2.0 * sigma[i]
        turns, direction, ref = 0, 0, seg[0]
        for v in seg[1:]:
            if direction >= 0 and v < ref - step:
                if direction > 0:
                    turns += 1
                direction, ref = -1, v
            elif direction <= 0 and v > ref + step:
                if direction < 0:
                    turns += 1
                direction, ref = 1, v
            elif (direction > 0 and v > ref) or (direction < 0 and v < ref):
                ref = v
        out["turns"][i] = turns
    return out


def _largest_peak(
    near: np.ndarray,
    foot: np.ndarray,
    sample: np.ndarray,
    search: int,
    tie_fraction: float,
    own: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Channel with the largest peak-to-peak in each search window, and the FP's peak sample.

    ``near`` holds the ``(n_events, 2 * search + 1, n_channels)`` windows
    around the detections (``own`` marks the samples each event may use).
    Channels whose peak-to-peak ties with the largest (within
    ``tie_fraction``) peak at other times as the potential propagates: the
    FP's time is the centre of the span of their peak times, the estimate
    closest to all of them.
    """
    if own is None:
        lo, hi = near.min(axis=1), near.max(axis=1)
    else:
        lo = np.where(own[:, :, None], near, np.inf).min(axis=1)
        hi = np.where(own[:, :, None], near, -np.inf).max(axis=1)
    p2p = np.where(foot, hi - lo, -1.0)
    rows = np.arange(near.shape[0])
    channel = p2p.argmax(axis=1)
    tie = p2p >= tie_fraction * p2p[rows, channel][:, None]
    peak_at = np.abs(near).argmax(axis=1)  # (n_ev, n_ch)
    first = np.where(tie, peak_at, np.iinfo(np.int64).max).min(axis=1)
    last = np.where(tie, peak_at, -1).max(axis=1)
    peak = sample + np.rint(0.5 * (first + last)).astype(np.int64) - search
    return channel.astype(np.int64), peak.astype(np.int64)


def _own_samples(
    events: Events,
    search: int,
    fs: float,
    positions_mm: np.ndarray | None,
    params: FeatureParams,
    peak_sample: np.ndarray,
    channel: np.ndarray,
) -> np.ndarray:
    """``(n_events, 2 * search + 1)`` mask of the search window each event owns.

    Two events whose footprints meet and that lie further apart in time
    than one discharge spreads (``split_ms`` plus the propagation time
    between their detection channels at ``split_velocity_m_s``) each keep
    the samples on their side of the midpoint; other windows stay whole.
    Events whose whole-window searches (``peak_sample``, ``channel``) led
    to the same peak stay whole too: they are a discharge and a late
    component of it, and are then counted once.
    """
    n_ev = len(events)
    offsets = np.arange(-search, search + 1)
    own = np.ones((n_ev, offsets.size), dtype=bool)
    if n_ev < 2:
        return own
    order = np.argsort(events.sample, kind="stable")
    t = events.sample[order]
    foot = events.footprint[order]
    ch = events.channel[order]
    ps, pch = peak_sample[order], channel[order]
    tol = max(1, round(fs / 1000))
    fs_ms = fs / 1000.0
    left = np.full(n_ev, -search - 1, dtype=np.float64)
    right = np.full(n_ev, search + 1, dtype=np.float64)
    for lag in range(1, n_ev):
        gap = t[lag:] - t[:-lag]
        close = gap < 2 * search
        if not close.any():
            break
        apart = np.full(gap.shape, params.split_ms * fs_ms)
        if positions_mm is not None:
            dist = np.sqrt(((positions_mm[ch[lag:]] - positions_mm[ch[:-lag]]) ** 2).sum(axis=1))
            apart += dist / params.split_velocity_m_s * fs_ms
        same = (pch[lag:] == pch[:-lag]) & (np.abs(ps[lag:] - ps[:-lag]) <= tol)
        meet = close & ~same & (gap >= apart) & (foot[lag:] & foot[:-lag]).any(axis=1)
        i = np.flatnonzero(meet)
        half = 0.5 * gap[i]
        right[i] = np.minimum(right[i], half)
        left[i + lag] = np.maximum(left[i + lag], -half)
    own[order] = (offsets[None, :] > left[:, None]) & (offsets[None, :] < right[:, None])
    own[order, search] = True
    return own


def _first_of_duplicates(peak_sample: np.ndarray, channel: np.ndarray, tol: int) -> np.ndarray:
    """Mask keeping the first of events whose peaks lie on one channel within ``tol`` samples."""
    order = np.lexsort((peak_sample, channel))
    ps, ch = peak_sample[order], channel[order]
    dup = np.zeros(len(order), dtype=bool)
    dup[1:] = (ch[1:] == ch[:-1]) & (np.diff(ps) <= tol)
    keep = np.ones(len(order), dtype=bool)
    keep[order[dup]] = False
    return keep


def event_features(
    x: np.ndarray,
    sigma: np.ndarray,
    events: Events,
    fs: float,
    positions_mm: np.ndarray | None = None,
    params: FeatureParams | None = None,
    search_ms: float = 20.0,
) -> dict[str, np.ndarray]:
    """Features of each event.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Band-passed traces (µV) of the block the events were found in.
    sigma : ndarray, shape (n_samples, n_channels)
        Tracked noise.
    events : Events
        Detected events (block-relative samples).
    fs : float
        Sampling rate in Hz.
    positions_mm : ndarray, optional
        Electrode positions for the centroid.
    params : FeatureParams, optional
        Window settings.
    search_ms : float
        Largest half-width of the search, around the detection, for the
        channel with the largest peak-to-peak (a MUAP reaches its largest
        channel up to a propagation time after its first); the search
        spans the smaller of this and ``params.search_ms``.

    Returns
    -------
    dict of ndarray
        ``channel`` (index of the channel with the largest peak-to-peak
        within ``search_ms`` of the detection), ``peak_sample``
        (block-relative sample of that channel's largest |value|),
        ``amplitude_uv`` (its peak-to-peak over ``window_ms``), ``duration_ms``, ``phases``,
        ``turns``, ``area_uv_ms``, ``n_channels``, ``centroid_x_mm``,
        ``centroid_y_mm``: one entry per discharge (detections that lead to
        the same peak are one discharge, and give one entry).
    """
    params = params or FeatureParams()
    n_ev = len(events)
    x.shape[1]
    if n_ev == 0:
        empty = {k: np.zeros(0) for k in FEATURE_COLUMNS if k not in ("time_s", "unit")}
        empty["peak_sample"] = np.zeros(0, np.int64)
        empty["channel"] = np.zeros(0, np.int64)
        return empty
    half = max(1, round(params.window_ms * fs / 1000))
    search = max(1, round(min(search_ms, params.search_ms) * fs / 1000))
    foot = events.footprint
    rows = np.arange(n_ev)
    near = _windows(x, events.sample, search)  # (n_ev, 2s+1, n_ch)
    channel, peak_sample = _largest_peak(near, foot, events.sample, search, params.tie_fraction)
    # detections further apart than one discharge can spread (``split_ms`` plus
    # the time to propagate between their channels) whose footprints meet are
    # overlapping discharges: each searches its side of their midpoint only
    own = _own_samples(events, search, fs, positions_mm, params, peak_sample, channel)
    if not own.all():
        redo = np.flatnonzero(~own.all(axis=1))
        ch2, ps2 = _largest_peak(
            np.where(own[redo, :, None], near[redo], 0.0),
            foot[redo],
            events.sample[redo],
            search,
            params.tie_fraction,
            own[redo],
        )
        channel[redo], peak_sample[redo] = ch2, ps2
    peak_sample = np.clip(peak_sample, 0, x.shape[0] - 1)
    # two detections of one discharge (its phases or propagating parts found
    # apart) lead to the same peak: keep one row per discharge
    unique = _first_of_duplicates(peak_sample, channel, max(1, round(fs / 1000)))
    if not unique.all():
        events = events.take(unique)
        peak_sample, channel, foot = peak_sample[unique], channel[unique], foot[unique]
        n_ev = len(events)
        rows = np.arange(n_ev)
    wins = _windows(x, peak_sample, half)  # (n_ev, 2h+1, n_ch)
    p2p = wins.max(axis=1) - wins.min(axis=1)  # (n_ev, n_ch)
    amplitude = p2p[rows, channel]
    sig = sigma[peak_sample]  # (n_ev, n_ch)
    wave = wins[rows, :, channel]
    shape = waveform_features(wave, sig[rows, channel], fs, params.edge_fraction)
    above = foot & (p2p >= 2 * 3.0 * sig)  # peak-to-peak of a ±3σ excursion
    above[rows, channel] = True
    n_channels = above.sum(axis=1)
    if positions_mm is not None:
        weight = np.where(above, p2p, 0.0)
        total = weight.sum(axis=1)
        cx = (weight * positions_mm[None, :, 0]).sum(axis=1) / total
        cy = (weight * positions_mm[None, :, 1]).sum(axis=1) / total
    else:
        cx = cy = np.full(n_ev, np.nan)
    return {
        "peak_sample": peak_sample.astype(np.int64),
        "channel": channel.astype(np.int64),
        "amplitude_uv": amplitude.astype(np.float64),
        "duration_ms": shape["duration_ms"],
        "phases": shape["phases"].astype(np.int64),
        "turns": shape["turns"].astype(np.int64),
        "area_uv_ms": shape["area_uv_ms"],
        "n_channels": n_channels.astype(np.int64),
        "centroid_x_mm": cx,
        "centroid_y_mm": cy,
    }


def empty_fp_table() -> pd.DataFrame:
    """An FP table with the right columns and no rows."""
    return pd.DataFrame(
        {
            "time_s": pd.Series(dtype=float),
            "unit": pd.Series(dtype=np.int64),
            "channel": pd.Series(dtype=str),
            "amplitude_uv": pd.Series(dtype=float),
            "duration_ms": pd.Series(dtype=float),
            "phases": pd.Series(dtype=np.int64),
            "turns": pd.Series(dtype=np.int64),
            "area_uv_ms": pd.Series(dtype=float),
            "n_channels": pd.Series(dtype=np.int64),
            "centroid_x_mm": pd.Series(dtype=float),
            "centroid_y_mm": pd.Series(dtype=float),
        }
    )
