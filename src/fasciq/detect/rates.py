"""FP rates with exact Poisson confidence intervals, per-minute rates and intervals."""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

from fasciq.validate import check_in_range


def poisson_ci(count: int, exposure: float, level: float = 0.95) -> tuple[float, float]:
    """Exact (Garwood) two-sided interval of a Poisson rate ``count / exposure``.

    Parameters
    ----------
    count : int
        Events observed.
    exposure : float
        Time observed (any unit; the rate is per that unit).
    level : float
        Confidence level.

    Returns
    -------
    (low, high) : tuple of float
        ``nan`` for both when ``exposure`` is zero.
    """
    check_in_range(level, "level", 0.0, 1.0)
    if exposure <= 0:
        return float("nan"), float("nan")
    alpha = 1.0 - level
    low = 0.0 if count == 0 else stats.chi2.ppf(alpha / 2, 2 * count) / 2
    high = stats.chi2.ppf(1 - alpha / 2, 2 * count + 2) / 2
    return float(low / exposure), float(high / exposure)


def poisson_upper_bound(count: int, exposure: float, level: float = 0.95) -> float:
    """One-sided upper confidence bound of a Poisson rate (for ``count=0``: −ln(1−level)/T).

    With no FP in ``exposure`` minutes the rate is below ``2.996 / exposure``
    per minute with 95 % confidence (the "rule of three", exactly).
    """
    check_in_range(level, "level", 0.0, 1.0)
    if exposure <= 0:
        return float("nan")
    return float(stats.chi2.ppf(level, 2 * count + 2) / 2 / exposure)


def per_minute(
    times_s: np.ndarray, analysed_mask_fn, duration_s: float, bin_s: float = 60.0
) -> pd.DataFrame:
    """FP counts and rates in consecutive bins, each with its analysed time.

    Parameters
    ----------
    times_s : ndarray
        FP times in seconds.
    analysed_mask_fn : callable
        ``f(start_s, end_s) -> analysed seconds`` within a bin.
    duration_s : float
        Recording length.
    bin_s : float
        Bin length (60 s: per minute).

    Returns
    -------
    DataFrame
        ``start_s, end_s, analysed_s, n_fp, fp_per_min`` (``fp_per_min`` NaN
        where nothing was analysed).
    """
    edges = np.arange(0.0, duration_s, bin_s)
    rows = []
    times_s = np.asarray(times_s, dtype=np.float64)
    for a in edges:
        b = min(a + bin_s, duration_s)
        analysed = float(analysed_mask_fn(a, b))
        n = int(np.count_nonzero((times_s >= a) & (times_s < b)))
        rate = n / (analysed / 60.0) if analysed > 0 else float("nan")
        rows.append((a, b, analysed, n, rate))
    return pd.DataFrame(rows, columns=["start_s", "end_s", "analysed_s", "n_fp", "fp_per_min"])


def intervals(times_s: np.ndarray, spans: np.ndarray | None = None) -> np.ndarray:
    """Inter-FP intervals in seconds, not counting those that span excluded time.

    Parameters
    ----------
    times_s : ndarray
        Sorted FP times.
    spans : ndarray, shape (n, 2), optional
        Excluded ``[start, end)`` spans: an interval that contains one is
        not a true interval and is dropped.
    """
    t = np.sort(np.asarray(times_s, dtype=np.float64))
    if t.size < 2:
        return np.zeros(0)
    gaps = np.diff(t)
    if spans is not None and len(spans):
        spans = np.asarray(spans, dtype=np.float64)
        starts = np.searchsorted(spans[:, 0], t[:-1], side="left")
        has = (starts < len(spans)) & (spans[np.minimum(starts, len(spans) - 1), 0] < t[1:])
        gaps = gaps[~has]
    return gaps
