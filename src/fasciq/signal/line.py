"""Power-line interference: which mains frequency (50 or 60 Hz) a recording carries."""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from fasciq.signal.robust import median

#: Channels whose spectrum is estimated at once (bounds the memory of Welch's
#: segment copies whatever the number of channels).
_WELCH_BLOCK = 16


def _welch(x: np.ndarray, fs: float, nperseg: int) -> tuple[np.ndarray, np.ndarray]:
    """Welch power spectra of the columns of ``x``, a block of channels at a time.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Traces.
    fs : float
        Sampling rate in Hz.
    nperseg : int
        Segment length.

    Returns
    -------
    freqs : ndarray, shape (n_freqs,)
    psd : ndarray of float64, shape (n_freqs, n_channels)
    """
    parts = []
    freqs = np.zeros(0)
    for a in range(0, x.shape[1], _WELCH_BLOCK):
        block = np.asarray(x[:, a : a + _WELCH_BLOCK], dtype=np.float64)
        freqs, psd = sps.welch(block, fs=fs, nperseg=nperseg, axis=0, detrend="constant")
        parts.append(psd)
    return freqs, np.concatenate(parts, axis=1)


def line_power_fraction(
    x: np.ndarray, fs: float, line_freq: float, n_harmonics: int = 5, half_width_hz: float = 1.0
) -> np.ndarray:
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
    x = np.atleast_2d(np.asarray(x).T).T
    nperseg = int(min(x.shape[0], max(256, round(fs * 2))))
    freqs, psd = _welch(x, fs, nperseg)
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
    x = np.atleast_2d(np.asarray(x).T).T
    if x.shape[0] < fs or fs < 130:
        return None
    nperseg = int(min(x.shape[0], round(fs * 2)))
    freqs, psd = _welch(x, fs, nperseg)
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


def line_harmonics(
    x: np.ndarray,
    fs: float,
    line_freq: float,
    max_freq: float | None = None,
    min_ratio: float = 4.0,
) -> list[float]:
    """Harmonics of ``line_freq`` that stand out of the spectrum of some channels.

    Each harmonic ``k * line_freq`` below ``max_freq`` is kept when, on the
    channel where it is strongest (90th percentile over channels, so a lone
    disconnected electrode does not decide), the power at that frequency is
    ``min_ratio`` times the power of the surrounding spectrum (2–6 Hz away).

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Raw traces in µV (a few seconds or more).
    fs : float
        Sampling rate in Hz.
    line_freq : float
        Mains frequency (50 or 60 Hz).
    max_freq : float, optional
        Highest frequency considered (default: 0.45 × ``fs``).
    min_ratio : float
        Peak-to-surroundings power ratio that counts as present.

    Returns
    -------
    list of float
        Frequencies in Hz, ascending.
    """
    x = np.atleast_2d(np.asarray(x).T).T
    max_freq = 0.45 * fs if max_freq is None else min(max_freq, fs / 2 - 4)
    if x.shape[0] < fs:
        return [line_freq * k for k in range(1, int(max_freq // line_freq) + 1)]
    nperseg = int(min(x.shape[0], round(fs * 2)))
    freqs, psd = _welch(x, fs, nperseg)
    found = []
    k = 1
    while k * line_freq <= max_freq:
        f = k * line_freq
        peak = psd[np.abs(freqs - f) <= 0.75].max(axis=0)
        ring = np.median(psd[(np.abs(freqs - f) > 2) & (np.abs(freqs - f) < 6)], axis=0)
        ratio = peak / np.maximum(ring, 1e-30)
        if np.percentile(ratio, 90) >= min_ratio:
            found.append(float(f))
        k += 1
    return found


def notch_sos(
    fs: float, freqs: list[float] | tuple[float, ...], bandwidth_hz: float = 2.0
) -> np.ndarray:
    """Second-order sections of narrow notches of constant ``bandwidth_hz`` at ``freqs``.

    Constant bandwidth (rather than constant Q) keeps the notches at high
    harmonics as narrow as at the fundamental, so little MUAP energy is lost,
    and bounds the ringing time (about ``1 / (π · bandwidth)``) that sets the
    chunk margin.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz.
    freqs : sequence of float
        Centre frequencies in Hz (those at or above Nyquist are skipped).
    bandwidth_hz : float
        −3 dB width of each notch in Hz (a forward-backward pass narrows it).

    Returns
    -------
    ndarray, shape (n_sections, 6)
        Empty ``(0, 6)`` when there is nothing to remove.
    """
    sections = []
    for f in freqs:
        if 0 < f < fs / 2 - bandwidth_hz:
            b, a = sps.iirnotch(f, f / bandwidth_hz, fs=fs)
            sections.append(np.concatenate([b, a]))
    return np.array(sections, dtype=np.float64).reshape(-1, 6)


def remove_line_noise(
    x: np.ndarray,
    fs: float,
    line_freq: float | None = None,
    freqs: list[float] | None = None,
    bandwidth_hz: float = 2.0,
) -> tuple[np.ndarray, list[float]]:
    """Remove mains interference (fundamental and harmonics) with zero-phase notches.

    The notches are linear and time-invariant, so they remove the line
    whatever its amplitude does over time (cable movement, a drying
    electrode): an amplitude that changes over seconds only spreads the line
    over a fraction of a hertz, inside the notch.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Traces in µV.
    fs : float
        Sampling rate in Hz.
    line_freq : float, optional
        Mains frequency; detected from ``x`` when not given.
    freqs : list of float, optional
        Exact frequencies to notch; found with :func:`line_harmonics` when
        not given.
    bandwidth_hz : float
        Width of each notch.

    Returns
    -------
    cleaned : ndarray of float32
        Traces without the line.
    freqs : list of float
        The frequencies removed (empty if no line was found).
    """
    from fasciq.signal.filters import zero_phase

    if freqs is None:
        if line_freq is None:
            line_freq = detect_line_frequency(x, fs)
        freqs = [] if line_freq is None else line_harmonics(x, fs, line_freq)
    sos = notch_sos(fs, freqs, bandwidth_hz)
    if len(sos) == 0:
        return np.asarray(x, dtype=np.float32), []
    return zero_phase(x, sos), list(freqs)


def _design(abs_samples: np.ndarray, fs: float, freqs: np.ndarray) -> np.ndarray:
    """``(n, 2K)`` cosines and sines of ``freqs`` at absolute sample times."""
    phase = 2 * np.pi * np.outer(abs_samples / fs, freqs)
    return np.concatenate([np.cos(phase), np.sin(phase)], axis=1)


class _Designs:
    """Design matrices of segments, reused when the window is whole line periods.

    If every frequency completes a whole number of cycles per ``window``, a
    segment's design depends only on its offset within the window and its
    length, so consecutive windows share one matrix.
    """

    def __init__(self, fs: float, freqs: np.ndarray, window: int) -> None:
        self.fs, self.freqs, self.window = fs, freqs, window
        cycles = freqs * window / fs
        self.periodic = bool(np.allclose(cycles, np.rint(cycles), atol=1e-9))
        self.cache: dict[tuple[int, int], np.ndarray] = {}

    def get(self, a: int, b: int) -> np.ndarray:
        if not self.periodic:
            return _design(np.arange(a, b, dtype=np.float64), self.fs, self.freqs)
        key = (a % self.window, b - a)
        if key not in self.cache:
            self.cache[key] = _design(
                np.arange(key[0], key[0] + key[1], dtype=np.float64), self.fs, self.freqs
            )
        return self.cache[key]


def line_coefficients(
    x: np.ndarray,
    fs: float,
    start: int,
    freqs: list[float] | np.ndarray,
    window: int,
    outlier_k: float = 4.0,
) -> tuple[np.ndarray, np.ndarray]:
    """Robust per-window amplitudes of the line harmonics on each channel.

    Windows are aligned to absolute sample positions (window ``w`` covers
    ``[w * window, (w + 1) * window)``), so a chunked pass fits the same
    windows as a whole-array pass. Each window is fitted twice: after the
    first least-squares fit, samples far from it (MUAPs, pops) are replaced
    by the fit and the window is fitted again, so the line estimate does not
    take up a share of the FPs.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Raw traces covering absolute samples ``[start, start + n_samples)``.
    fs : float
        Sampling rate in Hz.
    start : int
        Absolute index of ``x[0]``.
    freqs : sequence of float
        Line frequencies (fundamental and harmonics) in Hz.
    window : int
        Window length in samples (a whole number of mains periods: one
        second at any sampling rate suits both 50 and 60 Hz).
    outlier_k : float
        Samples further than ``outlier_k`` robust σ from the first fit are
        outliers.

    Returns
    -------
    coefs : ndarray, shape (n_windows, 2K, n_channels)
        Cosine then sine amplitude of each frequency.
    centres : ndarray, shape (n_windows,)
        Absolute sample at the centre of the part of each window inside ``x``.
    """
    # single precision: the fit needs ~5 digits, and halves the memory traffic
    x = np.asarray(x, dtype=np.float32)
    n = x.shape[0]
    freqs = np.asarray(freqs, dtype=np.float64)
    w_first, w_last = start // window, (start + n - 1) // window
    designs = _Designs(fs, freqs, window)
    pinv_full = None
    coefs, centres = [], []
    for w in range(w_first, w_last + 1):
        a, b = max(w * window, start), min((w + 1) * window, start + n)
        seg = x[a - start : b - start]
        seg = seg - seg.mean(axis=0)
        d = designs.get(a, b).astype(np.float32)
        if b - a == window and designs.periodic:
            if pinv_full is None:
                pinv_full = (2.0 / d.shape[0]) * d.T  # orthogonal over whole periods
            pinv = pinv_full
        else:
            pinv = np.linalg.pinv(d)
        c = pinv @ seg
        resid = seg - d @ c
        scale = median(np.abs(resid[::8]), axis=0) * 1.4826 + 1e-12
        wild = np.abs(resid) > outlier_k * scale
        if wild.any():
            c = pinv @ np.where(wild, d @ c, seg)
        coefs.append(c)
        centres.append(0.5 * (a + b - 1))
    return np.asarray(coefs, dtype=np.float64), np.asarray(centres)


#: A window holding less than this share of its samples inside the traces
#: (at their ends) is too short to fit every harmonic: it takes the
#: coefficients of its nearest long-enough neighbour.
MIN_WINDOW_SHARE = 0.25


def _borrow_short_windows(coefs: np.ndarray, start: int, n: int, window: int) -> np.ndarray:
    """``coefs`` with each window cut short by the traces' ends replaced by its neighbour's.

    A few samples of a window cannot separate the harmonics from each other
    (nor from a MUAP): their fit is wild, and the interpolation between
    window centres carries it far into the previous window. Only the first
    and last windows can be short.
    """
    n_w = coefs.shape[0]
    if n_w < 2:
        return coefs
    w_first, w_last = start // window, (start + n - 1) // window
    inside_first = min((w_first + 1) * window, start + n) - start
    inside_last = start + n - max(w_last * window, start)
    need = MIN_WINDOW_SHARE * window
    if inside_first >= need and inside_last >= need:
        return coefs
    out = coefs.copy()
    if inside_first < need:
        out[0] = coefs[1]
    if inside_last < need:
        out[-1] = coefs[-2]
    return out


def subtract_line(
    x: np.ndarray,
    fs: float,
    start: int,
    freqs: list[float] | np.ndarray,
    window: int,
    smooth: int = 1,
) -> np.ndarray:
    """Remove line harmonics by robust, time-varying harmonic regression.

    The amplitude and phase of each harmonic are fitted per window
    (:func:`line_coefficients`) and interpolated linearly between window
    centres, so a line whose amplitude (or exact frequency) drifts over
    seconds is followed. Unlike a notch filter, this does not ring after a
    large MUAP: the FP's own energy at 50/60 Hz is neither removed nor
    smeared over the following hundreds of milliseconds.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Raw traces covering absolute samples ``[start, start + n_samples)``.
    fs : float
        Sampling rate in Hz.
    start : int
        Absolute index of ``x[0]``.
    freqs : sequence of float
        Frequencies to remove.
    window : int
        Fit window in samples (see :func:`line_coefficients`).
    smooth : int
        The amplitudes of each window are replaced by their median over
        ``2 * smooth + 1`` consecutive windows (0: no smoothing). A chunk
        needs ``smooth + 2`` windows of margin on each side to match a
        whole-array pass.

    Returns
    -------
    ndarray of float32
        ``x`` without the line.
    """
    x = np.asarray(x, dtype=np.float32)
    freqs = np.asarray(freqs, dtype=np.float64)
    if freqs.size == 0 or x.shape[0] == 0:
        return x.copy()
    coefs, centres = line_coefficients(x, fs, start, freqs, window)
    coefs = _borrow_short_windows(coefs, start, x.shape[0], window)
    if len(centres) >= 2 * smooth + 1:
        # the median over neighbouring windows ignores a window whose fit a very
        # large MUAP still pulled (the line changes over seconds, an FP does not last)
        coefs = ndimage.median_filter(coefs, size=(2 * smooth + 1, 1, 1), mode="nearest")
    coefs = coefs.astype(np.float32)
    designs = _Designs(fs, freqs, window)
    n = x.shape[0]
    out = x.copy()
    # between consecutive window centres the coefficients move linearly:
    # model = (1 - f) · D @ c_lo + f · D @ c_hi, two small matrix products
    bounds = np.concatenate([[start], np.ceil(centres).astype(np.int64), [start + n]])
    bounds = np.clip(bounds, start, start + n)
    n_w = len(centres)
    for k in range(n_w + 1):
        a, b = int(bounds[k]), int(bounds[k + 1])
        if b <= a:
            continue
        lo, hi = max(k - 1, 0), min(k, n_w - 1)
        d = designs.get(a, b).astype(np.float32)
        if lo == hi:
            model = d @ coefs[lo]
        else:
            f = ((np.arange(a, b) - centres[lo]) / (centres[hi] - centres[lo]))[:, None]
            f = f.astype(np.float32)
            model = (1 - f) * (d @ coefs[lo]) + f * (d @ coefs[hi])
        out[a - start : b - start] -= model
    return out
