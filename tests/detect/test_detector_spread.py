"""One event per discharge for MUAPs whose parts lie apart on the grid, and small broad MUAPs.

Regression tests of the spatial detector on synthetic grids (seeded):

* a dropped electrode must not cut a discharge's footprint in two;
* end-of-fibre components at the grid's far ends, appearing together with
  the discharge, are part of it;
* a small MUAP spread over many electrodes, below ``k_peak_energy`` σ on its
  largest channel, is found by the signed neighbourhood sum — and noise with
  pops is not.
"""

from __future__ import annotations

import numpy as np

from fasciq.detect.detector import Neighbourhood, coherent_candidates, detect_spatial
from fasciq.detect.params import DetectParams
from fasciq.evaluate import match_events
from fasciq.grids import Grid

from .synth import muap

FS = 2048.0


def _traces(grid: Grid, duration_s: float, noise: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, noise, (int(duration_s * FS), len(grid.positions_mm)))


def _add(x: np.ndarray, t_s: float, gain: np.ndarray, delay_ms: np.ndarray, width: float = 2.5):
    half = int(0.03 * FS)
    tt = np.arange(-half, half + 1) / FS * 1000
    i0 = round(t_s * FS)
    x[i0 - half : i0 + half + 1] += muap(tt[:, None] - delay_ms[None, :], width) * gain[None, :]


def _detect(x: np.ndarray, hood: Neighbourhood, noise: float, params: DetectParams | None = None):
    sigma = np.full_like(x, noise)
    return detect_spatial(x, sigma, hood, FS, params)


def _times(n: int, duration_s: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(np.arange(0.3, duration_s - 0.3, 0.25), n, replace=False))


def test_dropped_channels_do_not_split_a_propagating_discharge():
    # a small MUAP propagating along a column; two dead electrodes in its way
    grid = Grid.regular(13, 5, 8.0)
    pos = np.asarray(grid.positions_mm)
    x = _traces(grid, 12.0, 1.0, seed=1)
    times = _times(30, 12.0, seed=2)
    col = np.abs(pos[:, 0] - 16.0)
    # a ridge along x = 16 mm: about 6 σ on the column, fading sideways
    gain = 6.5 * np.exp(-((col / 8.0) ** 2))
    delay = np.abs(pos[:, 1] - 32.0) / 4.0  # 4 m/s both ways from the innervation zone
    for t in times:
        _add(x, t, gain, delay)
    dead = np.flatnonzero((col == 0) & ((pos[:, 1] == 56.0) | (pos[:, 1] == 64.0)))
    assert dead.size == 2
    keep = np.setdiff1d(np.arange(len(pos)), dead)
    full = Neighbourhood(grid.adjacency(diagonal=True), pos)
    x = x[:, keep]
    counts = {}
    for bridge in (0, 4):
        hood = full.subset(keep, bridge=bridge)
        ev = _detect(x, hood, 1.0, DetectParams(k_coherent=0.0))
        m = match_events(ev.sample / FS, times + delay.min() / 1000, 0.025)
        counts[bridge] = (m.true_positives, m.false_positives)
    # bridged: every discharge once; cut in two without the bridge
    assert counts[4][0] >= 28
    assert counts[4][1] <= 1
    assert counts[0][1] >= 3


def test_subset_bridges_small_holes_only():
    grid = Grid.regular(5, 5, 8.0)
    hood = Neighbourhood(grid.adjacency(), np.asarray(grid.positions_mm))
    centre = 12  # row 2, column 2
    keep = np.setdiff1d(np.arange(25), [centre])
    sub = hood.subset(keep)
    above, below = 7, 17  # the channels above and below the hole, 16 mm apart
    i, j = np.searchsorted(keep, [above, below])
    assert sub.adjacency[i, j] and sub.adjacency[j, i]
    assert not hood.subset(keep, bridge=0).adjacency[i, j]
    assert not np.diag(sub.adjacency).any()
    # a dead half of the grid is not bridged
    keep2 = np.arange(10)
    assert np.array_equal(hood.subset(keep2).adjacency, hood.adjacency[np.ix_(keep2, keep2)])


def test_end_of_fibre_components_are_one_discharge():
    # a MUAP in the middle of an 8 x 16 grid with, at the same instant, small
    # non-propagating components at both ends of the fibres (the grid's far ends)
    grid = Grid.regular(8, 16, 4.0)
    pos = np.asarray(grid.positions_mm)
    x = _traces(grid, 12.0, 1.0, seed=3)
    times = _times(30, 12.0, seed=4)
    centre = np.array([30.0, 14.0])
    d = np.sqrt(((pos - centre) ** 2).sum(axis=1))
    gain = 8.0 / (1 + (d / 5.0) ** 2)
    ends = (pos[:, 0] <= 4.0) | (pos[:, 0] >= 56.0)
    gain_end = np.where(ends, 6.0 * np.exp(-(((pos[:, 1] - 14.0) / 8.0) ** 2)), 0.0)
    zero = np.zeros(len(pos))
    for t in times:
        _add(x, t, gain, zero)
        _add(x, t + 0.0005, gain_end, zero, width=1.5)
    hood = Neighbourhood(grid.adjacency(diagonal=True), pos)
    found = {}
    for simultaneous in (0.0, 1.5):
        params = DetectParams(simultaneous_ms=simultaneous, k_coherent=0.0)
        ev = _detect(x, hood, 1.0, params)
        found[simultaneous] = match_events(ev.sample / FS, times, 0.01)
    assert found[1.5].true_positives >= 29
    assert found[1.5].false_positives <= 5
    assert found[0.0].false_positives >= 20  # each end counted as its own FP


def _broad_unit_recording(seed: int, with_units: bool = True):
    grid = Grid.regular(13, 5, 8.0)
    pos = np.asarray(grid.positions_mm)
    x = _traces(grid, 20.0, 1.0, seed=seed)
    times = _times(50, 20.0, seed=seed + 1)
    # a deep unit: about 3.5 σ at its centre, 2-3 σ on a dozen electrodes around
    d = np.sqrt(((pos - np.array([16.0, 48.0])) ** 2).sum(axis=1))
    gain = 3.0 * np.exp(-((d / 14.0) ** 2))
    if with_units:
        for t in times:
            _add(x, t, gain, np.zeros(len(pos)), width=3.0)
    return grid, x, times


def test_small_broad_muaps_are_found_by_the_signed_neighbourhood_sum():
    grid, x, times = _broad_unit_recording(seed=5)
    hood = Neighbourhood(grid.adjacency(diagonal=True), np.asarray(grid.positions_mm))
    found = {}
    for k in (0.0, 6.0):
        ev = _detect(x, hood, 1.0, DetectParams(k_coherent=k))
        found[k] = match_events(ev.sample / FS, times, 0.01)
    assert found[6.0].true_positives >= 0.85 * len(times)
    assert found[6.0].false_positives <= 2
    assert found[6.0].true_positives >= found[0.0].true_positives + 10


def test_signed_sum_ignores_noise_and_pops():
    grid, x, _ = _broad_unit_recording(seed=7, with_units=False)
    # pops: a step with a slow decay on one electrode at a time, band-limited
    rng = np.random.default_rng(8)
    n = x.shape[0]
    for k, t in enumerate(np.arange(1.0, 19.0, 1.0)):
        ch = int(rng.integers(0, x.shape[1]))
        i0 = int(t * FS)
        tail = np.arange(n - i0) / FS
        x[i0:, ch] += 60.0 * np.exp(-tail / 0.05) * (1 if k % 2 else -1)
    hood = Neighbourhood(grid.adjacency(diagonal=True), np.asarray(grid.positions_mm))
    marks = coherent_candidates(x, np.ones_like(x), hood.adjacency, FS, DetectParams())
    pops = np.zeros(n, dtype=bool)
    for t in np.arange(1.0, 19.0, 1.0):
        pops[int(t * FS) - 20 : int(t * FS) + 400] = True
    # away from the pops, pure noise gives (next to) no mark
    assert marks[~pops].any(axis=1).sum() <= 2
