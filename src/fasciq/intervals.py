"""Arithmetic on sets of time spans ``[(start_s, end_s), ...]`` (half-open)."""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

Spans = Iterable[tuple[float, float]]


def merge_spans(spans: Spans | np.ndarray, gap: float = 0.0) -> np.ndarray:
    """Union of spans as a sorted ``(n, 2)`` array of disjoint intervals.

    Empty, inverted and non-finite spans are dropped; spans closer than
    ``gap`` seconds are joined.
    """
    arr = np.asarray(spans if isinstance(spans, np.ndarray) else list(spans), dtype=np.float64)
    arr = arr.reshape(-1, 2)
    arr = arr[np.isfinite(arr).all(axis=1) & (arr[:, 1] > arr[:, 0])]
    if arr.size == 0:
        return np.zeros((0, 2))
    arr = arr[np.argsort(arr[:, 0], kind="stable")]
    out = [arr[0].copy()]
    for a, b in arr[1:]:
        if a <= out[-1][1] + gap:
            out[-1][1] = max(out[-1][1], b)
        else:
            out.append(np.array([a, b]))
    return np.vstack(out)


def total_length(spans: Spans) -> float:
    """Total time covered by the union of ``spans``."""
    merged = merge_spans(spans)
    return float((merged[:, 1] - merged[:, 0]).sum())


def overlap_length(a: Spans, b: Spans) -> float:
    """Time covered by both span sets."""
    ma, mb = merge_spans(a), merge_spans(b)
    total = 0.0
    j = 0
    for s, e in ma:
        while j < len(mb) and mb[j, 1] <= s:
            j += 1
        k = j
        while k < len(mb) and mb[k, 0] < e:
            total += min(e, mb[k, 1]) - max(s, mb[k, 0])
            k += 1
    return float(total)


def inside(times: np.ndarray, spans: Spans) -> np.ndarray:
    """Boolean mask: which ``times`` fall inside any span (half-open ``[start, end)``)."""
    merged = merge_spans(spans)
    t = np.asarray(times, dtype=np.float64)
    if merged.size == 0:
        return np.zeros(t.shape, dtype=bool)
    k = np.searchsorted(merged[:, 0], t, side="right") - 1
    ok = k >= 0
    result = np.zeros(t.shape, dtype=bool)
    result[ok] = t[ok] < merged[k[ok], 1]
    return result
