"""Sorting within a memory budget: held FPs, block-wise matching, FPs read on demand."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from fasciq.errors import DataError, ParameterError
from fasciq.evaluate.sorting import sorting_metrics
from fasciq.grids.grid import Grid
from fasciq.units import SnippetRows, SnippetSource, SortingParams, sort_units
from tests.units import synth

FS = 2048.0
BEFORE = 31  # snippet: 63 samples, the FP time at index 31
NOISE_UV = 3.0

#: (innervation zone mm, velocity m/s, x mm, amplitude µV, discharges)
UNITS = [
    (28.0, 4.0, 0.0, 120.0, 160),
    (20.0, 3.5, 24.0, 90.0, 140),
    (40.0, 4.5, 8.0, 150.0, 150),
    (12.0, 3.0, 16.0, 70.0, 130),
]
#: a unit that discharges five times, in the last 8 % of the recording
LATE = (48.0, 4.0, 24.0, 110.0, 5)


def _snippets(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, Grid]:
    """Snippets of five analytic units in white noise (time order), their times and units."""
    grid = Grid.regular(8, 4, 8.0)
    rng = np.random.default_rng(seed)
    duration = 600.0
    times, truth, waves = [], [], []
    for u, (iz, cv, x, amp, count) in enumerate([*UNITS, LATE]):
        tpl = synth.template(grid, FS, iz_mm=iz, cv_m_s=cv, x_mm=x, amp_uv=amp)
        start = 0.92 * duration if u == len(UNITS) else 0.0
        t = np.sort(rng.uniform(start + 0.5, duration - 0.5, count))
        # the FP time lands within a sample of the discharge
        jitter = rng.integers(-1, 2, count)
        centre = tpl.shape[0] // 2
        for s in jitter:
            a = centre - BEFORE + s
            waves.append(tpl[a : a + 2 * BEFORE + 1])
        times.append(t)
        truth.append(np.full(count, u))
    times_a = np.concatenate(times)
    order = np.argsort(times_a, kind="stable")
    snippets = np.stack(waves)[order] + rng.normal(0.0, NOISE_UV, (len(order), 63, 32))
    return snippets.astype(np.float32), times_a[order], np.concatenate(truth)[order], grid


class CountingSource:
    """A snippet source that remembers the most rows asked for at once."""

    def __init__(self, snippets: np.ndarray) -> None:
        self.snippets = snippets
        self.most = 0
        self.reads = 0

    @property
    def shape(self) -> tuple[int, int, int]:
        return self.snippets.shape

    def take(self, index: np.ndarray) -> np.ndarray:
        self.most = max(self.most, len(index))
        self.reads += 1
        return self.snippets[index]


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, Grid]:
    return _snippets()


def _sort(source, times, grid, memory_mb: float | None = None):
    params = SortingParams() if memory_mb is None else SortingParams(memory_mb=memory_mb)
    return sort_units(
        source,
        times,
        FS,
        grid=grid,
        params=params,
        seed=0,
        centre=BEFORE,
        analysed_s=600.0,
        noise_uv=np.full(32, NOISE_UV),
    )


def _held(memory_mb: float, n_ch: int = 32) -> int:
    return int(memory_mb * 2**20) // (2 * 4 * 63 * n_ch)


def test_within_budget_source_equals_array_and_array_unchanged(data) -> None:
    snippets, times, truth, grid = data
    before = snippets.copy()
    plain = _sort(snippets, times, grid)
    np.testing.assert_array_equal(snippets, before)  # whitening never touches the caller's array
    source = CountingSource(snippets)
    assert isinstance(source, SnippetSource)
    read = _sort(source, times, grid)
    assert source.most == len(times)  # within the budget every FP is held at once
    np.testing.assert_array_equal(plain.labels, read.labels)
    pd.testing.assert_frame_equal(plain.units, read.units)
    for u, tpl in plain.templates.items():
        np.testing.assert_array_equal(tpl, read.templates[u])
    m = sorting_metrics(plain.labels, truth)
    assert m["n_units_found"] == len(UNITS) + 1
    assert m["ari"] >= 0.98


def test_beyond_budget_units_still_match_the_truth(data, caplog) -> None:
    snippets, times, truth, grid = data
    n = len(times)
    memory_mb = 3.5  # 227 FPs held, a third of them
    held = _held(memory_mb)
    assert 200 <= held < 0.4 * n
    source = CountingSource(snippets)
    with caplog.at_level(logging.INFO, logger="fasciq"):
        res = _sort(source, times, grid, memory_mb)
    assert "exceed the sorting memory budget" in caplog.text
    # never more than the budget read at once, and the FPs were read in blocks
    assert source.most <= held
    assert source.reads > 3
    m = sorting_metrics(res.labels, truth)
    assert m["n_units_found"] == len(UNITS) + 1
    assert m["ari"] >= 0.95
    assert (res.labels >= 0).mean() >= 0.97
    # the late unit (one of its FPs among those held: too few to be a unit
    # there) is found among the FPs left unassigned, a unit of its own
    assert "sorted again" in caplog.text
    late = res.labels[truth == len(UNITS)]
    top = pd.Series(late).mode()[0]
    assert top >= 0 and (late == top).mean() >= 0.8
    assert (res.labels[truth != len(UNITS)] == top).sum() == 0
    # counts and rates cover every FP, not only those held
    assert res.units["n_fp"].sum() == (res.labels >= 0).sum()
    row = res.units.set_index("unit").loc[top]
    assert row.first_s >= 0.92 * 600.0
    assert row.rate_per_min == pytest.approx(row.n_fp / 10.0)
    # waveform figures from the held discharges: amplitude of the true template
    by_unit = res.units.set_index("unit")
    for u, (iz, cv, x, amp, _) in enumerate(UNITS):
        found = pd.Series(res.labels[truth == u]).mode()[0]
        tpl = synth.template(grid, FS, iz_mm=iz, cv_m_s=cv, x_mm=x, amp_uv=amp)
        assert by_unit.loc[found, "amplitude_uv"] == pytest.approx(
            np.ptp(tpl, axis=0).max(), rel=0.1
        )
        assert by_unit.loc[found, "cv_m_s"] == pytest.approx(cv, rel=0.15)
        assert by_unit.loc[found, "stable"]
    again = _sort(CountingSource(snippets), times, grid, memory_mb)
    np.testing.assert_array_equal(res.labels, again.labels)
    pd.testing.assert_frame_equal(res.units, again.units)


def test_beyond_budget_array_input_agrees_with_source(data) -> None:
    snippets, times, _, grid = data
    a = _sort(snippets, times, grid, 3.5)
    b = _sort(SnippetRows(lambda i: snippets[i], snippets.shape), times, grid, 3.5)
    np.testing.assert_array_equal(a.labels, b.labels)
    pd.testing.assert_frame_equal(a.units, b.units)


def test_bounded_description_uses_few_discharges(data, monkeypatch) -> None:
    import fasciq.units.sorting as sorting

    snippets, times, truth, grid = data
    monkeypatch.setattr(sorting, "MAX_DESCRIBED", 20)
    res = _sort(snippets, times, grid, 3.5)
    by_unit = res.units.set_index("unit")
    for u, (iz, cv, x, amp, count) in enumerate(UNITS):
        found = pd.Series(res.labels[truth == u]).mode()[0]
        tpl = synth.template(grid, FS, iz_mm=iz, cv_m_s=cv, x_mm=x, amp_uv=amp)
        # the template of 20 discharges still has the unit's amplitude; counts are all FPs
        assert by_unit.loc[found, "amplitude_uv"] == pytest.approx(
            np.ptp(tpl, axis=0).max(), rel=0.1
        )
        assert by_unit.loc[found, "n_fp"] >= 0.95 * count


def test_source_with_nan_and_bad_budget_rejected(data) -> None:
    snippets, times, _, grid = data
    bad = snippets.copy()
    bad[5, 3, 2] = np.nan
    with pytest.raises(DataError, match="NaN"):
        _sort(SnippetRows(lambda i: bad[i], bad.shape), times, grid)
    with pytest.raises(DataError, match="FP times"):
        _sort(SnippetRows(lambda i: snippets[i], snippets.shape), times[:-1], grid)
    with pytest.raises(ParameterError, match="memory_mb"):
        SortingParams(memory_mb=0)
    params = SortingParams(memory_mb=64)
    assert SortingParams.from_dict(params.to_dict()) == params
