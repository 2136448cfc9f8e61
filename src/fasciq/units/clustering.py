"""Clustering of FP features, splitting of mixed clusters, merging of one unit's clusters.

HDBSCAN needs no preset number of units: it keeps the groups of FPs that
stay dense over a range of scales and leaves the rest as noise (-1). A
cluster found at the global scale may still hold two units with similar
features; each cluster is therefore re-clustered on its own principal
components and split when it falls apart into parts of sizeable weight.
Clusters that are one unit are then merged (:func:`merge_units`): twins
(templates and amplitude maps that match after alignment), or clusters
whose discharges are not separable beyond what noise explains given their
counts (:func:`separation`) — so noise does not split a unit at any noise
level; clusters are compared at their sub-sample lag, so a large unit
split by the sampling phase of its discharges is joined again. Clusters of
one unit timed on distant phases are found by :func:`alias_groups`, also
when the MUAP outlasts the snippet. A unit with only a few discharges is too small for
density clustering; :func:`small_units` groups such FPs when every pair
agrees within noise (:func:`pair_distances`). A cluster whose discharges
share no shape (false detections, or two small units with alike maps) is
dissolved and regrouped by :func:`regroup_incoherent`.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

import numpy as np

from fasciq.signal.robust import median as fast_median
from fasciq.units.features import (
    LANCZOS_A,
    fit_features,
    lanczos_taps,
    peak_to_peak,
    take_windows,
)
from fasciq.units.morphology import shape_variability
from fasciq.units.parallel import ordered_map
from fasciq.units.params import ClusterParams
from fasciq.units.templates import template_channels

#: Members of a cluster looked at when judging a merge (spread evenly over it).
MAX_MERGE_MEMBERS = 200

#: Twins (alike templates) merge unless their d′ exceeds this many times ``merge_dprime``.
TWIN_DPRIME = 2.0


#: A cluster this many times smaller than another, whose template and map
#: correlate with it at least this much, merges unless d′ exceeds
#: ``SATELLITE_DPRIME`` times ``merge_dprime``.
SATELLITE_RATIO = 10
SATELLITE_CORRELATION = 0.8
SATELLITE_MAP_CORRELATION = 0.95
SATELLITE_DPRIME = 3.0

#: Share of energy of the less covered template that the overlap of two
#: aliases must hold (the overlap holds the bulk, 0.7, of the other): a MUAP
#: longer than the snippet, timed on a phase well after its main one, keeps
#: its early part outside the other cluster's window.
ALIAS_MIN_ENERGY = 0.35


def density_clusters(features: np.ndarray, min_cluster_size: int) -> np.ndarray:
    """HDBSCAN labels of ``features`` (-1 for noise).

    When HDBSCAN finds fewer than two clusters, it is re-run allowing the
    whole set to be one cluster (a recording with one fasciculating unit).

    Parameters
    ----------
    features : ndarray, shape (n_fp, n_features)
        Clustering features.
    min_cluster_size : int
        Smallest cluster.

    Returns
    -------
    ndarray of int, shape (n_fp,)
        Cluster labels ``0..k-1`` or -1.
    """
    from sklearn.cluster import HDBSCAN

    n = len(features)
    if n < max(2, min_cluster_size):
        return np.zeros(n, dtype=np.int64) if n else np.zeros(0, dtype=np.int64)
    kwargs = {
        "min_cluster_size": int(min_cluster_size),
        "min_samples": int(min_cluster_size),
        "copy": True,
    }
    labels = HDBSCAN(**kwargs).fit_predict(features)
    if labels.max(initial=-1) < 1:
        labels = HDBSCAN(allow_single_cluster=True, **kwargs).fit_predict(features)
    return labels.astype(np.int64)


def map_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two peak-to-peak maps (1 for a single channel)."""
    if a.size < 2:
        return 1.0
    sa, sb = a.std(), b.std()
    if sa == 0 or sb == 0:
        return 0.0
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))


def lagged_similarity(a_wide: np.ndarray, b_wide: np.ndarray, max_lag: int) -> tuple[float, int]:
    """Best normalised inner product of two templates and the lag that gives it.

    Parameters
    ----------
    a_wide, b_wide : ndarray, shape (2 * (half + max_lag) + 1, n_channels)
        Templates cut ``max_lag`` samples wider on each side than the
        compared core.
    max_lag : int
        Lags ``-max_lag..max_lag`` are tried.

    Returns
    -------
    (similarity, lag) : tuple of float and int
        ``b`` re-cut ``lag`` samples later matches ``a``'s core best.
    """
    n_core = a_wide.shape[0] - 2 * max_lag
    a = a_wide[max_lag : max_lag + n_core]
    aa = float(np.square(a).sum())
    best, best_lag = -1.0, 0
    for lag in range(-max_lag, max_lag + 1):
        b = b_wide[max_lag + lag : max_lag + lag + n_core]
        den = np.sqrt(aa * float(np.square(b).sum()))
        if den > 0:
            sim = float((a * b).sum()) / den
            if sim > best:
                best, best_lag = sim, lag
    return best, best_lag


def _spread_subset(index: np.ndarray, n_max: int) -> np.ndarray:
    """At most ``n_max`` entries of ``index``, spread evenly."""
    if len(index) <= n_max:
        return index
    return index[np.linspace(0, len(index) - 1, n_max).astype(np.int64)]


def _map_correlations(p2p: np.ndarray) -> np.ndarray:
    """``(k, k)`` Pearson correlations of peak-to-peak maps (1 for one channel)."""
    k, n_ch = p2p.shape
    if n_ch < 2:
        return np.ones((k, k))
    centred = p2p - p2p.mean(axis=1, keepdims=True)
    norm = np.sqrt(np.square(centred).sum(axis=1))
    out = (centred @ centred.T) / np.maximum(np.outer(norm, norm), 1e-300)
    out[(norm == 0)[:, None] | (norm == 0)[None, :]] = 0.0
    return out


def _lagged_similarities(
    wide: np.ndarray, max_lag: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`lagged_similarity` of every pair: ``(k, k)`` similarities, lags and sub-sample lags.

    The sub-sample part (in ``(-0.5, 0.5)``) is the vertex of the parabola
    through the similarities at the best lag and its two neighbours (0 at
    the ends of the lag range).
    """
    k = len(wide)
    n_core = wide.shape[1] - 2 * max_lag
    core = wide[:, max_lag : max_lag + n_core].reshape(k, -1).astype(np.float64)
    core_norm = np.sqrt(np.square(core).sum(axis=1))
    sims = np.full((2 * max_lag + 1, k, k), -1.0)
    for pos, lag in enumerate(range(-max_lag, max_lag + 1)):
        cut = wide[:, max_lag + lag : max_lag + lag + n_core].reshape(k, -1).astype(np.float64)
        den = np.outer(core_norm, np.sqrt(np.square(cut).sum(axis=1)))
        sims[pos] = np.where(den > 0, (core @ cut.T) / np.maximum(den, 1e-300), -1.0)
    pos = sims.argmax(axis=0)
    best = np.take_along_axis(sims, pos[None], axis=0)[0]
    below = np.take_along_axis(sims, np.maximum(pos - 1, 0)[None], axis=0)[0]
    above = np.take_along_axis(sims, np.minimum(pos + 1, 2 * max_lag)[None], axis=0)[0]
    curve = below - 2.0 * best + above
    inner = (pos > 0) & (pos < 2 * max_lag) & (curve < 0)
    frac = np.where(inner, 0.5 * (below - above) / np.where(inner, curve, -1.0), 0.0)
    return best, pos - max_lag, np.clip(frac, -0.5, 0.5)


def _sum_squares(x: np.ndarray) -> float:
    """``Σ x²`` of a 2-D float32 array (rows in float32, their total in float64)."""
    return float(np.einsum("ij,ij->i", x, x).sum(dtype=np.float64))


def separation(
    windows_a: np.ndarray, windows_b: np.ndarray, mask: np.ndarray, noise_uv: np.ndarray
) -> float:
    """Discriminability d′ of two groups of aligned discharges.

    The distance between the groups' mean waveforms (on the channels in
    ``mask``) is first corrected for what noise alone puts between two
    means of ``n_a`` and ``n_b`` draws, ``tr(Σ_a)/n_a + tr(Σ_b)/n_b``
    (without it, two halves of one unit look separated by
    √(dimensions / n)). It is then divided by the spread along the line
    joining the means (pooled over the two groups), never below the noise
    along that line (so three nearly identical discharges do not look
    artificially tight). Two halves of one unit split by noise give d′ near 0–2;
    distinct units give d′ far above 4 however noisy the recording,
    because the spread grows with the noise as much as the difference's
    threshold does.

    Parameters
    ----------
    windows_a, windows_b : ndarray, shape (n, n_window, n_channels)
        Aligned discharges of the two groups (at least one each).
    mask : ndarray of bool, shape (n_channels,)
        Channels compared.
    noise_uv : ndarray, shape (n_channels,)
        Noise σ per channel.

    Returns
    -------
    float
    """
    # float32 windows with float64 sums: the cost is in passes over the windows
    a = np.asarray(windows_a if mask.all() else windows_a[:, :, mask], dtype=np.float32)
    b = np.asarray(windows_b if mask.all() else windows_b[:, :, mask], dtype=np.float32)
    na, nb = len(a), len(b)
    a, b = a.reshape(na, -1), b.reshape(nb, -1)
    ma, mb = a.mean(axis=0, dtype=np.float64), b.mean(axis=0, dtype=np.float64)
    d = ma - mb
    dist2 = float(d @ d)
    if dist2 == 0:
        return 0.0
    var = np.square(noise_uv[mask])
    n_t = windows_a.shape[1]
    floor_total = n_t * float(var.sum())
    ca = a - ma.astype(np.float32)
    cb = b - mb.astype(np.float32)
    trace_a = _sum_squares(ca) / max(na - 1, 1)
    trace_b = _sum_squares(cb) / max(nb - 1, 1)
    bias = max(trace_a, floor_total) / na + max(trace_b, floor_total) / nb
    d /= np.sqrt(dist2)
    # the centred projections on the unit vector joining the means
    unit = d.astype(np.float32)
    pa = (ca @ unit).astype(np.float64)
    pb = (cb @ unit).astype(np.float64)
    floor = float((np.square(d).reshape(n_t, -1) @ var).sum())
    dof = max(na + nb - 2, 1)
    spread = float((np.square(pa - pa.mean()).sum() + np.square(pb - pb.mean()).sum()) / dof)
    return float(np.sqrt(max(dist2 - bias, 0.0) / max(spread, floor, 1e-12)))


@dataclass(frozen=True)
class _Moments:
    """A cluster's compared discharges, cut once a round, with their mean and spread."""

    windows: np.ndarray  # (n, n_window, n_channels), float32
    mean: np.ndarray  # (n_window, n_channels), float64
    scatter: np.ndarray  # Σ over discharges of (x − mean)², (n_window, n_channels)

    @classmethod
    def of(
        cls, snippets: np.ndarray, centre: int, shifts: np.ndarray, reach: int, rows: np.ndarray
    ) -> _Moments:
        """Moments of the discharges ``rows``, ``reach`` samples either side."""
        x = np.ascontiguousarray(take_windows(snippets[rows], centre, shifts[rows], reach))
        mean = x.mean(axis=0, dtype=np.float64)
        centred = x - mean.astype(np.float32)
        return cls(x, mean, np.einsum("ntc,ntc->tc", centred, centred).astype(np.float64))


def _moment_separation(
    a: _Moments,
    b: _Moments,
    reach: int,
    half: int,
    lag: int,
    frac: float,
    channels: np.ndarray,
    noise_uv: np.ndarray,
) -> float:
    """:func:`separation` of ``a`` and of ``b`` shifted ``lag + frac`` samples, from moments.

    The interpolation of ``b`` is linear, so its mean is the interpolated
    mean, and each discharge's projection on the line joining the means is
    its raw window's projection on the interpolation's transpose of that
    line: two matrix-vector products, with no interpolated copy of the
    discharges. Only ``b``'s total scatter is read at the whole-sample lag
    (the interpolation of band-limited discharges keeps it to within a few
    per cent, and it enters only the noise correction divided by ``n_b``).
    """
    na, nb = len(a.windows), len(b.windows)
    n_t = 2 * half + 1
    mask = np.zeros(a.mean.shape[1], dtype=bool)
    mask[channels] = True
    ia = slice(reach - half, reach + half + 1)
    offsets, weights = lanczos_taps(frac)
    start = reach + lag - half  # b's window at the whole-sample lag
    mb = np.zeros((n_t, mask.size))
    for off, w in zip(offsets, weights, strict=True):
        mb += w * b.mean[start + off : start + off + n_t]
    d = np.where(mask[None, :], a.mean[ia] - mb, 0.0)
    dist2 = float(np.square(d).sum())
    if dist2 == 0:
        return 0.0
    var = np.square(np.asarray(noise_uv, dtype=np.float64))
    floor_total = n_t * float(var[mask].sum())
    trace_a = float(a.scatter[ia][:, mask].sum()) / max(na - 1, 1)
    trace_b = float(b.scatter[start : start + n_t][:, mask].sum()) / max(nb - 1, 1)
    bias = max(trace_a, floor_total) / na + max(trace_b, floor_total) / nb
    d /= np.sqrt(dist2)
    # b's discharges are read through the transpose of the interpolation
    db = np.zeros_like(b.mean)
    for off, w in zip(offsets, weights, strict=True):
        db[start + off : start + off + n_t] += w * d
    pa = a.windows[:, ia].reshape(na, -1) @ d.astype(np.float32).ravel()
    pb = b.windows.reshape(nb, -1) @ db.astype(np.float32).ravel()
    pa, pb = pa.astype(np.float64), pb.astype(np.float64)
    floor = float((np.square(d) @ var).sum())
    dof = max(na + nb - 2, 1)
    spread = float((np.square(pa - pa.mean()).sum() + np.square(pb - pb.mean()).sum()) / dof)
    return float(np.sqrt(max(dist2 - bias, 0.0) / max(spread, floor, 1e-12)))


@dataclass(frozen=True)
class _Pair:
    """Two clusters to compare: their rows in the round's windows, channels, lag and likeness."""

    a: int
    b: int
    channels: np.ndarray
    lag: int
    frac: float
    similarity: float
    map_correlation: float
    alike: bool
    sizes: tuple[int, int]


def _twins(
    moments: dict[int, _Moments],
    reach: int,
    half: int,
    noise_uv: np.ndarray,
    cp: ClusterParams,
    pair: _Pair,
) -> bool:
    """Whether the discharges of two clusters are not separable (one unit).

    ``moments[i]`` holds cluster ``i``'s compared discharges, aligned,
    ``reach`` samples either side of the alignment.
    """
    dprime = _moment_separation(
        moments[pair.a], moments[pair.b], reach, half, pair.lag, pair.frac, pair.channels, noise_uv
    )
    # twins may differ in detail (an unstable unit's variants), yet never be
    # as separable as two units; a small cluster with a large one's map and
    # shape is a group of its variants (overlapped or drifting discharges)
    small, large = sorted(pair.sizes)
    satellite = (
        small * SATELLITE_RATIO <= large
        and pair.similarity >= SATELLITE_CORRELATION
        and pair.map_correlation >= SATELLITE_MAP_CORRELATION
    )
    limit = cp.merge_dprime
    if satellite:
        limit *= SATELLITE_DPRIME
    elif pair.alike:
        limit *= TWIN_DPRIME
    return bool(dprime < limit)


def merge_units(
    snippets: np.ndarray,
    centre: int,
    shifts: np.ndarray,
    labels: np.ndarray,
    half: int,
    max_lag: int,
    noise_uv: np.ndarray,
    params: ClusterParams,
    max_rounds: int = 4,
) -> tuple[np.ndarray, np.ndarray]:
    """Merge clusters that are one unit, re-aligning the merged discharges.

    Two clusters are one unit when, at their best lag (up to ``max_lag``
    samples: the largest peak of a MUAP with two phases of similar size
    may fall on either, so one unit's discharges can be aligned on two
    references several samples apart), either

    * their templates correlate at least ``merge_correlation``, their
      amplitude maps at least ``merge_map_correlation`` and their sizes
      differ by less than ``merge_amplitude_ratio`` (twins), or
    * their templates correlate at least ``merge_min_correlation``, their
      amplitude maps at least ``merge_min_map_correlation``, and their
      discharges are not separable: :func:`separation` below
      ``merge_dprime``. This criterion scales with the noise and with the
      clusters' sizes, so clusters that noise alone split are merged at any
      noise level.

    The discharges of the two clusters are compared at the sub-sample lag
    of their templates (:func:`~fasciq.units.features.take_windows_fractional`):
    a large MUAP's discharges fall on the sampling grid at any phase, and two
    groups of them aligned half a sample apart differ by many times the
    noise.

    Within a round, groups form by complete linkage from the most similar
    pair (every pair in a group must qualify, so a chain of unlike
    clusters does not collapse into one); the templates are then rebuilt
    and the next round judges the merged clusters.

    Parameters
    ----------
    snippets : ndarray, shape (n_fp, n_snippet, n_channels)
        Snippets, the FP time at ``centre``.
    centre : int
        Index of the FP time.
    shifts : array of int, shape (n_fp,)
        Current alignment of each FP.
    labels : array of int, shape (n_fp,)
        Cluster of each FP (-1: none).
    half : int
        Half-width of the compared windows.
    max_lag : int
        Largest lag between two clusters' alignments.
    noise_uv : ndarray, shape (n_channels,)
        Noise σ per channel.
    params : ClusterParams
        Merge thresholds.
    max_rounds : int
        Rounds of merging.

    Returns
    -------
    (labels, shifts) : tuple of ndarray
        New labels (a merged cluster keeps the label of its larger part)
        and shifts (the merged part re-aligned on the larger one).
    """
    labels = labels.copy()
    shifts = np.asarray(shifts, dtype=np.int64).copy()
    cp = params
    # clusters that did not change keep their template and their judgements
    judged: dict[tuple[int, int, int, int], tuple[bool, float, int]] = {}
    kept: dict[tuple[int, int], np.ndarray] = {}
    # compared discharges are cut wide enough for every lag and the
    # sub-sample interpolation
    reach = half + max_lag + LANCZOS_A + 1
    for _ in range(max_rounds):
        units = np.unique(labels[labels >= 0])
        k = len(units)
        if k < 2:
            break
        members = [np.flatnonzero(labels == u) for u in units]
        keys = [(int(u), len(m)) for u, m in zip(units, members, strict=True)]
        new = [i for i, key in enumerate(keys) if key not in kept]
        # templates of new clusters, in threads
        medians = ordered_map(
            lambda m: fast_median(
                take_windows(snippets[m], centre, shifts[m], half + max_lag), axis=0
            ),
            [_spread_subset(members[i], MAX_MERGE_MEMBERS) for i in new],
        )
        kept.update((keys[i], t) for i, t in zip(new, medians, strict=True))
        wide = np.stack([kept[key] for key in keys]).astype(np.float32, copy=False)
        core = wide[:, max_lag : max_lag + 2 * half + 1]
        masks = template_channels(core, noise_uv)
        p2p = peak_to_peak(core)
        top = p2p.max(axis=1)
        maps = _map_correlations(p2p)
        sims, lags_ij, fracs = _lagged_similarities(wide, max_lag)
        # pairs judged before keep their judgement; the others that qualify
        # are compared (in threads: each comparison is independent)
        verdicts: dict[tuple[int, int], tuple[bool, float, int]] = {}
        jobs: list[tuple[int, int, tuple[int, int, int, int]]] = []
        pairs: list[_Pair] = []
        for i in range(k):
            for j in range(i + 1, k):
                mc = maps[i, j]
                if mc < min(cp.merge_min_map_correlation, cp.merge_map_correlation):
                    continue
                sim, lag = float(sims[i, j]), int(lags_ij[i, j])
                key = (int(units[i]), int(units[j]), len(members[i]), len(members[j]))
                if key in judged:
                    verdicts[i, j] = judged[key]
                    continue
                ratio = max(top[i], top[j]) / max(min(top[i], top[j]), 1e-12)
                alike = (
                    sim >= cp.merge_correlation
                    and mc >= cp.merge_map_correlation
                    and ratio <= cp.merge_amplitude_ratio
                )
                if alike or (
                    sim >= cp.merge_min_correlation and mc >= cp.merge_min_map_correlation
                ):
                    jobs.append((i, j, key))
                    pairs.append(
                        _Pair(
                            i,
                            j,
                            np.flatnonzero(masks[i] | masks[j]),
                            lag,
                            float(fracs[i, j]),
                            sim,
                            float(mc),
                            alike,
                            (len(members[i]), len(members[j])),
                        )
                    )
                else:
                    # a pair of unchanged clusters is judged once
                    judged[key] = verdicts[i, j] = (False, sim, lag)

        # each compared cluster's discharges are cut once a round
        compared = sorted({p.a for p in pairs} | {p.b for p in pairs})
        cut = ordered_map(
            partial(_Moments.of, snippets, centre, shifts, reach),
            [_spread_subset(members[i], MAX_MERGE_MEMBERS) for i in compared],
        )
        moments = dict(zip(compared, cut, strict=True))
        del cut
        twins = ordered_map(partial(_twins, moments, reach, half, noise_uv, cp), pairs)
        del moments
        for (i, j, key), twin in zip(jobs, twins, strict=True):
            judged[key] = verdicts[i, j] = (twin, float(sims[i, j]), int(lags_ij[i, j]))
        candidates = [
            (sim, i, j, lag) for (i, j), (twin, sim, lag) in sorted(verdicts.items()) if twin
        ]
        if not candidates:
            break
        # complete linkage: a group forms only if every pair in it may merge
        # (a cluster that absorbed one unit cannot chain on to the next)
        ok = np.zeros((k, k), dtype=bool)
        lags = np.zeros((k, k), dtype=np.int64)
        for _, i, j, lag in candidates:
            ok[i, j] = ok[j, i] = True
            lags[i, j], lags[j, i] = lag, -lag
        group = np.arange(k)
        for _, i, j, _ in sorted(candidates, key=lambda c: (-c[0], c[1], c[2])):
            gi, gj = group[i], group[j]
            if gi == gj:
                continue
            mi, mj = np.flatnonzero(group == gi), np.flatnonzero(group == gj)
            if ok[np.ix_(mi, mj)].all():
                group[group == gj] = gi
        for g in np.unique(group):
            parts = np.flatnonzero(group == g)
            if parts.size < 2:
                continue
            # the parts join the largest one, aligned on it
            big = parts[np.argmax([len(members[p]) for p in parts])]
            for p in parts[parts != big]:
                shifts[members[p]] += lags[big, p]
                labels[members[p]] = units[big]
    return labels, shifts


def overlap_similarity(
    a: np.ndarray,
    b: np.ndarray,
    max_lag: int,
    min_lag: int = 0,
    min_energy: float = 0.7,
    min_energy_other: float | None = None,
) -> tuple[float, int]:
    """Best correlation of two templates over their overlap, at a lag in ``min_lag..max_lag``.

    Only lags at which one template keeps at least ``min_energy`` of its
    energy inside the overlap, and the other at least ``min_energy_other``
    (``min_energy`` by default), are considered, so a match always covers
    the bulk of one MUAP and a sizeable part of the other, never two tails.

    Parameters
    ----------
    a, b : ndarray, shape (n_window, n_channels)
        Templates over the whole snippet.
    max_lag : int
        Largest lag (samples).
    min_lag : int
        Smallest lag (absolute value) looked at.
    min_energy : float
        Fraction of one template's energy the overlap must hold ...
    min_energy_other : float, optional
        ... and of the other's (``min_energy`` when None).

    Returns
    -------
    (similarity, lag) : tuple of float and int
        ``b[t + lag]`` matches ``a[t]`` best; similarity -1 when no lag
        qualifies.
    """
    n = a.shape[0]
    ea = np.square(a).sum(axis=1)
    eb = np.square(b).sum(axis=1)
    ta, tb = max(float(ea.sum()), 1e-12), max(float(eb.sum()), 1e-12)
    other = min_energy if min_energy_other is None else min(min_energy_other, min_energy)
    best, best_lag = -1.0, 0
    for lag in range(-max_lag, max_lag + 1):
        if abs(lag) < min_lag:
            continue
        lo, hi = max(0, -lag), min(n, n - lag)
        if hi - lo < 3:
            continue
        sa, sb = float(ea[lo:hi].sum()), float(eb[lo + lag : hi + lag].sum())
        share_a, share_b = sa / ta, sb / tb
        if max(share_a, share_b) < min_energy or min(share_a, share_b) < other:
            continue
        sim = float((a[lo:hi] * b[lo + lag : hi + lag]).sum()) / np.sqrt(sa * sb)
        if sim > best:
            best, best_lag = sim, lag
    return best, best_lag


def alias_groups(
    templates: np.ndarray,
    counts: np.ndarray,
    max_lag: int,
    min_lag: int,
    params: ClusterParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Clusters that are one unit whose discharges were timed on distant phases.

    The time of an FP is that of its largest peak; in a MUAP whose
    propagating and end-of-fibre components are of similar size, that peak
    can fall on either, several milliseconds apart, and the unit's
    discharges then form two clusters of the same waveform offset in time.
    Two clusters are aliases when, at some lag between ``min_lag`` and
    ``max_lag`` (nearer lags are judged by :func:`merge_units`) at which
    their overlap holds the bulk of one template and at least
    :data:`ALIAS_MIN_ENERGY` of the other, their templates are twins over
    that overlap (correlation at least
    ``merge_correlation``, amplitude maps at least
    ``merge_map_correlation``, sizes within ``merge_amplitude_ratio``).

    Parameters
    ----------
    templates : ndarray, shape (n_units, n_window, n_channels)
        Templates over the whole snippet.
    counts : array of int
        Discharges of each cluster (the largest of a group is its primary).
    max_lag, min_lag : int
        Offsets looked at (absolute values, samples).
    params : ClusterParams
        Twin thresholds.

    Returns
    -------
    (primary, lag) : tuple of ndarray of int, shape (n_units,)
        Index of each cluster's primary cluster (itself when not an alias)
        and the lag re-aligning it on the primary (0 for primaries).
    """
    k = len(templates)
    primary = np.arange(k)
    lags = np.zeros(k, dtype=np.int64)
    order = np.argsort(-np.asarray(counts), kind="stable")
    p2p = peak_to_peak(templates)
    top = p2p.max(axis=1)
    for pos, j in enumerate(order):
        for i in order[:pos]:
            if primary[i] != i:
                continue
            ratio = max(top[i], top[j]) / max(min(top[i], top[j]), 1e-12)
            if ratio > params.merge_amplitude_ratio:
                continue
            sim, lag = overlap_similarity(
                templates[i], templates[j], max_lag, min_lag, min_energy_other=ALIAS_MIN_ENERGY
            )
            if sim < params.merge_correlation:
                continue
            n = templates.shape[1]
            lo, hi = max(0, -lag), min(n, n - lag)
            pa = peak_to_peak(templates[i][None, lo:hi])[0]
            pb = peak_to_peak(templates[j][None, lo + lag : hi + lag])[0]
            if map_correlation(pa, pb) >= params.merge_map_correlation:
                primary[j], lags[j] = i, lag
                break
    return primary, lags


def pair_distances(
    windows: np.ndarray, noise_uv: np.ndarray, max_lag: int = 2, tolerance: float = 0.05
) -> np.ndarray:
    """Noise-normalised distances between discharges, on the channels that carry them.

    For discharges ``x`` and ``y`` (best of lags ``-max_lag..max_lag``), on
    the channels where either has a peak-to-peak of at least 5 noise σ::

        D = ‖x − y‖² / (2 E_noise + tolerance · (‖x‖² + ‖y‖²))

    where ``E_noise`` is the noise energy expected on those samples. Two
    discharges of one unit of repeating shape give D ≈ 1 at any noise level
    (the tolerance absorbs sub-sample misalignment of large MUAPs);
    discharges of two units differ by more than noise explains.

    Parameters
    ----------
    windows : ndarray, shape (n, n_window, n_channels)
        Aligned discharges.
    noise_uv : ndarray, shape (n_channels,)
        Noise σ per channel.
    max_lag : int
        Lags tried (samples).
    tolerance : float
        Fraction of the discharges' energy allowed to differ beyond noise.

    Returns
    -------
    ndarray, shape (n, n)
        Symmetric, zero on the diagonal.
    """
    x = np.asarray(windows, dtype=np.float32)
    n, n_t, _ = x.shape
    if n == 0:
        return np.zeros((0, 0))
    # the channels of a pair are those either discharge is active on:
    # m = 1 − (1 − a_i)(1 − a_j), so every sum over them is a sum over all
    # channels less one over the channels neither is active on, and each
    # is a matrix product over all pairs at once
    active = peak_to_peak(x) >= 5.0 * noise_uv[None, :]
    idle = (~active).astype(np.float64)  # (n, n_channels)
    var = np.square(np.asarray(noise_uv, dtype=np.float64))
    expected = 2.0 * n_t * (var.sum() - (idle * var[None, :]) @ idle.T)
    energy = np.einsum("ntc,ntc->nc", x, x, dtype=np.float64)  # (n, n_channels)
    total = energy.sum(axis=1)
    signal = total[:, None] + total[None, :] - (idle * energy) @ idle.T - idle @ (idle * energy).T
    denom = np.maximum(expected + tolerance * signal, 1e-12)
    out = np.full((n, n), np.inf)
    for lag in range(-max_lag, max_lag + 1):
        lo, hi = max(0, lag), min(n_t, n_t + lag)
        p = x[:, lo - lag : hi - lag].astype(np.float64)  # row discharge, shifted
        q = x[:, lo:hi].astype(np.float64)
        ep = np.einsum("ntc,ntc->nc", p, p)
        eq = np.einsum("ntc,ntc->nc", q, q)
        # Σ_c m (E_p,i + E_q,j − 2 <p_i, q_j>) over the pair's channels
        cross = p.reshape(n, -1) @ q.reshape(n, -1).T
        p_idle = (p * idle[:, None, :]).reshape(n, -1)
        q_idle = (q * idle[:, None, :]).reshape(n, -1)
        cross -= p_idle @ q_idle.T
        d = (
            ep.sum(axis=1)[:, None]
            - (idle * ep) @ idle.T
            + eq.sum(axis=1)[None, :]
            - idle @ (idle * eq).T
            - 2.0 * cross
        )
        np.minimum(out, np.maximum(d, 0.0) / denom, out=out)
    out = np.minimum(out, out.T)
    np.fill_diagonal(out, 0.0)
    return out


def small_units(
    windows: np.ndarray,
    noise_uv: np.ndarray,
    max_distance: float,
    min_size: int,
    min_snr: float = 8.0,
) -> np.ndarray:
    """Groups of a few discharges whose waveforms agree within noise.

    A unit that discharged only a handful of times is too small for density
    clustering, yet a few FPs with the same multichannel waveform (a clear,
    distinct amplitude map) are one unit. Complete-linkage clustering on
    :func:`pair_distances` keeps groups in which *every* pair agrees to
    within ``max_distance``.

    Parameters
    ----------
    windows : ndarray, shape (n, n_window, n_channels)
        Aligned discharges not (well) explained by any unit.
    noise_uv : ndarray, shape (n_channels,)
        Noise σ per channel.
    max_distance : float
        Largest pairwise distance within a group.
    min_size : int
        Fewest discharges of a group.
    min_snr : float
        A group's median template must reach this many noise σ
        (peak-to-peak) on its largest channel.

    Returns
    -------
    ndarray of int, shape (n,)
        Group of each discharge (``0..k-1``) or -1.
    """
    n = len(windows)
    labels = np.full(n, -1, dtype=np.int64)
    if n < min_size:
        return labels
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    dist = pair_distances(windows, noise_uv)
    tree = linkage(squareform(np.minimum(dist, 1e6), checks=False), method="complete")
    groups = fcluster(tree, t=max_distance, criterion="distance")
    k = 0
    for g in np.unique(groups):
        members = np.flatnonzero(groups == g)
        if members.size < min_size:
            continue
        p2p = peak_to_peak(fast_median(windows[members], axis=0)[None])[0]
        if (p2p / np.maximum(noise_uv, 1e-12)).max() < min_snr:
            continue
        labels[members] = k
        k += 1
    return labels


def _incoherence(
    snippets: np.ndarray,
    centre: int,
    shifts: np.ndarray,
    half: int,
    noise_uv: np.ndarray,
    members: np.ndarray,
) -> float:
    """Median shape variability of a cluster's discharges against its own median."""
    windows = take_windows(snippets[members], centre, shifts[members], half)
    template = fast_median(windows, axis=0)
    mask = template_channels(template[None], noise_uv)[0]
    return float(np.median(shape_variability(windows, template, mask, noise_uv)))


def regroup_incoherent(
    snippets: np.ndarray,
    centre: int,
    shifts: np.ndarray,
    peak_shifts: np.ndarray,
    labels: np.ndarray,
    half: int,
    max_lag: int,
    noise_uv: np.ndarray,
    params: ClusterParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Dissolve clusters whose discharges share no shape, and regroup their FPs.

    A cluster's *incoherence* is the median shape variability of its
    discharges (:func:`~fasciq.units.morphology.shape_variability`: the
    energy beyond noise that the cluster's own median template leaves in
    each discharge, as a fraction of the template's energy). The discharges
    of one motor unit, even an unstable one, leave little (below about
    0.1); a cluster that gathered false detections, two small units with
    alike amplitude maps, or one small unit timed on different phases
    leaves far more. Such a cluster (incoherence above
    ``params.max_incoherence``) is dissolved; its FPs are regrouped by
    :func:`small_units` (complete linkage: every pair must agree within
    noise), and the groups go through :func:`merge_units` with all other
    clusters, so parts of one unstable unit join again. FPs that join no
    group are left unlabelled (for template matching to place them, or
    not).

    Parameters
    ----------
    snippets : ndarray, shape (n_fp, n_snippet, n_channels)
        Snippets, the FP time at ``centre`` (in noise σ units when
        ``noise_uv`` is 1).
    centre : int
        Index of the FP time.
    shifts : array of int, shape (n_fp,)
        Current alignment of each FP on its cluster.
    peak_shifts : array of int, shape (n_fp,)
        Alignment of each FP on its own energy peak (used for regrouping).
    labels : array of int, shape (n_fp,)
        Cluster of each FP (-1: none).
    half : int
        Half-width of the compared windows.
    max_lag : int
        Largest lag between two clusters' alignments (:func:`merge_units`).
    noise_uv : ndarray, shape (n_channels,)
        Noise σ per channel.
    params : ClusterParams
        ``max_incoherence`` and the small-unit and merge thresholds.

    Returns
    -------
    (labels, shifts) : tuple of ndarray
        New labels and shifts.
    """
    units = np.unique(labels[labels >= 0])
    if len(units) == 0 or params.max_incoherence <= 0:
        return labels, shifts
    groups = [np.flatnonzero(labels == u) for u in units]
    groups = [m for m in groups if len(m) >= 2]
    # each cluster is judged on its own, in threads
    incoherence = ordered_map(
        partial(_incoherence, snippets, centre, shifts, half, noise_uv), groups
    )
    loose = np.zeros(len(labels), dtype=bool)
    for members, value in zip(groups, incoherence, strict=True):
        if value > params.max_incoherence:
            loose[members] = True
    if not loose.any():
        return labels, shifts
    labels, shifts = labels.copy(), np.asarray(shifts, dtype=np.int64).copy()
    idx = np.flatnonzero(loose)
    labels[idx] = -1
    groups = small_units(
        take_windows(snippets[idx], centre, peak_shifts[idx], half),
        noise_uv,
        params.small_unit_distance,
        max(params.small_unit_size, 2),
        params.small_unit_snr,
    )
    found = groups >= 0
    labels[idx[found]] = labels.max(initial=-1) + 1 + groups[found]
    shifts[idx[found]] = peak_shifts[idx[found]]
    return merge_units(snippets, centre, shifts, labels, half, max_lag, noise_uv, params)


def _split_one(
    windows: np.ndarray,
    min_cluster_size: int,
    min_fraction: float,
    seed: int,
    members: np.ndarray,
) -> tuple[np.ndarray, np.ndarray] | None:
    """Parts, and the part of each member, when a cluster falls apart on its own features."""
    from sklearn.cluster import HDBSCAN

    local = windows[members]
    space = fit_features(local, 12, 4, 3, 1.0, seed)
    feats = space.transform(local)
    size = max(min_cluster_size, int(np.ceil(min_fraction * members.size)))
    sub = HDBSCAN(min_cluster_size=size, min_samples=min_cluster_size, copy=True).fit_predict(feats)
    parts = np.unique(sub[sub >= 0])
    if parts.size < 2:
        return None
    # unclustered members go to the nearest part centre
    centres = np.stack([feats[sub == p].mean(axis=0) for p in parts])
    nearest = ((feats[:, None, :] - centres[None]) ** 2).sum(-1).argmin(axis=1)
    return parts, parts[nearest]


def split_clusters(
    windows: np.ndarray,
    labels: np.ndarray,
    min_cluster_size: int,
    min_fraction: float,
    seed: int = 0,
    depth: int = 2,
) -> np.ndarray:
    """Split clusters that fall apart when re-clustered on their own features.

    Parameters
    ----------
    windows : ndarray, shape (n_fp, n_window, n_channels)
        Aligned windows.
    labels : array of int
        Cluster labels (-1 untouched).
    min_cluster_size : int
        Smallest part.
    min_fraction : float
        Each part must hold at least this fraction of the cluster.
    seed : int
        Seed of the local PCA.
    depth : int
        Levels of recursive splitting.

    Returns
    -------
    ndarray of int
        Labels with split clusters renumbered after the existing ones.
    """
    labels = labels.copy()
    # a cluster that did not fall apart is not re-clustered at the next level
    # (the same members and seed give the same answer)
    whole: set[bytes] = set()
    for _ in range(depth):
        changed = False
        next_label = int(labels.max(initial=-1)) + 1
        groups = [np.flatnonzero(labels == u) for u in np.unique(labels[labels >= 0])]
        groups = [m for m in groups if m.size >= 2 * min_cluster_size and m.tobytes() not in whole]
        # clusters are re-clustered in threads, each on its own
        parts_of = ordered_map(
            partial(_split_one, windows, min_cluster_size, min_fraction, seed), groups
        )
        for members, assigned in zip(groups, parts_of, strict=True):
            if assigned is None:
                whole.add(members.tobytes())
                continue
            parts, assigned = assigned
            for p in parts[1:]:
                labels[members[assigned == p]] = next_label
                next_label += 1
            changed = True
        if not changed:
            break
    return labels
