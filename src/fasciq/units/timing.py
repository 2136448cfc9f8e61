"""An FP's time read on its unit's wide-band template.

An FP's time is its largest peak: the largest absolute sample of the MUAP,
unfiltered, on its channel with the largest peak-to-peak. One discharge
seen through noise cannot tell two near-equal channels or phases apart, so
the first pass reports the middle of the tied channels' peaks (see
:class:`~fasciq.detect.params.FeatureParams`), which on a propagating MUAP
lies a few ms after the largest peak. Once the FPs are sorted, their unit's
template, the median of many discharges with only the baseline removed,
shows the largest peak itself: each FP is then timed at its alignment on the
template plus the template's largest peak. Where the template's own largest
channels still tie and peak at different times, no single peak is the
largest and the first pass's time is kept.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fasciq.validate import check_in_range, check_int, check_positive


@dataclass(frozen=True)
class UnitTimingParams:
    """How sorted FPs are timed on their unit's wide-band template.

    Parameters
    ----------
    enabled : bool
        Time sorted FPs on their unit's template (off: every FP keeps the
        first pass's time).
    window_ms : float
        Half-width of the template around the aligned FP time: it holds the
        MUAP's main phases wherever the first pass timed it, and little of
        the next discharge of another unit.
    tie_fraction : float
        Channels of the template whose peak-to-peak reaches this fraction of
        the largest tie with it (the template is far less noisy than one
        discharge, so the tie is tighter than the first pass's) ...
    tie_z : float
        ... as do those within this many standard errors of the template's
        peak-to-peak (measured from the discharges' spread about it): a
        template of a few discharges cannot rank near-equal channels.
    max_spread_ms : float
        The tied channels must peak within this span of each other;
        otherwise the unit's largest peak is ambiguous and its FPs keep the
        first pass's time.
    min_discharges : int
        Fewest discharges a unit needs: a template of a few is noisy, and a
        small unit is the likeliest to hold discharges of two.
    agreement : float
        An FP is moved only where its own snippet, at the template's largest
        peak, has the template's sign and at least this fraction of its
        size: a discharge that does not look like its unit there (another
        unit's sorted with it) keeps the first pass's time.
    max_discharges : int
        Discharges in a unit's template (spread over the recording): more only
        cost reading time once the template's noise is well below the
        differences that decide the largest peak.
    """

    enabled: bool = True
    window_ms: float = 25.0
    tie_fraction: float = 0.9
    tie_z: float = 3.0
    max_spread_ms: float = 4.0
    min_discharges: int = 3
    agreement: float = 0.5
    max_discharges: int = 64

    def __post_init__(self) -> None:
        check_positive(self.window_ms, "window_ms")
        check_in_range(self.tie_fraction, "tie_fraction", 0.0, 1.0)
        check_positive(self.tie_z, "tie_z", allow_zero=True)
        check_positive(self.max_spread_ms, "max_spread_ms", allow_zero=True)
        check_int(self.min_discharges, "min_discharges", 1)
        check_in_range(self.agreement, "agreement", 0.0, 1.0)
        check_int(self.max_discharges, "max_discharges", 1)

    def to_dict(self) -> dict[str, Any]:
        """Parameters as a dictionary."""
        return asdict(self)


def aligned_windows(
    snippets: np.ndarray, offsets: np.ndarray, centre: int, half: int
) -> tuple[np.ndarray, np.ndarray]:
    """Aligned wide-band windows, each with its own baseline removed.

    Parameters
    ----------
    snippets : ndarray, shape (n, n_window, n_channels)
        Traces with the mains removed but no band-pass, the FP time at
        index ``centre``.
    offsets : ndarray of int, shape (n,)
        Where each discharge's alignment point lies relative to ``centre``
        (the sorting's shift of each FP).
    centre : int
        Index of the FP time in the snippets.
    half : int
        Half-width of the template.

    Returns
    -------
    windows : ndarray, shape (n_fit, 2 * half + 1, n_channels)
        The windows of the snippets whose shifted window fits inside them.
    fits : ndarray of bool, shape (n,)
        Which snippets those are.
    """
    snippets = np.asarray(snippets)
    offsets = np.asarray(offsets, dtype=np.int64)
    n_win = snippets.shape[1]
    start = centre + offsets - half
    fits = (start >= 0) & (start + 2 * half + 1 <= n_win)
    rows = start[fits][:, None] + np.arange(2 * half + 1)
    windows = snippets[np.flatnonzero(fits)[:, None], rows].astype(np.float64)
    # the DC offset and slow drift of each discharge: the MUAP fills a small
    # part of the window, so the median is its baseline
    windows -= np.median(windows, axis=1, keepdims=True)
    return windows, fits


def median_template(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Median of aligned windows, and the standard error of its peak-to-peak per channel.

    Parameters
    ----------
    windows : ndarray, shape (n, n_window, n_channels)
        Aligned discharges (:func:`aligned_windows`).

    Returns
    -------
    template : ndarray, shape (n_window, n_channels)
        Median over the discharges (an overlapping discharge of another unit
        does not move it).
    p2p_error : ndarray, shape (n_channels,)
        Standard error of the template's peak-to-peak on each channel: the
        difference of two samples, each a median of ``n`` values spread as
        the discharges spread about the template (noise and jitter).
    """
    template = np.median(windows, axis=0)
    spread = 1.4826 * np.median(np.abs(windows - template), axis=(0, 1))
    # a median's standard error is sqrt(pi / 2) times a mean's
    return template, np.sqrt(np.pi / 2) * np.sqrt(2.0) * spread / np.sqrt(len(windows))


def largest_peak(
    template: np.ndarray,
    tie_fraction: float,
    max_spread: int,
    tie_margin: np.ndarray | float = 0.0,
) -> tuple[int, int] | None:
    """Sample and channel of a template's largest peak, when it is unambiguous.

    Parameters
    ----------
    template : ndarray, shape (n_window, n_channels)
        Wide-band unit template.
    tie_fraction : float
        Channels whose peak-to-peak reaches this fraction of the largest
        tie with it.
    tie_margin : float or ndarray, shape (n_channels,)
        Channels whose peak-to-peak lies within this (in µV) of the
        largest's tie with it, too.
    max_spread : int
        Samples within which the tied channels' largest absolute samples
        must lie.

    Returns
    -------
    (int, int) or None
        Index in the template of the largest absolute sample of the channel
        with the largest peak-to-peak, and that channel; None when the
        template is flat or its tied channels peak further apart than
        ``max_spread``.
    """
    template = np.asarray(template, dtype=np.float64)
    if template.size == 0:
        return None
    p2p = np.ptp(template, axis=0)
    if not np.isfinite(p2p).all() or p2p.max() <= 0:
        return None
    best = int(p2p.argmax())
    margin = np.broadcast_to(np.asarray(tie_margin, dtype=np.float64), p2p.shape)
    # a channel ties when the two could be in either order: both errors count
    limit = np.minimum(tie_fraction * p2p[best], p2p[best] - np.hypot(margin, margin[best]))
    tied = np.flatnonzero(p2p >= limit)
    at = np.abs(template[:, tied]).argmax(axis=0)
    if np.ptp(at) > max_spread:
        return None
    return int(at[np.searchsorted(tied, best)]), best


def agrees(
    windows: np.ndarray, template: np.ndarray, peak: tuple[int, int], fraction: float
) -> np.ndarray:
    """Which discharges have the template's sign and ``fraction`` of its size at its peak."""
    sample, channel = peak
    ref = template[sample, channel]
    return windows[:, sample, channel] * np.sign(ref) >= fraction * abs(ref)


def spread_sample(members: np.ndarray, limit: int) -> np.ndarray:
    """Up to ``limit`` of ``members``, evenly spread over them (in their order)."""
    members = np.asarray(members)
    if len(members) <= limit:
        return members
    return members[np.unique(np.linspace(0, len(members) - 1, limit).round().astype(np.int64))]
