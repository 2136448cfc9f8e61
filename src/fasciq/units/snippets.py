"""Multichannel waveforms cut around FP times, read from a recording in chunks.

The recording is band-passed block by block with filter margins (the core of
each block equals a whole-recording pass), so memory for reading stays at one
block whatever the length of the recording; the output holds
``n_fp × n_window × n_channels`` float32 values (about 16 kB per FP for a
64-channel grid at 2 kHz with a 30 ms window).
"""

from __future__ import annotations

import numpy as np

from fasciq._logging import logger
from fasciq.errors import DataError
from fasciq.recording import Recording
from fasciq.signal.filters import bandpass_sos, filter_margin, zero_phase
from fasciq.signal.line import detect_line_frequency, line_harmonics, notch_sos
from fasciq.units.params import SnippetParams


def window_samples(fs: float, params: SnippetParams) -> tuple[int, int]:
    """Samples before and after the FP time in a snippet.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz.
    params : SnippetParams
        Window lengths.

    Returns
    -------
    (before, after) : tuple of int
        The snippet spans ``[t - before, t + after]`` (``before + after + 1``
        samples, the FP time at index ``before``).
    """
    return round(params.before_ms * fs / 1000.0), round(params.after_ms * fs / 1000.0)


def snippet_filter(
    recording: Recording, params: SnippetParams, channels: np.ndarray | None = None
) -> np.ndarray:
    """Band-pass (and mains notch) second-order sections for a recording.

    Parameters
    ----------
    recording : Recording
        The recording (its first ``params.prescan_s`` seconds are read to find
        the mains harmonics).
    params : SnippetParams
        Band and notch settings.
    channels : array of int, optional
        Channels looked at.

    Returns
    -------
    ndarray, shape (n_sections, 6)
    """
    fs = recording.fs
    sos = bandpass_sos(fs, params.low_hz, params.high_hz)
    if not params.remove_line:
        return sos
    sample = recording.get_traces(0, int(params.prescan_s * fs), channels)
    line_freq = params.line_freq or detect_line_frequency(sample, fs)
    if not line_freq:
        return sos
    high = min(params.high_hz, 0.45 * fs) + 2 * params.line_bandwidth_hz
    notches = line_harmonics(sample, fs, line_freq, max_freq=high)
    logger.debug("snippet filter: line %s Hz, notches at %s", line_freq, notches)
    if not notches:
        return sos
    return np.concatenate([sos, notch_sos(fs, notches, params.line_bandwidth_hz)])


def extract_snippets(
    recording: Recording,
    times_s: np.ndarray,
    params: SnippetParams | None = None,
    channels: np.ndarray | None = None,
    sos: np.ndarray | None = None,
) -> np.ndarray:
    """Band-passed multichannel snippets around each FP time.

    Parameters
    ----------
    recording : Recording
        The recording the FPs were found in.
    times_s : array of float
        FP times in seconds from the recording start (any order).
    params : SnippetParams, optional
        Window and filter settings.
    channels : array of int, optional
        Channels to keep (all by default).
    sos : ndarray, optional
        Second-order sections to filter with (e.g. those of the detection
        stage); by default the band-pass of ``params`` plus, if asked, notches
        at the mains harmonics found in the recording.

    Returns
    -------
    ndarray of float32, shape (n_fp, before + after + 1, n_channels)
        Snippets in µV, in the order of ``times_s``; samples beyond the
        recording's ends are zero.

    Raises
    ------
    DataError
        If a time is not finite.
    """
    params = params or SnippetParams()
    fs = recording.fs
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    if not np.isfinite(times).all():
        raise DataError(
            "FP times contain NaN or infinite values",
            fix="pass finite FP times in seconds",
            source=recording.source or "times_s",
        )
    idx = recording.channel_indices(channels)
    before, after = window_samples(fs, params)
    n_win = before + after + 1
    out = np.zeros((len(times), n_win, len(idx)), dtype=np.float32)
    if len(times) == 0:
        return out
    if sos is None:
        sos = snippet_filter(recording, params, idx)
    margin = filter_margin(sos, fs)
    centre = np.rint(times * fs).astype(np.int64)
    order = np.argsort(centre, kind="stable")
    chunk = max(int(params.chunk_s * fs), n_win)
    offsets = np.arange(-before, after + 1)
    pos = 0
    n_blocks = 0
    while pos < len(order):
        first = centre[order[pos]]
        a = first - before
        b = a + chunk
        # every FP whose whole window fits in [a, b)
        end = pos + int(np.searchsorted(centre[order[pos:]] + after, b, side="left"))
        end = max(end, pos + 1)
        members = order[pos:end]
        b = int(centre[members].max()) + after + 1
        lo, hi = max(0, a - margin), min(recording.n_samples, b + margin)
        if hi > lo:
            block = zero_phase(recording.get_traces(lo, hi, idx), sos)
            rel = centre[members][:, None] + offsets[None, :] - lo
            inside = (rel >= 0) & (rel < block.shape[0])
            cut = block[np.clip(rel, 0, block.shape[0] - 1)]
            cut[~inside] = 0.0
            out[members] = cut
        pos = end
        n_blocks += 1
    logger.debug("cut %d snippets of %d samples in %d blocks", len(times), n_win, n_blocks)
    return out


def estimate_noise(
    recording: Recording,
    sos: np.ndarray,
    seconds: float = 20.0,
    window_s: float = 0.5,
    quantile: float = 0.2,
) -> np.ndarray:
    """Noise σ per channel of the filtered recording, from its quietest windows.

    The first ``seconds`` are filtered and cut into ``window_s`` windows; in
    each, σ is estimated as 1.4826 × median |x| (robust to the odd MUAP),
    and the ``quantile`` over windows is kept, so contractions and artefacts
    in some windows do not raise it.

    Parameters
    ----------
    recording : Recording
        The recording.
    sos : ndarray
        Filter used for the snippets.
    seconds, window_s : float
        Length read and window length.
    quantile : float
        Quantile over windows.

    Returns
    -------
    ndarray, shape (n_channels,)
    """
    fs = recording.fs
    margin = filter_margin(sos, fs)
    n = min(recording.n_samples, int(seconds * fs) + 2 * margin)
    x = zero_phase(recording.get_traces(0, n), sos)
    core = x[margin : n - margin] if n > 4 * margin else x
    win = max(1, int(window_s * fs))
    n_win = max(1, core.shape[0] // win)
    blocks = (
        core[: n_win * win].reshape(n_win, -1, core.shape[1])
        if core.shape[0] >= win
        else core[None]
    )
    sigma = 1.4826 * np.median(np.abs(blocks), axis=1)
    return np.quantile(sigma, quantile, axis=0)
