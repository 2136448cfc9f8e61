"""Unit statistics recomputed from a final FP table (after peeling moved, dropped and added FPs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from fasciq.detect.rates import poisson_ci
from fasciq.errors import DataError
from fasciq.units import DISCHARGE_COLUMNS, UNIT_COLUMNS, save_sorting, update_unit_statistics
from tests.units.test_sorting_memory import UNITS, _snippets, _sort

#: Columns that describe the waveforms (kept as sorted).
WAVEFORM_COLUMNS = [c for c in UNIT_COLUMNS if c not in DISCHARGE_COLUMNS and c != "unit"]


@pytest.fixture(scope="module")
def sorted_units():
    snippets, times, truth, grid = _snippets()
    res = _sort(snippets, times, grid)
    # unit of each true unit
    ids = [int(pd.Series(res.labels[truth == u]).mode()[0]) for u in range(len(UNITS) + 1)]
    return res, times, ids


def _final_table(res, times, ids):
    """A final table: FPs dropped, relabelled and added at known times."""
    rng = np.random.default_rng(3)
    t, lab = times.copy(), res.labels.copy()
    a, b, c, d, late = ids
    keep = np.ones(len(t), dtype=bool)
    keep[rng.choice(np.flatnonzero(lab == a), 10, replace=False)] = False  # parts of peeled FPs
    keep[lab == late] = False  # every FP of a unit dropped
    lab[np.flatnonzero(lab == c)[4]] = -1
    # six double discharges of b, 30 ms after discharges at least 0.5 s from their neighbours
    tb = np.sort(times[res.labels == b])
    gaps = np.diff(tb)
    quiet = np.flatnonzero((gaps[1:] > 0.5) & (gaps[:-1] > 0.5)) + 1
    extra_b = tb[quiet[:6]] + 0.030
    # c discharges 8 ms after twelve discharges of d: a time-locked pair
    td = np.sort(times[res.labels == d])
    extra_c = td[np.linspace(0, len(td) - 1, 12).astype(int)] + 0.008
    t = np.concatenate([t[keep], extra_b, extra_c])
    lab = np.concatenate([lab[keep], np.full(6, b), np.full(12, c)])
    order = np.argsort(t, kind="stable")
    return t[order], lab[order]


def test_discharge_statistics_follow_the_final_table(sorted_units, tmp_path) -> None:
    res, times, ids = sorted_units
    a, b, c, d, late = ids
    before = res.units.copy()
    t, lab = _final_table(res, times, ids)
    up = update_unit_statistics(res, t, lab)
    pd.testing.assert_frame_equal(res.units, before)  # the sorting itself is not changed
    units = up.units.set_index("unit")
    # the unit without FPs is dropped, with its template
    assert late not in units.index and late not in up.templates and late not in up.examples
    assert up.n_units == res.n_units - 1
    counts = pd.Series(lab[lab >= 0]).value_counts()
    assert units["n_fp"].to_dict() == counts.to_dict()
    assert units.loc[a, "n_fp"] == before.set_index("unit").loc[a, "n_fp"] - 10
    assert units.loc[b, "n_fp"] == before.set_index("unit").loc[b, "n_fp"] + 6
    assert units.loc[c, "n_fp"] == before.set_index("unit").loc[c, "n_fp"] - 1 + 12
    for u, row in units.iterrows():
        tu = np.sort(t[lab == u])
        isi = np.diff(tu)
        assert row.rate_per_min == pytest.approx(len(tu) / 10.0)
        assert (row.rate_ci_low, row.rate_ci_high) == pytest.approx(poisson_ci(len(tu), 10.0))
        assert row.median_isi_s == pytest.approx(np.median(isi))
        assert row.isi_cov == pytest.approx(isi.std() / isi.mean())
        assert row.doublets == int(((isi >= 0.010) & (isi <= 0.110)).sum())
        assert row.first_s == tu[0] and row.last_s == tu[-1]
        near = np.minimum(np.r_[np.inf, isi], np.r_[isi, np.inf])
        assert row.isolated == int((near > 0.25).sum())
        assert row.continual == len(tu) - row.isolated
        # waveform figures are kept
        old = before.set_index("unit").loc[u]
        for col in WAVEFORM_COLUMNS:
            assert row[col] == old[col] or (pd.isna(row[col]) and pd.isna(old[col])), col
    assert units.loc[b, "doublets"] >= 6
    # totals and pairs of the final trains
    for key in ("doublets", "isolated", "continual"):
        assert up.patterns[key] == units[key].sum()
    assert res.patterns["time_locked_pairs"] == 0
    assert up.patterns["time_locked_pairs"] == 1
    (pair,) = up.patterns["locked"]
    assert {pair["unit_a"], pair["unit_b"]} == {c, d}
    # c follows d by 8 ms (the latency is of unit_b after unit_a)
    sign = 1 if pair["unit_a"] == d else -1
    assert sign * pair["latency_ms"] == pytest.approx(8.0, abs=2.0)
    assert pair["count"] >= 12
    summary = up.to_summary()
    assert summary["n_units"] == up.n_units
    assert summary["n_fp_sorted"] == int((lab >= 0).sum())
    assert summary["n_fp_unsorted"] == int((lab < 0).sum())
    np.testing.assert_array_equal(up.labels, lab)
    # units.csv carries the final counts
    units_csv, _ = save_sorting(up, tmp_path)
    back = pd.read_csv(units_csv).set_index("unit")
    assert back["n_fp"].to_dict() == counts.to_dict()


def test_bad_final_tables_rejected(sorted_units) -> None:
    res, times, _ = sorted_units
    with pytest.raises(DataError, match="unit labels"):
        update_unit_statistics(res, times[:-1], res.labels)
    with pytest.raises(DataError, match="not units of the sorting"):
        update_unit_statistics(res, times, np.where(res.labels == 0, 99, res.labels))
    bad = times.copy()
    bad[0] = np.nan
    with pytest.raises(DataError, match="finite"):
        update_unit_statistics(res, bad, res.labels)
    # the table the sorting was made from gives the same statistics back
    same = update_unit_statistics(res, times, res.labels)
    pd.testing.assert_frame_equal(same.units, res.units)
    assert same.patterns == res.patterns
