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

Limits: greedy peeling fits a template into any residual that resembles
it, and the residual of a storm keeps structure from the larger units
(sub-sample misalignment, template tails), so every template added brings
false discharges along with the true ones; on the simulated
succinylcholine burst two rounds raise sensitivity by 3 points and lower
precision by 2. :class:`~fasciq.detect.peeling.PeelParams` therefore
leaves discovery off (``discover_rounds=0``) unless asked. The functions here are pure array
functions; :func:`fasciq.analysis.analyze` supplies the detector and the
sorting.
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
    p2p = np.ptp(templates, axis=1) / np.maximum(noise, 1e-12)[None, :]
    return (
        (np.asarray(counts) >= params.min_new_discharges)
        & (
            np.nan_to_num(np.asarray(variability, dtype=float), nan=np.inf)
            <= params.max_new_variability
        )
        & (p2p.max(axis=1) >= params.min_new_snr)
    )


def grow_templates(
    x: np.ndarray,
    noise: np.ndarray,
    templates: np.ndarray,
    params: PeelParams,
    centre: int,
    fs: float,
    find_events: FindEvents,
    sort: SortSnippets,
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

    Returns
    -------
    Peeled
        The final peeling (units index the returned templates).
    ndarray
        The templates used: the known ones first, then the new ones.
    """
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


__all__ = ["accept_units", "grow_templates"]
