"""A storm of irregular FPs (many units, Poisson) is analysed; regular trains are excluded."""

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
    assert m.true_positives >= 0.45 * m.n_truth  # overlapping FPs are hard, but analysed
    assert m.false_positives <= 0.06 * m.n_truth
    assert res.summary["fp_per_min"] > 500  # the storm counts: far above the 60/min at rest


def test_regular_contraction_still_excluded():
    rec, _ = synth(duration_s=30.0, rate_per_min=60, seed=23)
    rec = add_train(rec, 12.0, 20.0, n_units=10, rate_hz=12.0, amp_uv=60.0)
    res = analyze(rec)
    vol = res.excluded[res.excluded.reason == "voluntary"]
    covered = lambda t: ((vol.start_s <= t) & (vol.end_s >= t)).any()  # noqa: E731
    assert covered(13.0) and covered(16.0) and covered(19.0)
