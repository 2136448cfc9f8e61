"""Channel quality: flat, saturated, disconnected (line-dominated), noisier than neighbours."""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from fasciq.signal.line import line_power_fraction
from fasciq.validate import check_positive


@dataclass(frozen=True)
class QualityParams:
    """Thresholds for channel quality flags.

    Parameters
    ----------
    flat_uv : float
        A channel whose robust spread is below this (µV) is ``flat``.
    saturated_fraction : float
        A channel with more than this fraction of samples pinned at its
        extreme values is ``saturated``.
    line_fraction : float
        A channel with more than this fraction of its power at the mains
        frequency and harmonics, and (with three channels or more) more than
        ``line_factor`` times the median line power of all channels, is
        ``line-dominated`` (typical of a disconnected electrode).
    line_factor : float
        Line power, relative to the median channel, of a ``line-dominated``
        channel (25: five times the line amplitude).
    noisy_factor : float
        A channel whose noise is more than this many times the median of its
        neighbours (or of all channels without geometry) is ``noisy``.
    """

    flat_uv: float = 0.5
    saturated_fraction: float = 0.01
    line_fraction: float = 0.5
    line_factor: float = 25.0
    noisy_factor: float = 4.0

    def __post_init__(self) -> None:
        check_positive(self.flat_uv, "flat_uv")
        check_positive(self.saturated_fraction, "saturated_fraction")
        check_positive(self.line_fraction, "line_fraction")
        check_positive(self.line_factor, "line_factor")
        check_positive(self.noisy_factor, "noisy_factor")

    def to_dict(self) -> dict[str, float]:
        """Parameters as a dictionary."""
        return asdict(self)


def robust_noise(x: np.ndarray) -> np.ndarray:
    """Per-channel noise σ from the median absolute deviation of first differences.

    Differences remove slow baseline; the MAD ignores sparse MUAPs. For
    white noise the result equals the noise standard deviation.
    """
    d = np.diff(np.asarray(x, dtype=np.float64), axis=0)
    mad = np.median(np.abs(d - np.median(d, axis=0)), axis=0)
    return mad * 1.4826 / np.sqrt(2.0)


def saturated_fraction(x: np.ndarray) -> np.ndarray:
    """Fraction of samples of each channel sitting at its minimum or maximum value."""
    x = np.asarray(x)
    hi, lo = x.max(axis=0), x.min(axis=0)
    span = np.maximum(hi - lo, 1e-12)
    tol = 1e-6 * span
    at_rail = (x >= hi - tol) | (x <= lo + tol)
    return at_rail.mean(axis=0)


def channel_quality(
    x: np.ndarray,
    fs: float,
    adjacency: np.ndarray | None = None,
    line_freq: float | None = None,
    params: QualityParams | None = None,
    n_jobs: int = 1,
) -> list[list[str]]:
    """Quality flags for each channel.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Raw traces in µV (not yet filtered: saturation is judged on raw values).
    fs : float
        Sampling rate in Hz.
    adjacency : ndarray of bool, shape (n_channels, n_channels), optional
        Neighbour matrix; without it channels are compared with all others.
    line_freq : float, optional
        Mains frequency; both 50 and 60 Hz are checked when not given.
    params : QualityParams, optional
        Thresholds.
    n_jobs : int
        Threads measuring blocks of channels at once (same flags whatever
        the number).

    Returns
    -------
    list of list of str
        Per channel, any of ``"flat"``, ``"saturated"``, ``"line-dominated"``,
        ``"noisy"``; empty for a good channel.
    """
    params = params or QualityParams()
    x = np.atleast_2d(np.asarray(x).T).T
    n_ch = x.shape[1]
    flags: list[list[str]] = [[] for _ in range(n_ch)]
    freqs = (line_freq,) if line_freq else (50.0, 60.0)
    # per-channel statistics, a block of channels at a time (the float64
    # copies then stay small whatever the size of the grid)
    spread, sat, line, var, noise = (np.zeros(n_ch) for _ in range(5))

    def measure(a: int) -> None:
        xb = np.asarray(x[:, a : a + 16], dtype=np.float64)
        b = a + xb.shape[1]
        spread[a:b] = np.percentile(xb, 95, axis=0) - np.percentile(xb, 5, axis=0)
        sat[a:b] = saturated_fraction(xb)
        line[a:b] = np.max([line_power_fraction(xb, fs, f) for f in freqs], axis=0)
        var[a:b] = np.var(xb, axis=0)
        noise[a:b] = robust_noise(xb)

    starts = range(0, n_ch, 16)
    if n_jobs > 1 and len(starts) > 1:
        from concurrent.futures import ThreadPoolExecutor

        # (sorting and the FFTs release the interpreter: the blocks run side by side)
        with ThreadPoolExecutor(max_workers=int(n_jobs)) as pool:
            list(pool.map(measure, starts))
    else:
        for a in starts:
            measure(a)
    # absolute line power: interference common to the whole grid is removed by the
    # notches and condemns no channel; a channel carrying far more line than the
    # others has lost its contact
    line_power = line * var
    ref_line = np.median(line_power) if n_ch >= 3 else 0.0
    for ch in range(n_ch):
        if spread[ch] < params.flat_uv:
            flags[ch].append("flat")
            continue
        if sat[ch] > params.saturated_fraction:
            flags[ch].append("saturated")
        if line[ch] > params.line_fraction and (
            n_ch < 3 or line_power[ch] > params.line_factor * ref_line
        ):
            flags[ch].append("line-dominated")
    usable = np.array([not f for f in flags])
    if n_ch >= 3 and usable.sum() >= 3:
        for ch in range(n_ch):
            if flags[ch]:
                continue
            peers = usable.copy()
            if adjacency is not None and adjacency[ch].any():
                peers &= adjacency[ch]
            peers[ch] = False
            if peers.sum() < 2:
                peers = usable.copy()
                peers[ch] = False
            ref = np.median(noise[peers])
            if ref > 0 and noise[ch] > params.noisy_factor * ref:
                flags[ch].append("noisy")
    return flags
