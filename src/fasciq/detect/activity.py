"""Voluntary-activity exclusion.

Voluntary contraction looks nothing like fasciculation when seen over a
second: many units fire regular trains at 5–25 Hz, so the signal is dense
(its median level rises above the rest noise on most of the grid) and, even
when a single unit fires, its discharges come back at regular intervals.
Fasciculations are sporadic: even hundreds per minute leave the median level
of each window almost untouched, and their intervals are Poisson-like.

Two tests, combined into spans with reason ``voluntary``:

* :func:`train_spans` — a putative unit (same peak channel or a neighbour,
  similar amplitude) discharges ``train_min_events`` times in a row at
  5–25 Hz with intervals whose coefficient of variation is below
  ``train_max_cv``: regularity, the mark of voluntary firing;
* :func:`dense_spans` — the level (median over good channels of the window
  noise σ divided by the tracked rest σ) stays above ``level_ratio``, or the
  sign coherence of neighbouring channels (:func:`window_coherence`) above
  ``coherence``, for at least ``min_active_s`` (the coherence needs no rest
  reference, so a recording without any rest is still recognised; on a
  single channel, without neighbours, the fraction of the window that
  detected MUAPs fill, :func:`filled_fraction`, takes its place).

Density alone does not make a contraction: a storm of many units firing
irregularly (hundreds to thousands of FPs per minute, as after
succinylcholine or in a cramp-fasciculation burst) is just as dense. A
dense span is therefore voluntary only where a regular train confirms it,
or where the signal is not sparse (:func:`regular_dense`). A storm is a
sequence of separate MUAPs with quiet baseline between them, so each
channel's samples are heavy-tailed (window kurtosis well above 3,
:func:`window_kurtosis`); a contraction strong enough that no single train
can be followed is an interference pattern of many overlapping trains,
nearly Gaussian (kurtosis a few units).
"""

from __future__ import annotations

import numpy as np

from fasciq.detect.params import ActivityParams
from fasciq.intervals import merge_spans


def runs(mask: np.ndarray) -> np.ndarray:
    """``(n, 2)`` start/stop indices (half-open) of the runs of ``True`` in ``mask``."""
    m = np.concatenate([[False], np.asarray(mask, dtype=bool), [False]])
    d = np.diff(m.astype(np.int8))
    return np.column_stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1)])


def dense_spans(
    level: np.ndarray,
    window_s: float,
    params: ActivityParams | None = None,
    duration_s: float | None = None,
) -> np.ndarray:
    """Spans where the window level stays above ``level_ratio`` long enough.

    Parameters
    ----------
    level : ndarray, shape (n_windows,)
        Activity of each window in units of its threshold (≥ 1: dense), e.g.
        the larger of level / ``level_ratio`` and coherence / ``coherence``.
    window_s : float
        Window length in seconds (window ``w`` starts at ``w * window_s``).
    params : ActivityParams, optional
        Thresholds.
    duration_s : float, optional
        Recording length (spans are clipped to it).

    Returns
    -------
    ndarray, shape (n, 2)
        ``[start_s, end_s)`` spans.
    """
    params = params or ActivityParams()
    high = np.nan_to_num(np.asarray(level, dtype=np.float64), nan=0.0) >= 1.0
    spans = []
    for a, b in runs(high):
        if (b - a) * window_s + 1e-9 >= params.min_active_s:
            spans.append((a * window_s - params.pad_s, b * window_s + params.pad_s))
    out = merge_spans(spans, gap=params.join_s)
    if len(out):
        out[:, 0] = np.maximum(out[:, 0], 0.0)
        if duration_s is not None:
            out[:, 1] = np.minimum(out[:, 1], duration_s)
    return out


def filled_fraction(
    times_s: np.ndarray, durations_s: np.ndarray, window_s: float, n_windows: int
) -> np.ndarray:
    """Fraction of each window that detected MUAPs fill (summed durations).

    Sparse FPs, even hundreds per minute, fill a few per cent of a window;
    the MUAPs of a contraction fill most of it. On a single channel, where
    no neighbour can confirm activity by its sign (:func:`window_coherence`)
    and a recording without rest gives no rest level to compare with, this
    is what tells a dense window.

    Parameters
    ----------
    times_s, durations_s : ndarray
        Time and duration (s) of each detected MUAP.
    window_s : float
        Window length (window ``w`` starts at ``w * window_s``).
    n_windows : int
        Number of windows.

    Returns
    -------
    ndarray, shape (n_windows,)
        Summed durations of the MUAPs timed in each window over its length
        (overlapping MUAPs can take it above 1).
    """
    out = np.zeros(int(n_windows))
    t = np.asarray(times_s, dtype=np.float64).reshape(-1)
    d = np.asarray(durations_s, dtype=np.float64).reshape(-1)
    ok = np.isfinite(t) & np.isfinite(d)
    w = np.floor(t[ok] / window_s).astype(np.int64)
    inside = (w >= 0) & (w < n_windows)
    np.add.at(out, w[inside], d[ok][inside])
    return out / window_s


def regular_dense(
    dense: np.ndarray,
    trains: np.ndarray | list,
    params: ActivityParams | None = None,
    kurtosis: np.ndarray | None = None,
    window_s: float | None = None,
) -> np.ndarray:
    """The dense spans that are voluntary: confirmed by a regular train, or not sparse.

    Parameters
    ----------
    dense : ndarray, shape (n, 2)
        Output of :func:`dense_spans`.
    trains : ndarray, shape (m, 2), or list of such arrays
        Output(s) of :func:`train_spans`.
    params : ActivityParams, optional
        ``require_trains`` (False: every dense span is voluntary), ``join_s``
        (a train this close to a dense span confirms it) and
        ``sparse_kurtosis``.
    kurtosis : ndarray, shape (n_windows,), optional
        Output of :func:`window_kurtosis`; a dense span whose median window
        kurtosis is below ``sparse_kurtosis`` is voluntary without a train.
    window_s : float, optional
        Window length of ``kurtosis`` in seconds (needed with it).

    Returns
    -------
    ndarray, shape (k, 2)
        The voluntary dense spans.
    """
    params = params or ActivityParams()
    dense = np.asarray(dense, dtype=np.float64).reshape(-1, 2)
    if not params.require_trains or len(dense) == 0:
        return dense
    if isinstance(trains, list):
        trains = np.concatenate(trains) if trains else np.zeros((0, 2))
    trains = np.asarray(trains, dtype=np.float64).reshape(-1, 2)
    gap = params.join_s
    hit = (trains[None, :, 0] < dense[:, None, 1] + gap) & (
        trains[None, :, 1] > dense[:, None, 0] - gap
    )
    keep = hit.any(axis=1)
    if kurtosis is not None and window_s is not None:
        k = np.asarray(kurtosis, dtype=np.float64)
        for i, (a, b) in enumerate(dense):
            w = k[int(a // window_s) : int(np.ceil(b / window_s))]
            w = w[np.isfinite(w)]
            if w.size and np.median(w) < params.sparse_kurtosis:
                keep[i] = True
    return dense[keep]


def window_kurtosis(x: np.ndarray, window: int, step: int = 4) -> np.ndarray:
    """Median over channels of each window's kurtosis (3 for Gaussian noise).

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Band-passed traces (windows start at ``x[0]``; a final partial
        window is measured on what it holds).
    window : int
        Window length in samples.
    step : int
        Take every ``step``-th sample (a MUAP spans tens of samples, so
        none is missed).

    Returns
    -------
    ndarray, shape (ceil(n_samples / window),)
        NaN for a window too short to measure.
    """
    n = x.shape[0]
    out = np.full(-(-n // window), np.nan)
    n_full = n // window
    if n_full:
        w = np.asarray(x[: n_full * window], dtype=np.float32).reshape(n_full, window, -1)
        out[:n_full] = _kurtosis(w[:, ::step])
    if n_full * window < n and (n - n_full * window) // step >= 8:
        tail = np.asarray(x[n_full * window :: step], dtype=np.float32)
        out[n_full] = _kurtosis(tail[None])[0]
    return out


def _kurtosis(w: np.ndarray) -> np.ndarray:
    """Median over channels of the kurtosis of ``(n_windows, n_samples, n_channels)``."""
    w = w - w.mean(axis=1, keepdims=True)
    w2 = w * w
    m2 = w2.mean(axis=1, dtype=np.float64)
    m4 = (w2 * w2).mean(axis=1, dtype=np.float64)
    k = np.where(m2 > 0, m4 / np.maximum(m2, 1e-30) ** 2, np.nan)
    out = np.full(w.shape[0], np.nan)
    ok = np.isfinite(k).any(axis=1)
    out[ok] = np.nanmedian(k[ok], axis=1)
    return out


def train_spans(
    times_s: np.ndarray,
    channels: np.ndarray,
    amplitudes: np.ndarray,
    adjacency: np.ndarray | None,
    params: ActivityParams | None = None,
) -> np.ndarray:
    """Spans covered by regular discharge trains of one putative unit.

    Parameters
    ----------
    times_s : ndarray
        Event times (s), sorted.
    channels : ndarray of int
        Peak channel of each event.
    amplitudes : ndarray
        Peak-to-peak amplitude of each event.
    adjacency : ndarray of bool, optional
        Channel neighbours (same unit may peak on a neighbouring channel).
    params : ActivityParams, optional
        Train settings.

    Returns
    -------
    ndarray, shape (n, 2)
        ``[start_s, end_s)`` spans, padded by one mean interval and joined
        when closer than ``join_s``.
    """
    params = params or ActivityParams()
    t = np.asarray(times_s, dtype=np.float64)
    n = t.size
    if n < params.train_min_events:
        return np.zeros((0, 2))
    ch = np.asarray(channels, dtype=np.int64)
    amp = np.log(np.maximum(np.asarray(amplitudes, dtype=np.float64), 1e-6))
    n_ch = int(ch.max()) + 1 if adjacency is None else adjacency.shape[0]
    near = np.eye(n_ch, dtype=bool) if adjacency is None else (adjacency | np.eye(n_ch, dtype=bool))
    min_gap, max_gap = 1.0 / params.train_max_hz, 1.0 / params.train_min_hz
    # successor of each event: the next event of a matching unit within the train's interval range
    nxt = np.full(n, -1, dtype=np.int64)
    for i in range(n):
        lo = np.searchsorted(t, t[i] + min_gap * 0.8, side="left")
        hi = np.searchsorted(t, t[i] + max_gap * 1.2, side="right")
        cand = [j for j in range(lo, hi) if near[ch[i], ch[j]] and abs(amp[j] - amp[i]) < 0.3]
        if cand:
            costs = np.abs(amp[cand] - amp[i])
            # the earliest discharge about as similar as the most similar one
            nxt[i] = cand[int(np.flatnonzero(costs <= costs.min() + 0.1)[0])]
    has_prev = np.zeros(n, dtype=bool)
    has_prev[nxt[nxt >= 0]] = True
    spans = []
    for start in np.flatnonzero(~has_prev & (nxt >= 0)):
        chain = [int(start)]
        while nxt[chain[-1]] >= 0 and len(chain) < 100000:
            chain.append(int(nxt[chain[-1]]))
        _regular_segments(t[chain], params, spans)
    return merge_spans(spans, gap=params.join_s)


def _regular_segments(tc: np.ndarray, params: ActivityParams, out: list) -> None:
    """Append spans of the runs of regular intervals within one chain of times."""
    k = params.train_min_events
    if tc.size < k:
        return
    gaps = np.diff(tc)
    # sliding windows of k-1 intervals: regular when their CV is small
    win = np.lib.stride_tricks.sliding_window_view(gaps, k - 1)
    # a discharge missed by the detector doubles one interval: intervals close to
    # twice the window's median count as two (one such skip per window)
    med = np.median(win, axis=1, keepdims=True)
    mult = np.clip(np.rint(win / med), 1, None)
    norm = win / mult
    mean = norm.mean(axis=1)
    cv = norm.std(axis=1) / mean
    ok = (
        (cv <= params.train_max_cv)
        & (mult.max(axis=1) <= 2)
        & (mult.sum(axis=1) <= k)
        & (mean >= 1.0 / params.train_max_hz)
        & (mean <= 1.0 / params.train_min_hz)
    )
    for a, b in runs(ok):
        first, last = a, b - 1 + (k - 1)
        pad = float(np.median(gaps[a : b - 1 + (k - 1)]))
        out.append((tc[first] - pad, tc[last] + pad))


def window_coherence(x: np.ndarray, window: int, adjacency: np.ndarray) -> np.ndarray:
    """Sign coherence of neighbouring channels in each window.

    The mean over neighbouring pairs of ``mean(sign(x_i) · sign(x_j))``:
    about 0 for electrode noise (independent from one electrode to the
    next) and for sparse FPs (they hold few of a window's samples, and the
    sign ignores how large they are), but clearly positive when MUAPs fill
    the window, as in voluntary contraction (for Gaussian signals it is
    ``(2/π)·arcsin(ρ)``).

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Band-passed traces, best without their common mode.
    window : int
        Window length in samples (windows start at ``x[0]``).
    adjacency : ndarray of bool
        Neighbour pairs to compare.

    Returns
    -------
    ndarray, shape (ceil(n_samples / window),)
        NaN where no channel has a neighbour.
    """
    n = x.shape[0]
    i, j = np.nonzero(np.triu(adjacency, 1))
    out = np.full(-(-n // window), np.nan)
    if i.size == 0:
        return out
    s = np.sign(x).astype(np.float32)
    for k, a in enumerate(range(0, n, window)):
        w = s[a : a + window]
        gram = w.T @ w
        out[k] = float(gram[i, j].mean()) / w.shape[0]
    return out
