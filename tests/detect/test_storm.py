"""A storm of irregular FPs (many units, Poisson) is analysed; regular trains are excluded.

In a storm the MUAPs overlap constantly: template peeling separates them.
"""

import numpy as np

from fasciq.analysis import AnalysisParams, analyze
from fasciq.evaluate import match_events

from .synth import add_train, synth


def test_irregular_storm_is_analysed_not_excluded():
    # 30 s: rest, then 10 s of ~80 FP/s from 24 units firing irregularly, then rest;
    # dense enough that the level and coherence tests alone call it voluntary
    rest, rest_times = synth(duration_s=30.0, rate_per_min=60, n_units=4, seed=21)
    storm, storm_times = synth(
        duration_s=10.0,
        rate_per_min=4800,
        n_units=24,
        amp_uv=120.0,
        seed=22,
        min_gap_s=0.004,
        noise_uv=0.0,
    )
    x = rest.get_traces().copy()
    i0 = int(10.0 * rest.fs)
    x[i0 : i0 + storm.n_samples] += storm.get_traces()
    from fasciq.recording import ArrayRecording

    rec = ArrayRecording(x, rest.fs, grid=rest.grid)
    times = np.sort(np.concatenate([rest_times, storm_times + 10.0]))
    by_density = analyze(rec, AnalysisParams.from_dict({"activity": {"require_trains": False}}))
    assert by_density.excluded.eval("end_s - start_s").sum() > 8.0  # density alone excludes it
    res = analyze(rec)
    vol = res.excluded[res.excluded.reason == "voluntary"]
    assert vol.eval("end_s - start_s").sum() < 1.0
    found = res.fasciculations["time_s"].to_numpy()
    inside = (times > 10.0) & (times < 20.0)
    m = match_events(found, times[inside], 0.01)
    assert m.n_truth > 500
    # overlapping FPs are separated by peeling the unit templates (about half
    # of them are found without it)
    assert m.true_positives >= 0.85 * m.n_truth
    assert m.false_positives <= 0.06 * m.n_truth
    assert res.summary["params"]["peel"]["enabled"]
    assert res.summary["fp_per_min"] > 500  # the storm counts: far above the 60/min at rest


def test_regular_contraction_still_excluded():
    rec, _ = synth(duration_s=30.0, rate_per_min=60, seed=23)
    rec = add_train(rec, 12.0, 20.0, n_units=10, rate_hz=12.0, amp_uv=60.0)
    res = analyze(rec)
    vol = res.excluded[res.excluded.reason == "voluntary"]
    covered = lambda t: ((vol.start_s <= t) & (vol.end_s >= t)).any()  # noqa: E731
    assert covered(13.0) and covered(16.0) and covered(19.0)


def test_succinylcholine_burst_overlaps_are_separated():
    # 30 s: a burst of 30 units at up to ~60 FP/s, simulated with ground truth
    from fasciq.evaluate import Truth, evaluate_result
    from fasciq.simulate import simulate

    sim = simulate(preset="succinylcholine", duration_s=30.0, seed=8)
    rec = sim.recording.load()
    truth = Truth.from_simulation(sim.truth)
    assert truth.times_s.size > 500
    plain = analyze(rec, AnalysisParams.from_dict({"peel": {"enabled": False}}))
    res = analyze(rec)
    before = evaluate_result(plain, truth)
    after = evaluate_result(res, truth)
    # about half of the burst's FPs are found by the first pass alone; peeling
    # separates most of the rest without many false FPs
    assert before["sensitivity"] < 0.55
    assert after["sensitivity"] >= 0.6
    assert after["sensitivity"] >= before["sensitivity"] + 0.12
    assert after["precision"] >= 0.8
    assert after["f1"] >= before["f1"] + 0.06
    assert abs(after["rate_error"]) < abs(before["rate_error"]) - 0.15
    # the separated FPs are measured and carry their unit
    fps = res.fasciculations
    assert len(fps) > len(plain.fasciculations) + 80
    assert (fps["amplitude_uv"] > 0).all() and fps["channel"].isin(rec.channel_labels).all()
    assert (fps["unit"] >= 0).sum() > (plain.fasciculations["unit"] >= 0).sum() + 80
    assert fps["time_s"].is_monotonic_increasing
