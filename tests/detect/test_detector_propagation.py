"""Small MUAPs that propagate far along the fibres are one FP, timed at their main peak.

Regression tests of the spatial detector on a synthetic 13 x 5 grid at 8 mm
(96 mm along the fibres, seeded noise of σ = 1):

* a small MUAP near threshold whose propagating wave travels the whole
  column, seen by noise as separate small candidates up to 20 ms after the
  main peak, gives one event per discharge at the main peak;
* a small MUAP firing a few tens of ms after a large one of another unit
  across the grid (further apart in time than the large one's far field
  and its propagating parts can reach) is still found.
"""

from __future__ import annotations

import numpy as np

from fasciq.detect.detector import Neighbourhood, detect_spatial
from fasciq.detect.params import DetectParams
from fasciq.evaluate import match_events
from fasciq.grids import Grid

from .synth import muap

FS = 2048.0
GRID = Grid.regular(13, 5, 8.0)
POS = np.asarray(GRID.positions_mm)
HOOD = Neighbourhood(GRID.adjacency(diagonal=True), POS)


def _noise(duration_s: float, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(0.0, 1.0, (int(duration_s * FS), len(POS)))


def _add(x: np.ndarray, t_s: float, gain: np.ndarray, delay_ms: np.ndarray) -> None:
    half = int(0.04 * FS)
    tt = np.arange(-half, half + 1) / FS * 1000
    i0 = round(t_s * FS)
    x[i0 - half : i0 + half + 1] += muap(tt[:, None] - delay_ms[None, :], 2.5) * gain[None, :]


def _times(n: int, duration_s: float, seed: int, gap_s: float = 0.3) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(np.arange(0.3, duration_s - 0.3, gap_s), n, replace=False))


def _small_unit(x_mm: float = 0.0, iz_mm: float = 24.0, main: float = 4.6, wave: float = 3.4):
    """Gain and delay of a small unit on the column ``x_mm``, its end-plates at ``iz_mm``.

    Its largest peak (``main`` σ) lies on the electrode over the end-plates;
    the wave (``wave`` σ) propagates at 4 m/s to both ends of the column,
    reaching the far end (72 mm away) 18 ms later.
    """
    along = POS[:, 1] - iz_mm
    side = np.exp(-(((POS[:, 0] - x_mm) / 8.0) ** 2))
    gain = (wave + (main - wave) * np.exp(-((along / 6.0) ** 2))) * side
    return gain, np.abs(along) / 4.0


def test_small_propagating_muap_is_one_fp_at_its_main_peak():
    duration = 14.0
    x = _noise(duration, seed=11)
    times = _times(36, duration, seed=12)
    gain, delay = _small_unit(main=4.6, wave=3.4)
    for t in times:
        _add(x, t, gain, delay)
    ev = detect_spatial(x, np.ones_like(x), HOOD, FS, DetectParams())
    m = match_events(ev.sample / FS, times, 0.005)
    # the discharges are found at their main peak, their late parts are no FPs
    assert m.true_positives >= 30
    assert m.false_positives <= 5
    assert np.median(np.abs(m.delta_s)) <= 0.001
    # hardly anything is reported at the late parts (5-25 ms after the main peak)
    late = match_events(ev.sample / FS, times + 0.015, 0.010)
    assert late.true_positives <= 4


def test_small_unit_after_a_large_one_across_the_grid_is_found():
    duration = 14.0
    x = _noise(duration, seed=21)
    times = _times(30, duration, seed=22)
    # a large unit on the far column (x = 32 mm), its end-plates at y = 48 mm,
    # propagating along the column at 4 m/s
    along = POS[:, 1] - 48.0
    big_gain = (10.0 + 15.0 * np.exp(-((along / 8.0) ** 2))) * np.exp(
        -(((POS[:, 0] - 32.0) / 6.0) ** 2)
    )
    big_delay = np.abs(along) / 4.0
    # a small unit on the first column (x = 0), 34 ms after each large discharge:
    # further off in time than the large one's parts can reach its channels
    small_gain, small_delay = _small_unit(main=4.9, wave=3.0)
    lag = 0.034
    for t in times:
        _add(x, t, big_gain, big_delay)
        _add(x, t + lag, small_gain, small_delay)
    ev = detect_spatial(x, np.ones_like(x), HOOD, FS, DetectParams())
    found = ev.sample / FS
    big = match_events(found, times, 0.005)
    small = match_events(found, times + lag, 0.005)
    assert big.true_positives == times.size
    # found although it fires within 2 x max_window_ms of a larger discharge
    assert small.true_positives >= 26
    assert len(ev) - big.true_positives - small.true_positives <= 2
