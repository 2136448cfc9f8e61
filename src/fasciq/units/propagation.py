"""Innervation zone and conduction velocity of a unit, from its template on the grid.

Along each fibre line of the grid, single-differential (SD) signals between
consecutive electrodes remove what all electrodes share (far field,
non-propagating components seen everywhere) and keep the travelling waves.

* **Innervation zone (IZ).** The waves leave the IZ in both directions, so
  the arrival time of the double-differential (DD) signals grows with the
  distance from it: the IZ is the position ``z`` that best fits
  ``t_k = t_0 + |p_k − z| / v`` (``p_k`` the DD channel's centre along the
  fibres), searched in 0.25 mm steps from one inter-electrode distance
  before the first to one after the last electrode of the line. Channels
  weaker than a fifth of the line's strongest are left out. (On simulated
  units DD arrival times place the IZ better than SD or monopolar ones:
  median error 0.8 mm against 1.8 and 1.1 mm.)
* **Conduction velocity (CV).** On each side of the IZ, from one IED away
  from it (the generation of the waves at the end-plate makes the apparent
  velocity too high next to it), the consecutive double-differential (DD)
  channels, which suppress non-propagating components better than SD,
  that still look alike (they carry the same travelling wave;
  non-propagating end-of-fibre components break the resemblance) are
  aligned with one common delay θ per inter-electrode distance, chosen to
  maximise the energy of their aligned sum, computed in the frequency
  domain so θ needs no interpolation (a multichannel maximum-likelihood
  estimate in the sense of Farina & Merletti 2000). The objective is summed
  over both sides and the strongest fibre lines; ``CV = IED / θ``.

References
----------
Farina D, Merletti R (2000). Comparison of algorithms for estimation of EMG
variables during voluntary isometric contractions. J Electromyogr Kinesiol
10:337-349.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar

from fasciq.grids.grid import Grid
from fasciq.units.params import DescribeParams

#: SD channels weaker than this fraction of the line's strongest are ignored.
MIN_RELATIVE_AMPLITUDE = 0.2

#: Fibre lines used: those with at least this fraction of the strongest line's energy.
LINE_ENERGY_FRACTION = 0.4

#: At most this many fibre lines enter the estimate.
MAX_LINES = 3

#: Velocity channels start this many IEDs away from the innervation zone.
IZ_CLEARANCE = 1.0


@dataclass(frozen=True)
class Propagation:
    """Innervation zone and conduction velocity of one template.

    Parameters
    ----------
    iz_mm : float
        IZ position along the fibres, in mm from the first electrode of the
        fibre lines (the grid's top row when fibres run along its columns);
        ``nan`` when it cannot be told.
    cv_m_s : float
        Conduction velocity in m/s (``nan`` when fewer than the required
        propagating channels are found).
    n_channels : int
        SD channels the velocity rests on.
    lines : tuple of int
        Fibre lines (indices into ``grid.lines("fibre")``) used.
    """

    iz_mm: float
    cv_m_s: float
    n_channels: int
    lines: tuple[int, ...]


def _line_positions(grid: Grid, line: np.ndarray) -> np.ndarray:
    """Position (mm) of each electrode of a fibre line along the fibres."""
    pos = grid.positions_mm[line]
    axis = 1 if grid.fibre_axis == "rows" else 0
    return pos[:, axis]


def single_differential(
    template: np.ndarray, line: np.ndarray, positions: np.ndarray, ied_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """SD signals between electrodes one IED apart along a line.

    Returns
    -------
    sd : ndarray, shape (n_window, n_pairs)
        ``x[k + 1] − x[k]`` for neighbouring electrodes.
    mid : ndarray, shape (n_pairs,)
        Mid-point of each pair along the fibres (mm).
    """
    gaps = np.diff(positions)
    ok = np.isclose(gaps, ied_mm, rtol=0.05)
    idx = np.flatnonzero(ok)
    sd = template[:, line[idx + 1]] - template[:, line[idx]]
    mid = 0.5 * (positions[idx] + positions[idx + 1])
    return sd.astype(np.float64), mid


def double_differential(
    template: np.ndarray, line: np.ndarray, positions: np.ndarray, ied_mm: float
) -> tuple[np.ndarray, np.ndarray]:
    """DD signals ``x[k + 1] − 2 x[k] + x[k − 1]`` of three electrodes one IED apart.

    Returns
    -------
    dd : ndarray, shape (n_window, n_triplets)
        Double-differential signals.
    centre : ndarray, shape (n_triplets,)
        Position of the middle electrode along the fibres (mm).
    """
    gaps = np.diff(positions)
    ok = np.isclose(gaps, ied_mm, rtol=0.05)
    idx = np.flatnonzero(ok[:-1] & ok[1:]) + 1
    dd = template[:, line[idx + 1]] - 2.0 * template[:, line[idx]] + template[:, line[idx - 1]]
    return dd.astype(np.float64), positions[idx].astype(np.float64)


def _peak_times(sd: np.ndarray) -> np.ndarray:
    """Time (samples, sub-sample by parabolic interpolation) of each column's |peak|."""
    a = np.abs(sd)
    k = a.argmax(axis=0)
    out = k.astype(np.float64)
    for j, i in enumerate(k):
        if 0 < i < len(a) - 1:
            y0, y1, y2 = a[i - 1, j], a[i, j], a[i + 1, j]
            den = y0 - 2 * y1 + y2
            if den < 0:
                out[j] += 0.5 * (y0 - y2) / den
    return out


def fit_innervation_zone(times: np.ndarray, mid: np.ndarray, ied_mm: float) -> float:
    """IZ position that best fits ``t = t0 + |p − z| · s`` (least squares, s ≥ 0).

    Parameters
    ----------
    times : array of float
        Arrival time of each SD channel.
    mid : array of float
        Mid-point of each SD channel along the fibres (mm).
    ied_mm : float
        Inter-electrode distance (bounds the search beyond the ends).

    Returns
    -------
    float
        IZ position in mm (``nan`` with fewer than 3 channels).
    """
    if len(times) < 3:
        return float("nan")
    candidates = np.arange(mid.min() - ied_mm, mid.max() + ied_mm + 1e-9, 0.25)
    # the straight-line fit of t on |p − z| for every candidate z at once
    t = np.asarray(times, dtype=np.float64)
    d = np.abs(np.asarray(mid, dtype=np.float64)[None, :] - candidates[:, None])
    dc = d - d.mean(axis=1, keepdims=True)
    sdd = np.square(dc).sum(axis=1)
    ok = sdd > 0
    slope = np.where(ok, (dc * (t - t.mean())[None, :]).sum(axis=1) / np.where(ok, sdd, 1.0), 0.0)
    offset = t.mean() - slope * d.mean(axis=1)
    sse = np.square(offset[:, None] + slope[:, None] * d - t[None, :]).sum(axis=1)
    best, best_z = np.inf, float("nan")
    for z, b, e in zip(candidates, slope, sse, strict=True):
        if b >= 0 and e < best - 1e-12:
            best, best_z = float(e), float(z)
    return best_z


def _similar(a: np.ndarray, b: np.ndarray, max_lag: int) -> float:
    """Largest normalised cross-correlation of two signals within ``max_lag``."""
    n = len(a)
    best = -1.0
    for lag in range(-max_lag, max_lag + 1):
        x, y = (a[lag:], b[: n - lag]) if lag >= 0 else (a[: n + lag], b[-lag:])
        den = np.sqrt(float((x * x).sum()) * float((y * y).sum()))
        if den > 0:
            best = max(best, float((x * y).sum()) / den)
    return best


def propagating_run(sd: np.ndarray, order: np.ndarray, min_corr: float, max_lag: int) -> np.ndarray:
    """The channels of ``order`` (outwards from the IZ) that carry one travelling wave.

    Starts at the first channel and stops at the first consecutive pair
    that correlates less than ``min_corr`` at any lag up to ``max_lag``.
    """
    if len(order) == 0:
        return order
    keep = [order[0]]
    for k in order[1:]:
        if _similar(sd[:, keep[-1]], sd[:, k], max_lag) < min_corr:
            break
        keep.append(k)
    return np.asarray(keep, dtype=np.int64)


def ml_delay(groups: list[np.ndarray], fs: float, min_delay_s: float, max_delay_s: float) -> float:
    """Common delay per channel step that best aligns each group of signals.

    Parameters
    ----------
    groups : list of ndarray, shape (n_window, n_k)
        Signals of consecutive channels, ordered along the propagation.
    fs : float
        Sampling rate in Hz.
    min_delay_s, max_delay_s : float
        Range of delays searched.

    Returns
    -------
    float
        Delay in seconds (``nan`` without groups).
    """
    groups = [g for g in groups if g.shape[1] >= 2]
    if not groups:
        return float("nan")
    n = max(g.shape[0] for g in groups)
    nfft = int(2 ** np.ceil(np.log2(4 * n)))
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    spectra = [np.fft.rfft(g, n=nfft, axis=0) for g in groups]
    steps = [np.arange(g.shape[1]) for g in groups]

    def cost(theta: float) -> float:
        total = 0.0
        for spec, k in zip(spectra, steps, strict=True):
            phase = np.exp(2j * np.pi * freqs[:, None] * k[None, :] * theta)
            total += float(np.square(np.abs((spec * phase).sum(axis=1))).sum())
        return -total

    grid = np.linspace(min_delay_s, max_delay_s, 200)
    # the coarse search evaluates every delay of the grid at once
    values = np.zeros(len(grid))
    for spec, k in zip(spectra, steps, strict=True):
        phase = np.exp(2j * np.pi * freqs[None, :, None] * k[None, None, :] * grid[:, None, None])
        values -= np.square(np.abs((spec[None] * phase).sum(axis=2))).sum(axis=1)
    i = int(values.argmin())
    lo, hi = grid[max(i - 1, 0)], grid[min(i + 1, len(grid) - 1)]
    if hi <= lo:
        return float(grid[i])
    res = minimize_scalar(cost, bounds=(lo, hi), method="bounded", options={"xatol": 1e-7})
    return float(res.x)


def estimate_propagation(
    template: np.ndarray, grid: Grid, fs: float, params: DescribeParams | None = None
) -> Propagation:
    """IZ and CV of a unit from its template.

    Parameters
    ----------
    template : ndarray, shape (n_window, n_channels)
        Monopolar template (µV), channels in the grid's order.
    grid : Grid
        Electrode grid (fibre lines and inter-electrode distance).
    fs : float
        Sampling rate in Hz.
    params : DescribeParams, optional
        Velocity range and propagation criteria.

    Returns
    -------
    Propagation
    """
    params = params or DescribeParams()
    ied = float(grid.ied_mm)
    lines = grid.lines("fibre")
    sds = []
    energies = []
    for line in lines:
        pos = _line_positions(grid, line)
        sd, mid = single_differential(template, line, pos, ied)
        sds.append((sd, mid))
        energies.append(float(np.square(sd).sum()) if sd.size else 0.0)
    energies_arr = np.asarray(energies)
    if energies_arr.size == 0 or energies_arr.max() <= 0:
        return Propagation(float("nan"), float("nan"), 0, ())
    ranked = np.argsort(-energies_arr, kind="stable")
    chosen = [
        int(i)
        for i in ranked[:MAX_LINES]
        if energies_arr[i] >= LINE_ENERGY_FRACTION * energies_arr[ranked[0]]
    ]
    # innervation zone: pooled arrival-time fit of the DD channels of the chosen lines
    dds = {
        i: double_differential(template, lines[i], _line_positions(grid, lines[i]), ied)
        for i in chosen
    }
    iz_per_line = []
    weights = []
    for i in chosen:
        dd, centre = dds[i]
        if dd.shape[1] < 3:
            continue
        amp = np.abs(dd).max(axis=0)
        strong = amp >= MIN_RELATIVE_AMPLITUDE * amp.max()
        if strong.sum() < 3:
            continue
        z = fit_innervation_zone(_peak_times(dd[:, strong]) / fs, centre[strong], ied)
        if np.isfinite(z):
            iz_per_line.append(z)
            weights.append(energies_arr[i])
    iz = float(np.average(iz_per_line, weights=weights)) if iz_per_line else float("nan")
    if not np.isfinite(iz):
        return Propagation(iz, float("nan"), 0, tuple(chosen))
    max_lag = int(np.ceil(ied / params.cv_min_m_s * 1e-3 * fs))
    groups = []
    n_used = 0
    for i in chosen:
        sd, mid = dds[i]
        amp = np.abs(sd).max(axis=0) if sd.size else np.zeros(0)
        if amp.size == 0:
            continue
        strong = amp >= MIN_RELATIVE_AMPLITUDE * amp.max()
        for side in (1, -1):
            beyond = side * (mid - iz) > IZ_CLEARANCE * ied
            order = np.flatnonzero(beyond & strong)
            order = order[np.argsort(side * mid[order], kind="stable")]
            run = propagating_run(sd, order, params.propagation_correlation, max_lag)
            if len(run) >= 2:
                groups.append(sd[:, run])
                n_used += len(run)
    if n_used < params.min_propagating_channels:
        return Propagation(iz, float("nan"), n_used, tuple(chosen))
    theta = ml_delay(groups, fs, ied * 1e-3 / params.cv_max_m_s, ied * 1e-3 / params.cv_min_m_s)
    cv = ied * 1e-3 / theta if np.isfinite(theta) and theta > 0 else float("nan")
    return Propagation(iz, float(cv), n_used, tuple(chosen))
