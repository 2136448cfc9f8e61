"""Fast forms of the clustering's comparisons agree with their direct definitions."""

from __future__ import annotations

import numpy as np
import pytest

from fasciq.grids.grid import Grid
from fasciq.units.clustering import (
    LANCZOS_A,
    _moment_separation,
    _Moments,
    pair_distances,
    separation,
)
from fasciq.units.features import peak_to_peak, take_windows, take_windows_fractional
from tests.units import synth

FS = 2048.0
GRID = Grid.regular(8, 4, 8.0)


def _pair_distances_direct(x: np.ndarray, noise: np.ndarray, max_lag: int, tol: float):
    """The definition, pair by pair and lag by lag."""
    n, n_t, _ = x.shape
    active = peak_to_peak(x) >= 5.0 * noise[None, :]
    var = np.square(noise)
    out = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            m = active[i] | active[j]
            expected = 2.0 * n_t * var[m].sum()
            signal = np.square(x[i][:, m]).sum() + np.square(x[j][:, m]).sum()
            best = np.inf
            for lag in range(-max_lag, max_lag + 1):
                lo, hi = max(0, lag), min(n_t, n_t + lag)
                d = np.square(x[i, lo - lag : hi - lag][:, m] - x[j, lo:hi][:, m]).sum()
                best = min(best, d / (expected + tol * signal))
            out[i, j] = best
    out = np.minimum(out, out.T)
    np.fill_diagonal(out, 0.0)
    return out


def test_pair_distances_match_their_definition() -> None:
    rng = np.random.default_rng(3)
    a = synth.template(GRID, FS, iz_mm=20.0, cv_m_s=4.0, x_mm=4.0, amp_uv=40.0, n_samples=25)
    b = synth.template(GRID, FS, iz_mm=30.0, cv_m_s=4.0, x_mm=20.0, amp_uv=25.0, n_samples=25)
    noise = rng.uniform(1.5, 3.0, GRID.n_channels)
    x = np.concatenate(
        [
            a[None] + rng.normal(0, 1, (6, *a.shape)) * noise,
            b[None] + rng.normal(0, 1, (5, *b.shape)) * noise,
            rng.normal(0, 1, (3, *a.shape)) * noise,
        ]
    ).astype(np.float32)
    fast = pair_distances(x, noise, max_lag=2, tolerance=0.05)
    direct = _pair_distances_direct(x.astype(np.float64), noise, 2, 0.05)
    np.testing.assert_allclose(fast, direct, rtol=1e-4, atol=1e-6)


@pytest.mark.parametrize(("lag", "frac"), [(0, 0.0), (2, 0.3), (-3, -0.45)])
def test_moment_separation_matches_separation(lag: int, frac: float) -> None:
    rng = np.random.default_rng(7)
    tpl = synth.template(GRID, FS, iz_mm=24.0, cv_m_s=4.0, x_mm=12.0, amp_uv=50.0, n_samples=81)
    other = 0.9 * synth.template(GRID, FS, iz_mm=26.0, cv_m_s=4.0, x_mm=12.0, n_samples=81)
    noise = np.full(GRID.n_channels, 2.0)
    centre, half, max_lag = 40, 10, 4
    reach = half + max_lag + LANCZOS_A + 1
    a = (tpl[None] + rng.normal(0, 2.0, (60, *tpl.shape))).astype(np.float32)
    b = (other[None] * 50.0 + rng.normal(0, 2.0, (45, *tpl.shape))).astype(np.float32)
    shifts_a = rng.integers(-1, 2, len(a))
    shifts_b = rng.integers(-1, 2, len(b))
    channels = np.arange(4, 20)
    wa = take_windows(a, centre, shifts_a, half)[:, :, channels]
    wb = take_windows_fractional(b, centre, shifts_b + lag, frac, half)[:, :, channels]
    direct = separation(wa, wb, np.ones(len(channels), dtype=bool), noise[channels])
    ma = _Moments.of(a, centre, shifts_a, reach, np.arange(len(a)))
    mb = _Moments.of(b, centre, shifts_b, reach, np.arange(len(b)))
    fast = _moment_separation(ma, mb, reach, half, lag, frac, channels, noise)
    # only b's scatter is read at the whole-sample lag: a small correction term
    assert fast == pytest.approx(direct, rel=0.01)
    assert direct > 1.0
