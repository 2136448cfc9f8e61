"""Sorting FPs into units, asserted against simulated and analytic ground truth."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fasciq.errors import DataError, GridError, OutputExistsError, ParameterError
from fasciq.evaluate.sorting import sorting_metrics
from fasciq.grids.grid import Grid
from fasciq.units import (
    UNIT_COLUMNS,
    ClusterParams,
    SortingParams,
    extract_snippets,
    save_sorting,
    sort_recording,
    sort_units,
)
from tests.units import synth

FS = 2048.0


@pytest.fixture(scope="module")
def stimulant() -> dict:
    """A 3-minute simulated recording with five benign units, and its sorting."""
    simulate = pytest.importorskip("fasciq.simulate").simulate
    sim = simulate(preset="stimulant", duration_s=180.0, seed=7)
    d = sim.truth.discharges
    d = d[d.kind == "fasciculation"]
    keep = np.ones(len(d), dtype=bool)
    for a, b in np.asarray(sim.truth.voluntary_epochs).reshape(-1, 2):
        keep &= ~((d.peak_time_s >= a - 0.5) & (d.peak_time_s <= b + 0.5)).to_numpy()
    d = d[keep]
    rng = np.random.default_rng(0)
    times = d.peak_time_s.to_numpy() + rng.uniform(-1e-3, 1e-3, len(d))
    res = sort_recording(sim.recording, times, seed=0)
    return {"sim": sim, "truth": d, "times": times, "result": res}


def test_simulated_units_recovered(stimulant: dict) -> None:
    res, truth = stimulant["result"], stimulant["truth"]
    m = sorting_metrics(res.labels, truth.unit.to_numpy())
    assert m["n_units_true"] == 5
    assert m["n_units_found"] == 5
    assert m["ari"] >= 0.95
    assert (res.labels >= 0).mean() >= 0.97
    assert list(res.units.columns) == list(UNIT_COLUMNS)
    assert res.units.n_fp.sum() == (res.labels >= 0).sum()


def test_simulated_velocity_and_iz(stimulant: dict) -> None:
    res, truth, sim = stimulant["result"], stimulant["truth"], stimulant["sim"]
    true_units = sim.truth.units.set_index("unit")
    checked = 0
    for row in res.units.itertuples():
        members = truth.unit.to_numpy()[res.labels == row.unit]
        true_unit = int(pd.Series(members).mode()[0])
        if row.n_fp >= 10:
            assert row.cv_m_s == pytest.approx(true_units.loc[true_unit, "cv_m_s"], rel=0.15)
            assert row.iz_mm == pytest.approx(true_units.loc[true_unit, "y_mm"], abs=8.0)
            checked += 1
        assert row.stable  # every unit of this preset repeats its shape
        rate = row.n_fp / (180.0 / 60.0)
        assert row.rate_per_min == pytest.approx(rate)
        assert row.rate_ci_low < rate < row.rate_ci_high
    assert checked >= 4


def test_same_input_same_result(stimulant: dict) -> None:
    res = stimulant["result"]
    again = sort_recording(stimulant["sim"].recording, stimulant["times"], seed=0)
    np.testing.assert_array_equal(res.labels, again.labels)
    pd.testing.assert_frame_equal(res.units, again.units)


def _two_units(grid: Grid, duration: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    tpl_a = synth.template(grid, FS, iz_mm=40.0, cv_m_s=4.0, x_mm=0.0, amp_uv=120.0)
    tpl_b = synth.template(grid, FS, iz_mm=24.0, cv_m_s=3.5, x_mm=24.0, amp_uv=80.0)
    a = synth.poisson_train(1.0, duration, rng)
    b = synth.poisson_train(1.0, duration, rng)
    # overlaps: discharges of b 2-4 ms after some of a
    lag = rng.uniform(0.002, 0.004, 8)
    b = np.sort(np.concatenate([b, a[5:13] + lag]))
    rec = synth.recording([tpl_a, tpl_b], [a, b], FS, duration, grid, noise_uv=3.0, seed=seed)
    return rec, a, b, a[5:13] + lag


def test_overlapping_discharges_assigned() -> None:
    grid = Grid.regular(8, 4, 8.0)
    rec, a, b, overlapped = _two_units(grid, 60.0)
    times = np.concatenate([a, b])
    truth = np.concatenate([np.zeros(len(a), int), np.ones(len(b), int)])
    res = sort_recording(rec, times, seed=0)
    m = sorting_metrics(res.labels, truth)
    assert m["n_units_found"] == 2
    assert m["ari"] >= 0.95
    # FPs at the overlapped b discharges still go to b's unit, and their partners to a's
    unit_b = pd.Series(res.labels[truth == 1]).mode()[0]
    unit_a = pd.Series(res.labels[truth == 0]).mode()[0]
    at_overlap = np.isin(times, overlapped)
    assert (res.labels[at_overlap] == unit_b).mean() >= 7 / 8
    assert (res.labels[np.isin(times, a[5:13])] == unit_a).mean() >= 7 / 8
    by_unit = res.units.set_index("unit")
    assert by_unit.loc[unit_a, "cv_m_s"] == pytest.approx(4.0, rel=0.1)


def test_one_unit() -> None:
    grid = Grid.regular(8, 4, 8.0)
    rng = np.random.default_rng(1)
    tpl = synth.template(grid, FS, iz_mm=28.0, cv_m_s=4.0, x_mm=8.0, amp_uv=100.0)
    t = synth.poisson_train(1.0, 40.0, rng)
    rec = synth.recording([tpl], [t], FS, 40.0, grid, seed=1)
    res = sort_recording(rec, t, seed=0)
    assert res.n_units == 1
    assert (res.labels == 0).all()
    row = res.units.iloc[0]
    assert row.amplitude_uv == pytest.approx(np.ptp(tpl, axis=0).max(), rel=0.1)
    assert row.stable
    assert row.stability < 0.015
    assert row.quality > 0.5


def test_no_fp_and_single_fp() -> None:
    grid = Grid.regular(8, 4, 8.0)
    empty = sort_units(np.zeros((0, 61, 32), np.float32), np.zeros(0), FS, grid=grid)
    assert empty.n_units == 0
    assert list(empty.units.columns) == list(UNIT_COLUMNS)
    assert empty.to_summary()["n_units"] == 0
    one = sort_units(np.random.default_rng(0).normal(size=(1, 61, 32)), [1.0], FS)
    assert one.labels.tolist() == [0]
    assert json.dumps(one.to_summary())  # JSON-ready (NaN become null)


def test_save_sorting(tmp_path, stimulant: dict) -> None:
    res = stimulant["result"]
    units_csv, npz = save_sorting(res, tmp_path)
    table = pd.read_csv(units_csv)
    assert list(table.columns) == list(UNIT_COLUMNS)
    assert len(table) == res.n_units
    with np.load(npz) as data:
        assert float(data["fs"]) == FS
        for u, tpl in res.templates.items():
            np.testing.assert_allclose(data[f"unit_{u}"], tpl)
            assert data[f"unit_{u}_examples"].shape[0] == min(5, int((res.labels == u).sum()))
    with pytest.raises(OutputExistsError):
        save_sorting(res, tmp_path, overwrite=False)
    summary = res.to_summary()
    assert summary["n_units"] == res.n_units
    assert json.loads(json.dumps(summary))["patterns"]["doublets"] == res.patterns["doublets"]


def test_bad_inputs() -> None:
    with pytest.raises(DataError, match="3-D"):
        sort_units(np.zeros((4, 10)), np.zeros(4), FS)
    with pytest.raises(DataError, match="times"):
        sort_units(np.zeros((4, 10, 2)), np.zeros(3), FS)
    with pytest.raises(GridError):
        sort_units(np.zeros((4, 10, 3)), np.zeros(4), FS, grid=Grid.regular(2, 2, 8.0))
    with pytest.raises(ParameterError):
        ClusterParams(match_threshold=1.5)
    with pytest.raises(ParameterError):
        SortingParams.from_dict({"clustering": {}})


def test_snippets_match_whole_recording_filter() -> None:
    from fasciq.signal.filters import bandpass
    from fasciq.units.params import SnippetParams

    grid = Grid.regular(2, 2, 8.0)
    rng = np.random.default_rng(2)
    x = rng.normal(0, 5, (int(20 * FS), 4)).astype(np.float32)
    from fasciq.recording import ArrayRecording

    rec = ArrayRecording(x, FS, grid=grid)
    times = np.array([0.005, 3.0, 7.77, 12.5, 19.99])
    params = SnippetParams(chunk_s=2.0, remove_line=False)
    sn = extract_snippets(rec, times, params)
    full = bandpass(x, FS)
    for i, t in enumerate(times):
        c = round(t * FS)
        for j, k in enumerate(range(c - 31, c + 32)):
            if 0 <= k < len(full):
                np.testing.assert_allclose(sn[i, j], full[k], atol=1e-2)
            else:
                assert (sn[i, j] == 0).all()
