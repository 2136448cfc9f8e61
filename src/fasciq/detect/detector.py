"""Multichannel FP detectors (pure array functions, registered by name).

Every detector takes band-passed traces ``x`` of shape ``(n_samples,
n_channels)`` in µV, the tracked noise ``sigma`` of the same shape, the
channel neighbourhood, the sampling rate and a :class:`DetectParams`, and
returns :class:`Events`: one row per MUAP discharge.

``spatial`` (the default) uses what separates an FP from everything else
that crosses a threshold:

* noise-responsive: each channel is judged against its own tracked noise;
* spatial support: an FP spreads over neighbouring electrodes, a pop sits
  on one — a peak counts only where ``min_channels`` of its neighbourhood
  rise above ``k_low`` σ within ``support_ms``, and (once grouped) where
  its neighbours carry at least ``neighbour_fraction`` of its peak;
* one event per discharge: peaks are taken locally exclusive in space and
  time, then the largest peak absorbs every other peak of its spatial
  footprint (the channels connected to it above ``k_low`` σ) that lies
  within the phase window plus the time the potential needs to propagate
  there — so the phases, the propagating wave and the end-of-fibre
  components of one MUAP are one FP;
* spatial integration: a small MUAP that reaches ``k_high`` σ on too few
  channels is still a candidate where its peak reaches ``k_peak_energy`` σ
  and the RMS of the neighbourhood's peaks (each channel clipped, so a
  single loud electrode cannot pass alone) reaches ``k_energy`` σ — noise
  is independent from electrode to electrode, a MUAP is not; such weak
  candidates count only away from larger discharges, whose far field and
  late components they would otherwise be: 2 × ``max_window_ms`` on and
  next to the channels a larger discharge reaches ``k_high`` σ on, the
  phase window plus the conduction time (distance / ``velocity_m_s``)
  from its largest peak elsewhere;
* a small MUAP near threshold shows its propagating wave as further small
  candidates along the fibres, each lifted above threshold by noise here
  and there: the small candidates within the conduction time of one are
  its parts, and it is reported at the first of them: the potential
  starts over the end-plates and travels away from them, so its later
  parts are the ones further along the fibres;
* a MUAP phase lasts a few ms: a one-signed swing longer than
  ``max_phase_ms`` through the peak is a step, a pop's tail or motion;
* overlapping FPs of different units stay separate when their peaks lie in
  disconnected channel groups or further apart in time than one MUAP allows.

``threshold`` is the plain reference detector: ``k_high`` σ on at least
``min_channels`` channels at once, one event per ``phase_ms`` dead time.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy import signal as sps

from fasciq.detect.params import DetectParams
from fasciq.detect.registry import register_detector
from fasciq.signal.robust import median

#: Median absolute value of a zero-mean Gaussian, in σ, inverted.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Neighbourhood:
    """Which channels are next to which, and where they are.

    Parameters
    ----------
    adjacency : ndarray of bool, shape (n_channels, n_channels)
        ``True`` for neighbours (diagonal false).
    positions_mm : ndarray, shape (n_channels, 2), optional
        Electrode positions; without them propagation cannot be allowed for
        and only ``phase_ms`` bounds a MUAP's spread in time.
    """

    adjacency: np.ndarray
    positions_mm: np.ndarray | None = None

    @property
    def n_channels(self) -> int:
        """Number of channels."""
        return int(self.adjacency.shape[0])

    def subset(self, keep: np.ndarray, bridge: int = 4) -> Neighbourhood:
        """The neighbourhood of the channels ``keep`` (indices).

        A MUAP spreads across a dropped electrode as if it were there: the
        kept channels around a hole of at most ``bridge`` connected dropped
        channels become neighbours of one another, so that the hole does not
        cut one discharge's footprint in two (larger dead regions are left
        as they are).
        """
        keep = np.asarray(keep)
        adj = self.adjacency.astype(bool).copy()
        n_ch = adj.shape[0]
        dropped = np.ones(n_ch, dtype=bool)
        dropped[keep] = False
        if dropped.any() and bridge > 0:
            for hole in _components(adj, dropped):
                if hole.size > bridge:
                    continue
                rim = np.flatnonzero(adj[hole].any(axis=0) & ~dropped)
                adj[np.ix_(rim, rim)] = True
            np.fill_diagonal(adj, False)
        adj = adj[np.ix_(keep, keep)]
        pos = None if self.positions_mm is None else self.positions_mm[keep]
        return Neighbourhood(adj, pos)


def _components(adjacency: np.ndarray, members: np.ndarray) -> list[np.ndarray]:
    """Connected groups (channel indices) of the channels ``members`` marks."""
    left = members.copy()
    groups = []
    for start in np.flatnonzero(members):
        if not left[start]:
            continue
        left[start] = False
        group, frontier = [start], [start]
        while frontier:
            nxt = np.flatnonzero(adjacency[frontier].any(axis=0) & left)
            left[nxt] = False
            group += list(nxt)
            frontier = list(nxt)
        groups.append(np.asarray(sorted(group), dtype=np.int64))
    return groups


@dataclass
class Events:
    """Detected discharges of one block of samples.

    Parameters
    ----------
    sample : ndarray of int64
        Sample (relative to the block) of each event's detection peak.
    channel : ndarray of int64
        Channel of that peak.
    footprint : ndarray of bool, shape (n_events, n_channels)
        Channels taking part in each event.
    """

    sample: np.ndarray
    channel: np.ndarray
    footprint: np.ndarray

    def __len__(self) -> int:
        return len(self.sample)

    @classmethod
    def empty(cls, n_channels: int) -> Events:
        """No events."""
        return cls(
            np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros((0, n_channels), dtype=bool)
        )

    def take(self, keep: np.ndarray) -> Events:
        """The events selected by ``keep`` (mask or indices)."""
        return Events(self.sample[keep], self.channel[keep], self.footprint[keep])


def _spatial_max(values: np.ndarray, adj: np.ndarray) -> np.ndarray:
    """For each channel, the maximum of ``values`` over the channels ``adj`` marks.

    With the diagonal set, the channel itself takes part; without it, only
    its neighbours (0 where it has none).
    """
    n_ch = values.shape[1]
    counts = adj.sum(axis=1)
    width = int(counts.max()) if n_ch else 0
    if width == 0:
        return np.zeros_like(values)
    # neighbour table padded with an extra all-zero column
    table = np.full((n_ch, width), n_ch, dtype=np.int64)
    for ch in range(n_ch):
        nb = np.flatnonzero(adj[ch])
        table[ch, : nb.size] = nb
    padded = np.concatenate([values, np.zeros((values.shape[0], 1), values.dtype)], axis=1)
    out = np.take(padded, table[:, 0], axis=1)
    for k in range(1, width):
        np.maximum(out, np.take(padded, table[:, k], axis=1), out=out)
    return out


def _rows_time_max(values: np.ndarray, rows: np.ndarray, half: int) -> np.ndarray:
    """``values`` maximised over ``±half`` samples in time, at ``rows`` only."""
    out = values[rows].copy()
    last = values.shape[0] - 1
    for k in range(1, half + 1):
        np.maximum(out, values[np.minimum(rows + k, last)], out=out)
        np.maximum(out, values[np.maximum(rows - k, 0)], out=out)
    return out


def _neighbourhood_rms(
    a: np.ndarray, rows: np.ndarray, half: int, adj_plus: np.ndarray, clip: float
) -> np.ndarray:
    """RMS over each channel's neighbourhood of ``a`` maximised over ``±half`` samples.

    Each channel's peak is clipped at ``clip`` first, so one loud electrode
    (a pop) cannot raise its neighbourhood alone. For independent noise in
    σ units it stays near 1.6 (the RMS of the largest of a few samples); a
    MUAP spread over the neighbourhood raises it on every channel together.
    """
    peak = np.minimum(_rows_time_max(a, rows, half), clip)
    weights = adj_plus.astype(np.float32)
    weights /= weights.sum(axis=0, keepdims=True)
    return np.sqrt((peak * peak) @ weights)


class _Footprints:
    """Footprints of discharges on one channel graph (channel sets held as bit masks).

    A footprint is found once per discharge: with the neighbours of each
    channel held as the bits of one integer, the search is a few integer
    operations per channel reached instead of array operations.
    """

    def __init__(self, adjacency: np.ndarray) -> None:
        adjacency = np.asarray(adjacency, dtype=bool)
        self.n_channels = adjacency.shape[0]
        self._bytes = (self.n_channels + 7) // 8
        self._neighbours = [self._to_int(row) for row in adjacency]

    def _to_int(self, mask: np.ndarray) -> int:
        return int.from_bytes(np.packbits(mask, bitorder="little").tobytes(), "little")

    def __call__(self, amax: np.ndarray, start_ch: int, k_low: float) -> np.ndarray:
        """Channels connected to ``start_ch`` through neighbours all above ``k_low``.

        Parameters
        ----------
        amax : ndarray, shape (n_channels,)
            Largest magnitude of each channel (σ units) around the discharge.
        start_ch : int
            Channel of its peak (part of the footprint whatever its value).
        k_low : float
            Level a channel must reach to take part.

        Returns
        -------
        ndarray of bool, shape (n_channels,)
        """
        active = self._to_int(amax >= k_low)
        seen = frontier = 1 << int(start_ch)
        neighbours = self._neighbours
        while frontier:
            reached = 0
            while frontier:
                low = frontier & -frontier
                reached |= neighbours[low.bit_length() - 1]
                frontier ^= low
            frontier = reached & active & ~seen
            seen |= frontier
        bits = np.frombuffer(seen.to_bytes(self._bytes, "little"), dtype=np.uint8)
        return np.unpackbits(bits, count=self.n_channels, bitorder="little").astype(bool)


def _phase_width(trace: np.ndarray, t: int, limit: int) -> int:
    """Samples of the one-signed excursion of ``trace`` that contains sample ``t``.

    The search stops at ``limit + 1`` on each side (enough to tell that the
    excursion is too long).
    """
    sign = trace[t] >= 0
    lo = max(0, t - limit - 1)
    hi = min(trace.shape[0], t + limit + 2)
    seg = (trace[lo:hi] >= 0) != sign
    k = t - lo
    left = np.flatnonzero(seg[:k][::-1])
    right = np.flatnonzero(seg[k:])
    n_left = left[0] if left.size else k
    n_right = right[0] if right.size else seg.size - k
    return int(n_left + n_right)


def _active_rows(hot: np.ndarray, pad: int) -> np.ndarray | None:
    """Rows within ``pad`` of a hot row, runs separated by ``pad`` rows of ``-1``.

    ``None`` when most rows would be kept anyway.
    """
    keep = ndimage.maximum_filter1d(hot.view(np.uint8), 2 * pad + 1) > 0
    if keep.mean() > 0.6:
        return None
    pieces = []
    sep = np.full(pad, -1, dtype=np.int64)
    for a, b in _runs(keep):
        pieces += [np.arange(a, b, dtype=np.int64), sep]
    return np.concatenate(pieces) if pieces else np.zeros(0, np.int64)


def _nonzero_2d(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Row and column indices of the ``True`` entries of a 2-D mask (as :func:`numpy.nonzero`).

    Through the flat indices: many times faster than :func:`numpy.nonzero`
    on a large, sparse 2-D mask.
    """
    return np.divmod(np.flatnonzero(mask), mask.shape[1])


def _runs(mask: np.ndarray) -> np.ndarray:
    m = np.concatenate([[False], mask, [False]]).astype(np.int8)
    d = np.diff(m)
    return np.column_stack([np.flatnonzero(d == 1), np.flatnonzero(d == -1)])


@register_detector("spatial")
def detect_spatial(
    x: np.ndarray,
    sigma: np.ndarray,
    neighbourhood: Neighbourhood,
    fs: float,
    params: DetectParams | None = None,
) -> Events:
    """Noise-responsive multichannel detection using the grid's neighbourhoods.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Band-passed traces in µV.
    sigma : ndarray, shape (n_samples, n_channels)
        Tracked noise σ in µV.
    neighbourhood : Neighbourhood
        Channel adjacency (and positions, if known).
    fs : float
        Sampling rate in Hz.
    params : DetectParams, optional
        Thresholds and windows.

    Returns
    -------
    Events
    """
    params = params or DetectParams()
    n, n_ch = x.shape
    if n == 0:
        return Events.empty(n_ch)
    a = np.abs(x) / sigma
    # work only where something reaches k_high (FPs are sparse in time); the
    # kept stretches carry every window the method looks at, and are kept apart
    # by empty rows, so the result is the same as on the whole block
    fs_ms = fs / 1000.0
    # every window is measured from a candidate (a hot row): the widest one sets the pad
    widest = max(params.max_window_ms, params.max_phase_ms, params.phase_ms, params.support_ms)
    if params.k_energy > 0 or params.k_coherent > 0:
        widest = max(widest, 2 * params.max_window_ms)  # how far a larger discharge is sought
    pad = round(widest * fs_ms) + 4
    hot = (a >= params.k_high).any(axis=1)
    if params.k_energy > 0:
        # a weak candidate needs its peak and at least one more channel above k_low
        hot |= (a >= params.k_peak_energy).any(axis=1) & (
            np.count_nonzero(a >= params.k_low, axis=1) >= 2
        )
    coherent = None
    if params.k_coherent > 0 and neighbourhood.adjacency.any():
        coherent = coherent_candidates(x, sigma, neighbourhood.adjacency, fs, params, a)
        hot |= coherent.any(axis=1)
    rows = _active_rows(hot, pad)
    if rows is None:
        return _detect_spatial(x, a, neighbourhood, fs, params, coherent)
    if rows.size == 0:
        return Events.empty(n_ch)
    inside = rows >= 0
    xc = np.zeros((rows.size, n_ch), dtype=x.dtype)
    ac = np.zeros((rows.size, n_ch), dtype=a.dtype)
    xc[inside] = x[rows[inside]]
    ac[inside] = a[rows[inside]]
    cc = None
    if coherent is not None:
        cc = np.zeros((rows.size, n_ch), dtype=bool)
        cc[inside] = coherent[rows[inside]]
    events = _detect_spatial(xc, ac, neighbourhood, fs, params, cc)
    events.sample = rows[events.sample]
    return events


def coherent_candidates(
    x: np.ndarray,
    sigma: np.ndarray,
    adjacency: np.ndarray,
    fs: float,
    params: DetectParams,
    a: np.ndarray | None = None,
) -> np.ndarray:
    """Where a small MUAP spread over a neighbourhood adds up with its signs.

    Each channel's trace in σ units (clipped at ``k_peak_energy`` σ, so one
    loud electrode cannot pass alone) is summed with its neighbours' and
    averaged over ``coherent_ms`` (about one MUAP phase); the sum is divided
    by its own robust spread over the block (median absolute value), which
    allows for whatever correlation the noise has. Independent noise adds up
    as the square root of the number of channels, a MUAP seen with the same
    sign by its neighbours adds up in proportion to it.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Band-passed traces in µV.
    sigma : ndarray, shape (n_samples, n_channels)
        Tracked noise σ in µV.
    adjacency : ndarray of bool, shape (n_channels, n_channels)
        Channel neighbours.
    fs : float
        Sampling rate in Hz.
    params : DetectParams
        ``k_coherent``, ``coherent_ms``, ``k_peak_energy``, ``k_low`` and
        ``support_ms``.
    a : ndarray, optional
        ``|x| / sigma`` when already computed.

    Returns
    -------
    ndarray of bool, shape (n_samples, n_channels)
        Samples and channels where the normalised sum reaches ``k_coherent``
        and the channel itself exceeds ``k_low`` σ within ``support_ms``.
    """
    n, n_ch = x.shape
    out = np.zeros((n, n_ch), dtype=bool)
    if n == 0 or n_ch < 2 or params.k_coherent <= 0:
        return out
    clip = params.k_peak_energy
    z = np.divide(x, sigma, dtype=np.float32)
    np.clip(z, -clip, clip, out=z)
    # what the whole grid shares at an instant (the leak of a pop or of a
    # large MUAP through the common-field fit) is no local MUAP
    z -= median(z, axis=1)[:, None]
    adj_plus = (np.asarray(adjacency, dtype=bool) | np.eye(n_ch, dtype=bool)).astype(np.float32)
    # channels along the rows (each channel's sum contiguous in time): the
    # moving average and the spread run along contiguous memory
    total = adj_plus.T @ z.T
    del z
    box = max(1, round(params.coherent_ms * fs / 1000))
    if box > 1:
        total = ndimage.uniform_filter1d(total, box, axis=1)
    # every 4th sample is plenty for a spread over a whole block (the sum is
    # smoothed over ``box`` samples) and a quarter of the cost
    np.abs(total, out=total)
    spread = median(total[:, ::4], axis=1) * np.float32(_MAD_TO_SIGMA)
    limit = np.where(spread > 0, params.k_coherent * spread, np.inf).astype(np.float32)
    chs, ts = _nonzero_2d(total >= limit[:, None])
    if ts.size == 0:
        return out
    # the channel itself exceeds k_low within ±support_ms (checked only where
    # the sum passed: those entries are few)
    if a is None:
        a = np.abs(x) / sigma
    half = max(1, round(params.support_ms * fs / 1000))
    own = np.zeros(ts.size, dtype=bool)
    for k in range(-half, half + 1):
        own |= a[np.clip(ts + k, 0, n - 1), chs] >= params.k_low
    out[ts[own], chs[own]] = True
    return out


def _reach(neighbourhood: Neighbourhood, fs: float, params: DetectParams) -> np.ndarray:
    """How far in time (samples) a part of a discharge peaking on ``i`` may lie on ``j``.

    On and next to the channels where the discharge itself stands out,
    2 × ``max_window_ms`` (its late phases and tails, see
    :func:`_near_larger`); elsewhere its far field appears with its phases
    (``phase_ms``) and its propagating parts a conduction time later
    (distance / ``velocity_m_s``), never later than 2 × ``max_window_ms``.
    Without positions, 2 × ``max_window_ms`` everywhere.
    """
    n_ch = neighbourhood.n_channels
    fs_ms = fs / 1000.0
    longest = 2 * round(params.max_window_ms * fs_ms)
    if neighbourhood.positions_mm is None:
        return np.full((n_ch, n_ch), longest, dtype=np.int64)
    p = np.asarray(neighbourhood.positions_mm, dtype=np.float64)
    dist = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(axis=-1))
    reach = np.rint((params.phase_ms + dist / params.velocity_m_s) * fs_ms)
    return np.minimum(reach, longest).astype(np.int64)


def _near_larger(
    cand: np.ndarray,
    weak: np.ndarray,
    a: np.ndarray,
    adj_plus: np.ndarray,
    reach: np.ndarray,
    span: int,
    loud: np.ndarray,
    now: int,
) -> np.ndarray:
    """Weak candidates that may be a part of a larger discharge nearby in time.

    Parameters
    ----------
    cand, weak : ndarray of bool, shape (n_samples, n_channels)
        Candidates above ``k_high`` and weak candidates.
    a : ndarray, shape (n_samples, n_channels)
        Traces in σ units.
    adj_plus : ndarray of bool, shape (n_channels, n_channels)
        Adjacency with the diagonal set.
    reach : ndarray of int, shape (n_channels, n_channels)
        See :func:`_reach` (at most ``span``).
    span : int
        Samples (2 × ``max_window_ms``) a larger discharge reaches on and
        next to its own candidates; its largest peak is the largest
        candidate within ``span / 2`` samples.
    loud : ndarray of bool, shape (n_samples,)
        Rows where some channel is far above any weak candidate, with or
        without support (a pop's long decay too).
    now : int
        Samples (half a phase window) within which anything that loud
        sends its far field (or its leak through the common-field fit)
        everywhere.

    Returns
    -------
    ndarray of bool, shape (n_samples, n_channels)
        ``weak`` entries within ``now`` samples of a loud row, within
        ``span`` samples of a row with a candidate on or next to their own
        channel, or within ``reach[i, j]`` samples of a larger discharge's
        largest peak on channel ``i``.
    """
    n, n_ch = cand.shape
    strong = cand.any(axis=1)
    near = ndimage.maximum_filter1d(strong.view(np.uint8), 2 * span + 1, axis=0) > 0
    out = np.zeros_like(weak)
    loud_now = ndimage.maximum_filter1d(loud.view(np.uint8), 2 * now + 1, axis=0) > 0
    out[loud_now] = weak[loud_now]
    rows = np.flatnonzero(weak.any(axis=1) & near & ~loud_now)
    if rows.size == 0:
        return out
    big = np.flatnonzero(strong)
    score = np.zeros(n, dtype=np.float32)
    score[big] = np.where(cand[big], a[big], 0.0).max(axis=1)
    # each larger discharge is timed by its largest peak: its later parts
    # are already allowed for by the conduction time
    main = big[score[big] >= ndimage.maximum_filter1d(score, 2 * (span // 2) + 1)[big]]
    peak = np.where(cand[main], a[main], -1.0).argmax(axis=1)
    # on and next to a larger discharge's candidates, within ``span``: counts
    # of such rows (cumulated over the rows with a candidate) in each window
    beside = (cand[big].astype(np.float32) @ adj_plus.astype(np.float32)) > 0
    counts = np.zeros((big.size + 1, n_ch), dtype=np.int32)
    np.cumsum(beside, axis=0, out=counts[1:])
    first = np.searchsorted(big, rows - span, "left")
    last = np.searchsorted(big, rows + span, "right")
    hit = counts[last] > counts[first]
    # within the conduction time of a larger discharge's largest peak
    lo = np.searchsorted(rows, main - span, "left")
    hi = np.searchsorted(rows, main + span, "right")
    for p, ch, j0, j1 in zip(main, peak, lo, hi, strict=True):
        if j1 > j0:
            hit[j0:j1] |= reach[ch] >= np.abs(rows[j0:j1] - p)[:, None]
    out[rows] = hit & weak[rows]
    return out


def _detect_spatial(
    x: np.ndarray,
    a: np.ndarray,
    neighbourhood: Neighbourhood,
    fs: float,
    params: DetectParams,
    coherent: np.ndarray | None = None,
) -> Events:
    """The spatial detector on traces ``x`` and their σ-normalised magnitude ``a``.

    ``coherent`` marks the candidates of :func:`coherent_candidates`.
    """
    n, n_ch = x.shape
    adjacency = neighbourhood.adjacency.astype(bool)
    adj_plus = adjacency | np.eye(n_ch, dtype=bool)
    half = max(0, round(params.support_ms * fs / 1000))
    need = np.minimum(params.min_channels, adj_plus.sum(axis=0)).astype(np.float32)
    high = a >= params.k_high
    cand = np.zeros_like(high)
    # support (neighbours above k_low within ±support_ms), counted only on the
    # rows where some peak reaches k_high
    high_rows = np.flatnonzero(high.any(axis=1))
    if high_rows.size:
        active = _rows_time_max(a >= params.k_low, high_rows, half)
        support = active.astype(np.float32) @ adj_plus.astype(np.float32)
        cand[high_rows] = high[high_rows] & (support >= need - 0.5)
    del high
    # spatial integration: a discharge too small to reach k_high σ on enough
    # channels still raises the energy of its whole neighbourhood together
    weak = np.zeros_like(cand)
    if params.k_energy > 0 and adjacency.any():
        hot = np.flatnonzero(((a >= params.k_peak_energy) & ~cand).any(axis=1))
        if hot.size:
            energy = _neighbourhood_rms(a, hot, max(half, 1), adj_plus, 2 * params.k_energy)
            weak[hot] = (a[hot] >= params.k_peak_energy) & (energy >= params.k_energy) & ~cand[hot]
    if coherent is not None:
        weak |= coherent & ~cand
    if weak.any():
        if cand.any():
            # only apart from larger discharges: near one, its late components
            # and tails are no news; further off, only its far field and what
            # propagates there in time are
            span = 2 * round(params.max_window_ms * fs / 1000)
            reach = _reach(neighbourhood, fs, params)
            now = round(params.phase_ms / 2 * fs / 1000)
            # (as loud as what the common-field fit is clipped at)
            loud = (a >= 4 * params.k_high).any(axis=1)
            weak &= ~_near_larger(cand, weak, a, adj_plus, reach, span, loud, now)
        cand |= weak
    if not cand.any():
        return Events.empty(n_ch)
    if adjacency.any():
        # isolation: the largest neighbour must carry a fair share of the peak
        # (a pop's long filtered response offers many chance crossings)
        rows = np.flatnonzero(cand.any(axis=1))
        a_near = _rows_time_max(a, rows, max(half, 1))
        nb_max = _spatial_max(a_near, adjacency) if n_ch > 1 else a_near
        has_nb = adjacency.any(axis=1)
        isolated = has_nb[None, :] & (nb_max < params.neighbour_fraction * a[rows])
        cand[rows] &= ~isolated
    # locally exclusive peaks: maximum over ±phase/4 in time and the neighbourhood in space
    r = max(1, round(params.phase_ms / 4 * fs / 1000))
    # (evaluated on the rows holding a candidate only: they are few)
    rows = np.flatnonzero(cand.any(axis=1))
    score = np.zeros(a.shape, dtype=np.float32)
    score[rows] = np.where(cand[rows], a[rows], 0.0)
    local = _spatial_max(_rows_time_max(score, rows, r), adj_plus)
    tr, cs = _nonzero_2d(cand[rows] & (score[rows] >= local))
    ts = rows[tr]
    if ts.size == 0:
        return Events.empty(n_ch)
    # one peak per (time, place): drop exact ties on neighbouring samples
    amp = score[ts, cs]
    order = np.argsort(-amp, kind="stable")
    ts, cs, amp = ts[order], cs[order], amp[order]

    fs_ms = fs / 1000.0
    w0 = params.phase_ms * fs_ms
    wmax = params.max_window_ms * fs_ms
    pos = neighbourhood.positions_mm
    if pos is not None:
        # peaks further apart in space may be further apart in time (propagation)
        p = np.asarray(pos, dtype=np.float64)
        dist = np.sqrt(((p[:, None, :] - p[None, :, :]) ** 2).sum(axis=-1))
        allow_ch = np.minimum(w0 + dist / params.velocity_m_s * fs_ms, wmax)
    else:
        allow_ch = np.full((n_ch, n_ch), wmax)  # without distances, any spread within one MUAP
    neighbours = [np.flatnonzero(adjacency[ch]) for ch in range(n_ch)]
    footprint = _Footprints(adjacency)
    spread_half = max(1, round(params.support_ms * fs / 1000))
    max_phase = max(2, round(params.max_phase_ms * fs / 1000))
    simultaneous = params.simultaneous_ms * fs_ms
    absorbed = np.zeros(ts.size, dtype=bool)
    weak_peak = weak[ts, cs]
    # every rule below looks no further than ``wmax`` (or ``simultaneous``)
    # from the peak: only the peaks that close in time are compared
    by_time = np.argsort(ts, kind="stable")
    ts_sorted = ts[by_time]
    horizon = max(wmax, simultaneous)
    ev_sample, ev_channel, ev_foot = [], [], []
    for i in range(ts.size):
        if absorbed[i]:
            continue
        t, c = int(ts[i]), int(cs[i])
        lo, hi = max(0, int(t - wmax)), min(n, int(t + wmax) + 1)
        amax = a[lo:hi].max(axis=0)
        foot = footprint(amax, c, params.k_low)
        near = by_time[
            np.searchsorted(ts_sorted, t - horizon, "left") : np.searchsorted(
                ts_sorted, t + horizon, "right"
            )
        ]
        dt = np.abs(ts[near] - t).astype(np.float64)
        allow = allow_ch[c, cs[near]]
        amp_near = amp[near]
        # peaks of the same footprint within the MUAP's span are its phases and
        # propagating parts; beyond the phase window only clearly smaller ones are
        # (a second discharge of the same unit is as large as the first)
        smaller = amp_near <= params.secondary_fraction * amp[i]
        take = foot[cs[near]] & ((dt <= allow) | ((dt <= wmax) & smaller))
        # outside the footprint (beyond channels too quiet to link them): the
        # end-of-fibre components, which appear together with the discharge,
        # and the clearly smaller far-field parts within its span
        take |= (dt <= simultaneous) & (amp_near <= amp[i])
        take |= (dt <= allow) & smaller
        if weak[t, c]:
            # a small discharge: another small candidate within the time the
            # potential needs to propagate there is a part of it that noise
            # lifted (near threshold, sizes in σ cannot tell its parts apart)
            take |= (dt <= allow) & weak_peak[near]
        take &= ~absorbed[near]
        absorbed[near[take]] = True
        absorbed[i] = True
        if weak[t, c]:
            # a small discharge is reported where it starts: its parts found
            # later are where it propagated to, its larger peak comes first
            # (parts within half a phase window are its phases at one place:
            # there the largest one stands)
            parts = near[take & weak_peak[near] & (ts[near] < t - w0 / 2)]
            if parts.size:
                # the earliest; among equally early ones, the largest
                first = parts[np.lexsort((parts, ts[parts]))[0]]
                t, c = int(ts[first]), int(cs[first])
        # spatial spread: a MUAP reaches its neighbours with a fair share of its
        # peak; a pop or a spike of one electrode does not
        lo_s, hi_s = max(0, t - spread_half), min(n, t + spread_half + 1)
        near_amp = a[lo_s:hi_s, neighbours[c]].max(axis=0) if neighbours[c].size else None
        if near_amp is not None and not weak[t, c]:
            level = max(params.k_low, params.neighbour_fraction * float(a[t, c]))
            if np.count_nonzero(near_amp >= level) < need[c] - 1:
                continue
        if _phase_width(x[:, c], t, max_phase) > max_phase:
            continue  # a slow one-signed swing: step, pop tail or motion, not a MUAP phase
        if weak[t, c]:
            # a small discharge is measured where it stands out now: over a
            # whole MUAP span, the noise of a wide footprint would rival it
            foot = footprint(a[lo_s:hi_s].max(axis=0), c, params.k_low)
        ev_sample.append(t)
        ev_channel.append(c)
        ev_foot.append(foot)
    order = np.argsort(ev_sample, kind="stable")
    return Events(
        np.asarray(ev_sample, np.int64)[order],
        np.asarray(ev_channel, np.int64)[order],
        np.asarray(ev_foot, dtype=bool).reshape(-1, n_ch)[order],
    )


@register_detector("threshold")
def detect_threshold(
    x: np.ndarray,
    sigma: np.ndarray,
    neighbourhood: Neighbourhood,
    fs: float,
    params: DetectParams | None = None,
) -> Events:
    """Plain amplitude threshold: ``k_high`` σ on ``min_channels`` channels at once.

    A reference method without geometry: consecutive crossings closer than
    ``phase_ms`` are one event, at the sample where most σ is reached.
    """
    params = params or DetectParams()
    n, n_ch = x.shape
    if n == 0:
        return Events.empty(n_ch)
    a = np.abs(x) / sigma
    above = a >= params.k_high
    need = min(params.min_channels, n_ch)
    hit = above.sum(axis=1) >= need
    if not hit.any():
        return Events.empty(n_ch)
    s = np.where(hit, a.max(axis=1), 0.0)
    dead = max(1, round(params.phase_ms * fs / 1000))
    peaks, _ = sps.find_peaks(s, height=params.k_high, distance=dead)
    channel = a[peaks].argmax(axis=1)
    lo = np.maximum(peaks - dead, 0)
    hi = np.minimum(peaks + dead + 1, n)
    foot = np.array(
        [(a[p0:p1] >= params.k_low).any(axis=0) for p0, p1 in zip(lo, hi, strict=True)], dtype=bool
    ).reshape(-1, n_ch)
    return Events(peaks.astype(np.int64), channel.astype(np.int64), foot)


def data_neighbourhood(x: np.ndarray, n_neighbours: int = 8) -> Neighbourhood:
    """Neighbourhoods estimated from the data when the geometry is unknown.

    Neighbouring electrodes see the same MUAPs with similar size and timing.
    Each channel's neighbours are the ``n_neighbours`` channels whose
    noise-normalised traces differ least from its own (root-mean-square
    difference over the samples where some channel is well above noise —
    unlike a correlation, this also weighs how large each MUAP is there),
    made symmetric.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Band-passed traces (a minute or so, ideally with MUAPs in it).
    n_neighbours : int
        Neighbours per channel.
    """
    n_ch = x.shape[1]
    if n_ch == 1:
        return Neighbourhood(np.zeros((1, 1), dtype=bool))
    x = np.asarray(x, dtype=np.float64)
    scale = np.median(np.abs(x), axis=0) * 1.4826
    z = x / np.maximum(scale, 1e-12)
    loud = (np.abs(z) > 4).any(axis=1)
    if loud.sum() >= 50:
        z = z[loud]
    sq = (z**2).sum(axis=0)
    dist = sq[:, None] + sq[None, :] - 2 * (z.T @ z)
    np.fill_diagonal(dist, np.inf)
    k = min(n_neighbours, n_ch - 1)
    adj = np.zeros((n_ch, n_ch), dtype=bool)
    best = np.argsort(dist, axis=1)[:, :k]
    adj[np.repeat(np.arange(n_ch), k), best.reshape(-1)] = True
    adj |= adj.T
    return Neighbourhood(adj)
