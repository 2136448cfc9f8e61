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
    # of them are found without it); templates learnt on the storm and units
    # found in its residual bring the rest (0.91 of them with the sorting's
    # templates alone)
    assert m.true_positives >= 0.96 * m.n_truth
    assert m.false_positives <= 0.07 * m.n_truth
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


def test_unit_without_template_is_found_in_the_residual():
    # two known units and a third, unknown one, all overlapping densely:
    # the third stands out in the residual, is sorted there, and peeled
    from scipy import signal as sps

    from fasciq.detect.peeling import PeelParams, match_times, peel
    from fasciq.detect.storm import accept_units, grow_templates
    from fasciq.units.sorting import sort_units

    fs, length, centre, n_ch, noise = 2000.0, 55, 27, 16, 4.0
    t = np.arange(length) - centre
    ch = np.arange(n_ch)

    def unit(width: float, centre_ch: float, sign: float) -> np.ndarray:
        u = t / width
        wave = -sign * (1 - u**2) * np.exp(-(u**2) / 2)
        return (100.0 * wave[:, None] * np.exp(-((ch - centre_ch) ** 2) / 18.0)).astype(np.float32)

    tpl = np.stack([unit(3.0, 4.0, 1.0), unit(4.5, 8.0, -1.0), unit(2.5, 12.0, 1.0)])
    rng = np.random.default_rng(31)
    n = 40000
    x = rng.normal(0, noise, (n, n_ch)).astype(np.float32)
    truth = []
    for u in range(3):
        times = np.sort(rng.choice(np.arange(100, n - 100), 60, replace=False))
        for s in times:
            x[s - centre : s - centre + length] += tpl[u]
        truth += [(s, u) for s in times]
    truth = np.array(sorted(truth))
    sigma = np.full(n_ch, noise, dtype=np.float32)

    def find_events(residual):
        peak = np.abs(residual / sigma).max(axis=1)
        found, _ = sps.find_peaks(peak, height=8.0, distance=20)
        return found

    def sort(snippets, times_s):
        res = sort_units(snippets, times_s, fs, centre=centre, noise_uv=sigma, seed=0)
        out = np.zeros((res.n_units, length, n_ch), dtype=np.float32)
        for i, u in enumerate(res.units["unit"]):
            w = res.templates[int(u)]
            off = centre - w.shape[0] // 2
            out[i, off : off + w.shape[0]] = w
        return out, res.units["stability"].to_numpy(float), res.units["n_fp"].to_numpy(float)

    params = PeelParams(discover_rounds=2)
    known_only = peel(x, sigma, tpl[:2], params, centre)
    found, used = grow_templates(x, sigma, tpl[:2], params, centre, fs, find_events, sort)
    assert len(used) == 3  # one new unit, and only one
    # a peeling already made with the known templates is not made again
    calls = []

    def counting_sort(snippets, times_s):
        calls.append(len(snippets))
        return sort(snippets, times_s)

    again, used_again = grow_templates(
        x, sigma, tpl[:2], params, centre, fs, find_events, counting_sort, known_only
    )
    assert np.array_equal(again.sample, found.sample) and np.allclose(used_again, used)
    assert len(calls) >= 1  # the residual was sorted
    # the new template is the third unit's
    new = used[2] / np.linalg.norm(used[2])
    assert float(np.sum(new * tpl[2]) / np.linalg.norm(tpl[2])) > 0.9
    for peeled, expected in ((known_only, 120), (found, 180)):
        pair = match_times(peeled.sample + peeled.offset, truth[:, 0].astype(float), 2.0)
        assert (pair >= 0).sum() >= 0.97 * expected
    pair = match_times(found.sample + found.offset, truth[:, 0].astype(float), 2.0)
    ok = pair >= 0
    assert (pair >= 0).sum() >= 0.97 * 180 and (~ok).sum() <= 5  # few false discharges
    assert (found.unit[ok] == truth[pair[ok], 1]).mean() > 0.97
    # with discovery off, the known templates only
    off = PeelParams(discover_rounds=0)
    assert len(grow_templates(x, sigma, tpl[:2], off, centre, fs, find_events, sort)[1]) == 2
    # acceptance: too few discharges, too variable or too small are refused
    cand = np.stack([tpl[2], tpl[2], tpl[2], tpl[2] * 0.05])
    ok = accept_units(
        cand, np.array([0.1, 0.1, 0.6, 0.1]), np.array([20, 3, 20, 20]), sigma, params
    )
    assert ok.tolist() == [True, False, False, False]


def test_a_burst_cut_into_pieces_carries_its_templates_on(monkeypatch):
    # the burst peeled in 4-s pieces: with carry_templates each piece starts
    # from the templates learnt (lengthened) and found in the piece before,
    # without it from the sorting's short ones again; both separate the burst
    # about equally well, against the truth
    import fasciq.detect.peeling as peeling
    from fasciq.evaluate import Truth, evaluate_result
    from fasciq.simulate import simulate

    sim = simulate(preset="succinylcholine", duration_s=30.0, seed=8)
    rec = sim.recording.load()
    truth = Truth.from_simulation(sim.truth)
    lengths: list[int] = []

    def recording_peel(x, noise, templates, params=None, centre=None):
        lengths.append(templates.shape[1])
        return original(x, noise, templates, params, centre)

    original = peeling.peel
    # the analysis imports peel when it peels
    monkeypatch.setattr(peeling, "peel", recording_peel)
    score, short_starts = {}, {}
    for carry in (True, False):
        lengths.clear()
        params = {"peel": {"max_stretch_s": 4.0, "carry_templates": carry}}
        score[carry] = evaluate_result(analyze(rec, AnalysisParams.from_dict(params)), truth)
        short_starts[carry] = lengths.count(min(lengths))
    # pieces peeled from the sorting's short templates: the first only, or every one
    assert short_starts[True] == 1
    assert short_starts[False] >= 3
    for carry in (True, False):
        assert score[carry]["sensitivity"] >= 0.55
        assert score[carry]["precision"] >= 0.85
    assert abs(score[True]["f1"] - score[False]["f1"]) <= 0.05


def test_units_found_in_the_residual_must_stay_above_the_noise_once_learnt():
    from fasciq.detect.storm import weak_templates

    sigma = np.full(16, 4.0, dtype=np.float32)
    tpl = np.stack([_unit(3.0, 4.0, 1.0) * k for k in (1.0, 0.1, 1.0, 0.1, 0.25)])
    # peak-to-peak about 36, 3.6, 36, 3.6 and 9 σ; the first two are known templates
    weak = weak_templates(tpl, 2, sigma, 8.0)
    assert weak.tolist() == [False, False, False, True, False]
    assert weak_templates(tpl, 2, sigma, 20.0).tolist() == [False, False, False, True, True]
    assert not weak_templates(tpl, 5, sigma, 20.0).any()
    assert weak_templates(tpl[:0], 0, sigma, 8.0).shape == (0,)


def _unit(width: float, centre_ch: float, sign: float, length=55, centre=27, n_ch=16):
    t = np.arange(length) - centre
    ch = np.arange(n_ch)
    u = t / width
    wave = -sign * (1 - u**2) * np.exp(-(u**2) / 2)
    return (100.0 * wave[:, None] * np.exp(-((ch - centre_ch) ** 2) / 18.0)).astype(np.float32)


def _sorter(fs, centre, sigma):
    from fasciq.units.sorting import sort_units

    def sort(snippets, times_s):
        res = sort_units(snippets, times_s, fs, centre=centre, noise_uv=sigma, seed=0)
        out = np.zeros((res.n_units, *snippets.shape[1:]), dtype=np.float32)
        for i, u in enumerate(res.units["unit"]):
            w = res.templates[int(u)]
            off = centre - w.shape[0] // 2
            out[i, off : off + w.shape[0]] = w
        return out, res.units["stability"].to_numpy(float), res.units["n_fp"].to_numpy(float)

    return sort


def test_template_of_two_merged_units_is_split():
    from fasciq.detect.peeling import PeelParams, match_times, peel
    from fasciq.detect.storm import clean_snippets, split_units

    fs, centre, n_ch, noise = 2000.0, 27, 16, 4.0
    # two units of like shape on neighbouring channels, and a third, apart
    tpl = np.stack([_unit(3.0, 5.0, 1.0), _unit(3.5, 8.0, 1.0), _unit(4.5, 13.0, -1.0)])
    rng = np.random.default_rng(41)
    n = 40000
    x = rng.normal(0, noise, (n, n_ch)).astype(np.float32)
    truth = []
    for u in range(3):
        for s in np.sort(rng.choice(np.arange(100, n - 100, 60), 50, replace=False)):
            x[s - centre : s - centre + 55] += tpl[u]
            truth.append((s, u))
    truth = np.array(sorted(truth))
    sigma = np.full(n_ch, noise, dtype=np.float32)
    merged = np.stack([0.5 * (tpl[0] + tpl[1]), tpl[2]])  # as a sorting may merge them
    params = PeelParams()
    found = peel(x, sigma, merged, params, centre)
    # each discharge alone: the residual with its own fit added back
    snippets, idx = clean_snippets(found)
    k = int(np.argmax(found.scale[idx]))
    i = idx[k]
    own = found.scale[i] * found.fitted[found.unit[i], round(found.offset[i] * 4) % 4]
    start = found.sample[i] - centre
    assert np.allclose(snippets[k], found.residual[start : start + 55] + own, atol=1e-4)
    split, origin = split_units(found, merged, sigma, params, fs, _sorter(fs, centre, sigma))
    assert len(split) == 3 and origin.tolist() == [0, 1, 0]
    # the merged template's place and the new row hold the two units, one each
    sim = np.array(
        [
            [np.sum(a * b) / np.linalg.norm(a) / np.linalg.norm(b) for b in tpl[:2]]
            for a in split[[0, 2]]
        ]
    )
    assert sorted(sim.argmax(axis=1).tolist()) == [0, 1] and sim.max(axis=1).min() > 0.95
    # the third template, which holds one unit, is kept as it was
    assert np.array_equal(split[1], merged[1])
    again = peel(x, sigma, split, params, centre)
    pair = match_times(again.sample + again.offset, truth[:, 0].astype(float), 2.0)
    ok = pair >= 0
    assert ok.mean() > 0.97
    unit_of_row = np.array([sim[0].argmax(), 2, sim[1].argmax()])
    right = (unit_of_row[again.unit[ok]] == truth[pair[ok], 1]).mean()
    # near what the true templates give, far above the merged one's two thirds
    best = peel(x, sigma, tpl, params, centre)
    pair = match_times(best.sample + best.offset, truth[:, 0].astype(float), 2.0)
    right_best = (best.unit[pair >= 0] == truth[pair[pair >= 0], 1]).mean()
    assert right > max(0.85, right_best - 0.06)
