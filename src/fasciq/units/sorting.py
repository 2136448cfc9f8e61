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
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from threadpoolctl import threadpool_limits

from fasciq._logging import logger
from fasciq.detect.rates import poisson_ci
from fasciq.errors import DataError
from fasciq.grids.grid import Grid
from fasciq.recording import Recording
from fasciq.units.clustering import (
    alias_groups,
    density_clusters,
    merge_units,
    regroup_incoherent,
    small_units,
    split_clusters,
)
from fasciq.units.features import energy_peak_shifts, fit_features, take_windows
from fasciq.units.morphology import jiggle, shape_variability, template_morphology
from fasciq.units.params import ClusterParams, SnippetParams, SortingParams
from fasciq.units.patterns import time_locked_pairs, train_pattern
from fasciq.units.propagation import estimate_propagation
from fasciq.units.snippets import (
    estimate_noise,
    extract_snippets,
    snippet_filter,
    window_samples,
)
from fasciq.units.templates import (
    composite_templates,
    match_templates,
    noise_from_edges,
    redundant_templates,
    template_channels,
    unit_templates,
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


def _check_inputs(snippets: np.ndarray, times: np.ndarray, grid: Grid | None) -> None:
    if snippets.ndim != 3:
        raise DataError(
            f"snippets must be 3-D (FPs x samples x channels), got shape {snippets.shape}",
            fix="cut snippets with fasciq.units.extract_snippets",
            source="snippets",
        )
    if len(times) != len(snippets):
        raise DataError(
            f"{len(times)} FP times for {len(snippets)} snippets",
            fix="give one time per snippet",
            source="times_s",
        )
    if not np.isfinite(snippets).all():
        raise DataError(
            "snippets contain NaN or infinite values",
            fix="cut snippets from a recording without NaN (fasciq info shows bad channels)",
            source="snippets",
        )
    if grid is not None:
        grid.check_channel_count(snippets.shape[2], "snippets")


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
    windows = take_windows(snippets, centre, shifts, half)
    masks = template_channels(templates, noise)
    candidate = labels < 0
    n_t = windows.shape[1]
    for i, u in enumerate(unit_ids):
        members = np.flatnonzero(labels == u)
        m = masks[i]
        expected = n_t * float(np.square(noise[m]).sum())
        excess = np.square(windows[members][:, :, m] - templates[i][None, :, m]).sum(axis=(1, 2))
        excess /= max(expected, 1e-12)
        candidate[members[excess > POOR_FIT * max(float(np.median(excess)), 1.0)]] = True
    idx = np.flatnonzero(candidate)
    if len(idx) > MAX_SECOND_PASS:
        energy = np.square(windows[idx]).sum(axis=(1, 2))
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


def _join_aliases(
    snippets: np.ndarray,
    centre: int,
    shifts: np.ndarray,
    labels: np.ndarray,
    best: np.ndarray,
    max_lag: int,
    cp: ClusterParams,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Join units that are one unit timed on distant phases (:func:`alias_groups`).

    Returns labels, best-template labels and shifts with each alias folded
    into its primary unit, and a mask of the FPs whose window is aligned on
    their unit's template (False for the FPs of an alias, whose shift may
    reach past the snippet).
    """
    aligned = np.ones(len(labels), dtype=bool)
    units = np.unique(labels[labels >= 0])
    far = min(centre, snippets.shape[1] - 1 - centre)
    if len(units) < 2 or far <= max_lag:
        return labels, best, shifts, aligned
    full = take_windows(snippets, centre, shifts, far)
    templates = unit_templates(full, labels, units)
    counts = np.array([(labels == u).sum() for u in units])
    primary, lags = alias_groups(templates, counts, far, max_lag + 1, cp)
    labels, best, shifts = labels.copy(), best.copy(), shifts.copy()
    for j in np.flatnonzero(primary != np.arange(len(units))):
        members = labels == units[j]
        logger.debug("unit %d joins unit %d (timed %+d samples apart)", j, primary[j], lags[j])
        shifts[members] += lags[j]
        aligned[members] = False
        labels[members] = units[primary[j]]
        best[best == units[j]] = units[primary[j]]
    return labels, best, shifts, aligned


# sorting runs many small matrix products: one BLAS thread is several
# times faster than a team of threads woken for each of them
@threadpool_limits.wrap(limits=1, user_api="blas")
def sort_units(
    snippets: np.ndarray,
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
) -> SortingResult:
    """Group FPs into putative motor units from their multichannel waveforms.

    Parameters
    ----------
    snippets : ndarray, shape (n_fp, n_window, n_channels)
        Band-passed snippets around each FP (µV), e.g. from
        :func:`~fasciq.units.snippets.extract_snippets`.
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

    Returns
    -------
    SortingResult

    Raises
    ------
    DataError
        If the snippets are not 3-D, hold NaN or do not match the times or
        the grid.
    """
    t_start = time.perf_counter()
    params = params or SortingParams()
    cp = params.cluster
    snippets = np.asarray(snippets, dtype=np.float32)
    times = np.asarray(times_s, dtype=np.float64).reshape(-1)
    _check_inputs(snippets, times, grid)
    n, n_win, _n_ch = snippets.shape
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
    if noise_uv is None:
        noise = noise_from_edges(snippets, round(0.003 * fs))
    else:
        noise = np.asarray(noise_uv, dtype=np.float64).reshape(-1)
    labels = np.full(n, -1, dtype=np.int64)
    shifts = np.zeros(n, dtype=np.int64)
    residual = np.ones(n)
    isolation = np.zeros(n)
    best = np.full(n, -1, dtype=np.int64)
    unit_ids = np.zeros(0, dtype=np.int64)
    aligned = np.ones(n, dtype=bool)
    if n >= 2:
        # sort in noise-whitened units: a noisy channel weighs as little as its
        # noise warrants, and every threshold reads in noise σ
        scale = np.maximum(noise, max(0.25 * float(np.median(noise)), 1e-6)).astype(np.float32)
        white = snippets / scale
        noise_w = (noise / scale).astype(np.float64)
        shifts = energy_peak_shifts(white, centre, max_shift)
        peak_shifts = shifts.copy()
        fit = np.arange(n)
        if n > cp.max_fit:
            fit = np.unique(np.linspace(0, n - 1, cp.max_fit).astype(np.int64))
        fit_labels, fit_shifts = _cluster(
            white[fit], centre, shifts[fit], half, max_lag, noise_w, params, seed
        )
        unit_ids = np.unique(fit_labels[fit_labels >= 0])
        windows = take_windows(white[fit], centre, fit_shifts, half)
        templates = unit_templates(windows, fit_labels, unit_ids)
        for final in (False, True):
            if len(unit_ids) == 0:
                break
            masks = template_channels(templates, noise_w)
            m = match_templates(
                white,
                centre,
                templates,
                masks,
                max_lag,
                cp.match_threshold,
                overlap=final and cp.overlap,
                noise_uv=noise_w,
            )
            labels = np.where(m.unit >= 0, unit_ids[np.maximum(m.unit, 0)], -1)
            best = np.where(m.best >= 0, unit_ids[np.maximum(m.best, 0)], -1)
            shifts, residual, isolation = m.shift, m.residual, m.isolation
            if final:
                labels, best, shifts, aligned = _join_aliases(
                    white, centre, shifts, labels, best, max_lag, cp
                )
                # a unit needs a few discharges (one or two FPs are not a unit)
                ids, counts = np.unique(labels[labels >= 0], return_counts=True)
                labels[np.isin(labels, ids[counts < max(2, cp.small_unit_size)])] = -1
                unit_ids = np.unique(labels[labels >= 0])
                break
            # rebuild templates on every FP at its matched shift, then merge again
            counts = np.array([(labels == u).sum() for u in unit_ids])
            small = unit_ids[counts < max(2, cp.min_cluster_size // 2)]
            labels[np.isin(labels, small)] = -1
            labels, shifts = merge_units(white, centre, shifts, labels, half, max_lag, noise_w, cp)
            unit_ids = np.unique(labels[labels >= 0])
            windows = take_windows(white, centre, shifts, half)
            templates = unit_templates(windows, labels, unit_ids)
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
                windows = take_windows(white, centre, shifts, half)
                templates = unit_templates(windows, labels, unit_ids)
            counts = np.array([(labels == u).sum() for u in unit_ids])
            composite = composite_templates(templates, counts, max_shift)
            if composite.any():
                logger.debug("dissolved %d overlap clusters", int(composite.sum()))
                labels[np.isin(labels, unit_ids[composite])] = -1
                unit_ids, templates = unit_ids[~composite], templates[~composite]
            if cp.max_incoherence > 0:
                labels, shifts = regroup_incoherent(
                    white, centre, shifts, peak_shifts, labels, half, max_lag, noise_w, cp
                )
                unit_ids = np.unique(labels[labels >= 0])
                windows = take_windows(white, centre, shifts, half)
                templates = unit_templates(windows, labels, unit_ids)
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
                labels[np.isin(labels, unit_ids[redundant])] = -1
                unit_ids, templates = unit_ids[~redundant], templates[~redundant]
    elif n == 1:
        labels = np.zeros(1, dtype=np.int64)
        residual = np.zeros(1)
        best = labels.copy()
        unit_ids = np.zeros(1, dtype=np.int64)
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
    result = _describe(
        snippets,
        times,
        fs,
        grid,
        params,
        seed,
        centre,
        long_half,
        shifts,
        aligned,
        labels,
        best,
        residual,
        isolation,
        noise,
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
    snippets: np.ndarray,
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
    """Templates, per-unit table and patterns of a labelled set of FPs."""
    dp, pp, cp = params.describe, params.patterns, params.cluster
    n_units = int(labels.max(initial=-1)) + 1
    rows = []
    templates: dict[int, np.ndarray] = {}
    examples: dict[int, np.ndarray] = {}
    trains: dict[int, np.ndarray] = {}
    minutes = analysed_s / 60.0
    totals = {"doublets": 0, "isolated": 0, "continual": 0}
    for u in range(n_units):
        members = np.flatnonzero(labels == u)
        members = members[np.argsort(times[members], kind="stable")]
        t = times[members]
        trains[u] = t
        # shape from the discharges timed on the unit's main phase (see _join_aliases)
        shaped = members[aligned[members]] if aligned[members].any() else members
        wins = take_windows(snippets[shaped], centre, shifts[shaped], long_half)
        template = np.median(wins, axis=0).astype(np.float32)
        templates[u] = template
        pick = np.linspace(0, len(shaped) - 1, min(N_EXAMPLES, len(shaped))).astype(int)
        examples[u] = wins[pick].astype(np.float32)
        mask = template_channels(template[None], noise)[0]
        variability = shape_variability(wins, template, mask, noise)
        stability = float(np.median(variability)) if len(variability) >= 2 else float("nan")
        morph = template_morphology(template, noise, len(shaped), fs, dp)
        if grid is not None and len(shaped) >= dp.min_cv_discharges:
            prop = estimate_propagation(template, grid, fs, dp)
            iz, cv = prop.iz_mm, prop.cv_m_s
        else:
            iz = cv = float("nan")
        isi = np.diff(t)
        pattern = train_pattern(t, pp)
        for key in totals:
            totals[key] += getattr(pattern, key)
        if minutes > 0:
            rate = len(members) / minutes
            low, high = poisson_ci(len(members), minutes)
        else:
            rate = low = high = float("nan")
        judged = best == u
        fit_fraction = (
            float((residual[judged] < cp.match_threshold).mean()) if judged.any() else 0.0
        )
        iso = float(np.mean(isolation[members])) if len(members) else 0.0
        ch = morph["peak_channel"]
        rows.append(
            {
                "unit": u,
                "n_fp": len(members),
                "rate_per_min": rate,
                "rate_ci_low": low,
                "rate_ci_high": high,
                "median_isi_s": float(np.median(isi)) if isi.size else float("nan"),
                "isi_cov": float(isi.std() / isi.mean())
                if isi.size >= 2 and isi.mean() > 0
                else float("nan"),
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
                "doublets": pattern.doublets,
                "isolated": pattern.isolated,
                "continual": pattern.continual,
                "quality": float(np.clip(iso, 0.0, 1.0) * fit_fraction),
                "peak_channel": channel_labels[ch] if channel_labels is not None else ch,
                "isolation": iso,
                "fit_fraction": fit_fraction,
                "jiggle": jiggle(wins, mask, noise),
                "first_s": float(t[0]),
                "last_s": float(t[-1]),
            }
        )
    units = pd.DataFrame(rows, columns=list(UNIT_COLUMNS)) if rows else _empty_units()
    span = analysed_s if analysed_s > 0 else (float(times.max()) if len(times) else 0.0)
    span = max(span, float(times.max()) + 1e-3) if len(times) else span
    locked = time_locked_pairs(trains, span, pp, seed)
    patterns = {
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
    )


def sort_recording(
    recording: Recording,
    times_s: np.ndarray,
    params: SortingParams | None = None,
    snippet_params: SnippetParams | None = None,
    seed: int = 0,
    *,
    analysed_s: float | None = None,
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
    )
