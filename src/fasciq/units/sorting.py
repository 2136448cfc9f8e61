"""Sorting FPs into putative motor units: :func:`sort_units` and :class:`SortingResult`.

Steps (each a pure function of the previous one's arrays)::

    whiten by the channel noise (every threshold then reads in noise σ)
      -> align on the multichannel energy peak
      -> features: PCA of the concatenated waveforms of the most variable
         channels + PCA of the peak-to-peak maps over the grid
      -> HDBSCAN (no preset number of units) -> split mixed clusters
      -> merge clusters that are one unit: twins (aligned shape, amplitude
         map, size) or not separable beyond noise (d′), re-aligning them
         by up to ``max_lag_ms``
      -> template matching of every FP (re-alignment on the template)
         -> merge again -> second pass: small units (≥ 3 FPs) among the
         FPs no unit explains -> dissolve overlap clusters -> dissolve
         incoherent clusters (no shared shape) and regroup their FPs
         -> drop small units whose FPs the large units already explain
      -> final matching (two-unit fit for overlapping discharges)
      -> join aliases (one unit timed on distant phases) -> drop units
         of fewer than ``small_unit_size`` FPs
      -> per unit: rate (exact Poisson CI), intervals, morphology, shape
         stability, innervation zone and conduction velocity, patterns

:func:`sort_units` takes snippets already cut and band-passed (for example
inside an analysis's chunk pass with
:func:`~fasciq.units.snippets.snippets_from_chunk`);
:func:`sort_recording` cuts them from a recording first.

The result is deterministic for the same input and seed.

Memory is bounded by :attr:`~fasciq.units.params.SortingParams.memory_mb`:
snippets are noise-whitened where they are held (an array that a caller
passes is copied once, never changed) and template matching runs block by
block. Up to the budget every FP is held and sorted at once. Beyond it
(long or dense recordings) units are found on FPs spread evenly over the
recording that fit the budget; every FP is then matched block by block,
read from a :class:`~fasciq.units.snippets.SnippetSource` (e.g. the file an
analysis writes during its chunk pass) or from the caller's array; the FPs
that no unit explains are clustered again, and the units found among them
kept where they are not one with a unit found already; each unit is described
from at most :data:`MAX_DESCRIBED` of its discharges, in runs of
consecutive discharges spread over the recording.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from fasciq._logging import logger
from fasciq.detect.rates import poisson_ci
from fasciq.errors import DataError
from fasciq.grids.grid import Grid
from fasciq.recording import Recording
from fasciq.signal.robust import median as fast_median
from fasciq.units.clustering import (
    MAX_MERGE_MEMBERS,
    alias_groups,
    density_clusters,
    merge_units,
    regroup_incoherent,
    small_units,
    split_clusters,
)
from fasciq.units.features import energy_peak_shifts, fit_features, take_windows
from fasciq.units.morphology import jiggle, template_morphology, unit_shape_variability
from fasciq.units.parallel import in_background, ordered_map, sorting_threads
from fasciq.units.params import ClusterParams, PatternParams, SnippetParams, SortingParams
from fasciq.units.patterns import LockedPair, time_locked_pairs, train_pattern
from fasciq.units.propagation import estimate_propagation
from fasciq.units.snippets import (
    SnippetSource,
    estimate_noise,
    extract_snippets,
    snippet_filter,
    window_samples,
)
from fasciq.units.templates import (
    Matches,
    composite_templates,
    match_templates,
    noise_from_edges,
    redundant_templates,
    template_channels,
    template_members,
)

#: Columns of ``units.csv``, in order.
UNIT_COLUMNS = (
    "unit",
    "n_fp",
    "rate_per_min",
    "rate_ci_low",
    "rate_ci_high",
    "median_isi_s",
    "isi_cov",
    "amplitude_uv",
    "duration_ms",
    "phases",
    "turns",
    "polyphasic",
    "iz_mm",
    "cv_m_s",
    "stability",
    "stable",
    "doublets",
    "isolated",
    "continual",
    "quality",
    "peak_channel",
    "isolation",
    "fit_fraction",
    "jiggle",
    "first_s",
    "last_s",
)

#: Discharges kept per unit as examples in ``templates.npz``.
N_EXAMPLES = 5

#: An FP is poorly fit when its residual exceeds this many times its unit's median.
POOR_FIT = 3.0

#: Most FPs looked at by the second pass (pairwise distances grow as its square).
MAX_SECOND_PASS = 400

#: Beyond the memory budget, each unit is described (template, stability,
#: jiggle, propagation) from at most this many of its discharges, taken in
#: runs of consecutive discharges spread over the recording.
MAX_DESCRIBED = 1000

#: Beyond the memory budget, an FP fits its unit poorly (and is sorted again
#: with the unassigned ones) when its normalised residual exceeds
#: :data:`POOR_FIT` times the larger of its unit's median and this.
POOR_FLOOR = 0.02

#: Runs of consecutive discharges a bounded description is taken from.
DESCRIBED_RUNS = 10

#: Bytes of snippets matched against the templates at once.
MATCH_BLOCK_BYTES = 32 * 2**20

#: FPs held for finding units whatever the memory budget.
MIN_HELD = 200


@dataclass
class SortingResult:
    """Putative motor units of a set of FPs.

    Parameters
    ----------
    labels : ndarray of int, shape (n_fp,)
        Unit of each FP (in the input order), -1 when no template explains it.
    units : DataFrame
        One row per unit (columns :data:`UNIT_COLUMNS`).
    templates : dict
        Unit → template, ``(n_window, n_channels)`` µV.
    examples : dict
        Unit → up to five aligned discharges, ``(k, n_window, n_channels)``.
    patterns : dict
        Totals of the discharge patterns and the time-locked pairs.
    fs : float
        Sampling rate in Hz.
    analysed_s : float
        Time the rates refer to.
    params : SortingParams
        Parameters used.
    shifts : ndarray of int
        Alignment of each FP on its template (samples).
    residual : ndarray of float
        Normalised residual of each FP against its best template.
    elapsed_s : float
        Time the sorting took.
    seed : int
        Seed of the randomized steps (and of the surrogate test of the
        time-locked pairs).

    Notes
    -----
    After :func:`update_unit_statistics` (an analysis that peels dense
    stretches calls it), ``labels`` follow the final FP table, and the
    discharge figures of ``units`` and ``patterns`` describe it, while
    ``shifts`` and ``residual`` still describe the FPs that were sorted.
    """

    labels: np.ndarray
    units: pd.DataFrame
    templates: dict[int, np.ndarray]
    examples: dict[int, np.ndarray]
    patterns: dict[str, Any]
    fs: float
    analysed_s: float
    params: SortingParams = field(default_factory=SortingParams)
    shifts: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    residual: np.ndarray = field(default_factory=lambda: np.zeros(0))
    elapsed_s: float = 0.0
    seed: int = 0

    @property
    def n_units(self) -> int:
        """Number of putative units."""
        return len(self.units)

    def to_summary(self) -> dict[str, Any]:
        """JSON-ready fields for ``summary.json``."""
        n = len(self.labels)
        sorted_n = int((self.labels >= 0).sum())
        records = []
        for row in self.units.to_dict(orient="records"):
            records.append({k: _plain(v) for k, v in row.items()})
        return {
            "n_units": self.n_units,
            "n_fp_sorted": sorted_n,
            "n_fp_unsorted": n - sorted_n,
            "fraction_sorted": (sorted_n / n) if n else None,
            "n_unstable_units": int((~self.units["stable"].astype(bool)).sum())
            if self.n_units
            else 0,
            "n_polyphasic_units": int(self.units["polyphasic"].astype(bool).sum())
            if self.n_units
            else 0,
            "patterns": {k: _plain(v) for k, v in self.patterns.items()},
            "units": records,
            "sorting_s": self.elapsed_s,
            "sorting_parameters": self.params.to_dict(),
        }

    def __repr__(self) -> str:
        return (
            f"SortingResult({self.n_units} units, {int((self.labels >= 0).sum())}/"
            f"{len(self.labels)} FPs sorted)"
        )


def _plain(v: Any) -> Any:
    """Numpy scalars and containers to plain JSON types (NaN to None)."""
    if isinstance(v, dict):
        return {str(k): _plain(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_plain(x) for x in v]
    if isinstance(v, np.generic):
        v = v.item()
    if isinstance(v, float) and not np.isfinite(v):
        return None
    return v


def _check_inputs(
    snippets: np.ndarray | SnippetSource, times: np.ndarray, grid: Grid | None
) -> None:
    shape = tuple(snippets.shape)
    if len(shape) != 3:
        raise DataError(
            f"snippets must be 3-D (FPs x samples x channels), got shape {shape}",
            fix="cut snippets with fasciq.units.extract_snippets",
            source="snippets",
        )
    if len(times) != shape[0]:
        raise DataError(
            f"{len(times)} FP times for {shape[0]} snippets",
            fix="give one time per snippet",
            source="times_s",
        )
    if isinstance(snippets, np.ndarray):
        _check_finite(snippets)
    if grid is not None:
        grid.check_channel_count(shape[2], "snippets")


def _check_finite(snippets: np.ndarray) -> None:
    # a float64 sum of float32 values cannot overflow: it is finite exactly
    # when every value is, and needs no mask the size of the snippets
    if not np.isfinite(np.sum(snippets, dtype=np.float64)):
        raise DataError(
            "snippets contain NaN or infinite values",
            fix="cut snippets from a recording without NaN (fasciq info shows bad channels)",
            source="snippets",
        )


def _read(source: np.ndarray | SnippetSource, index: np.ndarray) -> np.ndarray:
    """Snippets ``index`` of an array or a source, as a new float32 array (µV)."""
    index = np.asarray(index, dtype=np.int64)
    if isinstance(source, np.ndarray):
        return source[index]
    out = np.asarray(source.take(index), dtype=np.float32)
    if out.shape != (len(index), *tuple(source.shape)[1:]):
        raise DataError(
            f"the snippet source returned shape {out.shape} for {len(index)} snippets",
            fix="make take(index) return (len(index), n_window, n_channels) float32 snippets",
            source="snippets",
        )
    _check_finite(out)
    return out


def _spread(times: np.ndarray, k: int) -> np.ndarray:
    """Sorted positions of ``k`` items spread evenly in time (all when there are fewer)."""
    n = len(times)
    if k >= n:
        return np.arange(n)
    order = np.argsort(times, kind="stable")
    return np.sort(order[np.unique(np.linspace(0, n - 1, k).astype(np.int64))])


def _runs(n: int, k: int, n_runs: int = DESCRIBED_RUNS) -> np.ndarray:
    """Positions of ``k`` of ``n`` items in ``n_runs`` runs of consecutive items spread evenly."""
    if k >= n:
        return np.arange(n)
    length = -(-k // n_runs)
    starts = np.linspace(0, n - length, n_runs).astype(np.int64)
    return np.unique((starts[:, None] + np.arange(length)[None, :]).ravel())[:k]


def _templates(
    white: np.ndarray,
    centre: int,
    shifts: np.ndarray,
    half: int,
    labels: np.ndarray,
    units: np.ndarray,
) -> np.ndarray:
    """Median template of each unit, cutting windows of its template members only.

    The same as :func:`~fasciq.units.templates.unit_templates` on the
    windows of every FP, without holding those windows.
    """
    out = np.zeros((len(units), 2 * half + 1, white.shape[2]), dtype=np.float32)

    def median(members: np.ndarray) -> np.ndarray | None:
        if not members.size:
            return None
        return fast_median(take_windows(white[members], centre, shifts[members], half), axis=0)

    # one unit's median in each thread
    for i, t in enumerate(ordered_map(median, [template_members(labels, u) for u in units])):
        if t is not None:
            out[i] = t
    return out


def _slicer(x: np.ndarray) -> Callable[[int, int], np.ndarray]:
    """``load(a, b)`` giving rows ``a..b-1`` of ``x`` (a view)."""

    def load(a: int, b: int) -> np.ndarray:
        return x[a:b]

    return load


def _match(
    load: Callable[[int, int], np.ndarray],
    n: int,
    block: int,
    centre: int,
    templates: np.ndarray,
    masks: np.ndarray,
    max_lag: int,
    cp: ClusterParams,
    overlap: bool,
    noise_w: np.ndarray,
) -> Matches:
    """:func:`match_templates` block by block (``load(a, b)`` gives FPs ``a..b-1``).

    Every FP is matched on its own, so the result equals one call on all FPs
    (whatever the block length and the number of threads).
    """

    def match(x: np.ndarray) -> Matches:
        return match_templates(
            x,
            centre,
            templates,
            masks,
            max_lag,
            cp.match_threshold,
            overlap=overlap,
            noise_uv=noise_w,
        )

    # blocks are read in this thread (a file is not shared) and matched in threads
    parts = ordered_map(match, range(0, n, block), prepare=lambda a: load(a, min(n, a + block)))
    if not parts:
        parts = [match_templates(load(0, 0), centre, templates, masks, max_lag, 1.0)]
    return Matches(*(np.concatenate([getattr(p, f.name) for p in parts]) for f in fields(Matches)))


def _empty_units() -> pd.DataFrame:
    return pd.DataFrame({c: pd.Series(dtype=float) for c in UNIT_COLUMNS})


def _cluster(
    snippets: np.ndarray,
    centre: int,
    shifts: np.ndarray,
    half: int,
    max_lag: int,
    noise: np.ndarray,
    params: SortingParams,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Cluster labels and alignment of snippets (features, HDBSCAN, split, merge)."""
    cp = params.cluster
    windows = take_windows(snippets, centre, shifts, half)
    space = fit_features(
        windows,
        cp.n_feature_channels,
        cp.n_wave_components,
        cp.n_map_components,
        cp.map_weight,
        seed,
    )
    labels = density_clusters(space.transform(windows), cp.min_cluster_size)
    labels = split_clusters(windows, labels, cp.min_cluster_size, cp.split_min_fraction, seed)
    # the merge cuts its own windows: these are let go first
    del windows, space
    return merge_units(snippets, centre, shifts, labels, half, max_lag, noise, cp)


def _second_pass(
    snippets: np.ndarray,
    centre: int,
    shifts: np.ndarray,
    peak_shifts: np.ndarray,
    labels: np.ndarray,
    templates: np.ndarray,
    unit_ids: np.ndarray,
    half: int,
    max_lag: int,
    noise: np.ndarray,
    cp: ClusterParams,
) -> tuple[np.ndarray, np.ndarray]:
    """Form small units from FPs that no unit explains well (:func:`small_units`).

    Candidates are the FPs of no unit and those whose residual against
    their unit's template exceeds :data:`POOR_FIT` times the unit's median
    (in noise energies): the discharges of a unit too small for density
    clustering are otherwise absorbed by a neighbour. New groups go
    through :func:`merge_units` with the others, so a group that is a
    variant of an existing unit joins it.
    """
    labels = np.where(np.isin(labels, unit_ids), labels, -1)
    masks = template_channels(templates, noise)
    candidate = labels < 0
    n_t = 2 * half + 1

    def poor(i: int) -> np.ndarray:
        # members whose residual against their unit's template is unusually large
        members = np.flatnonzero(labels == unit_ids[i])
        m = masks[i]
        expected = n_t * float(np.square(noise[m]).sum())
        windows = take_windows(snippets[members], centre, shifts[members], half)
        excess = np.square(windows[:, :, m] - templates[i][None, :, m]).sum(axis=(1, 2))
        excess /= max(expected, 1e-12)
        return members[excess > POOR_FIT * max(float(np.median(excess)), 1.0)]

    for members in ordered_map(poor, range(len(unit_ids))):
        candidate[members] = True
    idx = np.flatnonzero(candidate)
    if len(idx) > MAX_SECOND_PASS:
        windows = take_windows(snippets[idx], centre, shifts[idx], half)
        energy = np.square(windows).sum(axis=(1, 2))
        idx = np.sort(idx[np.argsort(-energy, kind="stable")[:MAX_SECOND_PASS]])
    groups = small_units(
        take_windows(snippets[idx], centre, peak_shifts[idx], half),
        noise,
        cp.small_unit_distance,
        cp.small_unit_size,
        cp.small_unit_snr,
    )
    if not (groups >= 0).any():
        return labels, shifts
    logger.debug("second pass: %d small groups among %d FPs", groups.max() + 1, len(idx))
    labels, shifts = labels.copy(), shifts.copy()
    found = groups >= 0
    labels[idx[found]] = labels.max(initial=-1) + 1 + groups[found]
    shifts[idx[found]] = peak_shifts[idx[found]]
    return merge_units(snippets, centre, shifts, labels, half, max_lag, noise, cp)


def _alias_map(
    snippets: np.ndarray,
    centre: int,
    shifts: np.ndarray,
    labels: np.ndarray,
    max_lag: int,
    cp: ClusterParams,
) -> list[tuple[int, int, int]]:
    """Units that are one unit timed on distant phases (:func:`alias_groups`).

    Returns ``(unit, primary unit, lag)`` for each alias, in the order they
    are folded (:func:`_join_aliases`).
    """
    units = np.unique(labels[labels >= 0])
    far = min(centre, snippets.shape[1] - 1 - centre)
    if len(units) < 2 or far <= max_lag:
        return []
    templates = _templates(snippets, centre, shifts, far, labels, units)
    counts = np.array([(labels == u).sum() for u in units])
    primary, lags = alias_groups(templates, counts, far, max_lag + 1, cp)
    out = []
    for j in np.flatnonzero(primary != np.arange(len(units))):
        logger.debug("unit %d joins unit %d (timed %+d samples apart)", j, primary[j], lags[j])
        out.append((int(units[j]), int(units[primary[j]]), int(lags[j])))
    return out


def _join_aliases(
    aliases: list[tuple[int, int, int]],
    labels: np.ndarray,
    best: np.ndarray,
    shifts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Fold each alias (:func:`_alias_map`) into its primary unit.

    Returns labels, best-template labels and shifts, and a mask of the FPs
    whose window is aligned on their unit's template (False for the FPs of
    an alias, whose shift may reach past the snippet).
    """
    aligned = np.ones(len(labels), dtype=bool)
    if not aliases:
        return labels, best, shifts, aligned
    labels, best, shifts = labels.copy(), best.copy(), shifts.copy()
    for unit, primary, lag in aliases:
        members = labels == unit
        shifts[members] += lag
        aligned[members] = False
        labels[members] = primary
        best[best == unit] = primary
    return labels, best, shifts, aligned


def _drop_small(labels: np.ndarray, cp: ClusterParams) -> np.ndarray:
    """Labels with units of too few discharges (one or two FPs are not a unit) set to -1."""
    ids, counts = np.unique(labels[labels >= 0], return_counts=True)
    return np.where(np.isin(labels, ids[counts < max(2, cp.small_unit_size)]), -1, labels)


@dataclass
class _Labels:
    """Per-FP outcome of sorting (before units are renumbered and described)."""

    labels: np.ndarray
    best: np.ndarray
    shifts: np.ndarray
    residual: np.ndarray
    isolation: np.ndarray
    aligned: np.ndarray
    noise: np.ndarray

    @classmethod
    def empty(cls, n: int, noise: np.ndarray) -> _Labels:
        return cls(
            np.full(n, -1, dtype=np.int64),
            np.full(n, -1, dtype=np.int64),
            np.zeros(n, dtype=np.int64),
            np.ones(n),
            np.zeros(n),
            np.ones(n, dtype=bool),
            noise,
        )


@dataclass(frozen=True)
class _Windows:
    """Sample geometry of the sorting windows (all in samples)."""

    centre: int
    max_shift: int
    half: int
    max_lag: int
    block: int


def _find_units(
    white: np.ndarray,
    peak_shifts: np.ndarray,
    geo: _Windows,
    noise_w: np.ndarray,
    params: SortingParams,
    seed: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Units among held, whitened snippets and their templates for the final matching.

    Clusters (on at most ``max_fit`` FPs), matches every held FP, merges
    again, adds small units among the FPs no unit explains, dissolves
    overlap clusters and incoherent clusters (regrouping their FPs), and
    drops small units whose FPs the large units explain.

    Returns
    -------
    (unit_ids, templates) : tuple of ndarray
        Unit labels and their whitened templates, ``(n_units, 2 * half + 1,
        n_channels)``.
    """
    cp = params.cluster
    centre, half, max_lag = geo.centre, geo.half, geo.max_lag
    n = len(white)
    fit = np.arange(n)
    if n > cp.max_fit:
        fit = np.unique(np.linspace(0, n - 1, cp.max_fit).astype(np.int64))
    fitted = white if len(fit) == n else white[fit]
    fit_labels, fit_shifts = _cluster(
        fitted, centre, peak_shifts[fit], half, max_lag, noise_w, params, seed
    )
    unit_ids = np.unique(fit_labels[fit_labels >= 0])
    templates = _templates(fitted, centre, fit_shifts, half, fit_labels, unit_ids)
    del fitted
    if len(unit_ids) == 0:
        return unit_ids, templates
    masks = template_channels(templates, noise_w)
    m = _match(_slicer(white), n, geo.block, centre, templates, masks, max_lag, cp, False, noise_w)
    labels = np.where(m.unit >= 0, unit_ids[np.maximum(m.unit, 0)], -1)
    shifts = m.shift
    # rebuild templates on every FP at its matched shift, then merge again
    counts = np.array([(labels == u).sum() for u in unit_ids])
    small = unit_ids[counts < max(2, cp.min_cluster_size // 2)]
    labels[np.isin(labels, small)] = -1
    labels, shifts = merge_units(white, centre, shifts, labels, half, max_lag, noise_w, cp)
    unit_ids = np.unique(labels[labels >= 0])
    templates = _templates(white, centre, shifts, half, labels, unit_ids)
    if cp.small_unit_size:
        labels, shifts = _second_pass(
            white,
            centre,
            shifts,
            peak_shifts,
            labels,
            templates,
            unit_ids,
            half,
            max_lag,
            noise_w,
            cp,
        )
        unit_ids = np.unique(labels[labels >= 0])
        templates = _templates(white, centre, shifts, half, labels, unit_ids)
    counts = np.array([(labels == u).sum() for u in unit_ids])
    composite = composite_templates(templates, counts, geo.max_shift)
    if composite.any():
        logger.debug("dissolved %d overlap clusters", int(composite.sum()))
        labels[np.isin(labels, unit_ids[composite])] = -1
        unit_ids, templates = unit_ids[~composite], templates[~composite]
    if cp.max_incoherence > 0:
        labels, shifts = regroup_incoherent(
            white, centre, shifts, peak_shifts, labels, half, max_lag, noise_w, cp
        )
        unit_ids = np.unique(labels[labels >= 0])
        templates = _templates(white, centre, shifts, half, labels, unit_ids)
    redundant = np.zeros(len(unit_ids), dtype=bool)
    if cp.redundant_fraction > 0:
        index = np.where(np.isin(labels, unit_ids), np.searchsorted(unit_ids, labels), -1)
        redundant = redundant_templates(
            white,
            centre,
            templates,
            index,
            max_lag,
            cp.match_threshold,
            noise_w,
            max_fraction=cp.redundant_fraction,
            min_gain=cp.redundant_gain,
        )
    if redundant.any():
        logger.debug("dropped %d redundant small units", int(redundant.sum()))
        unit_ids, templates = unit_ids[~redundant], templates[~redundant]
    return unit_ids, templates


def _assign(
    source: np.ndarray | SnippetSource,
    times: np.ndarray,
    held: np.ndarray | None,
    noise_uv: np.ndarray | None,
    fs: float,
    geo: _Windows,
    params: SortingParams,
    seed: int,
) -> _Labels:
    """Find the units and assign every FP (``held``: the FPs units are found on, or all)."""
    cp = params.cluster
    n = len(times)
    raw = source if held is None and isinstance(source, np.ndarray) else None
    if raw is None:
        raw = _read(source, np.arange(n) if held is None else held)
    if noise_uv is None:
        noise = noise_from_edges(raw, round(0.003 * fs))
    else:
        noise = np.asarray(noise_uv, dtype=np.float64).reshape(-1)
    out = _Labels.empty(n, noise)
    if n < 2:
        return out
    # sort in noise-whitened units: a noisy channel weighs as little as its
    # noise warrants, and every threshold reads in noise σ; snippets read
    # here are whitened in place (a caller's array is copied, never changed)
    scale = np.maximum(noise, max(0.25 * float(np.median(noise)), 1e-6)).astype(np.float32)
    white = raw / scale if raw is source else np.divide(raw, scale, out=raw)
    del raw
    noise_w = (noise / scale).astype(np.float64)

    def read_white(index: np.ndarray) -> np.ndarray:
        x = _read(source, index)
        return np.divide(x, scale, out=x)

    peak_shifts = energy_peak_shifts(white, geo.centre, geo.max_shift)
    unit_ids, templates = _find_units(white, peak_shifts, geo, noise_w, params, seed)
    if len(unit_ids) == 0:
        return out
    masks = template_channels(templates, noise_w)
    if held is None:
        load = _slicer(white)
    else:

        def load(a: int, b: int) -> np.ndarray:
            return read_white(np.arange(a, b))

    m = _match(
        load, n, geo.block, geo.centre, templates, masks, geo.max_lag, cp, cp.overlap, noise_w
    )
    labels = np.where(m.unit >= 0, unit_ids[np.maximum(m.unit, 0)], -1)
    best = np.where(m.best >= 0, unit_ids[np.maximum(m.best, 0)], -1)
    # units timed on two phases are judged on the held FPs
    on = np.arange(n) if held is None else held
    aliases = _alias_map(white, geo.centre, m.shift[on], labels[on], geo.max_lag, cp)
    del white, load
    labels, best, shifts, aligned = _join_aliases(aliases, labels, best, m.shift)
    out = _Labels(_drop_small(labels, cp), best, shifts, m.residual, m.isolation, aligned, noise)
    if held is not None:
        _sort_leftovers(out, read_white, times, len(held), geo, noise_w, params, seed)
    return out


def _sort_leftovers(
    out: _Labels,
    read_white: Callable[[np.ndarray], np.ndarray],
    times: np.ndarray,
    n_held: int,
    geo: _Windows,
    noise_w: np.ndarray,
    params: SortingParams,
    seed: int,
) -> None:
    """Units among the FPs that the units found on the held FPs explain poorly (in place).

    Beyond the memory budget, units are found on a subset of the FPs; a
    unit that discharged only a few times, or only late in the recording,
    may have too few FPs there, and its FPs are left unassigned or absorbed
    by a unit of alike shape. The FPs left unassigned and those whose
    residual exceeds :data:`POOR_FIT` times their unit's median (up to the
    budget, spread in time) are sorted again; the units found are matched
    with all of them (an assigned FP moves when the new unit fits it
    better); a unit that :func:`merge_units` judges one with a unit found
    already is dropped (that unit's template explains its FPs poorly, as
    when all FPs are held), and its FPs stay as they were.
    """
    cp = params.cluster
    poor = out.labels < 0
    for u in np.unique(out.labels[out.labels >= 0]):
        members = np.flatnonzero(out.labels == u)
        r = out.residual[members]
        poor[members[r > POOR_FIT * max(float(np.median(r)), POOR_FLOOR)]] = True
    left = np.flatnonzero(poor)
    if len(left) < max(2, min(cp.min_cluster_size, max(cp.small_unit_size, 2))):
        return
    held = left[_spread(times[left], n_held)]
    white = read_white(held)
    peak = energy_peak_shifts(white, geo.centre, geo.max_shift)
    found, templates = _find_units(white, peak, geo, noise_w, params, seed)
    del white
    if len(found) == 0:
        return
    masks = template_channels(templates, noise_w)
    m = _match(
        lambda a, b: read_white(left[a:b]),
        len(left),
        geo.block,
        geo.centre,
        templates,
        masks,
        geo.max_lag,
        cp,
        cp.overlap,
        noise_w,
    )
    base = int(out.labels.max(initial=-1)) + 1
    better = (out.labels[left] < 0) | (m.residual < out.residual[left])
    proposed = _drop_small(np.where((m.unit >= 0) & better, base + m.unit, -1), cp)
    new_ids = np.unique(proposed[proposed >= 0])
    if len(new_ids) == 0:
        return
    old_ids = np.unique(out.labels[out.labels >= 0])
    per = max(4, min(MAX_MERGE_MEMBERS, n_held // (len(old_ids) + len(new_ids))))
    rows, group, shift = [], [], []
    for u in old_ids:
        members = np.flatnonzero((out.labels == u) & out.aligned)
        members = members[_spread(times[members], per)]
        rows.append(members)
        group.append(np.full(len(members), u))
        shift.append(out.shifts[members])
    for v in new_ids:
        pos = np.flatnonzero(proposed == v)
        pos = pos[_spread(times[left[pos]], per)]
        rows.append(left[pos])
        group.append(np.full(len(pos), v))
        shift.append(m.shift[pos])
    index = np.concatenate(rows)
    was = np.concatenate(group).astype(np.int64)
    before = np.concatenate(shift).astype(np.int64)
    merged, after = merge_units(
        read_white(index), geo.centre, before, was, geo.half, geo.max_lag, noise_w, cp
    )
    moved = after - before
    target = {}
    for v in new_ids:
        mine = was == v
        values, counts = np.unique(merged[mine], return_counts=True)
        joined = np.unique(was[merged == values[counts.argmax()]])
        old = joined[joined < base]
        if len(old):
            # one unit with a unit found already, whose template explains
            # these FPs poorly or not at all: they stay as they were
            logger.debug("unit found among unassigned FPs is unit %d: left alone", int(old[0]))
            continue
        to = int(joined.min())
        lag = int(np.median(moved[mine])) - int(np.median(moved[was == to])) if to != v else 0
        target[int(v)] = (to, lag)
    accepted = np.flatnonzero(np.isin(proposed, list(target)))
    if len(accepted) == 0:
        return
    to_id = np.array([target[int(v)][0] for v in proposed[accepted]], dtype=np.int64)
    lags = np.array([target[int(v)][1] for v in proposed[accepted]], dtype=np.int64)
    rows_all = left[accepted]
    out.labels[rows_all] = to_id
    out.shifts[rows_all] = m.shift[accepted] + lags
    out.best[rows_all] = to_id
    out.residual[rows_all] = m.residual[accepted]
    out.isolation[rows_all] = m.isolation[accepted]
    out.aligned[rows_all] = True
    logger.info(
        "%d unassigned or poorly fit FPs sorted again: %d joined %d units",
        len(left),
        len(rows_all),
        len({t for t, _ in target.values()}),
    )


# sorting runs many small matrix products: one BLAS thread is several
# times faster than a team of threads woken for each of them
@threadpool_limits.wrap(limits=1, user_api="blas")
def sort_units(
    snippets: np.ndarray | SnippetSource,
    times_s: np.ndarray,
    fs: float,
    grid: Grid | None = None,
    params: SortingParams | None = None,
    seed: int = 0,
    *,
    centre: int | None = None,
    analysed_s: float | None = None,
    noise_uv: np.ndarray | None = None,
    channel_labels: list[str] | tuple[str, ...] | None = None,
    n_jobs: int = 1,
) -> SortingResult:
    """Group FPs into putative motor units from their multichannel waveforms.

    Parameters
    ----------
    snippets : ndarray, shape (n_fp, n_window, n_channels), or SnippetSource
        Band-passed snippets around each FP (µV), e.g. from
        :func:`~fasciq.units.snippets.extract_snippets`, or an object that
        reads them on demand (:class:`~fasciq.units.snippets.SnippetSource`,
        such as :class:`~fasciq.units.snippets.SnippetRows`): then only what
        ``params.memory_mb`` allows is held at once. The array is never
        changed.
    times_s : array of float, shape (n_fp,)
        FP times (s).
    fs : float
        Sampling rate in Hz.
    grid : Grid, optional
        Electrode grid; without it there is no innervation zone or
        conduction velocity.
    params : SortingParams, optional
        Method parameters.
    seed : int
        Seed of the randomized steps (PCA, shuffles).
    centre : int, optional
        Index of the FP time in the window (the middle by default).
    analysed_s : float, optional
        Time analysed, for rates; the span of the FP times by default.
    noise_uv : ndarray, shape (n_channels,), optional
        Noise σ per channel of the filtered signal (e.g. the analysis's
        noise tracker, or :func:`~fasciq.units.snippets.estimate_noise`);
        estimated from the snippets' edges by default (biased upwards by
        MUAP tails). Sorting runs on the snippets divided by it, so a noisy
        channel weighs as little as its noise warrants.
    channel_labels : sequence of str, optional
        Labels for ``peak_channel`` (indices otherwise).
    n_jobs : int
        Threads for the independent comparisons, blocks and units
        (:mod:`fasciq.units.parallel`); the result is the same for any
        number.

    Returns
    -------
    SortingResult

    Raises
    ------
    DataError
        If the snippets are not 3-D, hold NaN or do not match the times or
        the grid.

    Notes
    -----
    Memory stays within about ``params.memory_mb`` (see
    :class:`~fasciq.units.params.SortingParams`): beyond it, units are
    found on FPs spread over the recording and every FP is assigned by
    template matching, block by block.
    """
    with sorting_threads(n_jobs):
        return _sort_units(
            snippets, times_s, fs, grid, params, seed, centre, analysed_s, noise_uv, channel_labels
        )


def _sort_units(
    snippets: np.ndarray | SnippetSource,
    times_s: np.ndarray,
    fs: float,
    grid: Grid | None,
    params: SortingParams | None,
    seed: int,
    centre: int | None,
    analysed_s: float | None,
    noise_uv: np.ndarray | None,
    channel_labels: list[str] | tuple[str, ...] | None,
) -> SortingResult:
    """Body of :func:`sort_units`."""
    t_start = time.perf_counter()
    params = params or SortingParams()
    cp = params.cluster
    if isinstance(snippets, SnippetSource) and not isinstance(snippets, np.ndarray):
        source: np.ndarray | SnippetSource = snippets
    else:
        source = np.asarray(snippets, dtype=np.float32)
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    _check_inputs(source, times, grid)
    n, n_win, n_ch = (int(v) for v in source.shape)
    centre = n_win // 2 if centre is None else int(centre)
    if analysed_s is None:
        analysed_s = float(times.max() - times.min()) if n > 1 else 0.0
    max_shift = max(0, round(cp.max_shift_ms * fs / 1000.0))
    max_shift = min(max_shift, centre, n_win - 1 - centre)
    long_half = max(1, min(centre, n_win - 1 - centre) - max_shift)
    max_lag = max(max_shift, round(cp.max_lag_ms * fs / 1000.0))
    max_lag = min(max_lag, centre, n_win - 1 - centre)
    room = min(centre, n_win - 1 - centre) - max_lag
    half = max(1, min(round(cp.feature_ms * fs / 1000.0), room))
    # the budget holds the whitened snippets and about as much again in
    # windows cut from them
    per_fp = 4 * max(n_win * n_ch, 1)
    n_held = max(MIN_HELD, int(params.memory_mb * 2**20) // (2 * per_fp))
    held = None if n <= n_held else _spread(times, n_held)
    if held is not None:
        logger.info(
            "%d FPs exceed the sorting memory budget (%g MiB): units are found on %d FPs "
            "spread over the recording, and every FP is matched block by block",
            n,
            params.memory_mb,
            n_held,
        )
    block = max(16, min(MATCH_BLOCK_BYTES // per_fp, n_held))
    geo = _Windows(centre, max_shift, half, max_lag, block)
    out = _assign(source, times, held, noise_uv, fs, geo, params, seed)
    labels, best = out.labels, out.best
    if n == 1:
        labels = np.zeros(1, dtype=np.int64)
        out.residual = np.zeros(1)
        best = labels.copy()
    unit_ids = np.unique(labels[labels >= 0])
    # renumber: most discharges first, ties by first discharge
    order = sorted(
        unit_ids.tolist(),
        key=lambda u: (
            -(labels == u).sum(),
            times[labels == u].min() if (labels == u).any() else 0,
        ),
    )
    order = [u for u in order if (labels == u).any()]
    new_id = {u: i for i, u in enumerate(order)}
    labels = np.array([new_id.get(int(u), -1) for u in labels], dtype=np.int64)
    best = np.array([new_id.get(int(u), -1) for u in best], dtype=np.int64)

    def load(index: np.ndarray) -> np.ndarray:
        return _read(source, index)

    result = _describe(
        load,
        None if held is None else MAX_DESCRIBED,
        times,
        fs,
        grid,
        params,
        seed,
        centre,
        long_half,
        out.shifts,
        out.aligned,
        labels,
        best,
        out.residual,
        out.isolation,
        out.noise,
        analysed_s,
        channel_labels,
    )
    result.elapsed_s = time.perf_counter() - t_start
    logger.info(
        "sorted %d FPs into %d units (%d unassigned) in %.2f s",
        n,
        result.n_units,
        int((labels < 0).sum()),
        result.elapsed_s,
    )
    return result


def _describe(
    load: Callable[[np.ndarray], np.ndarray],
    limit: int | None,
    times: np.ndarray,
    fs: float,
    grid: Grid | None,
    params: SortingParams,
    seed: int,
    centre: int,
    long_half: int,
    shifts: np.ndarray,
    aligned: np.ndarray,
    labels: np.ndarray,
    best: np.ndarray,
    residual: np.ndarray,
    isolation: np.ndarray,
    noise: np.ndarray,
    analysed_s: float,
    channel_labels: list[str] | tuple[str, ...] | None,
) -> SortingResult:
    """Templates, per-unit table and patterns of a labelled set of FPs.

    ``load(index)`` gives the snippets (µV) of FPs ``index``; with
    ``limit``, the waveform figures of a unit come from at most ``limit`` of
    its discharges, in runs of consecutive discharges spread over the
    recording (counts, rates, intervals and patterns use every discharge).
    """
    dp, pp, cp = params.describe, params.patterns, params.cluster
    n_units = int(labels.max(initial=-1)) + 1
    ordered = {}
    for u in range(n_units):
        members = np.flatnonzero(labels == u)
        ordered[u] = members[np.argsort(times[members], kind="stable")]
    trains = {u: times[m] for u, m in ordered.items()}
    # the time-locked pairs need the trains only: found while the units are described
    locked = in_background(_locked_pairs, trains, times, analysed_s, pp, seed)

    def gather(u: int) -> tuple[int, np.ndarray, int, np.ndarray]:
        # snippets are read here, in the calling thread (a file is not shared)
        members = ordered[u]
        # shape from the discharges timed on the unit's main phase (see _join_aliases)
        shaped = members[aligned[members]] if aligned[members].any() else members
        chosen = shaped
        if limit is not None and len(shaped) > limit:
            chosen = shaped[_runs(len(shaped), limit)]
        wins = take_windows(load(chosen), centre, shifts[chosen], long_half)
        return u, members, len(shaped), wins

    def describe(
        item: tuple[int, np.ndarray, int, np.ndarray],
    ) -> tuple[dict, np.ndarray, np.ndarray]:
        u, members, n_shaped, wins = item
        template = fast_median(wins, axis=0).astype(np.float32)
        pick = np.linspace(0, len(wins) - 1, min(N_EXAMPLES, len(wins))).astype(int)
        mask = template_channels(template[None], noise)[0]
        variability = unit_shape_variability(wins, template, mask, noise)
        stability = float(np.median(variability)) if len(variability) >= 2 else float("nan")
        morph = template_morphology(template, noise, n_shaped, fs, dp)
        if grid is not None and n_shaped >= dp.min_cv_discharges:
            prop = estimate_propagation(template, grid, fs, dp)
            iz, cv = prop.iz_mm, prop.cv_m_s
        else:
            iz = cv = float("nan")
        discharges = _discharge_columns(times[members], analysed_s, pp)
        judged = best == u
        fit_fraction = (
            float((residual[judged] < cp.match_threshold).mean()) if judged.any() else 0.0
        )
        iso = float(np.mean(isolation[members])) if len(members) else 0.0
        ch = morph["peak_channel"]
        row = {
            **discharges,
            "unit": u,
            "amplitude_uv": morph["amplitude_uv"],
            "duration_ms": morph["duration_ms"],
            "phases": morph["phases"],
            "turns": morph["turns"],
            "polyphasic": morph["polyphasic"],
            "iz_mm": iz,
            "cv_m_s": cv,
            "stability": stability,
            "stable": bool(
                not (stability > dp.unstable_threshold)
                or morph["amplitude_uv"] < dp.min_stability_snr * noise[ch]
            ),
            "quality": float(np.clip(iso, 0.0, 1.0) * fit_fraction),
            "peak_channel": channel_labels[ch] if channel_labels is not None else ch,
            "isolation": iso,
            "fit_fraction": fit_fraction,
            "jiggle": jiggle(wins, mask, noise),
        }
        return row, template, wins[pick].astype(np.float32)

    # units are described in threads, each independent of the others
    described = ordered_map(describe, range(n_units), prepare=gather)
    rows = [d[0] for d in described]
    templates = {u: d[1] for u, d in enumerate(described)}
    examples = {u: d[2] for u, d in enumerate(described)}
    units = pd.DataFrame(rows, columns=list(UNIT_COLUMNS)) if rows else _empty_units()
    patterns = _patterns(units, trains, times, analysed_s, pp, seed, locked())
    return SortingResult(
        labels=labels,
        units=units,
        templates=templates,
        examples=examples,
        patterns=patterns,
        fs=float(fs),
        analysed_s=float(analysed_s),
        params=params,
        shifts=shifts.astype(np.int64),
        residual=np.asarray(residual, dtype=np.float64),
        seed=int(seed),
    )


#: Columns of ``units.csv`` computed from the discharge times alone.
DISCHARGE_COLUMNS = (
    "n_fp",
    "rate_per_min",
    "rate_ci_low",
    "rate_ci_high",
    "median_isi_s",
    "isi_cov",
    "doublets",
    "isolated",
    "continual",
    "first_s",
    "last_s",
)


def _discharge_columns(t: np.ndarray, analysed_s: float, pp: PatternParams) -> dict[str, Any]:
    """:data:`DISCHARGE_COLUMNS` of one unit from its discharge times (sorted)."""
    minutes = analysed_s / 60.0
    isi = np.diff(t)
    pattern = train_pattern(t, pp)
    if minutes > 0:
        rate = len(t) / minutes
        low, high = poisson_ci(len(t), minutes)
    else:
        rate = low = high = float("nan")
    return {
        "n_fp": len(t),
        "rate_per_min": rate,
        "rate_ci_low": low,
        "rate_ci_high": high,
        "median_isi_s": float(np.median(isi)) if isi.size else float("nan"),
        "isi_cov": float(isi.std() / isi.mean())
        if isi.size >= 2 and isi.mean() > 0
        else float("nan"),
        "doublets": pattern.doublets,
        "isolated": pattern.isolated,
        "continual": pattern.continual,
        "first_s": float(t[0]) if len(t) else float("nan"),
        "last_s": float(t[-1]) if len(t) else float("nan"),
    }


def _locked_pairs(
    trains: dict[int, np.ndarray],
    times: np.ndarray,
    analysed_s: float,
    pp: PatternParams,
    seed: int,
) -> list[LockedPair]:
    """Time-locked pairs of the trains, over the analysed time (or the FPs' span)."""
    span = analysed_s if analysed_s > 0 else (float(times.max()) if len(times) else 0.0)
    span = max(span, float(times.max()) + 1e-3) if len(times) else span
    return time_locked_pairs(trains, span, pp, seed)


def _patterns(
    units: pd.DataFrame,
    trains: dict[int, np.ndarray],
    times: np.ndarray,
    analysed_s: float,
    pp: PatternParams,
    seed: int,
    locked: list[LockedPair] | None = None,
) -> dict[str, Any]:
    """Pattern totals over the units and the time-locked pairs of their trains.

    ``locked``: the pairs, when already found (:func:`_locked_pairs`).
    """
    totals = {
        k: int(units[k].sum()) if len(units) else 0 for k in ("doublets", "isolated", "continual")
    }
    if locked is None:
        locked = _locked_pairs(trains, times, analysed_s, pp, seed)
    return {
        **totals,
        "time_locked_pairs": len(locked),
        "locked": [
            {
                "unit_a": p.unit_a,
                "unit_b": p.unit_b,
                "latency_ms": 1000.0 * p.latency_s,
                "count": p.count,
                "p_value": p.p_value,
            }
            for p in locked
        ],
    }


def update_unit_statistics(
    sorting: SortingResult, times_s: np.ndarray, units: np.ndarray
) -> SortingResult:
    """The sorting with its discharge statistics recomputed from a final FP table.

    After sorting, an analysis may move, relabel, drop or add FPs (template
    peeling of dense stretches separates overlapping discharges). This
    recomputes every figure that depends on the discharge times alone
    (:data:`DISCHARGE_COLUMNS`: counts, rates with their confidence
    interval, intervals, double, isolated and continual discharges, first
    and last discharge) and the pattern totals and time-locked pairs, from
    the final times and units; the waveform figures (template, amplitude,
    morphology, innervation zone, conduction velocity, stability, quality)
    are kept. A unit left without any FP is dropped (with its template).

    Parameters
    ----------
    sorting : SortingResult
        The sorting of the first-pass FPs.
    times_s : array of float, shape (n_fp,)
        Final FP times (s).
    units : array of int, shape (n_fp,)
        Final unit of each FP (-1: none).

    Returns
    -------
    SortingResult
        A new result (``sorting`` is not changed) whose ``labels`` are
        ``units``.

    Raises
    ------
    DataError
        If times and units differ in length, a time is not finite, or a
        unit is not one of the sorting's.
    """
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    labels = np.asarray(units).reshape(-1).astype(np.int64)
    if len(times) != len(labels):
        raise DataError(
            f"{len(times)} FP times for {len(labels)} unit labels",
            fix="give the time_s and unit columns of one FP table",
            source="FP table",
        )
    if not np.isfinite(times).all():
        raise DataError(
            "FP times contain NaN or infinite values",
            fix="give finite FP times in seconds",
            source="FP table",
        )
    known = sorting.units["unit"].to_numpy(dtype=np.int64)
    strange = np.setdiff1d(labels[labels >= 0], known)
    if strange.size:
        raise DataError(
            f"unit(s) {', '.join(map(str, strange[:5].tolist()))} of the FP table are not "
            "units of the sorting",
            fix="label FPs with the units of this sorting (or -1)",
            source="FP table",
        )
    pp = sorting.params.patterns
    rows, trains = [], {}
    for row in sorting.units.to_dict(orient="records"):
        u = int(row["unit"])
        t = np.sort(times[labels == u])
        if len(t) == 0:
            logger.info("unit %d keeps no FP in the final table: dropped", u)
            continue
        trains[u] = t
        rows.append({**row, **_discharge_columns(t, sorting.analysed_s, pp)})
    table = pd.DataFrame(rows, columns=list(UNIT_COLUMNS)) if rows else _empty_units()
    return dataclasses.replace(
        sorting,
        labels=labels,
        units=table,
        templates={u: v for u, v in sorting.templates.items() if u in trains},
        examples={u: v for u, v in sorting.examples.items() if u in trains},
        patterns=_patterns(table, trains, times, sorting.analysed_s, pp, sorting.seed),
    )


def sort_recording(
    recording: Recording,
    times_s: np.ndarray,
    params: SortingParams | None = None,
    snippet_params: SnippetParams | None = None,
    seed: int = 0,
    *,
    analysed_s: float | None = None,
    n_jobs: int = 1,
) -> SortingResult:
    """Cut snippets around ``times_s`` from ``recording`` and sort them.

    Parameters
    ----------
    recording : Recording
        The recording (its grid, if any, gives the geometry).
    times_s : array of float
        FP times (s).
    params : SortingParams, optional
        Sorting parameters.
    snippet_params : SnippetParams, optional
        Window and band-pass of the snippets.
    seed : int
        Seed of the randomized steps.
    analysed_s : float, optional
        Time analysed (rates); the recording's duration by default.
    n_jobs : int
        Threads (see :func:`sort_units`).

    Returns
    -------
    SortingResult
    """
    snippet_params = snippet_params or SnippetParams()
    sos = snippet_filter(recording, snippet_params)
    snippets = extract_snippets(recording, times_s, snippet_params, sos=sos)
    before, _ = window_samples(recording.fs, snippet_params)
    return sort_units(
        snippets,
        times_s,
        recording.fs,
        grid=recording.grid,
        params=params,
        seed=seed,
        centre=before,
        analysed_s=recording.duration_s if analysed_s is None else analysed_s,
        noise_uv=estimate_noise(recording, sos, snippet_params.prescan_s),
        channel_labels=recording.channel_labels,
        n_jobs=n_jobs,
    )
