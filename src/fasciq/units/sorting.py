"""Sorting FPs into putative motor units: :func:`sort_units` and :class:`SortingResult`.

Steps (each a pure function of the previous one's arrays)::

    align on the multichannel energy peak
      -> features: PCA of the concatenated waveforms of the most variable
         channels + PCA of the peak-to-peak maps over the grid
      -> HDBSCAN (no preset number of units) -> split mixed clusters
      -> templates -> merge twins (aligned shape, amplitude map, size)
      -> template matching of every FP (re-alignment on the template,
         two-unit fit for overlapping discharges) -> templates again
      -> per unit: rate (exact Poisson CI), intervals, morphology, shape
         stability, innervation zone and conduction velocity, patterns

The result is deterministic for the same input and seed.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fasciq._logging import logger
from fasciq.detect.rates import poisson_ci
from fasciq.errors import DataError
from fasciq.grids.grid import Grid
from fasciq.recording import Recording
from fasciq.units.clustering import density_clusters, merge_clusters, split_clusters
from fasciq.units.features import energy_peak_shifts, fit_features, take_windows
from fasciq.units.morphology import jiggle, shape_variability, template_morphology
from fasciq.units.params import SnippetParams, SortingParams
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


def _cluster(windows: np.ndarray, params: SortingParams, max_lag: int, seed: int) -> np.ndarray:
    """Cluster labels of aligned windows (features, HDBSCAN, split, merge)."""
    cp = params.cluster
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
    units = np.unique(labels[labels >= 0])
    templates = unit_templates(windows, labels, units)
    return merge_clusters(
        labels,
        templates,
        units,
        max_lag,
        cp.merge_correlation,
        cp.merge_map_correlation,
        cp.merge_amplitude_ratio,
    )


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
        Noise σ per channel; estimated from the snippets' edges by default.
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
    room = min(centre, n_win - 1 - centre) - max_shift
    half = max(1, min(round(cp.feature_ms * fs / 1000.0), room))
    long_half = max(1, room)
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
    if n >= 2:
        shifts = energy_peak_shifts(snippets, centre, max_shift)
        fit = np.arange(n)
        if n > cp.max_fit:
            fit = np.unique(np.linspace(0, n - 1, cp.max_fit).astype(np.int64))
        windows = take_windows(snippets[fit], centre, shifts[fit], half)
        fit_labels = _cluster(windows, params, max_shift, seed)
        unit_ids = np.unique(fit_labels[fit_labels >= 0])
        templates = unit_templates(windows, fit_labels, unit_ids)
        for final in (False, True):
            if len(unit_ids) == 0:
                break
            masks = template_channels(templates, noise)
            m = match_templates(
                snippets,
                centre,
                templates,
                masks,
                max_shift,
                cp.match_threshold,
                overlap=final and cp.overlap,
            )
            labels = np.where(m.unit >= 0, unit_ids[np.maximum(m.unit, 0)], -1)
            best = np.where(m.best >= 0, unit_ids[np.maximum(m.best, 0)], -1)
            shifts, residual, isolation = m.shift, m.residual, m.isolation
            if final:
                break
            # rebuild templates on every FP at its matched shift, then merge again
            windows = take_windows(snippets, centre, shifts, half)
            counts = np.array([(labels == u).sum() for u in unit_ids])
            unit_ids = unit_ids[counts >= max(2, cp.min_cluster_size // 2)]
            templates = unit_templates(windows, labels, unit_ids)
            labels = merge_clusters(
                labels,
                templates,
                unit_ids,
                max_shift,
                cp.merge_correlation,
                cp.merge_map_correlation,
                cp.merge_amplitude_ratio,
            )
            unit_ids = np.unique(labels[np.isin(labels, unit_ids)])
            templates = unit_templates(windows, labels, unit_ids)
            counts = np.array([(labels == u).sum() for u in unit_ids])
            composite = composite_templates(templates, counts, max_shift)
            if composite.any():
                logger.debug("dissolved %d overlap clusters", int(composite.sum()))
                unit_ids, templates = unit_ids[~composite], templates[~composite]
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
        wins = take_windows(snippets[members], centre, shifts[members], long_half)
        template = np.median(wins, axis=0).astype(np.float32)
        templates[u] = template
        pick = np.linspace(0, len(members) - 1, min(N_EXAMPLES, len(members))).astype(int)
        examples[u] = wins[pick].astype(np.float32)
        mask = template_channels(template[None], noise)[0]
        variability = shape_variability(wins, template, mask, noise)
        stability = float(np.median(variability)) if len(variability) >= 2 else float("nan")
        morph = template_morphology(template, noise, len(members), fs, dp)
        if grid is not None and len(members) >= dp.min_cv_discharges:
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
