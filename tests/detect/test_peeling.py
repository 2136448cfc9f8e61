"""Template peeling: overlapping discharges of different units separated by their templates."""

import numpy as np
import pytest

from fasciq.detect.peeling import (
    PeelParams,
    _correlate,
    _shifted,
    dense_stretches,
    match_times,
    peak_left,
    peel,
    peeled_features,
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
    ],
)
def test_invalid_parameters_are_refused(kwargs):
    with pytest.raises(ParameterError):
        PeelParams(**kwargs)


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
