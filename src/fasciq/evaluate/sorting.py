"""Sorting metrics: agreement between detected units and reference units on matched FPs."""

from __future__ import annotations

from typing import Any

import numpy as np


def sorting_metrics(detected_units: np.ndarray, truth_units: np.ndarray) -> dict[str, Any]:
    """Adjusted Rand index, per-unit F1 and unit counts over matched FPs.

    Parameters
    ----------
    detected_units, truth_units : array of int
        Unit of each matched FP in the result and in the reference; ``-1`` in
        the result means "no unit" and counts as a miss for per-unit F1.

    Returns
    -------
    dict
        ``ari``, ``n_units_found``, ``n_units_true``, ``unit_f1`` (reference
        unit → best F1 over detected units) and its median.
    """
    from sklearn.metrics import adjusted_rand_score

    det = np.asarray(detected_units, dtype=np.int64)
    tru = np.asarray(truth_units, dtype=np.int64)
    # unassigned FPs each form their own cluster so they cannot inflate agreement
    det_for_ari = det.copy()
    unassigned = det_for_ari < 0
    det_for_ari[unassigned] = det.max(initial=0) + 1 + np.arange(unassigned.sum())
    ari = float(adjusted_rand_score(tru, det_for_ari)) if len(det) > 1 else 1.0
    unit_f1: dict[str, float] = {}
    for u in np.unique(tru):
        in_u = tru == u
        best = 0.0
        for d in np.unique(det[in_u & (det >= 0)]):
            in_d = det == d
            tp = float((in_u & in_d).sum())
            best = max(best, 2 * tp / (in_u.sum() + in_d.sum()))
        unit_f1[str(int(u))] = float(best)
    return {
        "ari": ari,
        "n_units_found": len(np.unique(det[det >= 0])),
        "n_units_true": len(np.unique(tru)),
        "unit_f1": unit_f1,
        "median_unit_f1": float(np.median(list(unit_f1.values()))) if unit_f1 else None,
    }
