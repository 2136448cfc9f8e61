"""One-to-one matching of event times within a tolerance window."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fasciq.validate import check_positive


@dataclass(frozen=True)
class Matching:
    """Result of :func:`match_events`.

    Attributes
    ----------
    detected_index, truth_index : ndarray of int
        Matched pairs (indices into the inputs), ordered by truth time.
    delta_s : ndarray of float
        ``detected - truth`` time of each pair.
    n_detected, n_truth : int
        Sizes of the two inputs.
    """

    detected_index: np.ndarray
    truth_index: np.ndarray
    delta_s: np.ndarray
    n_detected: int
    n_truth: int

    @property
    def true_positives(self) -> int:
        """Number of matched pairs."""
        return len(self.truth_index)

    @property
    def false_positives(self) -> int:
        """Detections without a truth partner."""
        return self.n_detected - self.true_positives

    @property
    def false_negatives(self) -> int:
        """Truth events without a detection."""
        return self.n_truth - self.true_positives

    @property
    def unmatched_detected(self) -> np.ndarray:
        """Indices of detections without a partner."""
        mask = np.ones(self.n_detected, dtype=bool)
        mask[self.detected_index] = False
        return np.flatnonzero(mask)

    @property
    def unmatched_truth(self) -> np.ndarray:
        """Indices of truth events without a partner."""
        mask = np.ones(self.n_truth, dtype=bool)
        mask[self.truth_index] = False
        return np.flatnonzero(mask)


def match_events(
    detected_s: np.ndarray, truth_s: np.ndarray, tolerance_s: float = 0.010
) -> Matching:
    """Pair detections with truth events closer than ``tolerance_s``, one to one.

    Candidate pairs (``|detected - truth| <= tolerance_s``) are accepted in
    order of increasing distance, each event used at most once. On a line this
    greedy choice is optimal for the common case of well-separated events and
    never pairs events further apart than the tolerance.

    Parameters
    ----------
    detected_s, truth_s : array of float
        Event times in seconds (any order).
    tolerance_s : float
        Largest accepted time difference (inclusive).

    Returns
    -------
    Matching
    """
    tol = check_positive(tolerance_s, "tolerance_s")
    det = np.asarray(detected_s, dtype=np.float64).reshape(-1)
    tru = np.asarray(truth_s, dtype=np.float64).reshape(-1)
    empty = np.zeros(0, dtype=np.int64)
    if det.size == 0 or tru.size == 0:
        return Matching(empty, empty, np.zeros(0), det.size, tru.size)
    order = np.argsort(tru, kind="stable")
    tru_sorted = tru[order]
    lo = np.searchsorted(tru_sorted, det - tol, side="left")
    hi = np.searchsorted(tru_sorted, det + tol, side="right")
    counts = hi - lo
    det_idx = np.repeat(np.arange(det.size), counts)
    offsets = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    tru_pos = np.repeat(lo, counts) + offsets
    dist = np.abs(det[det_idx] - tru_sorted[tru_pos])
    rank = np.lexsort((tru_pos, det_idx, dist))
    used_det = np.zeros(det.size, dtype=bool)
    used_tru = np.zeros(tru.size, dtype=bool)
    pairs_d, pairs_t = [], []
    for k in rank:
        d, t = det_idx[k], tru_pos[k]
        if not used_det[d] and not used_tru[t]:
            used_det[d] = used_tru[t] = True
            pairs_d.append(d)
            pairs_t.append(order[t])
    pd_ = np.asarray(pairs_d, dtype=np.int64)
    pt = np.asarray(pairs_t, dtype=np.int64)
    sort = np.argsort(tru[pt], kind="stable")
    pd_, pt = pd_[sort], pt[sort]
    return Matching(pd_, pt, det[pd_] - tru[pt], det.size, tru.size)
