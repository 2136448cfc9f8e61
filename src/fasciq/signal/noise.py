"""Noise level tracked over time per channel.

Surface-EMG noise drifts over a 30-minute session (electrode gel drying,
skin temperature, amplifier warm-up), so a single threshold for the whole
recording would miss FPs where noise is low and find false ones where it is
high. The level is measured per fixed window (aligned to absolute sample
positions, so a chunked pass gives the same windows as a whole-array pass)
with the median absolute value — which sparse MUAPs hardly move — and then
tracked by a rolling low quantile over about a minute, which bursts of
voluntary activity shorter than that do not move either.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from fasciq.errors import ParameterError
from fasciq.signal.robust import median, quantile
from fasciq.validate import check_in_range, check_positive

#: σ of a zero-mean Gaussian from the median of its absolute value.
MAD_TO_SIGMA = 1.482602218505602


@dataclass(frozen=True)
class NoiseParams:
    """How the noise is measured and tracked.

    Parameters
    ----------
    window_s : float
        Length of the windows in which the noise is measured.
    track_s : float
        Half-width of the rolling window over which it is tracked.
    quantile : float
        Rolling quantile of the window levels taken as the noise (low, so
        voluntary bursts and FP clusters do not raise it).
    """

    window_s: float = 0.5
    track_s: float = 60.0
    quantile: float = 0.2

    def __post_init__(self) -> None:
        check_positive(self.window_s, "window_s")
        check_positive(self.track_s, "track_s")
        check_in_range(self.quantile, "quantile", 0.0, 1.0)
        if self.track_s < self.window_s:
            raise ParameterError(
                f"track_s ({self.track_s}) must be at least window_s ({self.window_s})",
                fix="track the noise over a longer span than one window",
                source="track_s",
            )

    def to_dict(self) -> dict[str, float]:
        """Parameters as a dictionary."""
        return asdict(self)


def window_noise(x: np.ndarray, window: int, step: int = 4) -> np.ndarray:
    """Robust noise σ of each channel in consecutive windows of ``window`` samples.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Band-passed traces in µV (zero-mean). A final partial window is
        measured on what it holds.
    window : int
        Window length in samples.
    step : int
        Take every ``step``-th sample (the median needs far fewer than all).

    Returns
    -------
    ndarray of float64, shape (ceil(n_samples / window), n_channels)
    """
    x = np.atleast_2d(np.asarray(x).T).T
    n, n_ch = x.shape
    if n == 0:
        return np.zeros((0, n_ch))
    n_full = n // window
    parts = []
    if n_full:
        blocks = x[: n_full * window].reshape(n_full, window, n_ch)[:, ::step]
        parts.append(median(np.abs(blocks), axis=1))
    if n_full * window < n:
        tail = x[n_full * window :: step]
        parts.append(median(np.abs(tail), axis=0)[None])
    return np.concatenate(parts, axis=0).astype(np.float64) * MAD_TO_SIGMA


def rolling_quantile(values: np.ndarray, half_width: int, q: float) -> np.ndarray:
    """Quantile ``q`` of each column over rows ``[i - half_width, i + half_width]``.

    Rows near the ends use the rows that exist. NaN rows (unmeasured
    windows) are ignored; a window with none measured stays NaN.
    """
    values = np.asarray(values, dtype=np.float64)
    n = values.shape[0]
    if n == 0:
        return values.copy()
    if np.isnan(values).any():
        out = np.full(values.shape, np.nan)
        for i in range(n):
            block = values[max(0, i - half_width) : i + half_width + 1]
            ok = ~np.isnan(block).all(axis=0)
            if ok.any():
                out[i, ok] = np.nanquantile(block[:, ok], q, axis=0)
        return out
    out = np.empty(values.shape)
    width = 2 * half_width + 1
    if n >= width:
        view = np.lib.stride_tricks.sliding_window_view(values, width, axis=0)
        out[half_width : n - half_width] = quantile(view, q, axis=-1)
        edges = list(range(half_width)) + list(range(n - half_width, n))
    else:
        edges = list(range(n))
    for i in edges:
        out[i] = quantile(values[max(0, i - half_width) : i + half_width + 1], q, axis=0)
    return out


def quantile_bias(q: float, n_samples: int) -> float:
    """Expected ratio of the ``q``-quantile of window σ estimates to the true σ.

    Each window's median-based estimate from ``n_samples`` Gaussian samples
    scatters with a relative standard deviation of about ``1.166 / √n``; its
    lower quantiles therefore sit below the true level, by this factor
    (divide by it to correct).
    """
    from scipy.stats import norm

    return float(1.0 + norm.ppf(q) * 1.166 / np.sqrt(max(n_samples, 1)))


def rolling_quantile_rows(
    values: np.ndarray, lo: int, hi: int, half_width: int, q: float, stride: int = 1
) -> np.ndarray:
    """Rows ``[lo, hi)`` of :func:`rolling_quantile` without computing the others.

    Only rows ``[lo - half_width, hi + half_width)`` of ``values`` are read,
    so a streaming pass can track the noise of each chunk as it comes. With
    ``stride`` > 1 the interior rows use every ``stride``-th row of their
    span (a quantile of a minute of windows does not need all of them).
    """
    n = values.shape[0]
    a, b = max(0, lo - half_width), min(n, hi + half_width)
    out = np.empty((hi - lo, *values.shape[1:]))
    inner_lo, inner_hi = max(lo, half_width), min(hi, n - half_width)
    width = 2 * half_width + 1
    if inner_hi > inner_lo and not np.isnan(values[a:b]).any():
        view = np.lib.stride_tricks.sliding_window_view(
            values[inner_lo - half_width : inner_hi + half_width], width, axis=0
        )
        out[inner_lo - lo : inner_hi - lo] = quantile(view[..., ::stride], q, axis=-1)
        rows = [i for i in range(lo, hi) if i < inner_lo or i >= inner_hi]
    else:
        rows = list(range(lo, hi))
    if rows:
        for i in rows:
            block = values[max(0, i - half_width) : i + half_width + 1]
            out[i - lo] = (
                rolling_quantile(block, len(block), q)[0]
                if np.isnan(block).any()
                else quantile(block, q, axis=0)
            )
    return out


def track_noise(
    window_sigma: np.ndarray,
    window_s: float,
    params: NoiseParams | None = None,
    samples_per_window: int | None = None,
) -> np.ndarray:
    """Tracked noise level per window and channel from per-window levels.

    Parameters
    ----------
    window_sigma : ndarray, shape (n_windows, n_channels)
        Output of :func:`window_noise` (NaN where a window was not measured).
    window_s : float
        Window length in seconds.
    params : NoiseParams, optional
        Tracking settings.
    samples_per_window : int, optional
        Samples each window estimate used (``window // step``); corrects the
        low bias of a low quantile (:func:`quantile_bias`).

    Returns
    -------
    ndarray, shape (n_windows, n_channels)
        Noise σ in µV (never below a tiny floor, so division is safe).
    """
    params = params or NoiseParams()
    half = max(1, round(params.track_s / window_s))
    tracked = rolling_quantile(window_sigma, half, params.quantile)
    if samples_per_window:
        tracked = tracked / quantile_bias(params.quantile, samples_per_window)
    return np.maximum(np.nan_to_num(tracked, nan=1e-3), 1e-3)


def noise_per_sample(tracked: np.ndarray, window: int, start: int, stop: int) -> np.ndarray:
    """Noise σ at samples ``[start, stop)`` by linear interpolation between window centres.

    Parameters
    ----------
    tracked : ndarray, shape (n_windows, n_channels)
        Tracked noise per window (window ``w`` covers samples
        ``[w * window, (w + 1) * window)``).
    window : int
        Window length in samples.
    start, stop : int
        Absolute sample range.

    Returns
    -------
    ndarray of float32, shape (stop - start, n_channels)
    """
    n_win, n_ch = tracked.shape
    out = np.empty((stop - start, n_ch), dtype=np.float32)
    values = tracked.astype(np.float32)
    centre0 = 0.5 * window
    # piecewise linear between consecutive window centres (constant beyond the ends)
    k_first = int(np.clip(np.floor((start - centre0) / window), -1, n_win - 1))
    k = k_first
    while True:
        seg_lo = start if k < 0 else max(start, int(np.ceil(centre0 + k * window)))
        seg_hi = stop if k >= n_win - 1 else min(stop, int(np.ceil(centre0 + (k + 1) * window)))
        if seg_hi > seg_lo:
            if k < 0 or k >= n_win - 1:
                out[seg_lo - start : seg_hi - start] = values[min(max(k, 0), n_win - 1)]
            else:
                frac = ((np.arange(seg_lo, seg_hi) - (centre0 + k * window)) / window).astype(
                    np.float32
                )[:, None]
                lo, hi = values[k], values[k + 1]
                out[seg_lo - start : seg_hi - start] = lo + (hi - lo) * frac
        if seg_hi >= stop or k >= n_win - 1:
            break
        k += 1
    return out
