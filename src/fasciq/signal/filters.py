"""Zero-phase IIR filters for surface MUAPs, safe to run chunk by chunk.

Band choice
-----------
The default pass band is 20–450 Hz. Surface MUAPs carry their energy between
about 20 and 400 Hz (skin and fat low-pass the fibre potentials); below 20 Hz
sit electrode drift, motion artefacts and most of the ECG's energy, above
450 Hz only amplifier noise. The upper edge is lowered to 45 % of the
sampling rate for slowly sampled recordings.

Filters are Butterworth second-order sections run forward and backward
(zero phase, so the time of a MUAP's peak is not shifted). A chunk filtered
with :func:`filter_margin` samples of extra signal on both sides gives, in its
core, the same values as filtering the whole recording at once.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy import signal as sps

from fasciq.errors import ParameterError
from fasciq.validate import check_positive


@dataclass(frozen=True)
class BandpassParams:
    """Band-pass filter settings.

    Parameters
    ----------
    low_hz : float
        High-pass corner in Hz (removes drift, motion, most of the ECG).
    high_hz : float
        Low-pass corner in Hz (clipped to 45 % of the sampling rate).
    order : int
        Butterworth order of the low-pass edge (doubled by the
        forward-backward pass).
    highpass_order : int
        Butterworth order of the high-pass edge (kept low: see
        :func:`bandpass_sos`).
    """

    low_hz: float = 20.0
    high_hz: float = 450.0
    order: int = 4
    highpass_order: int = 2

    def __post_init__(self) -> None:
        check_positive(self.low_hz, "low_hz")
        check_positive(self.high_hz, "high_hz")
        if self.high_hz <= self.low_hz:
            raise ParameterError(
                f"high_hz ({self.high_hz}) must be above low_hz ({self.low_hz})",
                fix="give a pass band such as low_hz=20, high_hz=450",
                source="high_hz",
            )
        for name in ("order", "highpass_order"):
            value = getattr(self, name)
            if int(value) != value or not 1 <= value <= 8:
                raise ParameterError(
                    f"filter {name} must be an integer in 1..8, got {value!r}",
                    fix="use order=4, highpass_order=2",
                    source=name,
                )

    def to_dict(self) -> dict[str, float]:
        """Parameters as a dictionary."""
        return asdict(self)


def bandpass_sos(
    fs: float,
    low_hz: float = 20.0,
    high_hz: float = 450.0,
    order: int = 4,
    highpass_order: int = 2,
) -> np.ndarray:
    """Second-order sections of a Butterworth band-pass.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz.
    low_hz, high_hz : float
        Corners in Hz; ``high_hz`` is clipped to ``0.45 * fs``.
    order : int
        Order of the low-pass edge.
    highpass_order : int
        Order of the high-pass edge: low, because a steep high-pass rings at
        its corner after every large MUAP (a 1 mV FP would leave 20–25 Hz
        wiggles of tens of µV for a tenth of a second); order 2 rings four
        times less than order 4.

    Returns
    -------
    ndarray, shape (n_sections, 6)
    """
    high = min(float(high_hz), 0.45 * fs)
    if high <= low_hz:
        raise ParameterError(
            f"a sampling rate of {fs:g} Hz leaves no pass band above {low_hz:g} Hz",
            fix="lower low_hz or use a recording sampled at 1 kHz or more",
            source="low_hz",
        )
    high_pass = sps.butter(
        int(highpass_order), float(low_hz), btype="highpass", fs=fs, output="sos"
    )
    low_pass = sps.butter(int(order), high, btype="lowpass", fs=fs, output="sos")
    return np.concatenate([high_pass, low_pass])


def impulse_length(sos: np.ndarray, fs: float, tol: float = 1e-5, max_s: float = 10.0) -> int:
    """Samples after which the filter's impulse response stays below ``tol`` of its peak.

    Parameters
    ----------
    sos : ndarray
        Second-order sections.
    fs : float
        Sampling rate in Hz (bounds the search to ``max_s`` seconds).
    tol : float
        Relative amplitude that counts as settled.
    max_s : float
        Longest response looked at.
    """
    n = int(max_s * fs)
    impulse = np.zeros(n)
    impulse[0] = 1.0
    h = np.abs(sps.sosfilt(sos, impulse))
    above = np.flatnonzero(h > tol * h.max())
    return int(above[-1] + 1) if above.size else 1


def filter_margin(sos: np.ndarray, fs: float, tol: float = 1e-5) -> int:
    """Samples to add on each side of a chunk so its core matches a whole-array pass.

    A forward-backward pass spreads each sample by the impulse length in both
    directions, so the margin is that length (plus a small safety factor).
    """
    return int(np.ceil(1.1 * impulse_length(sos, fs, tol))) + 8


def zero_phase(x: np.ndarray, sos: np.ndarray, padlen: int | None = None) -> np.ndarray:
    """Forward-backward filtering of ``(n_samples, n_channels)`` traces along time.

    Equivalent to :func:`scipy.signal.sosfiltfilt` with odd padding, but kept
    in float32 (half the memory traffic of float64).

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels) or (n_samples,)
        Traces in µV.
    sos : ndarray
        Second-order sections.
    padlen : int, optional
        Samples of odd extension at each end (default as SciPy's
        ``sosfiltfilt``); give :func:`filter_margin` so the ends of a
        recording are free of start-up transients.

    Returns
    -------
    ndarray of float32, same shape as ``x``
    """
    x = np.asarray(x, dtype=np.float32)
    one_d = x.ndim == 1
    if one_d:
        x = x[:, None]
    n = x.shape[0]
    if n == 0:
        return x[:, 0] if one_d else x.copy()
    out = np.empty(x.shape, dtype=np.float32)
    # a block of channels at a time: the padded working copies stay small
    # whatever the number of channels
    for a in range(0, x.shape[1], _FILTER_BLOCK):
        _zero_phase_2d(x[:, a : a + _FILTER_BLOCK], sos, padlen, out[:, a : a + _FILTER_BLOCK])
    return out[:, 0] if one_d else out


#: Channels filtered at once by :func:`zero_phase`.
_FILTER_BLOCK = 64

#: Samples moved at once between the time-major and channel-major layouts
#: (a block of all channels stays in cache while it is transposed).
_TRANSPOSE_BLOCK = 1024


def _zero_phase_2d(x: np.ndarray, sos: np.ndarray, padlen: int | None, out: np.ndarray) -> None:
    """:func:`zero_phase` of float32 ``(n_samples, n_channels)`` traces into ``out``.

    The filter runs along contiguous memory: the traces are copied, channel
    by channel, into one padded ``(n_channels, n)`` array (in blocks of
    samples, so the transposition stays in cache), and the result is copied
    back the same way. Each channel sees exactly the operations of a
    time-major pass.
    """
    n, n_ch = x.shape
    step = _TRANSPOSE_BLOCK
    sos32 = np.asarray(sos, dtype=np.float32)
    # a constant offset passes through a band-pass (with odd padding) as exactly
    # zero; removing it first keeps float32 rounding small on DC-coupled data
    offset = x.mean(axis=0, dtype=np.float64).astype(np.float32)
    padlen = 3 * (2 * len(sos) + 1) if padlen is None else int(padlen)
    padlen = max(0, min(padlen, n - 1))
    ext = np.empty((n_ch, n + 2 * padlen), dtype=np.float32)
    core = ext[:, padlen : padlen + n]
    for a in range(0, n, step):
        np.subtract(x[a : a + step], offset, out=core[:, a : a + step].T)
    if padlen > 0:  # odd extension at both ends
        ext[:, :padlen] = 2 * core[:, :1] - core[:, padlen:0:-1]
        ext[:, padlen + n :] = 2 * core[:, -1:] - core[:, -2 : -padlen - 2 : -1]
    zi = sps.sosfilt_zi(sos).astype(np.float32)  # (n_sections, 2)
    y, _ = sps.sosfilt(sos32, ext, axis=-1, zi=_zi(zi, ext[:, 0]))
    del ext, core
    y = y[:, ::-1]
    y, _ = sps.sosfilt(sos32, y, axis=-1, zi=_zi(zi, y[:, 0]))
    y = y[:, ::-1][:, padlen : padlen + n]
    for a in range(0, n, step):
        out[a : a + step] = y[:, a : a + step].T


def _zi(zi: np.ndarray, first: np.ndarray) -> np.ndarray:
    """Initial state ``(n_sections, n_channels, 2)`` for a step of height ``first``."""
    return (zi[:, None, :] * first[None, :, None]).astype(np.float32)


def bandpass(
    x: np.ndarray,
    fs: float,
    low_hz: float = 20.0,
    high_hz: float = 450.0,
    order: int = 4,
    highpass_order: int = 2,
) -> np.ndarray:
    """Zero-phase Butterworth band-pass of ``(n_samples, n_channels)`` traces.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Traces in µV.
    fs : float
        Sampling rate in Hz.
    low_hz, high_hz : float
        Corners in Hz (``high_hz`` clipped to ``0.45 * fs``).
    order, highpass_order : int
        Orders of the low-pass and high-pass edges.

    Returns
    -------
    ndarray of float32
        Filtered traces, same shape.
    """
    return zero_phase(x, bandpass_sos(fs, low_hz, high_hz, order, highpass_order))


def common_mode_basis(positions_mm: np.ndarray | None, n_channels: int) -> np.ndarray | None:
    """Orthonormal basis of what is smooth over the whole grid (ECG, motion, common line).

    With electrode positions the basis spans the planes ``a + b·x + c·y``
    over the channels (ECG reaches the grid as a broad field with a gentle
    gradient; a MUAP is local and mostly survives); without positions only
    the mean across channels.

    Parameters
    ----------
    positions_mm : ndarray, shape (n_channels, 2), optional
        Electrode positions.
    n_channels : int
        Number of channels.

    Returns
    -------
    ndarray of float32, shape (n_channels, k), or None
        ``k`` ≤ 3 orthonormal columns; ``None`` with fewer than 8 channels
        (too few to tell local from global).
    """
    if n_channels < 8:
        return None
    if positions_mm is not None:
        pos = np.asarray(positions_mm, dtype=np.float64)
        basis = np.column_stack([np.ones(n_channels), pos - pos.mean(axis=0)])
        q, r = np.linalg.qr(basis)
        # a single row or column of electrodes spans a line, not a plane
        q = q[:, np.abs(np.diag(r)) > 1e-9 * np.abs(np.diag(r)).max()]
    else:
        q = np.full((n_channels, 1), 1.0 / np.sqrt(n_channels))
    return np.ascontiguousarray(q, dtype=np.float32)


def common_mode_projector(positions_mm: np.ndarray | None, n_channels: int) -> np.ndarray | None:
    """Matrix removing what is smooth over the whole grid (ECG, motion, common line).

    ``I - Q Qᵀ`` with ``Q`` from :func:`common_mode_basis`. Apply as
    ``x @ P`` to ``(n_samples, n_channels)`` traces (:func:`common_mode`
    does the same with two thin products, far fewer operations).

    Parameters
    ----------
    positions_mm : ndarray, shape (n_channels, 2), optional
        Electrode positions.
    n_channels : int
        Number of channels.

    Returns
    -------
    ndarray of float32, shape (n_channels, n_channels), or None
        ``None`` with fewer than 8 channels.
    """
    q = common_mode_basis(positions_mm, n_channels)
    if q is None:
        return None
    q = q.astype(np.float64)
    return (np.eye(n_channels) - q @ q.T).astype(np.float32)


def common_mode(x: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """The part of ``(n_samples, n_channels)`` traces in the span of ``basis``.

    ``x - common_mode(x, Q)`` equals ``x @ (I - Q Qᵀ)`` for orthonormal ``Q``
    (:func:`common_mode_basis`), at ``2k/n_channels`` of the cost.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Traces.
    basis : ndarray, shape (n_channels, k)
        Orthonormal columns.

    Returns
    -------
    ndarray of float32, shape (n_samples, n_channels)
    """
    q = np.asarray(basis, dtype=np.float32)
    return (np.asarray(x, dtype=np.float32) @ q) @ q.T
