"""Template peeling: overlapping discharges of different units separated by their templates."""

import dataclasses

import numpy as np
import pytest

from fasciq.detect.peeling import (
    PeelParams,
    _correlate,
    _shifted,
    dense_stretches,
    followers,
    learn_templates,
    match_times,
    peak_left,
    peel,
    peeled_features,
    prune,
    reference_samples,
)
from fasciq.errors import ParameterError

FS = 2000.0
LENGTH = 55  # template window (samples)
CENTRE = 27
N_CH = 16
NOISE = 4.0


def _templates() -> np.ndarray:
    """Two units with different shapes and overlapping footprints (µV)."""
    t = np.arange(LENGTH) - CENTRE
    ch = np.arange(N_CH)

    def unit(width: float, centre_ch: float, sign: float) -> np.ndarray:
        u = t / width
        wave = -sign * (1 - u**2) * np.exp(-(u**2) / 2)  # triphasic, |peak| 1 at t=0
        space = np.exp(-((ch - centre_ch) ** 2) / 18.0)
        return (100.0 * wave[:, None] * space[None, :]).astype(np.float32)

    return np.stack([unit(3.0, 5.0, 1.0), unit(4.5, 9.0, -1.0)])


def _insert(x: np.ndarray, template: np.ndarray, at: int, scale: float = 1.0) -> None:
    x[at - CENTRE : at - CENTRE + LENGTH] += scale * template


@pytest.mark.parametrize("gap_ms", [2.0, 5.0, 8.0])
def test_overlapping_pairs_are_both_recovered(gap_ms):
    rng = np.random.default_rng(int(gap_ms))
    tpl = _templates()
    gap = round(gap_ms * FS / 1000)
    n = 12000
    x = rng.normal(0, NOISE, (n, N_CH)).astype(np.float32)
    truth = []
    for k, at in enumerate(range(200, n - 200, 250)):
        first, second = k % 2, 1 - k % 2  # either unit may come first
        _insert(x, tpl[first], at)
        _insert(x, tpl[second], at + gap, 0.9)
        truth += [(at, first), (at + gap, second)]
    truth = np.array(truth)
    found = peel(x, np.full(N_CH, NOISE), tpl, PeelParams(), CENTRE)
    assert len(found) == len(truth)
    pair = match_times(found.sample + found.offset, truth[:, 0].astype(float), 1.0)
    assert (pair >= 0).all()  # every discharge within one sample
    assert np.array_equal(found.unit, truth[pair, 1])  # of the right unit
    # the scales of each overlapping pair are fitted together
    err = np.abs(found.scale - np.where(truth[pair, 0] % 250 == 200, 1.0, 0.9))
    assert err.max() < 0.05
    # what is left is the noise
    assert np.std(found.residual) == pytest.approx(NOISE, rel=0.05)


def test_subsample_alignment_is_recovered():
    rng = np.random.default_rng(3)
    tpl = _templates()[:1]
    late = _shifted(tpl, 4)[0, 2]  # the template half a sample later
    x = rng.normal(0, 1.0, (4000, N_CH)).astype(np.float32)
    for at in (500, 1500, 2500):
        _insert(x, late, at)
    found = peel(x, np.ones(N_CH), tpl, PeelParams(subsample=4), CENTRE)
    assert found.sample.tolist() == [500, 1500, 2500]
    assert np.allclose(found.offset, 0.5)
    # the whole-sample fit leaves more behind than the half-sample one
    coarse = peel(x, np.ones(N_CH), tpl, PeelParams(subsample=1), CENTRE)
    assert np.sum(coarse.residual**2) > 1.2 * np.sum(found.residual**2)


def test_scale_bounds_and_noise_alone():
    rng = np.random.default_rng(4)
    tpl = _templates()[:1]
    x = rng.normal(0, NOISE, (6000, N_CH)).astype(np.float32)
    _insert(x, tpl[0], 1000, 1.3)
    _insert(x, tpl[0], 3000, 0.3)  # far smaller than the unit's discharges: another unit
    found = peel(x, np.full(N_CH, NOISE), tpl, PeelParams(min_scale=0.6), CENTRE)
    assert found.sample.tolist() == [1000]
    assert found.scale[0] == pytest.approx(1.3, abs=0.05)
    noise_only = rng.normal(0, NOISE, (20000, N_CH)).astype(np.float32)
    assert len(peel(noise_only, np.full(N_CH, NOISE), tpl, PeelParams(), CENTRE)) == 0


def test_template_below_noise_is_not_used():
    tpl = _templates()[:1] * 0.005  # 0.5 µV against 4 µV of noise
    x = np.random.default_rng(5).normal(0, NOISE, (3000, N_CH)).astype(np.float32)
    _insert(x, tpl[0], 1000)
    assert len(peel(x, np.full(N_CH, NOISE), tpl, PeelParams(), CENTRE)) == 0


def test_correlation_matches_direct_sum():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(5000, 5)).astype(np.float32)
    w = rng.normal(size=(3, 21, 5)).astype(np.float32)
    c = _correlate(x, w, block=256)
    t = np.array([0, 1, 777, 4979])
    direct = np.array([[np.sum(x[s : s + 21] * w[u]) for s in t] for u in range(3)])
    assert c.shape == (3, 5000 - 21 + 1)
    assert np.allclose(c[:, t], direct, atol=1e-3)


def test_peeled_features_measure_each_discharge_alone():
    rng = np.random.default_rng(7)
    tpl = _templates()
    x = rng.normal(0, 1.0, (3000, N_CH)).astype(np.float32)
    _insert(x, tpl[0], 1000)
    _insert(x, tpl[1], 1010)  # 5 ms later, larger on other channels
    found = peel(x, np.ones(N_CH), tpl, PeelParams(), CENTRE)
    feats = peeled_features(found, np.ones(N_CH), FS, CENTRE, search_ms=10.0)
    order = np.argsort(feats["fit_sample"])
    # the fitted time of the largest peak: the template's centre here
    assert np.allclose(feats["fit_sample"][order], [1000, 1010], atol=0.5)
    assert feats["channel"][order].tolist() == [5, 9]
    # each measured without the other: its own peak-to-peak (the triphasic
    # wave spans 100 µV plus its side lobes)
    p2p = np.ptp(tpl, axis=1).max(axis=1)
    assert np.allclose(feats["amplitude_uv"][order], p2p, rtol=0.05)


def test_dense_stretches_found_where_fps_crowd():
    rng = np.random.default_rng(8)
    sparse = np.sort(rng.uniform(0, 100, 60))  # 0.6 FP/s
    burst = np.sort(rng.uniform(40, 50, 400))  # 40 FP/s for 10 s
    spans = dense_stretches(np.concatenate([sparse, burst]), 100.0, PeelParams())
    assert spans.shape == (1, 2)
    assert 37.5 <= spans[0, 0] <= 40.5 and 49.5 <= spans[0, 1] <= 52.5
    assert len(dense_stretches(sparse, 100.0, PeelParams())) == 0
    # a long storm is peeled in adjoining pieces of bounded length
    pieces = dense_stretches(burst, 100.0, PeelParams(max_stretch_s=4.0))
    assert len(pieces) == 3 and np.all(np.diff(pieces, axis=1) <= 4.0)
    whole = dense_stretches(burst, 100.0, PeelParams())
    assert np.allclose(pieces[1:, 0], pieces[:-1, 1])
    assert np.allclose([pieces[0, 0], pieces[-1, 1]], whole[0])
    assert len(dense_stretches(np.zeros(0), 100.0)) == 0


def test_match_times_is_one_to_one_closest_first():
    a = np.array([1.0, 1.004, 5.0])
    b = np.array([1.003, 2.0])
    assert match_times(a, b, 0.005).tolist() == [-1, 0, -1]
    assert match_times(a, np.zeros(0), 0.005).tolist() == [-1, -1, -1]


def test_peak_left_reads_each_channel_around_its_sample():
    r = np.zeros((100, 3))
    r[50, 1] = -7.0
    r[10, 2] = 3.0
    assert peak_left(r, np.array([52, 52, 12]), np.array([1, 0, 2]), 2).tolist() == [7.0, 0, 3.0]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"k_fit": 0},
        {"min_scale": 2.0, "max_scale": 1.5},
        {"subsample": 0},
        {"max_rounds": 2.5},
        {"min_explained": 1.5},
        {"window_s": -1},
        {"max_stretch_s": 0},
        {"learn_rounds": -1},
        {"learn_rounds": 1.5},
        {"template_ms": 0},
        {"template_prior": -1.0},
        {"min_share": 1.5},
        {"split_rounds": -1},
        {"reference_hz": 0},
        {"search_passes": -1},
        {"search_passes": 1.5},
        {"search_reach": 1.5},
    ],
)
def test_invalid_parameters_are_refused(kwargs):
    with pytest.raises(ParameterError):
        PeelParams(**kwargs)


def _lag_alike_templates() -> np.ndarray:
    """Two large units of one shape a channel apart, and two small ones (µV)."""
    t = np.arange(LENGTH) - CENTRE
    ch = np.arange(N_CH)

    def unit(width: float, centre_ch: float, sign: float, amp: float) -> np.ndarray:
        u = t / width
        wave = -sign * (1 - u**2) * np.exp(-(u**2) / 2)
        space = np.exp(-((ch - centre_ch) ** 2) / 18.0)
        return (amp * wave[:, None] * space[None, :]).astype(np.float32)

    large = [unit(3.0, 6.0, 1.0, 200.0), unit(3.0, 7.0, 1.0, 150.0)]
    small = [unit(4.0, 9.0, -1.0, 40.0), unit(2.5, 4.0, 1.0, 30.0)]
    return np.stack([*large, *small])


def _alike_storm(sigma: float = 2.0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """A storm of overlaps 2.5-20 ms apart among lag-alike units: traces, templates, truth."""
    rng = np.random.default_rng(0)
    tpl = _lag_alike_templates()
    n = 20000
    x = rng.normal(0, sigma, (n, N_CH)).astype(np.float32)
    times, units = [], []
    at = 100
    while at < n - 100:
        u = int(rng.integers(0, len(tpl)))
        _insert(x, tpl[u], at)
        times.append(at)
        units.append(u)
        at += int(rng.integers(5, 40))
    return x, tpl, np.array(times, dtype=float), np.array(units)


def _decoded(found, times: np.ndarray, units: np.ndarray, sigma: float, params) -> dict:
    pair = match_times(found.sample.astype(float), times, 2.0)
    hit = pair >= 0
    return {
        "hit": int(hit.sum()),
        "right": int((found.unit[hit] == units[pair[hit]]).sum()),
        "false": int((~hit).sum()),
        "n": len(found),
        # what the peeling minimises: residual energy + k_fit² per fit
        "objective": float(np.sum((found.residual / sigma) ** 2)) + params.k_fit**2 * len(found),
    }


def test_local_search_replaces_greedy_fits_that_others_made_wrong():
    # greedy fits taken by the wrong unit leave gaps that are filled by false
    # fits; the search lowers the objective and drops them
    sigma = 2.0
    x, tpl, times_a, units_a = _alike_storm(sigma)
    out = {}
    for passes in (0, 8):
        params = dataclasses.replace(PeelParams(), search_passes=passes)
        found = peel(x, np.full(N_CH, sigma), tpl, params, CENTRE)
        out[passes] = _decoded(found, times_a, units_a, sigma, params)
    greedy, searched = out[0], out[8]
    assert searched["objective"] < greedy["objective"]
    assert searched["false"] <= 0.7 * greedy["false"]
    assert searched["hit"] >= greedy["hit"]
    # fits given the right unit, as a share of all fits
    assert searched["right"] / searched["n"] >= greedy["right"] / greedy["n"] + 0.03
    assert searched["hit"] >= 0.97 * len(times_a)


def test_peeling_started_from_the_true_discharges_keeps_them():
    # the same storm, the search started at the answer: it stays there, below
    # the objective it reaches from nothing; discharges whose window does not
    # lie in the traces are left out
    sigma = 2.0
    x, tpl, times, units = _alike_storm(sigma)
    params = PeelParams()
    noise = np.full(N_CH, sigma)
    scratch = _decoded(peel(x, noise, tpl, params, CENTRE), times, units, sigma, params)
    outside = np.array([5.0, x.shape[0] - 3.0])
    initial = (
        np.concatenate([times, outside]).astype(np.int64),
        np.zeros(times.size + 2),
        np.concatenate([units, [0, 1]]),
    )
    found = peel(x, noise, tpl, params, CENTRE, initial)
    seeded = _decoded(found, times, units, sigma, params)
    assert seeded["hit"] >= 0.995 * len(times)
    assert seeded["right"] >= 0.99 * seeded["hit"]
    assert seeded["false"] <= max(2, scratch["false"] // 4)
    assert seeded["objective"] < scratch["objective"]
    assert not np.isin(found.sample, outside.astype(np.int64)).any()


def test_long_chain_of_overlaps_is_refitted_in_bounded_memory():
    # every discharge overlaps the next: one chain of 3000 (a dense storm);
    # the joint scales are solved on a sparse band, not a dense block
    rng = np.random.default_rng(9)
    tpl = _templates()
    n = 3000 * 20 + 400
    x = rng.normal(0, 1.0, (n, N_CH)).astype(np.float32)
    at = 200 + 20 * np.arange(3000)
    units = np.arange(3000) % 2
    scale = rng.uniform(0.8, 1.2, 3000)
    for k in range(3000):
        _insert(x, tpl[units[k]], at[k], scale[k])
    found = peel(x, np.ones(N_CH), tpl, PeelParams(), CENTRE)
    pair = match_times(found.sample + found.offset, at.astype(float), 1.0)
    assert (pair >= 0).mean() > 0.99
    ok = pair >= 0
    assert np.array_equal(found.unit[ok], units[pair[ok]])
    assert np.abs(found.scale[ok] - scale[pair[ok]]).max() < 0.05


def _long_templates(length: int, centre: int) -> np.ndarray:
    """Two units whose MUAPs outlast a short window: a slow tail after the spike (µV)."""
    t = (np.arange(length) - centre).astype(float)
    ch = np.arange(N_CH)
    out = []
    for width, centre_ch, sign in ((3.0, 5.0, 1.0), (4.0, 10.0, -1.0)):
        u = t / width
        spike = -sign * (1 - u**2) * np.exp(-(u**2) / 2)
        # an end-of-fibre wave that fades 20-50 samples after the discharge
        tail = 0.35 * sign * np.sin(2 * np.pi * t / 40.0) * np.exp(-(((t - 35) / 12.0) ** 2))
        space = np.exp(-((ch - centre_ch) ** 2) / 18.0)
        out.append(120.0 * (spike + tail)[:, None] * space[None, :])
    return np.stack(out).astype(np.float32)


def _dense_train(rng, tpl, centre, n, every):
    """Traces with both units discharging every ``every`` samples on average (overlapping)."""
    x = rng.normal(0, NOISE, (n, N_CH)).astype(np.float32)
    truth = []
    length = tpl.shape[1]
    for u in range(len(tpl)):
        at = np.cumsum(rng.integers(every // 2, 3 * every // 2, n // every))
        at = at[(at > length) & (at < n - length)]
        for s in at:
            x[s - centre : s - centre + length] += tpl[u]
        truth += [(s, u) for s in at]
    return x, np.array(sorted(truth))


def test_learnt_templates_recover_what_a_short_window_cuts_off():
    rng = np.random.default_rng(12)
    long_len, long_centre, ext = LENGTH + 40, CENTRE + 20, 20
    true = _long_templates(long_len, long_centre)
    x, truth = _dense_train(rng, true, long_centre, 30000, 60)
    short = true[:, ext : ext + LENGTH]  # as a snippet sorting would cut them
    sigma = np.full(N_CH, NOISE)
    found = peel(x, sigma, short, PeelParams(), CENTRE)
    learnt = learn_templates(x, found, short, CENTRE, ext, prior=2.0)
    assert learnt.shape == true.shape
    for u in range(2):
        err = np.linalg.norm(learnt[u] - true[u]) / np.linalg.norm(true[u])
        cut = np.linalg.norm(np.pad(short[u], ((ext, ext), (0, 0))) - true[u])
        assert err < 0.1 < cut / np.linalg.norm(true[u])
    # peeled again with them, every discharge is found once and the tails
    # go with them
    again = peel(x, sigma, learnt, PeelParams(), long_centre)
    for peeled in (found, again):
        pair = match_times(peeled.sample + peeled.offset, truth[:, 0].astype(float), 1.5)
        assert (pair >= 0).mean() > 0.97
    extra = [
        len(p) - int((match_times(p.sample + p.offset, truth[:, 0].astype(float), 1.5) >= 0).sum())
        for p in (found, again)
    ]
    assert extra[1] <= 2
    # nearly as little is left as with the true templates (within 5 %: the
    # local search fits them a little closer still), far less than with the
    # cut ones
    best = peel(x, sigma, true, PeelParams(), long_centre)
    assert np.std(again.residual) <= 1.05 * np.std(best.residual)
    assert np.std(again.residual) < 0.5 * np.std(found.residual)


def test_learning_without_discharges_keeps_the_given_templates():
    tpl = _templates()
    x = np.zeros((500, N_CH), dtype=np.float32)
    found = peel(x, np.ones(N_CH), tpl, PeelParams(), CENTRE)
    assert len(found) == 0
    learnt = learn_templates(x, found, tpl, CENTRE, 5)
    assert learnt.shape == (2, LENGTH + 10, N_CH)
    assert np.array_equal(learnt[:, 5:-5], tpl) and not learnt[:, :5].any()


def test_learning_too_many_templates_at_once_keeps_them(monkeypatch):
    import fasciq.detect.peeling as peeling

    rng = np.random.default_rng(14)
    tpl = _templates()
    x = rng.normal(0, NOISE, (4000, N_CH)).astype(np.float32)
    for s in (500, 1500, 2500):
        _insert(x, tpl[0], s)
    found = peel(x, np.full(N_CH, NOISE), tpl, PeelParams(), CENTRE)
    assert len(found) == 3
    assert not np.array_equal(learn_templates(x, found, tpl, CENTRE, 0), tpl)
    # the normal equations would exceed the bound on their size: no learning
    monkeypatch.setattr(peeling, "MAX_LEARN_UNKNOWNS", 2 * LENGTH - 1)
    assert np.array_equal(learn_templates(x, found, tpl, CENTRE, 0), tpl)


def test_fits_that_explain_little_where_they_sit_are_pruned():
    rng = np.random.default_rng(13)
    tpl = _templates()
    x = rng.normal(0, NOISE, (6000, N_CH)).astype(np.float32)
    at = [1000, 2500, 4000]
    for s in at:
        _insert(x, tpl[0], s)
    sigma = np.full(N_CH, NOISE)
    found = peel(x, sigma, tpl, PeelParams(), CENTRE)
    assert found.sample.tolist() == at
    # a true discharge explains nearly all of what lies on its channels and span
    assert found.explained.min() > 0.8
    assert (found.gain > PeelParams().k_fit ** 2).all()
    assert len(prune(found, 0.5)) == 3
    # a fit where there is only noise (as greedy fits to leftovers are) takes
    # energy that is not there: it explains little, and is dropped
    bad = 5500
    fake = dataclasses.replace(
        found,
        sample=np.append(found.sample, bad),
        offset=np.append(found.offset, 0.0),
        unit=np.append(found.unit, 1),
        scale=np.append(found.scale, 0.1),
        gain=np.append(found.gain, 0.0),
        explained=np.append(found.explained, 0.02),
        residual=found.residual.copy(),
    )
    fake.residual[bad - CENTRE : bad - CENTRE + LENGTH] -= 0.1 * found.fitted[1, 0]
    kept = prune(fake, 0.5)
    assert kept.sample.tolist() == at
    # what it had subtracted is given back
    assert np.allclose(kept.residual, found.residual, atol=1e-4)
    assert prune(found, 0.0) is found


@pytest.mark.parametrize("locked", [True, False])
def test_fits_that_follow_a_larger_unit_at_a_fixed_lag_are_its_part(locked):
    # a large unit, an independent smaller one, and a small component that
    # rides, 12 samples late, on 80 % of the large unit's discharges (a part
    # of its MUAP its template lacks); or, as a control, the same component
    # firing on its own at random
    rng = np.random.default_rng(41)
    big, small = _templates()
    t = np.arange(LENGTH) - CENTRE
    part = (
        30.0
        * np.exp(-((t / 2.0) ** 2))[:, None]
        * np.exp(-((np.arange(N_CH) - 13.0) ** 2) / 4.0)[None, :]
    ).astype(np.float32)
    tpl = np.stack([big, 0.4 * small, part])
    n = 30000
    x = rng.normal(0, NOISE, (n, N_CH)).astype(np.float32)
    big_at = np.arange(300, n - 300, 400) + rng.integers(-50, 50, 74)
    small_at = np.sort(rng.choice(np.arange(200, n - 200, 60), 60, replace=False))
    ride = big_at[rng.random(big_at.size) < 0.8]
    part_at = ride + 12 if locked else np.sort(rng.choice(np.arange(250, n - 250, 70), ride.size))
    for u, times in ((0, big_at), (1, small_at), (2, part_at)):
        for s in times:
            _insert(x, tpl[u], int(s))
    found = peel(x, np.full(N_CH, NOISE), tpl, PeelParams(), CENTRE)
    # each template's discharges are found (overlaps aside)
    for u, times in ((0, big_at), (1, small_at), (2, part_at)):
        mine = found.unit == u
        pair = match_times(found.sample[mine] + found.offset[mine], times.astype(float), 1.0)
        assert (pair >= 0).mean() > 0.9
    follow = followers(found, 1.0, 0.3, 8)
    if locked:
        # the component's fits are all followers; none of the units' own are
        assert follow[found.unit == 2].mean() > 0.95
        assert not follow[found.unit < 2].any()
    else:
        # a unit firing on its own meets the others at a fixed lag by chance only
        assert not follow.any()
    # too few followed discharges, or too small a share of the larger unit's
    assert not followers(found, 1.0, 0.3, 200).any()
    assert not followers(found, 1.0, 1.0, 8).any()


def _near_equal_biphasic(t_ms: np.ndarray) -> np.ndarray:
    """A sharp negative phase (-85 µV) and, 8 ms later, a broad positive one (+100 µV).

    Unfiltered, the broad phase is the larger; the analysis band-pass (its
    20 Hz high-pass) takes a third of it, and the sharp one is then larger.
    """
    sharp = -85.0 * np.exp(-0.5 * (t_ms / 0.5) ** 2)
    broad = 100.0 * np.exp(-0.5 * ((t_ms - 8.0) / 3.0) ** 2)
    space = np.exp(-((np.arange(N_CH) - 7.0) ** 2) / 8.0)
    return (sharp + broad)[:, None] * space[None, :]


def test_reference_sample_is_the_largest_peak_of_the_unfiltered_muap():
    from fasciq.signal.filters import bandpass_sos, zero_phase

    rng = np.random.default_rng(21)
    n = 40000
    sos = bandpass_sos(FS)
    raw = rng.normal(0, 2.0, (n, N_CH))
    # discharges at random fractions of a sample, every 25 ms
    onsets = 300 + 50 * np.arange(700) + rng.uniform(0, 1, 700)
    truth = []
    k = np.arange(-40, 80)
    for t0 in onsets:
        at = int(np.floor(t0))
        wave = _near_equal_biphasic((at + k - t0) * 1000 / FS)
        raw[at + k] += wave
        big = np.ptp(wave, axis=0).argmax()
        truth.append(at + k[np.abs(wave[:, big]).argmax()])  # the simulator's rule
    truth = np.array(truth)
    filt = zero_phase(raw.astype(np.float32), sos)
    # the unit's band-passed template, discharge time at CENTRE
    one = np.zeros((400, N_CH))
    one[100 + k] = _near_equal_biphasic(k * 1000 / FS)
    tpl = zero_phase(one.astype(np.float32), sos)[100 - CENTRE : 100 - CENTRE + LENGTH][None]
    noise = np.full(N_CH, 2.0)
    found = peel(filt, noise, tpl, PeelParams(), CENTRE)
    assert len(found) == len(onsets)
    # on the band-passed template the sharp phase is the larger: 8 ms early
    feats = peeled_features(found, noise, FS, CENTRE, search_ms=10.0)
    early = np.sort(feats["fit_sample"]) - truth
    assert np.median(early) == pytest.approx(-0.008 * FS, abs=1.5)
    # learnt on the unfiltered traces, the reference is the broad phase
    wide = learn_templates(raw, found, tpl, CENTRE, 0)
    ref = reference_samples(wide, 4)
    assert ref.shape == (1, 4)
    feats = peeled_features(found, noise, FS, CENTRE, search_ms=10.0, reference=ref)
    err = np.sort(feats["fit_sample"]) - truth
    assert np.mean(np.abs(err) <= 1) > 0.98
    assert np.abs(err).max() < 0.005 * FS  # never the other phase


def test_reference_samples_follow_the_fraction_of_a_sample():
    # two equal peaks one sample apart but for a quarter sample: the larger
    # sampled one changes with the delay
    t = np.arange(LENGTH, dtype=float)
    wave = np.exp(-0.5 * ((t - 20.0) / 1.2) ** 2) + 0.98 * np.exp(-0.5 * ((t - 30.3) / 1.2) ** 2)
    tpl = (wave[:, None] * np.ones(3)[None, :])[None].astype(np.float32)
    ref = reference_samples(tpl, 4)
    shifted = _shifted(tpl, 4)[0]
    expected = [int(np.abs(shifted[s, :, 0]).argmax()) for s in range(4)]
    assert ref[0].tolist() == expected
    assert min(expected) <= 21 and max(expected) >= 30  # either peak, by the delay
    # undelayed templates, one fraction only
    assert reference_samples(tpl).tolist() == [[20]]
