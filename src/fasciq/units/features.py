"""Alignment of multichannel snippets and the features they are clustered on.

All functions are pure: arrays in, arrays out. Snippets have shape
``(n_fp, n_window, n_channels)`` with the FP time at index ``centre``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def energy_peak_shifts(snippets: np.ndarray, centre: int, max_shift: int) -> np.ndarray:
    """Shift of each snippet's multichannel energy peak from the window centre.

    The energy ``Σ_c x_c(t)²`` weights every channel by its own amplitude, so
    the reference is the peak of the channels that carry the MUAP, whichever
    electrode happens to be largest on a given discharge.

    Parameters
    ----------
    snippets : ndarray, shape (n_fp, n_window, n_channels)
        Band-passed snippets (µV).
    centre : int
        Index of the FP time in the window.
    max_shift : int
        Largest shift looked at, in samples.

    Returns
    -------
    ndarray of int, shape (n_fp,)
    """
    if len(snippets) == 0 or max_shift == 0:
        return np.zeros(len(snippets), dtype=np.int64)
    lo, hi = centre - max_shift, centre + max_shift + 1
    energy = np.einsum("ntc,ntc->nt", snippets[:, lo:hi], snippets[:, lo:hi])
    # light smoothing so a noisy sample next to the true peak does not win
    energy[:, 1:-1] = 0.25 * energy[:, :-2] + 0.5 * energy[:, 1:-1] + 0.25 * energy[:, 2:]
    return energy.argmax(axis=1).astype(np.int64) - max_shift


def take_windows(snippets: np.ndarray, centre: int, shifts: np.ndarray, half: int) -> np.ndarray:
    """Windows of ``2 * half + 1`` samples centred on ``centre + shifts``.

    Parameters
    ----------
    snippets : ndarray, shape (n_fp, n_window, n_channels)
        Snippets.
    centre : int
        Index of the FP time.
    shifts : array of int, shape (n_fp,)
        Per-snippet shift (samples; positive = later).
    half : int
        Half-width of the windows.

    Returns
    -------
    ndarray, shape (n_fp, 2 * half + 1, n_channels)
        Samples falling outside the snippet repeat its edge values.
    """
    n, n_win, _ = snippets.shape
    idx = centre + np.asarray(shifts, dtype=np.int64)[:, None] + np.arange(-half, half + 1)
    idx = np.clip(idx, 0, n_win - 1)
    return snippets[np.arange(n)[:, None], idx]


#: Half-width (samples) of the Lanczos kernel of sub-sample windows.
LANCZOS_A = 4


def take_windows_fractional(
    snippets: np.ndarray, centre: int, shifts: np.ndarray, delta: float, half: int
) -> np.ndarray:
    """Windows centred ``delta`` of a sample after ``centre + shifts`` (Lanczos interpolation).

    The snippets are band-limited well below the Nyquist frequency, so a
    windowed-sinc (Lanczos, ``a`` = 4) interpolation re-samples them between
    samples with errors far below the noise. Two groups of one unit's
    discharges aligned half a sample apart differ, for a large MUAP, by
    many times the noise; compared at the sub-sample lag, they do not.

    Parameters
    ----------
    snippets : ndarray, shape (n_fp, n_window, n_channels)
        Snippets.
    centre : int
        Index of the FP time.
    shifts : array of int, shape (n_fp,)
        Per-snippet shift (samples).
    delta : float
        Further shift, in samples (``|delta| < 1``).
    half : int
        Half-width of the windows.

    Returns
    -------
    ndarray, shape (n_fp, 2 * half + 1, n_channels)
    """
    wide = take_windows(snippets, centre, shifts, half + LANCZOS_A)
    return shift_windows(wide, delta, half)


def lanczos_taps(delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Sample offsets and weights that re-sample a signal ``delta`` of a sample later.

    ``y[t] = Σ_k w_k x[t + o_k]`` (Lanczos, ``a`` = :data:`LANCZOS_A`,
    weights summing to 1); a whole-sample ``delta`` of 0 is one tap.
    """
    if delta == 0:
        return np.zeros(1, dtype=np.int64), np.ones(1)
    base = int(np.floor(delta))
    taps = np.arange(-LANCZOS_A + 1, LANCZOS_A + 1)
    x = taps - (float(delta) - base)
    weights = np.sinc(x) * np.sinc(x / LANCZOS_A)
    return taps + base, weights / weights.sum()


def shift_windows(wide: np.ndarray, delta: float, half: int) -> np.ndarray:
    """The middle ``2 * half + 1`` samples of windows, re-sampled ``delta`` of a sample later.

    Parameters
    ----------
    wide : ndarray, shape (n, 2 * (half + LANCZOS_A) + 1, n_channels)
        Windows with :data:`LANCZOS_A` samples to spare on each side.
    delta : float
        Shift in samples (``|delta| < 1``; Lanczos interpolation).
    half : int
        Half-width of the windows returned.

    Returns
    -------
    ndarray, shape (n, 2 * half + 1, n_channels)
    """
    a = LANCZOS_A
    if delta == 0:
        return wide[:, a : a + 2 * half + 1]
    offsets, weights = lanczos_taps(delta)
    n_out = 2 * half + 1
    dtype = np.result_type(wide.dtype, np.float32)
    out = np.zeros((wide.shape[0], n_out, wide.shape[2]), dtype=dtype)
    term = np.empty_like(out)
    for off, w in zip(offsets, weights.astype(dtype), strict=True):
        np.multiply(wide[:, a + off : a + off + n_out], w, out=term)
        out += term
    return out.astype(wide.dtype, copy=False)


def peak_to_peak(windows: np.ndarray) -> np.ndarray:
    """``(n_fp, n_channels)`` peak-to-peak amplitude of each channel."""
    return windows.max(axis=1) - windows.min(axis=1)


def informative_channels(windows: np.ndarray, n_channels: int) -> np.ndarray:
    """Channels whose waveforms vary most across FPs (most informative for sorting).

    Parameters
    ----------
    windows : ndarray, shape (n_fp, n_window, n_channels)
        Aligned windows.
    n_channels : int
        How many to keep.

    Returns
    -------
    ndarray of int
        Channel indices, in increasing order.
    """
    # variance about the mean plus the squared mean: the mean power per channel
    power = np.einsum("ntc,ntc->tc", windows, windows).sum(axis=0, dtype=np.float64)
    keep = np.argsort(-power, kind="stable")[: min(n_channels, windows.shape[2])]
    return np.sort(keep)


@dataclass(frozen=True)
class FeatureSpace:
    """A fitted projection of aligned windows to clustering features.

    Parameters
    ----------
    channels : ndarray of int
        Channels whose waveforms enter the waveform PCA.
    wave_mean, wave_axes : ndarray
        Mean and principal axes (``(k, n_window · n_selected)``) of the
        concatenated waveforms.
    map_mean, map_axes : ndarray
        Mean and principal axes of the peak-to-peak maps (all channels).
    map_weight : float
        Weight of the map components.
    """

    channels: np.ndarray
    wave_mean: np.ndarray
    wave_axes: np.ndarray
    map_mean: np.ndarray
    map_axes: np.ndarray
    map_weight: float

    def transform(self, windows: np.ndarray) -> np.ndarray:
        """Features of aligned windows, shape ``(n_fp, n_components)`` (µV units)."""
        flat = windows[:, :, self.channels].reshape(len(windows), -1)
        wave = (flat - self.wave_mean) @ self.wave_axes.T
        if len(self.map_axes) == 0:
            return wave.astype(np.float64)
        maps = (peak_to_peak(windows) - self.map_mean) @ self.map_axes.T
        return np.hstack([wave, self.map_weight * maps]).astype(np.float64)


def _principal_axes(x: np.ndarray, k: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    mean = x.mean(axis=0)
    k = max(0, min(k, x.shape[0] - 1, x.shape[1]))
    if k == 0:
        return mean, np.zeros((0, x.shape[1]), dtype=x.dtype)
    from sklearn.utils.extmath import randomized_svd

    _, _, vt = randomized_svd(
        (x - mean).astype(np.float32), n_components=k, n_iter=4, random_state=seed
    )
    # fix the sign of each axis so results do not depend on the solver's choice
    signs = np.sign(vt[np.arange(k), np.abs(vt).argmax(axis=1)])
    signs[signs == 0] = 1.0
    return mean, (vt * signs[:, None]).astype(np.float32)


def fit_features(
    windows: np.ndarray,
    n_channels: int,
    n_wave: int,
    n_map: int,
    map_weight: float,
    seed: int = 0,
) -> FeatureSpace:
    """Fit the waveform and amplitude-map PCA on aligned windows.

    Parameters
    ----------
    windows : ndarray, shape (n_fp, n_window, n_channels)
        Aligned windows (µV).
    n_channels : int
        Channels whose waveforms are concatenated.
    n_wave, n_map : int
        Components kept for waveforms and maps.
    map_weight : float
        Weight of the map components.
    seed : int
        Seed of the randomized SVD.

    Returns
    -------
    FeatureSpace
    """
    channels = informative_channels(windows, n_channels)
    flat = windows[:, :, channels].reshape(len(windows), -1)
    wave_mean, wave_axes = _principal_axes(flat, n_wave, seed)
    map_mean, map_axes = _principal_axes(peak_to_peak(windows), n_map, seed)
    return FeatureSpace(channels, wave_mean, wave_axes, map_mean, map_axes, float(map_weight))
