"""Fast exact medians along one axis of NaN-free arrays.

:func:`numpy.median` selects the two middle values with a multi-index
partition and then looks for NaN with a third index; that path is not
vectorised and costs ten times a sort of short rows. The functions here
return the very same values (the middle value, or the float mean of the two
middle values) by a sort of short lanes, or a single-index partition of
long ones, along contiguous memory. They are meant for arrays known to be
finite (filtered traces, levels in σ units).
"""

from __future__ import annotations

import numpy as np

#: Longest lane sorted whole; longer ones are partitioned at one index.
_SORT_MAX = 512


def _lanes(values: np.ndarray, axis: int) -> np.ndarray:
    """``values`` as floats with the reduced axis last (a view where possible)."""
    values = np.asarray(values)
    if not np.issubdtype(values.dtype, np.floating):
        values = values.astype(np.float64)
    return np.moveaxis(values, axis, -1)


def median(values: np.ndarray, axis: int = 0) -> np.ndarray:
    """The median along ``axis``, as :func:`numpy.median` (for arrays without NaN).

    Parameters
    ----------
    values : ndarray
        Finite values (NaN would be ordered as the largest, not propagated).
    axis : int
        Axis reduced.

    Returns
    -------
    ndarray
        The input's shape without ``axis``; float32 input gives float32.
    """
    lanes = _lanes(values, axis)
    length = lanes.shape[-1]
    if length == 0:
        return np.full(lanes.shape[:-1], np.nan, dtype=lanes.dtype)
    mid = length // 2
    if length <= _SORT_MAX:
        # sorted along the array's own axis: numpy then sorts lanes of
        # strided memory without first copying the whole array into them
        part = np.moveaxis(np.sort(np.moveaxis(lanes, -1, axis), axis=axis), axis, -1)
        below = part[..., mid - 1]
    else:
        # one partition index keeps numpy on its vectorised selection
        part = np.partition(lanes, mid, axis=-1)
        below = part[..., :mid].max(axis=-1)
    if length % 2:
        return part[..., mid].copy()
    return np.mean(np.stack([below, part[..., mid]], axis=-1), axis=-1)


def quantile(values: np.ndarray, q: float, axis: int = -1) -> np.ndarray:
    """Quantile ``q`` along ``axis``, as :func:`numpy.quantile` (linear, no NaN).

    Parameters
    ----------
    values : ndarray
        Finite values.
    q : float
        Quantile in [0, 1].
    axis : int
        Axis reduced.

    Returns
    -------
    ndarray
        The input's shape without ``axis`` (float32 input gives float32).
    """
    lanes = _lanes(values, axis)
    length = lanes.shape[-1]
    if length == 0:
        return np.full(lanes.shape[:-1], np.nan, dtype=lanes.dtype)
    virtual = float(q) * (length - 1)
    lo = int(np.floor(virtual))
    lo = min(max(lo, 0), length - 1)
    hi = min(lo + 1, length - 1)
    gamma = virtual - lo
    if length <= _SORT_MAX:
        part = np.sort(lanes, axis=-1)
    else:
        part = np.partition(lanes, lo, axis=-1)
        if hi != lo:  # the next order statistic: the least of the rest
            part[..., hi] = part[..., hi:].min(axis=-1)
    below, above = part[..., lo], part[..., hi]
    # numpy's interpolation, from whichever end is nearer
    diff = above - below
    if gamma >= 0.5:
        return above - diff * (1 - gamma)
    return below + diff * gamma


__all__ = ["median", "quantile"]
