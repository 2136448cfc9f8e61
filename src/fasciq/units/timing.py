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

An FP that sorting left without a unit may still be one of a unit's
discharges that the first pass timed on another phase, further from the
unit's alignment than sorting's lag allows. Each such FP is fitted to every
unit's template at lags up to ``leftover_lag_ms``; where one unit fits it as
well as it fits its own discharges, and clearly better than any other, the
FP joins that unit and is timed as its discharges are.
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
    leftover_lag_ms : float
        Unsorted FPs are fitted to each unit's template with its largest
        absolute sample within this of the FP's time, and join a unit only
        where that puts them at most this far from it (0: unsorted FPs are
        left as they are).
    leftover_fit_ms : float
        Half-width of the part of the template fitted, about its largest
        absolute sample.
    leftover_channels : float
        Channels fitted: those whose template peak-to-peak reaches this
        fraction of the largest.
    leftover_explained : float
        An unsorted FP joins a unit when the unit's template explains at
        least this fraction of the share of energy it explains, at its best
        lag, in the unit's own discharges (median) ...
    leftover_margin : float
        ... at least this many times the share the next best unit explains ...
    leftover_scale : float
        ... and the fitted scale lies within ``1 / leftover_scale`` and
        ``leftover_scale`` of the template's.
    """

    enabled: bool = True
    window_ms: float = 25.0
    tie_fraction: float = 0.9
    tie_z: float = 3.0
    max_spread_ms: float = 4.0
    min_discharges: int = 3
    agreement: float = 0.5
    max_discharges: int = 64
    leftover_lag_ms: float = 20.0
    leftover_fit_ms: float = 10.0
    leftover_channels: float = 0.3
    leftover_explained: float = 0.5
    leftover_margin: float = 2.0
    leftover_scale: float = 1.6

    def __post_init__(self) -> None:
        check_positive(self.window_ms, "window_ms")
        check_in_range(self.tie_fraction, "tie_fraction", 0.0, 1.0)
        check_positive(self.tie_z, "tie_z", allow_zero=True)
        check_positive(self.max_spread_ms, "max_spread_ms", allow_zero=True)
        check_int(self.min_discharges, "min_discharges", 1)
        check_in_range(self.agreement, "agreement", 0.0, 1.0)
        check_int(self.max_discharges, "max_discharges", 1)
        check_positive(self.leftover_lag_ms, "leftover_lag_ms", allow_zero=True)
        check_positive(self.leftover_fit_ms, "leftover_fit_ms")
        check_in_range(self.leftover_channels, "leftover_channels", 0.0, 1.0)
        check_positive(self.leftover_explained, "leftover_explained")
        check_positive(self.leftover_margin, "leftover_margin")
        check_in_range(self.leftover_scale, "leftover_scale", 1.0, np.inf)

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


def fit_at_lags(
    snippets: np.ndarray,
    centre: int,
    template: np.ndarray,
    anchor: int,
    channels: np.ndarray,
    half: int,
    max_lag: int,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best least-squares fit of a unit's template to each snippet, within a lag.

    The template, cut to ``half`` samples either side of its sample
    ``anchor`` on ``channels``, is fitted (with a free scale) to every
    placement of that sample within ``max_lag`` samples of each snippet's FP
    time.

    Parameters
    ----------
    snippets : ndarray, shape (n, n_window, n_channels)
        Wide-band snippets, the FP time at index ``centre``.
    centre : int
        Index of the FP time in the snippets.
    template : ndarray, shape (n_template, n_channels)
        The unit's wide-band template (:func:`median_template`).
    anchor : int
        Sample of the template the fitted part is centred on (its largest
        absolute sample, where the MUAP is).
    channels : ndarray of int
        Channels the fit is made on.
    half : int
        Half-width of the fitted part of the template.
    max_lag : int
        Largest distance, in samples, of the template's peak from the FP time.

    Returns
    -------
    lag : ndarray of int, shape (n,)
        Where ``anchor`` fits best relative to the FP time.
    scale : ndarray, shape (n,)
        The template's scale there.
    explained : ndarray, shape (n,)
        Fraction of the snippet's energy (each channel's baseline removed,
        over the fitted part) that the scaled template explains.
    """
    snippets = np.asarray(snippets)
    n, n_win = snippets.shape[:2]
    sample = int(anchor)
    half = min(half, sample, len(template) - 1 - sample)
    max_lag = min(max_lag, centre - half, n_win - 1 - centre - half)
    if n == 0 or max_lag < 0 or len(channels) == 0:
        empty = np.zeros(n)
        return np.zeros(n, dtype=np.int64), empty, empty
    part = template[sample - half : sample + half + 1, channels]
    x = snippets[:, :, channels].astype(np.float64)
    x -= np.median(x, axis=1, keepdims=True)
    x = x[:, centre - max_lag - half : centre + max_lag + half + 1]
    # every placement at once: (n, n_lags, n_channels, 2 * half + 1)
    views = np.lib.stride_tricks.sliding_window_view(x, 2 * half + 1, axis=1)
    dot = np.einsum("nlct,tc->nl", views, part)
    energy = np.einsum("nlct,nlct->nl", views, views)
    norm = float(np.sum(part * part))
    fitted = np.where(dot > 0, dot * dot / norm, 0.0)
    best = np.argmax(fitted / np.maximum(energy, 1e-12), axis=1)
    rows = np.arange(n)
    explained = fitted[rows, best] / np.maximum(energy[rows, best], 1e-12)
    return best - max_lag, dot[rows, best] / norm, explained


def best_unit(
    explained: np.ndarray,
    scale: np.ndarray,
    typical: np.ndarray,
    params: UnitTimingParams,
) -> np.ndarray:
    """Which unit each unsorted FP joins (-1: none), from its fits to every unit.

    Parameters
    ----------
    explained, scale : ndarray, shape (n_units, n)
        Each unit's best fit to each FP (:func:`fit_at_lags`).
    typical : ndarray, shape (n_units,)
        The share of energy each unit's template explains in its own
        discharges (median over them).
    params : UnitTimingParams
        ``leftover_explained``, ``leftover_margin`` and ``leftover_scale``.

    Returns
    -------
    ndarray of int, shape (n,)
        Row of ``explained`` of the unit each FP joins, or -1.
    """
    explained = np.atleast_2d(np.asarray(explained, dtype=np.float64))
    scale = np.atleast_2d(np.asarray(scale, dtype=np.float64))
    n_units, n = explained.shape
    if n_units == 0 or n == 0:
        return np.full(n, -1, dtype=np.int64)
    order = np.argsort(-explained, axis=0)
    best = order[0]
    cols = np.arange(n)
    top = explained[best, cols]
    runner_up = explained[order[1], cols] if n_units > 1 else np.zeros(n)
    size = scale[best, cols]
    ok = (
        (top >= params.leftover_explained * np.asarray(typical, dtype=np.float64)[best])
        & (top >= params.leftover_margin * runner_up)
        & (size >= 1.0 / params.leftover_scale)
        & (size <= params.leftover_scale)
    )
    return np.where(ok, best, -1).astype(np.int64)
