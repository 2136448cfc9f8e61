"""Innervation zone and conduction velocity on templates with known propagation."""

from __future__ import annotations

import numpy as np
import pytest

from fasciq.grids import get_grid
from fasciq.grids.grid import Grid
from fasciq.units.propagation import (
    double_differential,
    estimate_propagation,
    fit_innervation_zone,
    ml_delay,
    single_differential,
)
from tests.units import synth

FS = 2048.0


@pytest.mark.parametrize(("cv", "iz"), [(3.0, 44.0), (4.0, 52.0), (5.5, 30.0)])
def test_velocity_and_iz_on_propagating_template(cv: float, iz: float) -> None:
    grid = Grid.regular(13, 5, 8.0)
    tpl = synth.template(grid, FS, iz_mm=iz, cv_m_s=cv, x_mm=16.0)
    prop = estimate_propagation(tpl, grid, FS)
    assert prop.cv_m_s == pytest.approx(cv, rel=0.03)
    assert prop.iz_mm == pytest.approx(iz, abs=2.0)
    assert prop.n_channels >= 3


def test_catalogue_grid_with_missing_corner() -> None:
    grid = get_grid("GR08MM1305")
    tpl = synth.template(grid, FS, iz_mm=40.0, cv_m_s=4.2, x_mm=0.0)
    prop = estimate_propagation(tpl, grid, FS)
    assert prop.cv_m_s == pytest.approx(4.2, rel=0.03)
    assert prop.iz_mm == pytest.approx(40.0, abs=2.0)


def test_ml_delay_recovers_subsample_delay() -> None:
    t = np.arange(200) / FS
    delay = 1.7 / FS  # 1.7 samples per channel step
    sig = np.column_stack([synth.wave(t - 0.04 - k * delay) for k in range(4)])
    est = ml_delay([sig], FS, 0.1 / FS, 5 / FS)
    assert est == pytest.approx(delay, rel=0.01)


def test_differential_signals_skip_gaps() -> None:
    tpl = np.tile(np.array([[0.0, 1.0, 4.0, 9.0]]), (3, 1))
    line = np.array([0, 1, 2, 3])
    pos = np.array([0.0, 8.0, 24.0, 32.0])  # one electrode missing between 1 and 2
    sd, mid = single_differential(tpl, line, pos, 8.0)
    assert mid.tolist() == [4.0, 28.0]
    assert sd[0].tolist() == [1.0, 5.0]
    dd, centre = double_differential(tpl, np.arange(4), np.array([0.0, 8.0, 16.0, 24.0]), 8.0)
    assert centre.tolist() == [8.0, 16.0]
    assert dd[0].tolist() == [2.0, 2.0]


def test_iz_fit_on_v_shaped_arrivals() -> None:
    mid = np.arange(4.0, 100.0, 8.0)
    times = 0.001 + np.abs(mid - 37.0) / 4000.0
    assert fit_innervation_zone(times, mid, 8.0) == pytest.approx(37.0, abs=0.3)


def test_flat_template_gives_nan() -> None:
    grid = Grid.regular(8, 4, 8.0)
    prop = estimate_propagation(np.zeros((60, 32)), grid, FS)
    assert np.isnan(prop.cv_m_s)
