"""Artefact rejection: what crosses a threshold and is not an FP.

* Saturation — samples pinned at the amplifier's rails: windows where many
  good channels saturate are excluded (``artefact``).
* Motion — slow, large deflections on all channels: measured below the pass
  band (means over one mains period, which cancel the line and its
  harmonics), windows far above the tracked level are excluded
  (``artefact``).
* Noise bursts — in-band level far above the rest noise on part of the grid
  without the spatial coherence of muscle activity: excluded (``noise``).
* ECG — broad and smooth over the whole grid: an event present on nearly
  every channel with nearly the same amplitude everywhere is not an FP
  (:func:`grid_wide`).
* Electrode pops — one channel: rejected by the detector's neighbour
  support, never reach the FP table.
"""

from __future__ import annotations

import numpy as np

from fasciq.detect.params import ArtefactParams


def window_saturation(raw: np.ndarray, window: int) -> np.ndarray:
    """Fraction of each window's samples at that window's extreme values, per channel.

    A clipped channel repeats its rail value; a live one reaches its
    maximum once or twice per window.

    Parameters
    ----------
    raw : ndarray, shape (n_samples, n_channels)
        Unfiltered traces, a whole number of windows long (a final partial
        window is measured on what it holds).
    window : int
        Window length in samples.
    """
    n, n_ch = raw.shape
    out = []
    for a in range(0, n, window):
        w = raw[a : a + window]
        hi, lo = w.max(axis=0), w.min(axis=0)
        flat = hi == lo
        frac = ((w == hi) | (w == lo)).mean(axis=0)
        frac[flat] = 0.0  # flat channels are judged by channel quality
        out.append(frac)
    return np.asarray(out).reshape(-1, n_ch)


def window_lowband(raw: np.ndarray, window: int, period: int) -> np.ndarray:
    """Spread of the below-band signal in each window, per channel.

    Means over blocks of one mains period (``period`` samples) cancel the
    line and its harmonics and keep what is slower than ~1/period; their
    standard deviation within the window measures slow deflections.
    """
    n, n_ch = raw.shape
    period = max(1, int(period))
    out = []
    for a in range(0, n, window):
        w = raw[a : a + window].astype(np.float64)
        m = (w.shape[0] // period) * period
        if m < 2 * period:
            out.append(np.zeros(n_ch))
            continue
        blocks = w[:m].reshape(-1, period, n_ch).mean(axis=1)
        out.append(blocks.std(axis=0))
    return np.asarray(out).reshape(-1, n_ch)


def grid_wide(
    amplitudes: np.ndarray,
    noise: np.ndarray,
    good: np.ndarray,
    params: ArtefactParams | None = None,
) -> np.ndarray:
    """Which events are grid-wide and uniform (ECG-like) rather than an FP.

    Parameters
    ----------
    amplitudes : ndarray, shape (n_events, n_channels)
        Peak-to-peak of each event on each channel.
    noise : ndarray, shape (n_events, n_channels)
        Noise σ at each event.
    good : ndarray of bool, shape (n_channels,)
        Channels used for detection.
    params : ArtefactParams, optional
        Thresholds.

    Returns
    -------
    ndarray of bool, shape (n_events,)
    """
    params = params or ArtefactParams()
    if amplitudes.shape[0] == 0 or good.sum() < 8:
        return np.zeros(amplitudes.shape[0], dtype=bool)
    amp = amplitudes[:, good]
    sig = noise[:, good]
    coverage = (amp >= 6.0 * sig).mean(axis=1)
    low = np.percentile(amp, 10, axis=1)
    high = amp.max(axis=1)
    return (coverage >= params.uniform_coverage) & (low >= params.uniform_ratio * high)
