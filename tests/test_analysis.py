import json

import numpy as np
import pytest

from fasciq.analysis import AnalysisParams, ExecutionSettings, analyze
from fasciq.errors import DataError, GridError, ParameterError
from fasciq.evaluate import evaluate_result, match_events
from fasciq.recording import ArrayRecording

from .detect.synth import add_train, synth


@pytest.fixture(scope="module")
def als_sim():
    from fasciq.simulate import simulate

    sim = simulate(preset="als", duration_s=40.0, seed=3)
    return sim, sim.recording.load()


def test_end_to_end_on_simulated_als(als_sim):
    sim, rec = als_sim
    res = analyze(rec)
    metrics = evaluate_result(res, sim.truth)
    assert metrics["n_reference"] >= 20
    assert metrics["f1"] >= 0.9
    assert abs(metrics["rate_error"]) <= 0.1
    s = res.summary
    assert s["n_fp"] == len(res.fasciculations)
    assert s["line_freq_hz"] == 50.0
    # the simulated noisy channel is reported and left out
    for label in sim.truth.bad_channels:
        assert label in s["bad_channels"]
    assert not set(res.fasciculations["channel"]) & set(sim.truth.bad_channels)
    # rates: per minute of analysed time, with an exact interval around it
    assert s["fp_per_min"] == pytest.approx(s["n_fp"] / (s["analysed_s"] / 60))
    low, high = s["fp_per_min_ci95"]
    assert low < s["fp_per_min"] < high
    assert s["analysed_s"] + s["excluded_s"] == pytest.approx(rec.duration_s)
    json.dumps(s)  # JSON-ready


@pytest.mark.parametrize("extra", [7, 100])
def test_a_few_samples_past_the_last_window_change_nothing(extra):
    # real recordings rarely stop on a whole window: a short last window must
    # not read as an artefact, nor its line fit add FPs near the end
    from fasciq.simulate import simulate

    sim = simulate(preset="bfs", duration_s=20.0 + extra / 2048, seed=5)
    rec = sim.recording.load()
    res = analyze(rec, AnalysisParams(sort_units=False))
    assert len(res.excluded) == 0
    assert res.summary["analysed_s"] == pytest.approx(rec.duration_s)
    truth = sim.truth.discharges
    truth = truth[truth["kind"].astype(str) == "fasciculation"]["peak_time_s"].to_numpy()
    det = res.fasciculations["time_s"].to_numpy()
    pairs = match_events(det, truth, 0.010)
    unmatched = np.setdiff1d(np.arange(det.size), pairs.detected_index)
    assert len(truth) >= 30 and len(pairs.detected_index) >= 0.9 * len(truth)
    assert len(unmatched) <= 2 and not (det[unmatched] > rec.duration_s - 1.0).any()


def test_chunk_length_does_not_change_results():
    rec, _ = synth(duration_s=24.0, rate_per_min=240, seed=11, line_uv=15.0)
    params = AnalysisParams()
    a = analyze(rec, params, execution=ExecutionSettings(chunk_s=30.0))
    b = analyze(rec, params, execution=ExecutionSettings(chunk_s=3.5, n_jobs=2))
    assert len(a.fasciculations) == len(b.fasciculations) > 50
    assert np.allclose(a.fasciculations["time_s"], b.fasciculations["time_s"], atol=1e-9)
    assert np.allclose(
        a.fasciculations["amplitude_uv"], b.fasciculations["amplitude_uv"], rtol=1e-4
    )


def test_voluntary_excluded_and_rest_fps_kept():
    rec, times = synth(duration_s=40.0, rate_per_min=300, seed=12)
    rec = add_train(rec, 10.0, 18.0, n_units=10, rate_hz=12.0, amp_uv=60.0)
    rec = add_train(rec, 28.0, 32.0, n_units=1, rate_hz=9.0, amp_uv=90.0, seed=4)
    res = analyze(rec)
    vol = res.excluded[res.excluded.reason == "voluntary"]
    covered = lambda t: ((vol.start_s <= t) & (vol.end_s >= t)).any()  # noqa: E731
    assert covered(11.0) and covered(17.0) and covered(29.0) and covered(31.0)
    assert vol.eval("end_s - start_s").sum() < 14.0  # about 12 s of contraction

    def at_rest(t):
        return t[~(((t > 9.5) & (t < 18.5)) | ((t > 27.5) & (t < 32.5)))]

    rest = at_rest(times)
    m = match_events(at_rest(res.fasciculations["time_s"].to_numpy()), rest, 0.01)
    # 300 FP/min at rest are not mistaken for voluntary activity
    assert m.true_positives >= 0.95 * len(rest)
    assert m.false_positives <= 0.03 * len(rest)


def test_no_rest_at_all_gives_no_rate():
    rec, _ = synth(duration_s=12.0, rate_per_min=0, seed=13)
    rec = add_train(rec, 0.0, 12.0, n_units=40, rate_hz=14.0, amp_uv=60.0)
    res = analyze(rec)
    s = res.summary
    # all of it is voluntary: nothing analysed, no FP, and no rate rather than 0/min
    assert s["excluded_by_reason_s"] == {"voluntary": pytest.approx(12.0)}
    assert s["analysed_s"] == 0.0 and s["excluded_s"] == pytest.approx(12.0)
    assert s["n_fp"] == 0 and len(res.fasciculations) == 0
    assert s["fp_per_min"] is None and s["fp_per_min_ci95"] is None
    assert s["fp_per_min_upper95"] is None
    json.dumps(s)


@pytest.mark.parametrize("duration_s", [1.0, 3.0])
def test_recording_shorter_than_the_analysis_windows(duration_s):
    # shorter than a chunk (30 s), the noise tracking (±60 s) and the prescan:
    # still analysed whole, every FP found, with an honest rate
    rec, times = synth(duration_s=duration_s, rate_per_min=600, seed=21, amp_uv=120.0)
    res = analyze(rec)
    s = res.summary
    assert s["analysed_s"] == pytest.approx(duration_s) and s["excluded_s"] == 0.0
    m = match_events(res.fasciculations["time_s"].to_numpy(), times, 0.01)
    assert len(times) >= 4
    assert m.true_positives == len(times) and m.false_positives == 0
    assert s["fp_per_min"] == pytest.approx(len(times) / (duration_s / 60))
    # just under two noise windows is too short to measure the noise: a clear error
    short = ArrayRecording(rec.get_traces()[: int(0.99 * rec.fs)], rec.fs, grid=rec.grid)
    with pytest.raises(DataError, match="shorter") as err:
        analyze(short)
    assert "Fix:" in str(err.value)


def test_all_channels_bad_names_each_reason():
    rng = np.random.default_rng(3)
    x = np.zeros((4 * 2048, 16), dtype=np.float32)
    # eight clipped channels (pinned at the amplifier rails), eight flat ones
    x[:, :8] = np.clip(rng.normal(0, 200, (x.shape[0], 8)), -50, 50)
    with pytest.raises(DataError, match="no channel is usable") as err:
        analyze(ArrayRecording(x, 2048.0))
    text = str(err.value)
    assert "saturated" in text and "flat" in text and "Fix:" in text


def test_analysis_runs_with_one_blas_thread():
    from threadpoolctl import threadpool_info

    seen = []

    def progress(done, total):
        seen.extend(i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas")

    rec, _ = synth(duration_s=4.0, rate_per_min=60, seed=2)
    analyze(rec, progress=progress)
    assert seen and set(seen) == {1}


def test_snippet_store_reads_back_what_it_stored():
    from fasciq.analysis import _SnippetStore
    from fasciq.units.params import SnippetParams

    fs, n_ch = 2048.0, 5
    store = _SnippetStore(fs, n_ch, SnippetParams())
    n_t = store.shape[0]
    block = np.arange(20000 * n_ch, dtype=np.float32).reshape(20000, n_ch)
    samples = np.array([100, 900, 901, 5000, 19990])
    store.add(block, 0, samples[:3], 20000)
    store.add(block[4000:], 4000, samples[3:], 20000)
    try:
        # runs of consecutive indices and jumps, spread into wider rows
        index = np.array([0, 1, 2, 4, 3, 1])
        out = store.take(index, columns=np.array([1, 3, 4, 6, 7]), n_columns=8)
        assert out.shape == (6, n_t, 8) and out.dtype == np.float32
        assert not out[:, :, [0, 2, 5]].any()
        for row, i in enumerate(index):
            t = samples[i]
            want = block[np.clip(np.arange(t - store.before, t + store.after + 1), 0, 19999)]
            got = out[row][:, [1, 3, 4, 6, 7]]
            inside = np.arange(t - store.before, t + store.after + 1) < 20000
            assert np.array_equal(got[inside], want[inside])
    finally:
        store.close()


def test_wide_band_snippets_are_the_traces_without_mains_across_chunks():
    # a large DC offset and a drift, as amplifiers give: the snippets cut for
    # timing must carry the mains-free traces exactly where chunks meet
    from fasciq.analysis import _setup, _Stream
    from fasciq.signal.line import subtract_line

    rec, _ = synth(duration_s=12.0, rate_per_min=300, seed=4, line_uv=20.0)
    traces = rec.get_traces().astype(np.float64)
    t = np.arange(traces.shape[0])[:, None] / rec.fs
    traces += 30000.0 + 400.0 * np.sin(2 * np.pi * 0.1 * t) + 50.0 * np.arange(traces.shape[1])
    rec = ArrayRecording(traces, rec.fs, grid=rec.grid)
    params, execution = AnalysisParams(), ExecutionSettings(chunk_s=0.5)
    setup = _setup(rec, params, execution)
    stream = _Stream(rec, params, setup, execution, None)
    stream.run()
    try:
        samples = np.concatenate([r["sample"] for r in stream.rows])
        assert stream.wide.count == len(samples) > 30
        good = np.flatnonzero(setup.good)
        clean = subtract_line(traces[:, good], rec.fs, 0, setup.harmonics, setup.line_window)
        got = stream.wide.take(np.arange(len(samples)))
        before, after = stream.wide.before, stream.wide.after
        chunk = stream.chunk
        near_edge = 0
        for snippet, at in zip(got, samples, strict=True):
            rows = np.arange(at - before, at + after + 1)
            inside = (rows >= 0) & (rows < len(clean))
            want = clean[rows[inside]]
            # single precision
            np.testing.assert_allclose(snippet[inside], want, rtol=1e-6, atol=1e-3)
            near_edge += bool(((rows % chunk) == 0).any())
        assert near_edge >= 3  # some snippets straddle two chunks
    finally:
        stream.snippets.close()
        stream.wide.close()


def test_no_fp_gives_upper_bound():
    rec, _ = synth(duration_s=30.0, rate_per_min=0, seed=14)
    res = analyze(rec)
    s = res.summary
    assert s["n_fp"] == 0 and s["fp_per_min"] == 0.0
    assert s["fp_per_min_upper95"] == pytest.approx(2.9957 / 0.5, rel=1e-3)


def test_single_channel_and_no_geometry():
    rec, times = synth(duration_s=20.0, rate_per_min=120, seed=15, amp_uv=150.0)
    plain = ArrayRecording(rec.get_traces(), rec.fs)  # no grid
    res = analyze(plain)
    assert res.summary["neighbourhoods"].startswith("estimated")
    m = match_events(res.fasciculations["time_s"].to_numpy(), times, 0.01)
    assert m.true_positives >= 0.9 * len(times) and m.false_positives <= 0.1 * len(times)
    one = ArrayRecording(rec.get_traces()[:, [27]], rec.fs)
    res1 = analyze(one)
    assert res1.summary["neighbourhoods"] == "single channel"
    m1 = match_events(res1.fasciculations["time_s"].to_numpy(), times, 0.01)
    assert m1.false_positives <= 0.1 * max(1, len(res1.fasciculations))


def test_bad_inputs_have_clear_errors():
    short = ArrayRecording(np.zeros((100, 4), dtype=np.float32), 2048.0)
    with pytest.raises(DataError, match="shorter"):
        analyze(short)
    flat = ArrayRecording(np.zeros((20480, 8), dtype=np.float32), 2048.0)
    with pytest.raises(DataError, match="no channel is usable") as err:
        analyze(flat)
    assert "flat" in str(err.value) and "Fix:" in str(err.value)
    rec, _ = synth(duration_s=2.0, rate_per_min=0)
    with pytest.raises(GridError, match="electrodes"):
        rec.with_grid("13x5@8")
    nan = rec.get_traces().copy()
    nan[100, 3] = np.nan
    with pytest.raises(DataError, match="NaN"):
        analyze(ArrayRecording(nan, rec.fs))


def test_params_from_dict_and_file(tmp_path):
    p = AnalysisParams.from_dict({"line_freq": 60, "detect": {"k_high": 6.0}})
    assert p.line_freq == 60 and p.detect.k_high == 6.0 and p.detect.k_low == 3.0
    with pytest.raises(ParameterError, match="unknown parameter 'speed'"):
        AnalysisParams.from_dict({"speed": 1})
    with pytest.raises(ParameterError, match="k_hihg"):
        AnalysisParams.from_dict({"detect": {"k_hihg": 6}})
    with pytest.raises(ParameterError, match="unknown detection method"):
        AnalysisParams.from_dict({"detect": {"method": "magic"}})
    f = tmp_path / "p.toml"
    f.write_text("line_freq = 50\n[activity]\nlevel_ratio = 2.0\n")
    assert AnalysisParams.from_file(f).activity.level_ratio == 2.0
    bad = tmp_path / "bad.toml"
    bad.write_text("line_freq = = 3")
    with pytest.raises(ParameterError, match="cannot parse"):
        AnalysisParams.from_file(bad)
    # the summary records every parameter, so a run can be repeated
    assert AnalysisParams.from_dict(json.loads(json.dumps(p.to_dict()))) == p


def test_single_channel_rest_with_many_fps_is_analysed():
    # 300 FP/min at rest on one channel fill a few per cent of each window:
    # analysed, not taken for a contraction; a 10-unit contraction is excluded
    rec, _ = synth(duration_s=40.0, rate_per_min=300, seed=12)
    rec = add_train(rec, 10.0, 18.0, n_units=10, rate_hz=12.0, amp_uv=60.0)
    one = ArrayRecording(rec.get_traces()[:, [27]], rec.fs)
    res = analyze(one)
    ex = res.excluded
    vol = ex[ex.reason == "voluntary"]
    assert 7.0 <= vol.eval("end_s - start_s").sum() < 10.0
    rest_excluded = sum(
        max(0.0, min(b, 9.5) - a) + max(0.0, b - max(a, 18.5))
        for a, b in zip(vol.start_s, vol.end_s, strict=True)
    )
    assert rest_excluded < 1.0
