"""End to end: analyze sorts the FPs it finds into motor units and writes them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import fasciq
from fasciq.evaluate import Truth, evaluate_result, match_events
from fasciq.result import Result
from fasciq.simulate import simulate
from fasciq.units.timing import UnitTimingParams


@pytest.fixture(scope="module")
def analysed():
    sim = simulate(preset="als", duration_s=60.0, grid="GR08MM1305", fs=2048.0, seed=2)
    return sim, fasciq.analyze(sim.recording)


def test_units_match_the_simulated_pool(analysed):
    sim, result = analysed
    fps = sim.truth.discharges.query("kind == 'fasciculation'")
    counts = fps["unit"].value_counts()
    identifiable = int((counts >= 3).sum())  # a unit needs a few discharges to be seen as one
    metrics = evaluate_result(result, sim.truth)
    assert metrics["f1"] >= 0.9
    sorting = metrics["sorting"]
    assert sorting["ari"] >= 0.8
    assert abs(result.summary["n_units"] - identifiable) <= 2
    assert result.summary["n_units"] == len(result.units)
    labels = result.fasciculations["unit"]
    assert set(labels[labels >= 0]) == set(result.units["unit"])
    assert (result.units["n_fp"].sum() + (labels < 0).sum()) == len(labels)


def test_units_are_saved_and_reloaded(analysed, tmp_path):
    sim, result = analysed
    out = result.save(tmp_path / "out", recording=sim.recording)
    for name in ("units.csv", "templates.npz", "report.html"):
        assert (out / name).is_file(), name
    back = Result.load(out)
    pd.testing.assert_frame_equal(
        back.fasciculations[["time_s", "unit"]],
        result.fasciculations[["time_s", "unit"]],
        check_dtype=False,
    )
    assert len(back.units) == result.summary["n_units"]
    with np.load(out / "templates.npz") as npz:
        first = int(result.units["unit"].iloc[0])
        assert npz[f"unit_{first}"].shape[1] == sim.recording.n_channels


def test_sorting_can_be_switched_off_and_is_deterministic(analysed):
    sim, result = analysed
    plain = fasciq.analyze(sim.recording, fasciq.AnalysisParams(sort_units=False))
    assert (plain.fasciculations["unit"] == -1).all()
    assert plain.summary["n_units"] == 0
    # sorting finds the same FPs; with its timing off they keep the detector's times
    untimed = fasciq.analyze(
        sim.recording, fasciq.AnalysisParams(timing=UnitTimingParams(enabled=False))
    )
    np.testing.assert_array_equal(
        plain.fasciculations["time_s"].to_numpy(), untimed.fasciculations["time_s"].to_numpy()
    )
    assert len(plain.fasciculations) == len(result.fasciculations)
    again = fasciq.analyze(sim.recording)
    np.testing.assert_array_equal(
        again.fasciculations["unit"].to_numpy(), result.fasciculations["unit"].to_numpy()
    )


def test_sorted_fps_are_timed_at_their_largest_peak(analysed):
    # the simulator's time of an FP is the largest sample of its unfiltered
    # MUAP on its largest channel; the detector alone reports the middle of
    # the tied channels' peaks, several ms later on a propagating MUAP
    sim, result = analysed
    untimed = fasciq.analyze(
        sim.recording, fasciq.AnalysisParams(timing=UnitTimingParams(enabled=False))
    )
    timed_m = evaluate_result(result, sim.truth)
    untimed_m = evaluate_result(untimed, sim.truth)
    assert untimed_m["timing_bias_ms"] > 3.0
    assert timed_m["median_timing_error_ms"] < untimed_m["median_timing_error_ms"] - 3.0
    assert timed_m["f1"] >= untimed_m["f1"] - 0.01
    # only sorted FPs move, by up to a MUAP's phases; an FP keeps its unit,
    # or joins one when it had none
    fps, before = result.fasciculations, untimed.fasciculations
    now_units, was_units = fps["unit"].to_numpy(), before["unit"].to_numpy()
    assert ((now_units == was_units) | (was_units < 0)).all()
    moved = fps["time_s"].to_numpy() - before["time_s"].to_numpy()
    assert (moved[fps["unit"].to_numpy() < 0] == 0).all()
    assert np.abs(moved).max() <= 0.030
    # those that moved lie on the simulated peak (units whose largest channels
    # tie and peak apart keep the detector's time)
    now = fps["time_s"].to_numpy()[moved != 0]
    truth_s = Truth.from_simulation(sim.truth).times_s
    pairs = match_events(now, truth_s, 0.010)
    error_ms = 1000 * np.abs(now[pairs.detected_index] - truth_s[pairs.truth_index])
    assert len(now) >= 0.4 * len(fps) and len(pairs.detected_index) >= 0.95 * len(now)
    assert np.median(error_ms) <= 0.5 and np.percentile(error_ms, 90) <= 1.0
    # the table stays in time order
    assert np.all(np.diff(fps["time_s"].to_numpy()) >= 0)


def test_unsorted_fps_timed_on_their_units_other_phase_join_it():
    # a unit whose first-pass times sometimes fall on its later phase, 12 ms
    # after its largest peak: sorting cannot align those; timing finds them on
    # the unit's template, while another unit's discharge and noise stay unsorted
    from types import SimpleNamespace

    from fasciq.analysis import _SnippetStore, _unit_time_offsets
    from fasciq.units.params import SnippetParams

    fs, n_ch, n = 2048.0, 8, 120 * 2048
    rng = np.random.default_rng(11)
    traces = rng.normal(0.0, 2.0, size=(n, n_ch))
    bump = np.exp(-0.5 * (np.arange(-8, 9) / 2.0) ** 2)

    def fire(at: int, shape: dict[int, list[tuple[int, float]]]) -> None:
        for ch, phases in shape.items():
            for lag, amp in phases:
                traces[at + lag - 8 : at + lag + 9, ch] += amp * bump

    unit = {0: [(0, -40.0), (24, 25.0)], 1: [(0, -20.0), (24, 30.0)], 2: [(24, 15.0)]}
    other = {5: [(0, 35.0), (6, -20.0)], 6: [(0, 25.0)], 7: [(0, 12.0)]}
    members = np.arange(40) * 2048 * 2 + 3000
    late = np.array([83000, 121000, 160000, 201000, 230000])
    others = np.array([50000, 110000, 170000])
    # enough noise-only FPs that the unsorted ones are fitted in several batches
    busy = np.concatenate([members, late, others])
    quiet = np.arange(400, n - 400, 700)
    quiet = quiet[np.abs(quiet[:, None] - busy[None]).min(axis=1) > 300]
    assert len(quiet) > 300
    for at in members:
        fire(int(at), unit)
    for at in late:
        fire(int(at), unit)
    for at in others:
        fire(int(at), other)
    # first-pass times: members on their largest peak, the late ones on phase 2
    samples = np.concatenate([members, late + 24, others, quiet])
    order = np.argsort(samples)
    samples = samples[order]
    labels = np.concatenate([np.zeros(40), -np.ones(8 + len(quiet))]).astype(np.int64)[order]
    kind = np.repeat(["member", "late", "other", "quiet"], [40, 5, 3, len(quiet)])[order]

    def timed(params: fasciq.AnalysisParams) -> tuple[np.ndarray, np.ndarray]:
        reach = params.timing.window_ms + 2 * params.sorting.cluster.max_lag_ms + 1.0
        store = _SnippetStore(fs, n_ch, SnippetParams(before_ms=reach, after_ms=reach))
        store.add(traces.astype(np.float32), 0, samples, n)
        try:
            return _unit_time_offsets(
                SimpleNamespace(fs=fs),
                params,
                SimpleNamespace(wide=store),
                np.arange(len(samples)),
                SimpleNamespace(labels=labels, shifts=np.zeros(len(samples), dtype=np.int64)),
            )
        finally:
            store.close()

    offsets, joined = timed(fasciq.AnalysisParams())
    assert (joined[kind == "late"] == 0).all()
    np.testing.assert_allclose(offsets[kind == "late"] * fs, -24, atol=1)
    assert (joined[np.isin(kind, ["other", "quiet"])] == -1).all()
    assert np.isnan(offsets[np.isin(kind, ["other", "quiet"])]).all()
    # the unit's own discharges were already on its largest peak
    np.testing.assert_allclose(offsets[kind == "member"] * fs, 0, atol=1)
    # switched off, unsorted FPs stay as they are
    offsets, joined = timed(fasciq.AnalysisParams(timing=UnitTimingParams(leftover_lag_ms=0.0)))
    assert (joined == labels).all() and np.isnan(offsets[labels < 0]).all()


def test_unit_statistics_describe_the_peeled_table(tmp_path):
    # a burst in which peeling separates overlapping FPs (adds them, with their unit)
    from fasciq.units import PatternParams, save_sorting
    from fasciq.units.patterns import train_pattern

    sim = simulate(preset="succinylcholine", duration_s=30.0, seed=8)
    rec = sim.recording.load()
    result = fasciq.analyze(rec)
    plain = fasciq.analyze(rec, fasciq.AnalysisParams.from_dict({"peel": {"enabled": False}}))
    fps = result.fasciculations
    assert len(fps) > len(plain.fasciculations) + 80
    counts = fps.loc[fps["unit"] >= 0, "unit"].value_counts()
    assert counts.sum() > plain.units["n_fp"].sum() + 80
    units = result.units.set_index("unit")
    assert units["n_fp"].to_dict() == counts.to_dict()
    assert result.summary["n_units"] == len(units)
    assert result.summary["n_fp_sorted"] == counts.sum()
    minutes = result.summary["analysed_s"] / 60.0
    doublets = 0
    for unit, row in units.iterrows():
        t = np.sort(fps.loc[fps["unit"] == unit, "time_s"].to_numpy())
        pattern = train_pattern(t, PatternParams())
        assert row.rate_per_min == pytest.approx(len(t) / minutes)
        assert (row.doublets, row.isolated, row.continual) == (
            pattern.doublets,
            pattern.isolated,
            pattern.continual,
        )
        assert row.first_s == t[0] and row.last_s == t[-1]
        doublets += pattern.doublets
    assert result.summary["doublets"] == doublets
    # the separated overlaps are close pairs: far more doublets than the first pass saw
    assert doublets > plain.summary["doublets"] + 20
    units_csv, _ = save_sorting(result.sorting, tmp_path)
    assert pd.read_csv(units_csv).set_index("unit")["n_fp"].to_dict() == counts.to_dict()


def test_template_discovery_runs_inside_analyze():
    # [peel] discover_rounds adds units found in the peeling residual; their
    # discharges are reported unsorted and the result stays close to the truth
    sim = simulate(preset="succinylcholine", duration_s=30.0, seed=8)
    rec = sim.recording.load()
    plain = fasciq.analyze(rec)
    params = fasciq.AnalysisParams.from_dict({"peel": {"discover_rounds": 1}})
    found = fasciq.analyze(rec, params)
    assert found.summary["params"]["peel"]["discover_rounds"] == 1
    f1_plain = evaluate_result(plain, sim.truth)["f1"]
    f1_found = evaluate_result(found, sim.truth)["f1"]
    assert f1_found > 0.6
    assert abs(f1_found - f1_plain) < 0.1
    # units found only in the residual carry no sorted unit
    assert set(found.fasciculations["unit"].unique()) <= set(found.units["unit"]) | {-1}
