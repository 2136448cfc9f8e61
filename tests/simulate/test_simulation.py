import dataclasses

import numpy as np
import pytest

from fasciq.errors import ParameterError
from fasciq.signal.line import line_power_fraction
from fasciq.simulate import (
    PRESETS,
    ArtefactParams,
    BadChannelParams,
    EcgParams,
    MotionParams,
    PoolParams,
    PopParams,
    VoluntaryEpoch,
    VoluntaryParams,
    simulate,
)
from fasciq.simulate.engine import BLOCK

from .conftest import quiet_scenario


def test_truth_matches_the_signal(quiet_sim):
    rec, truth = quiet_sim.recording, quiet_sim.truth
    x = rec.get_traces()
    d = truth.discharges
    assert len(d) > 10 and set(d["kind"]) == {"fasciculation"}
    labels = list(rec.channel_labels)
    t = d["time_s"].to_numpy()
    checked = 0
    for i, row in enumerate(d.itertuples(index=False)):
        # isolated discharges only: nothing else within 60 ms
        others = np.delete(t, i)
        if np.min(np.abs(others - row.time_s), initial=np.inf) < 0.06:
            continue
        ch = labels.index(row.peak_channel)
        peak = round(row.peak_time_s * rec.fs)
        a, b = int(row.time_s * rec.fs) - 2, int((row.time_s + 0.045) * rec.fs)
        seg = x[max(a, 0) : b, ch]
        assert np.ptp(seg) == pytest.approx(row.amplitude_uv, rel=0.01, abs=0.05)
        assert abs(x[peak, ch]) == pytest.approx(np.abs(seg).max(), rel=1e-5)
        # and that channel is the one with the largest peak-to-peak
        assert np.ptp(x[max(a, 0) : b], axis=0).argmax() == ch
        assert row.time_s <= row.peak_time_s <= row.time_s + 0.03
        checked += 1
    assert checked >= 5


def test_reading_in_different_chunks_gives_identical_samples():
    sim = simulate(preset="als-late", duration_s=10.0, seed=5)
    whole = sim.recording.get_traces(1000, 19000)
    sim2 = simulate(preset="als-late", duration_s=10.0, seed=5)
    pieces = [sim2.recording.get_traces(a, min(a + 777, 19000)) for a in range(1000, 19000, 777)]
    np.testing.assert_array_equal(whole, np.concatenate(pieces))
    # crossing a block border from the far side, after other blocks were read
    sim2.recording.get_traces(0, 100)
    np.testing.assert_array_equal(
        sim2.recording.get_traces(BLOCK - 50, BLOCK + 50), whole[BLOCK - 1050 : BLOCK - 950]
    )


def test_stable_units_repeat_and_unstable_units_vary():
    sc = quiet_scenario(
        duration_s=20.0,
        fasciculating=PoolParams(
            n_units=6, fibres_min=100, reinnervated_fraction=0.5, depth_range_mm=(2.0, 8.0)
        ),
    )
    sim = simulate(scenario=sc)
    eng = sim.engine
    ev = eng.events
    units = sim.truth.units

    def discharges(unit):
        idx = np.flatnonzero(ev.unit == unit)
        return [eng._event_waveform(int(e)) for e in idx]

    def similarity(waves):
        n = min(w.shape[0] for w in waves)
        flat = np.array([w[:n].ravel() for w in waves], dtype=np.float64)
        ref = flat.mean(axis=0)
        nv = np.mean(np.sum((flat - ref) ** 2, axis=1)) / np.sum(ref**2)
        return nv

    unstable = units[(~units["stable"]) & (units["n_discharges"] >= 4)]
    stable = units[units["stable"] & (units["n_discharges"] >= 4)]
    assert len(unstable) and len(stable)
    for u in unstable["unit"]:
        assert similarity(discharges(u)) > 0.02  # shape changes discharge to discharge
    for u in stable["unit"]:
        # same shape up to the sub-sample phase: compare discharges with equal phase
        idx = np.flatnonzero(ev.unit == u)
        same = [eng._event_waveform(int(e)) for e in idx if ev.phase[e] == ev.phase[idx[0]]]
        if len(same) >= 2:
            assert similarity(same) < 1e-10
        assert similarity(discharges(u)) < 0.02


def test_voluntary_epochs_hold_regular_trains_at_6_to_20_hz():
    sc = quiet_scenario(
        duration_s=16.0,
        voluntary=PoolParams(n_units=12, unit_class="voluntary"),
        contraction=VoluntaryParams(epochs=(VoluntaryEpoch(3.0, 10.0, 0.6, 1.0),)),
    )
    sim = simulate(scenario=sc)
    truth = sim.truth
    assert truth.voluntary_epochs == [[3.0, 13.0]]
    vol = truth.discharges[truth.discharges["kind"] == "voluntary"]
    assert vol["time_s"].between(3.0, 13.0).all()
    n_trains = 0
    for _, g in vol.groupby("unit"):
        isi = np.diff(np.sort(g["time_s"].to_numpy()))
        if len(isi) < 20:
            continue
        rate = 1 / np.median(isi)
        assert 6.0 <= rate <= 20.0
        plateau = isi[len(isi) // 4 : -len(isi) // 4]
        assert 0.03 < plateau.std() / plateau.mean() < 0.3
        n_trains += 1
    assert n_trains >= 5
    # recruitment by size: the first recruited unit is among the smallest
    first = vol.sort_values("time_s")["unit"].iloc[0]
    sizes = truth.units.set_index("unit")["n_fibres"]
    assert sizes[first] <= sizes[sizes.index >= 4].median()


def _only(artefacts, duration=20.0, **kw):
    sc = quiet_scenario(
        duration_s=duration, fasciculating=PoolParams(n_units=0), artefacts=artefacts, **kw
    )
    return simulate(scenario=sc)


def test_ecg_is_regular_and_spatially_smooth():
    sim = _only(
        ArtefactParams(
            EcgParams(amplitude_uv=30.0, heart_rate_bpm=60.0), PopParams(0.0), MotionParams(0.0)
        )
    )
    art = sim.truth.artefacts
    beats = 0.5 * (art["start_s"] + art["end_s"]).to_numpy()
    rr = np.diff(beats)
    assert len(rr) >= 15
    assert rr.mean() == pytest.approx(1.0, rel=0.1) and rr.std() / rr.mean() < 0.1
    x = sim.recording.get_traces()
    r = round(beats[3] * sim.recording.fs)
    snap = x[r - 5 : r + 5].max(axis=0)
    pos = sim.recording.positions_mm
    design = np.column_stack([np.ones(len(pos)), pos])
    coef, *_ = np.linalg.lstsq(design, snap, rcond=None)
    resid = snap - design @ coef
    assert np.abs(resid).max() < 0.02 * np.abs(snap).max()  # a plane across the grid
    assert snap.min() > 5.0  # seen on every channel


def test_pop_is_on_one_channel_and_motion_on_all():
    sim = _only(
        ArtefactParams(EcgParams(0.0), PopParams(rate_per_min=20.0), MotionParams(rate_per_min=0.0))
    )
    art = sim.truth.artefacts
    pops = art[art["kind"] == "pop"]
    assert len(pops) >= 1
    x = sim.recording.get_traces()
    labels = list(sim.recording.channel_labels)
    first = pops.iloc[0]
    a = int(first["start_s"] * sim.recording.fs)
    seg = x[a : a + 20]
    ch = labels.index(first["channel"])
    assert np.abs(seg[:, ch]).max() > 100.0
    others = np.delete(seg, [labels.index(c) for c in pops["channel"]], axis=1)
    assert np.abs(others).max() < 1e-3
    sim = _only(ArtefactParams(EcgParams(0.0), PopParams(0.0), MotionParams(rate_per_min=30.0)))
    mot = sim.truth.artefacts.iloc[0]
    x = sim.recording.get_traces()
    a, b = (int(v * sim.recording.fs) for v in (mot["start_s"], mot["end_s"]))
    assert (np.abs(x[a:b]).max(axis=0) > 50.0).all()


def test_bad_channels_are_what_truth_says():
    bad = BadChannelParams(n_flat=1, n_saturated=1, n_disconnected=1, n_noisy=1)
    sim = simulate(
        preset="healthy",
        duration_s=6.0,
        seed=9,
        artefacts=ArtefactParams(EcgParams(0.0), PopParams(0.0), MotionParams(0.0), bad),
    )
    x = sim.recording.get_traces()
    labels = list(sim.recording.channel_labels)
    reasons = sim.truth.bad_channels
    assert sorted(reasons.values()) == ["disconnected", "flat", "noisy", "saturated"]
    col = {r: labels.index(c) for c, r in reasons.items()}
    good = [i for i in range(x.shape[1]) if i not in col.values()]
    assert np.ptp(x[:, col["flat"]]) == 0.0
    assert np.all(np.abs(x[:, col["saturated"]]) == bad.rail_uv)
    frac = line_power_fraction(x[:, [col["disconnected"], good[0]]], 2048.0, 50.0)
    assert frac[0] > 0.5 > frac[1]
    hp = np.diff(x, axis=0)  # remove wander and offsets
    assert hp[:, col["noisy"]].std() > 4 * np.median(hp[:, good].std(axis=0))
    sat = sim.truth.artefacts
    assert ((sat["kind"] == "saturation") & (sat["channel"] == labels[col["saturated"]])).any()


def test_line_frequency_and_noise_level():
    sim = simulate(
        preset="healthy", duration_s=8.0, seed=1, line_freq_hz=60.0, artefacts=ArtefactParams.off()
    )
    assert sim.truth.line_freq_hz == 60.0
    x = sim.recording.get_traces()
    f60 = line_power_fraction(x, 2048.0, 60.0).mean()
    f50 = line_power_fraction(x, 2048.0, 50.0).mean()
    assert f60 > 5 * f50
    # white amplifier noise: high-frequency RMS near the set level
    d = np.diff(x[:, :], axis=0) / np.sqrt(2)
    assert np.median(d.std(axis=0)) == pytest.approx(2.0, rel=0.35)


def test_presets_are_documented_and_distinct():
    assert {
        "healthy",
        "bfs",
        "als",
        "als-late",
        "stimulant",
        "low-magnesium",
        "post-exertion",
        "succinylcholine",
    } <= set(PRESETS)
    for p in PRESETS.values():
        assert p.description and p.parts.__doc__ and "Assumption" in p.parts.__doc__
    rate = {}
    for name in ("healthy", "bfs", "als", "stimulant"):
        sim = simulate(preset=name, duration_s=120.0, seed=4)
        rate[name] = len(sim.truth.fasciculations()) / 2.0
        if name in ("bfs", "als"):
            units = sim.truth.units
            rate[name + "_size"] = units[units["class"] == "fasciculating"]["n_fibres"].median()
    assert rate["als"] > rate["healthy"] and rate["bfs"] > rate["healthy"]
    assert rate["stimulant"] > rate["healthy"]
    assert rate["als_size"] > 2 * rate["bfs_size"]


def test_post_exertion_and_succinylcholine_time_courses():
    sim = simulate(preset="post-exertion", duration_s=400.0, seed=1)
    ((_start, end),) = sim.truth.voluntary_epochs
    fp = sim.truth.fasciculations()["time_s"].to_numpy()
    early = ((fp > end) & (fp < end + 100)).sum()
    late = (fp > end + 300).sum()
    assert early > 2 * max(late, 1)
    sim = simulate(preset="succinylcholine", duration_s=200.0, seed=1)
    fp = sim.truth.fasciculations()
    burst = fp[(fp["time_s"] > 50) & (fp["time_s"] < 80)]
    assert burst["unit"].nunique() >= 20  # widespread
    assert (fp["time_s"] > 100).sum() == 0  # then silence


def test_scenario_validation_names_the_fix():
    with pytest.raises(ParameterError, match="unknown simulation parameter"):
        simulate(preset="als", duration_s=2.0, colour="red")
    with pytest.raises(ParameterError, match="preset"):
        simulate(preset="nope", duration_s=2.0)
    with pytest.raises(ParameterError):
        dataclasses.replace(PoolParams(), n_groups=0)
