"""Multichannel waveforms cut around FP times, read from a recording in chunks.

The recording is band-passed block by block with filter margins (the core of
each block equals a whole-recording pass), so memory for reading stays at one
block whatever the length of the recording; the output holds
``n_fp × n_window × n_channels`` float32 values (about 16 kB per FP for a
64-channel grid at 2 kHz with a 30 ms window).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

import numpy as np

from fasciq._logging import logger
from fasciq.errors import DataError
from fasciq.recording import Recording
from fasciq.signal.filters import bandpass_sos, filter_margin, zero_phase
from fasciq.signal.line import detect_line_frequency, line_harmonics, notch_sos
from fasciq.units.params import SnippetParams


@runtime_checkable
class SnippetSource(Protocol):
    """Snippets read on demand rather than held in memory.

    :func:`~fasciq.units.sorting.sort_units` accepts such an object in place
    of an array: beyond its memory budget it reads the snippets block by
    block (e.g. from a file written during an analysis's chunk pass).

    Attributes
    ----------
    shape : tuple of int
        ``(n_fp, n_window, n_channels)``.
    """

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_fp, n_window, n_channels)``."""
        ...

    def take(self, index: np.ndarray) -> np.ndarray:
        """Snippets number ``index``, float32 µV, shape ``(len(index), n_window, n_channels)``."""
        ...


class SnippetRows:
    """A :class:`SnippetSource` reading rows through a function.

    Parameters
    ----------
    read : callable
        ``read(index) -> ndarray (len(index), n_window, n_channels)`` in µV.
    shape : tuple of int
        ``(n_fp, n_window, n_channels)``.
    """

    def __init__(
        self, read: Callable[[np.ndarray], np.ndarray], shape: tuple[int, int, int]
    ) -> None:
        self._read = read
        self._shape = (int(shape[0]), int(shape[1]), int(shape[2]))

    @property
    def shape(self) -> tuple[int, int, int]:
        """``(n_fp, n_window, n_channels)``."""
        return self._shape

    def __len__(self) -> int:
        return self._shape[0]

    def take(self, index: np.ndarray) -> np.ndarray:
        """Snippets number ``index`` (float32 µV)."""
        index = np.asarray(index, dtype=np.int64).reshape(-1)
        if len(index) == 0:
            return np.zeros((0, *self._shape[1:]), dtype=np.float32)
        return np.asarray(self._read(index), dtype=np.float32)

    def __repr__(self) -> str:
        return f"SnippetRows(shape={self._shape})"


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


def snippets_from_chunk(
    filtered_chunk: np.ndarray,
    chunk_start_sample: int,
    fp_samples: np.ndarray,
    fs: float,
    params: SnippetParams | None = None,
    n_samples: int | None = None,
) -> np.ndarray:
    """Snippets around FPs cut from one already-filtered chunk (with its margins).

    This lets snippets be cut inside a chunked analysis pass, from the block
    that was filtered for detection, instead of reading and filtering the
    recording a second time. The chunk must hold every FP's whole window;
    only samples beyond the ends of the recording may be missing (they are
    zero, as in :func:`extract_snippets`).

    Parameters
    ----------
    filtered_chunk : ndarray, shape (n_chunk, n_channels)
        Band-passed traces (µV) of recording samples
        ``chunk_start_sample .. chunk_start_sample + n_chunk - 1``.
    chunk_start_sample : int
        Recording sample of the chunk's first row (may be negative for a
        zero-padded start).
    fp_samples : array of int
        Recording samples of the FP times (largest peaks).
    fs : float
        Sampling rate in Hz.
    params : SnippetParams, optional
        Window lengths (``before_ms``, ``after_ms``); the filter settings are
        not used.
    n_samples : int, optional
        Length of the whole recording; samples at or after it (and before
        sample 0) are zero. Without it, only samples before 0 may be missing.

    Returns
    -------
    ndarray of float32, shape (n_fp, before + after + 1, n_channels)
        The FP time sits at index ``before`` (see :func:`window_samples`).

    Raises
    ------
    DataError
        If the chunk is not 2-D or an FP's window reaches recording samples
        the chunk does not hold (margins too short).
    """
    params = params or SnippetParams()
    chunk = np.asarray(filtered_chunk)
    if chunk.ndim != 2:
        raise DataError(
            f"the filtered chunk must be 2-D (samples x channels), got shape {chunk.shape}",
            fix="pass the chunk as an (n_samples, n_channels) array",
            source="filtered_chunk",
        )
    before, after = window_samples(fs, params)
    samples = np.asarray(fp_samples, dtype=np.int64).reshape(-1)
    out = np.zeros((len(samples), before + after + 1, chunk.shape[1]), dtype=np.float32)
    if len(samples) == 0:
        return out
    idx = samples[:, None] + np.arange(-before, after + 1)[None, :]
    valid = idx >= 0
    if n_samples is not None:
        valid &= idx < int(n_samples)
    rel = idx - int(chunk_start_sample)
    inside = (rel >= 0) & (rel < chunk.shape[0])
    if (valid & ~inside).any():
        bad = int(samples[(valid & ~inside).any(axis=1)][0])
        raise DataError(
            f"the window of the FP at sample {bad} reaches beyond the chunk "
            f"[{chunk_start_sample}, {chunk_start_sample + chunk.shape[0]})",
            fix=f"cut snippets from chunks whose margins are at least {max(before, after)} "
            "samples, or only for FPs in the chunk's core",
            source="filtered_chunk",
        )
    keep = valid & inside
    cut = chunk[np.clip(rel, 0, chunk.shape[0] - 1)]
    cut[~keep] = 0.0
    out[:] = cut
    return out


def estimate_noise(
    recording: Recording,
    sos: np.ndarray,
    seconds: float = 20.0,
    window_s: float = 0.5,
    quantile: float = 0.2,
    n_blocks: int = 8,
) -> np.ndarray:
    """Noise σ per channel of the filtered recording, from its quietest windows.

    ``seconds`` of recording are read as ``n_blocks`` blocks spread evenly
    over the whole recording (so a contraction or an artefact at its start
    does not decide the estimate), filtered with margins and cut into
    ``window_s`` windows; in each, σ is estimated as 1.4826 × median |x|
    (robust to the odd MUAP), and the ``quantile`` over windows is kept, so
    contractions and artefacts in some windows do not raise it.

    Parameters
    ----------
    recording : Recording
        The recording.
    sos : ndarray
        Filter used for the snippets.
    seconds, window_s : float
        Total length read and window length.
    quantile : float
        Quantile over windows.
    n_blocks : int
        Blocks the reading is spread over.

    Returns
    -------
    ndarray, shape (n_channels,)
    """
    fs = recording.fs
    margin = filter_margin(sos, fs)
    win = max(1, int(window_s * fs))
    total = recording.n_samples
    block = max(win, int(seconds * fs / max(n_blocks, 1)))
    if total <= n_blocks * block + 2 * margin:
        starts = [0]
        block = total
    else:
        starts = np.linspace(0, total - block, n_blocks).astype(np.int64).tolist()
    sigmas = []
    for start in starts:
        lo, hi = max(0, start - margin), min(total, start + block + margin)
        x = zero_phase(recording.get_traces(lo, hi), sos)
        core = x[start - lo : start - lo + block]
        if hi - lo <= 4 * margin:
            core = x
        n_win = core.shape[0] // win
        blocks = core[: n_win * win].reshape(n_win, win, -1) if n_win else core[None]
        sigmas.append(1.4826 * np.median(np.abs(blocks), axis=1))
    return np.quantile(np.concatenate(sigmas), quantile, axis=0)
