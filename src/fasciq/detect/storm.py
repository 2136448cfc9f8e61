"""Templates of units first found in the residual of a peeled storm.

Sorting learns templates from the first pass's FPs; in a dense storm the
units whose discharges are mostly overlapped never form a clean cluster
there, so they have no template, and template peeling
(:func:`fasciq.detect.peeling.peel`) cannot separate them. Once the known
templates are peeled off a dense stretch, those units' discharges stand
out in the residual. :func:`grow_templates` then, a few rounds at most:

1. finds the events left in the residual (the first pass's detector, given
   as a callable);
2. cuts their snippets from the residual and sorts them
   (:func:`fasciq.units.sorting.sort_units`, given as a callable);
3. keeps the new units that have enough discharges, vary little in shape
   and stand well above the noise;
4. peels the stretch again with the enlarged set of templates.

It stops when a round adds no unit.

:func:`fasciq.analysis.analyze` sorts the snippets on the sorting's own
(short) window: a longer one holds more of the overlapping discharges, and
every unit would look variable. The templates are then learnt, longer, on
the stretch (:func:`fasciq.detect.peeling.learn_templates`).

The sorting may also merge two units of like shape into one template;
:func:`split_units` sorts each template's peeled discharges again and
replaces a template that holds two units by theirs.

Limits: greedy peeling fits a template into any residual that resembles
it, and the residual of a storm keeps structure from the larger units, so
every template added brings false discharges along with the true ones;
:func:`fasciq.detect.peeling.prune` drops the fits that explain little of
what lies where they sit (``PeelParams.min_share``). The functions here are
pure array functions; :func:`fasciq.analysis.analyze` supplies the detector
and the sorting.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from fasciq._logging import logger
from fasciq.detect.peeling import Peeled, PeelParams, peel

#: ``find_events(residual) -> samples`` of the events left in a residual.
FindEvents = Callable[[np.ndarray], np.ndarray]
#: ``sort(snippets, times_s) -> (templates, variability, counts)``, one row per unit.
SortSnippets = Callable[[np.ndarray, np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def _peak_snr(templates: np.ndarray, noise: np.ndarray) -> np.ndarray:
    """Largest peak-to-peak of each template over its channels, in noise σ of the channel."""
    p2p = np.ptp(templates, axis=1) / np.maximum(noise, 1e-12)[None, :]
    return p2p.max(axis=1, initial=0.0)


def accept_units(
    templates: np.ndarray,
    variability: np.ndarray,
    counts: np.ndarray,
    noise: np.ndarray,
    params: PeelParams,
) -> np.ndarray:
    """Which candidate units found in a residual become templates.

    Parameters
    ----------
    templates : ndarray, shape (n_units, n_window, n_channels)
        Candidate templates (µV).
    variability : ndarray, shape (n_units,)
        Median normalised deviation of each unit's discharges from its template.
    counts : ndarray, shape (n_units,)
        Discharges of each unit.
    noise : ndarray, shape (n_channels,)
        Noise σ (µV).
    params : PeelParams
        ``min_new_discharges``, ``max_new_variability``, ``min_new_snr``.

    Returns
    -------
    ndarray of bool, shape (n_units,)
    """
    if len(templates) == 0:
        return np.zeros(0, dtype=bool)
    return (
        (np.asarray(counts) >= params.min_new_discharges)
        & (
            np.nan_to_num(np.asarray(variability, dtype=float), nan=np.inf)
            <= params.max_new_variability
        )
        & (_peak_snr(templates, noise) >= params.min_new_snr)
    )


def weak_templates(
    templates: np.ndarray, n_known: int, noise: np.ndarray, snr: float
) -> np.ndarray:
    """Which templates found in a residual fall below ``snr`` once learnt on the stretch.

    A unit is accepted from the template averaged over its residual snippets
    (:func:`accept_units`); learnt again on the whole stretch, by least
    squares over every discharge peeled with it
    (:func:`fasciq.detect.peeling.learn_templates`), a template sorted from
    overlaps and leftovers shrinks towards the noise. The size test is made
    again on the learnt template; the known templates (the first
    ``n_known``) are always kept.

    Parameters
    ----------
    templates : ndarray, shape (n_units, n_window, n_channels)
        Learnt templates (µV): the known ones first, then the new ones.
    n_known : int
        Number of known templates.
    noise : ndarray, shape (n_channels,)
        Noise σ (µV).
    snr : float
        Smallest peak-to-peak of a new template, in noise σ of its channel
        (``PeelParams.min_new_snr``).

    Returns
    -------
    ndarray of bool, shape (n_units,)
        True for a new template below ``snr``.
    """
    weak = _peak_snr(templates, noise) < snr
    weak[: max(0, int(n_known))] = False
    return weak


def grow_templates(
    x: np.ndarray,
    noise: np.ndarray,
    templates: np.ndarray,
    params: PeelParams,
    centre: int,
    fs: float,
    find_events: FindEvents,
    sort: SortSnippets,
    found: Peeled | None = None,
) -> tuple[Peeled, np.ndarray]:
    """Peel a dense stretch, adding the templates of units found in its residual.

    Parameters
    ----------
    x : ndarray, shape (n_samples, n_channels)
        Band-passed traces (µV).
    noise : ndarray, shape (n_channels,)
        Noise σ (µV).
    templates : ndarray, shape (n_units, n_window, n_channels)
        Known templates (µV), discharge time at ``centre``.
    params : PeelParams
        Peeling settings and ``discover_rounds`` (0: peel the known
        templates only).
    centre : int
        Index of the discharge time in the template window.
    fs : float
        Sampling rate in Hz.
    find_events : callable
        ``find_events(residual)``: samples of the events in a residual.
    sort : callable
        ``sort(snippets, times_s)``: candidate templates (on the snippets'
        window), their variability and their discharge counts.
    found : Peeled, optional
        A peeling of ``x`` with ``templates`` already made (it is not made
        again).

    Returns
    -------
    Peeled
        The final peeling (units index the returned templates).
    ndarray
        The templates used: the known ones first, then the new ones.
    """
    if found is None:
        found = peel(x, noise, templates, params, centre)
    length = templates.shape[1]
    for _ in range(int(params.discover_rounds)):
        samples = np.asarray(find_events(found.residual), dtype=np.int64)
        samples = samples[(samples >= centre) & (samples + length - centre <= x.shape[0])]
        if samples.size < params.min_new_discharges:
            break
        snippets = found.residual[samples[:, None] - centre + np.arange(length)[None, :]]
        cand, variability, counts = sort(snippets.astype(np.float32), samples / fs)
        ok = accept_units(cand, variability, counts, noise, params)
        if not ok.any():
            break
        logger.debug("storm: %d new units from %d residual events", int(ok.sum()), samples.size)
        templates = np.concatenate([templates, cand[ok].astype(np.float32)])
        found = peel(x, noise, templates, params, centre)
    return found, templates


def clean_snippets(found: Peeled) -> tuple[np.ndarray, np.ndarray]:
    """Each peeled discharge on the residual with its own fitted template added back.

    Parameters
    ----------
    found : Peeled
        A peeling.

    Returns
    -------
    ndarray, shape (n, n_window, n_channels)
        Snippets (µV), on the templates' window, of the discharges that lie
        whole inside the traces.
    ndarray of int64
        Index of each snippet's discharge in ``found``.
    """
    _, n_sub, length, _ = found.fitted.shape
    start = found.sample - found.centre
    idx = np.flatnonzero((start >= 0) & (start + length <= found.residual.shape[0]))
    rows = start[idx, None] + np.arange(length)[None, :]
    sub = np.rint(found.offset[idx] * n_sub).astype(np.int64) % n_sub
    own = found.scale[idx, None, None] * found.fitted[found.unit[idx], sub]
    return (found.residual[rows] + own).astype(np.float32), idx


def split_units(
    found: Peeled,
    templates: np.ndarray,
    noise: np.ndarray,
    params: PeelParams,
    fs: float,
    sort: SortSnippets,
) -> tuple[np.ndarray, np.ndarray]:
    """Templates that hold two units, split by sorting their peeled discharges.

    In a storm, the sorting may merge two units of like shape into one
    template; peeled with it, either unit's discharges leave a large
    remainder, which further fits take for discharges. Each template's
    discharges, seen alone (:func:`clean_snippets`), are sorted again; a
    template whose discharges fall into two or more units that
    :func:`accept_units` accepts is replaced by theirs.

    Parameters
    ----------
    found : Peeled
        A peeling with ``templates``.
    templates : ndarray, shape (n_units, n_window, n_channels)
        Its templates (µV).
    noise : ndarray, shape (n_channels,)
        Noise σ (µV).
    params : PeelParams
        ``min_new_discharges``, ``max_new_variability``, ``min_new_snr``.
    fs : float
        Sampling rate in Hz.
    sort : callable
        ``sort(snippets, times_s)`` as for :func:`grow_templates`.

    Returns
    -------
    ndarray, shape (n_units', n_window, n_channels)
        The templates, a split one's first part in its place and the
        others after all the given ones.
    ndarray of int64, shape (n_units',)
        Row of the given template each comes from.
    """
    snippets, idx = clean_snippets(found)
    out = [t for t in templates]
    origin = list(range(len(templates)))
    for u in range(len(templates)):
        sel = idx[found.unit[idx] == u]
        if sel.size < 2 * params.min_new_discharges:
            continue
        rows = np.searchsorted(idx, sel)
        cand, variability, counts = sort(snippets[rows], found.sample[sel] / fs)
        ok = accept_units(cand, variability, counts, noise, params)
        if ok.sum() < 2:
            continue
        parts = cand[ok].astype(np.float32)
        logger.debug("storm: template %d split in %d", u, len(parts))
        out[u] = parts[0]
        out += list(parts[1:])
        origin += [u] * (len(parts) - 1)
    return np.stack(out).astype(np.float32), np.asarray(origin, dtype=np.int64)


__all__ = ["accept_units", "clean_snippets", "grow_templates", "split_units", "weak_templates"]
