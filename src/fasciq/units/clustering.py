"""Density-based clustering of FP features, splitting of mixed clusters, merging of twins.

HDBSCAN needs no preset number of units: it keeps the groups of FPs that
stay dense over a range of scales and leaves the rest as noise (-1). A
cluster found at the global scale may still hold two units with similar
features; each cluster is therefore re-clustered on its own principal
components and split when it falls apart into parts of sizeable weight.
Clusters whose templates match after alignment and whose amplitude maps
agree are then merged (one unit whose discharges differ in detail, e.g.
an unstable reinnervated unit, is one unit).
"""

from __future__ import annotations

import numpy as np

from fasciq.units.features import fit_features, peak_to_peak


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


def template_similarity(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Largest normalised inner product of two multichannel templates over lags.

    Parameters
    ----------
    a, b : ndarray, shape (n_window, n_channels)
        Templates.
    max_lag : int
        Lags ``-max_lag..max_lag`` (samples) are tried.

    Returns
    -------
    float
        In ``[-1, 1]``; 1 for identical shapes up to a shift.
    """
    n = a.shape[0]
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        if lag >= 0:
            x, y = a[lag:], b[: n - lag]
        else:
            x, y = a[: n + lag], b[-lag:]
        den = np.sqrt(float((x * x).sum()) * float((y * y).sum()))
        if den > 0:
            best = max(best, float((x * y).sum()) / den)
    return best


def map_correlation(a: np.ndarray, b: np.ndarray) -> float:
    """Pearson correlation of two peak-to-peak maps (1 for a single channel)."""
    if a.size < 2:
        return 1.0
    sa, sb = a.std(), b.std()
    if sa == 0 or sb == 0:
        return 0.0
    return float(((a - a.mean()) * (b - b.mean())).mean() / (sa * sb))


def mergeable(
    a: np.ndarray,
    b: np.ndarray,
    max_lag: int,
    min_correlation: float,
    min_map_correlation: float,
    max_amplitude_ratio: float,
) -> bool:
    """Whether two templates are one unit (shape, amplitude map and size agree)."""
    pa, pb = peak_to_peak(a[None])[0], peak_to_peak(b[None])[0]
    ratio = max(pa.max(), pb.max()) / max(min(pa.max(), pb.max()), 1e-12)
    if ratio > max_amplitude_ratio:
        return False
    if map_correlation(pa, pb) < min_map_correlation:
        return False
    return template_similarity(a, b, max_lag) >= min_correlation


def merge_clusters(
    labels: np.ndarray,
    templates: np.ndarray,
    units: np.ndarray,
    max_lag: int,
    min_correlation: float,
    min_map_correlation: float,
    max_amplitude_ratio: float,
) -> np.ndarray:
    """Relabel so that mergeable clusters share one label.

    Pairs are merged greedily from the most similar, each merge checked
    against every member of both groups (complete linkage), so a chain of
    slightly different clusters does not collapse into one.

    Parameters
    ----------
    labels : array of int
        Cluster of each FP (-1: none).
    templates : ndarray, shape (n_units, n_window, n_channels)
        Template of each cluster in ``units``.
    units : array of int
        Cluster labels, in the order of ``templates``.
    max_lag, min_correlation, min_map_correlation, max_amplitude_ratio
        See :func:`mergeable`.

    Returns
    -------
    ndarray of int
        New labels (the smallest original label of each merged group).
    """
    k = len(units)
    if k < 2:
        return labels.copy()
    ok = np.zeros((k, k), dtype=bool)
    sim = np.full((k, k), -np.inf)
    for i in range(k):
        for j in range(i + 1, k):
            if mergeable(
                templates[i],
                templates[j],
                max_lag,
                min_correlation,
                min_map_correlation,
                max_amplitude_ratio,
            ):
                ok[i, j] = ok[j, i] = True
                sim[i, j] = sim[j, i] = template_similarity(templates[i], templates[j], max_lag)
    group = np.arange(k)
    pairs = sorted(
        ((sim[i, j], i, j) for i in range(k) for j in range(i + 1, k) if ok[i, j]),
        key=lambda p: (-p[0], p[1], p[2]),
    )
    for _, i, j in pairs:
        gi, gj = group[i], group[j]
        if gi == gj:
            continue
        mi, mj = np.flatnonzero(group == gi), np.flatnonzero(group == gj)
        if ok[np.ix_(mi, mj)].all():
            group[group == gj] = gi
    new = labels.copy()
    for i, u in enumerate(units):
        new[labels == u] = units[group == group[i]].min()
    return new


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
    for _ in range(depth):
        changed = False
        next_label = int(labels.max(initial=-1)) + 1
        for u in np.unique(labels[labels >= 0]):
            members = np.flatnonzero(labels == u)
            if members.size < 2 * min_cluster_size:
                continue
            local = windows[members]
            space = fit_features(local, 12, 4, 3, 1.0, seed)
            feats = space.transform(local)
            size = max(min_cluster_size, int(np.ceil(min_fraction * members.size)))
            from sklearn.cluster import HDBSCAN

            sub = HDBSCAN(
                min_cluster_size=size, min_samples=min_cluster_size, copy=True
            ).fit_predict(feats)
            parts = np.unique(sub[sub >= 0])
            if parts.size < 2:
                continue
            # unclustered members go to the nearest part centre
            centres = np.stack([feats[sub == p].mean(axis=0) for p in parts])
            nearest = ((feats[:, None, :] - centres[None]) ** 2).sum(-1).argmin(axis=1)
            assigned = parts[nearest]
            for p in parts[1:]:
                labels[members[assigned == p]] = next_label
                next_label += 1
            changed = True
        if not changed:
            break
    return labels
