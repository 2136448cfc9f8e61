"""Power-line interference: which mains frequency (50 or 60 Hz) a recording carries."""

from __future__ import annotations

import numpy as np
from scipy import signal as sps


def line_power_fraction(x: np.ndarray, fs: float, line_freq: float, n_harmonics: int = 5,
                        half_width_hz: float = 1.0) -> np.ndarray:
    """Fraction of each channel's power within ``±half_width_hz`` of the line and its harmonics.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Traces in µV.
    fs : float
        Sampling rate in Hz.
    line_freq : float
        Mains frequency (50 or 60 Hz).
    n_harmonics : int
        Harmonics counted, the fundamental included.
    half_width_hz : float
        Half width of each band.

    Returns
    -------
    ndarray, shape (n_channels,)
        Values in [0, 1].
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64).T).T
    nperseg = int(min(x.shape[0], max(256, round(fs * 2))))
    freqs, psd = sps.welch(x, fs=fs, nperseg=nperseg, axis=0, detrend="constant")
    total = psd[freqs > 1.0].sum(axis=0)
    band = np.zeros(len(freqs), dtype=bool)
    for k in range(1, n_harmonics + 1):
        f0 = k * line_freq
        if f0 >= fs / 2:
            break
        band |= np.abs(freqs - f0) <= half_width_hz
    with np.errstate(invalid="ignore", divide="ignore"):
        frac = psd[band].sum(axis=0) / total
    return np.nan_to_num(frac, nan=0.0)


def detect_line_frequency(x: np.ndarray, fs: float, min_ratio: float = 3.0) -> float | None:
    """Guess the mains frequency from the spectrum: 50.0, 60.0 or ``None``.

    Compares the power in narrow bands at 50/100/150 Hz with 60/120/180 Hz,
    each against the neighbouring spectrum; the winner must stand
    ``min_ratio`` times above its surroundings.
    """
    x = np.atleast_2d(np.asarray(x, dtype=np.float64).T).T
    if x.shape[0] < fs or fs < 130:
        return None
    nperseg = int(min(x.shape[0], round(fs * 2)))
    freqs, psd = sps.welch(x, fs=fs, nperseg=nperseg, axis=0, detrend="constant")
    spectrum = np.median(psd / np.maximum(psd.sum(axis=0, keepdims=True), 1e-30), axis=1)
    scores = {}
    for f0 in (50.0, 60.0):
        ratios = []
        for k in (1, 2, 3):
            f = k * f0
            if f >= fs / 2 - 2:
                break
            peak = spectrum[np.abs(freqs - f) <= 0.75].max()
            ring = spectrum[(np.abs(freqs - f) > 2) & (np.abs(freqs - f) < 6)]
            ratios.append(peak / max(np.median(ring), 1e-30))
        scores[f0] = max(ratios) if ratios else 0.0
    best = max(scores, key=lambda k: scores[k])
    return best if scores[best] >= min_ratio else None
