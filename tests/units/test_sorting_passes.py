"""Merging by separability, sub-sample lags, small units, distant-phase timing, composites."""

from __future__ import annotations

import numpy as np
import pytest

from fasciq.errors import DataError
from fasciq.evaluate.sorting import sorting_metrics
from fasciq.grids.grid import Grid
from fasciq.recording import ArrayRecording
from fasciq.signal.filters import bandpass_sos, filter_margin, zero_phase
from fasciq.units import ClusterParams, SnippetParams, sort_recording
from fasciq.units.clustering import (
    alias_groups,
    merge_units,
    pair_distances,
    regroup_incoherent,
    separation,
)
from fasciq.units.features import take_windows, take_windows_fractional
from fasciq.units.snippets import estimate_noise, extract_snippets, snippets_from_chunk
from fasciq.units.templates import composite_templates, redundant_templates, unit_templates
from tests.units import synth

FS = 2048.0
GRID = Grid.regular(8, 4, 8.0)


def test_separation_scales_with_noise() -> None:
    rng = np.random.default_rng(0)
    t = np.linspace(-1, 1, 33)[:, None] * np.ones((1, 6))
    shape_a = np.sin(3 * t) * 20.0
    shape_b = shape_a * 1.25  # a distinct unit: 25 % larger on every channel
    noise = np.full(6, 2.0)
    for sigma in (2.0, 8.0):
        a = shape_a + rng.normal(0, sigma, (40, *t.shape))
        a2 = shape_a + rng.normal(0, sigma, (40, *t.shape))
        b = shape_b + rng.normal(0, sigma, (40, *t.shape))
        mask = np.ones(6, dtype=bool)
        # one unit cut in two by noise: not separable whatever the noise
        assert separation(a, a2, mask, noise * sigma / 2) < 2.0
        # two units: separable as long as the difference stands above the noise
        d_ab = separation(a, b, mask, noise * sigma / 2)
        expected = np.sqrt(np.square(shape_b - shape_a).sum()) / sigma
        assert d_ab == pytest.approx(expected, rel=0.25)


def test_pair_distances_read_in_noise_units() -> None:
    rng = np.random.default_rng(1)
    tpl = synth.template(GRID, FS, iz_mm=28.0, cv_m_s=4.0, x_mm=8.0, amp_uv=60.0, n_samples=33)
    other = synth.template(GRID, FS, iz_mm=28.0, cv_m_s=4.0, x_mm=24.0, amp_uv=60.0, n_samples=33)
    noise = np.full(GRID.n_channels, 3.0)
    same = tpl[None] + rng.normal(0, 3.0, (6, *tpl.shape))
    diff = other[None] + rng.normal(0, 3.0, (2, *tpl.shape))
    dist = pair_distances(np.concatenate([same, diff]).astype(np.float32), noise)
    within = dist[:6, :6][~np.eye(6, dtype=bool)]
    # discharges of one unit differ by noise only: D at most about 1, below
    # the small-unit threshold (1.5); another unit's discharges lie far beyond
    assert 0.3 < np.median(within) <= 1.1
    assert within.max() < 1.5
    assert dist[:6, 6:].min() > 3.0
    np.testing.assert_allclose(dist, dist.T)


def _units(noise_uv: float, duration: float, seed: int):
    rng = np.random.default_rng(seed)
    tpls = [
        synth.template(GRID, FS, iz_mm=40.0, cv_m_s=4.0, x_mm=0.0, amp_uv=90.0),
        synth.template(GRID, FS, iz_mm=24.0, cv_m_s=3.5, x_mm=24.0, amp_uv=70.0),
    ]
    trains = [synth.poisson_train(1.0, duration, rng) for _ in tpls]
    return tpls, trains


def test_high_noise_not_over_split() -> None:
    tpls, trains = _units(8.0, 60.0, 3)
    rec = synth.recording(tpls, trains, FS, 60.0, GRID, noise_uv=8.0, seed=3)
    times = np.concatenate(trains)
    truth = np.repeat([0, 1], [len(t) for t in trains])
    res = sort_recording(rec, times, seed=0)
    m = sorting_metrics(res.labels, truth)
    assert m["n_units_found"] == 2
    assert m["ari"] >= 0.95


def test_small_distinct_unit_kept() -> None:
    tpls, trains = _units(2.0, 40.0, 4)
    # a third unit with three discharges only, on its own part of the grid
    small = synth.template(GRID, FS, iz_mm=12.0, cv_m_s=4.0, x_mm=12.0, amp_uv=60.0)
    small_times = np.array([7.31, 19.52, 33.17])
    rec = synth.recording(
        [*tpls, small], [*trains, small_times], FS, 40.0, GRID, noise_uv=2.0, seed=4
    )
    times = np.concatenate([*trains, small_times])
    truth = np.repeat([0, 1, 2], [len(trains[0]), len(trains[1]), 3])
    res = sort_recording(rec, times, seed=0)
    m = sorting_metrics(res.labels, truth)
    assert m["n_units_found"] == 3
    small_labels = res.labels[truth == 2]
    assert (small_labels >= 0).all()
    assert len(set(small_labels.tolist())) == 1
    assert not np.isin(small_labels, res.labels[truth != 2]).any()
    assert m["ari"] >= 0.97


@pytest.mark.parametrize("offset_s", [0.004, 0.011])
def test_unit_timed_on_two_phases_is_one_unit(offset_s: float) -> None:
    rng = np.random.default_rng(5)
    tpl = synth.template(GRID, FS, iz_mm=40.0, cv_m_s=4.0, x_mm=0.0, amp_uv=100.0)
    other = synth.template(GRID, FS, iz_mm=20.0, cv_m_s=3.5, x_mm=24.0, amp_uv=80.0)
    t = synth.poisson_train(1.2, 50.0, rng)
    u = synth.poisson_train(1.0, 50.0, rng)
    rec = synth.recording([tpl, other], [t, u], FS, 50.0, GRID, noise_uv=2.0, seed=5)
    # a third of the unit's FPs are timed on a later component: 4 ms (joined by
    # re-alignment) or 11 ms (joined as an alias) after the others
    late = np.arange(len(t)) % 3 == 0
    t_fp = np.where(late, t + offset_s, t)
    times = np.concatenate([t_fp, u])
    truth = np.repeat([0, 1], [len(t), len(u)])
    res = sort_recording(rec, times, seed=0)
    m = sorting_metrics(res.labels, truth)
    assert m["n_units_found"] == 2
    assert m["ari"] >= 0.97
    row = res.units.set_index("unit").loc[int(np.bincount(res.labels[truth == 0]).argmax())]
    assert row.cv_m_s == pytest.approx(4.0, rel=0.1)
    assert row.stable


def test_snippets_from_chunk_match_whole_recording() -> None:
    rng = np.random.default_rng(6)
    x = rng.normal(0, 5, (int(30 * FS), 4)).astype(np.float32)
    rec = ArrayRecording(x, FS, grid=Grid.regular(2, 2, 8.0))
    params = SnippetParams(remove_line=False)
    sos = bandpass_sos(FS, params.low_hz, params.high_hz)
    times = np.array([0.004, 2.5, 9.99, 10.01, 17.3, 29.995])
    whole = extract_snippets(rec, times, params, sos=sos)
    samples = np.rint(times * FS).astype(np.int64)
    margin = filter_margin(sos, FS)
    chunk_len = int(10 * FS)
    got = np.zeros_like(whole)
    for start in range(0, rec.n_samples, chunk_len):
        lo, hi = max(0, start - margin), min(rec.n_samples, start + chunk_len + margin)
        block = zero_phase(rec.get_traces(lo, hi), sos)
        core = (samples >= start) & (samples < start + chunk_len)
        got[core] = snippets_from_chunk(
            block, lo, samples[core], FS, params, n_samples=rec.n_samples
        )
    np.testing.assert_allclose(got, whole, atol=1e-2)
    # a window reaching past the chunk is refused rather than cut short
    with pytest.raises(DataError, match="beyond the chunk"):
        snippets_from_chunk(x[:1000], 0, np.array([995]), FS, params, n_samples=rec.n_samples)
    with pytest.raises(DataError, match="2-D"):
        snippets_from_chunk(x[:, 0], 0, np.array([50]), FS, params)


def test_noise_estimate_ignores_a_loud_start() -> None:
    rng = np.random.default_rng(7)
    n = int(120 * FS)
    x = rng.normal(0, 2.0, (n, 3)).astype(np.float32)
    x[: int(25 * FS)] *= 10.0  # a contraction over the first 25 s
    rec = ArrayRecording(x, FS)
    sos = bandpass_sos(FS, 20.0, 450.0)
    sigma = estimate_noise(rec, sos)
    # white noise of σ 2 µV keeps about 0.66 of its power in 20–450 Hz at 2048 Hz
    expected = 2.0 * np.sqrt((450.0 - 20.0) / (FS / 2))
    np.testing.assert_allclose(sigma, expected, rtol=0.15)


def test_incoherent_cluster_regrouped() -> None:
    """Two small units and false detections lumped in one cluster are told apart."""
    rng = np.random.default_rng(8)
    n_t, centre = 81, 40
    # in noise σ: two small units on the same columns (alike maps), propagating
    # from different innervation zones, and a larger unit of unsteady amplitude
    tpl_a = synth.template(GRID, FS, iz_mm=12.0, cv_m_s=4.0, x_mm=8.0, amp_uv=14.0)
    tpl_b = synth.template(GRID, FS, iz_mm=48.0, cv_m_s=3.0, x_mm=8.0, amp_uv=14.0)
    tpl_c = synth.template(GRID, FS, iz_mm=28.0, cv_m_s=4.0, x_mm=24.0, amp_uv=40.0)
    n_a, n_b, n_false, n_c = 12, 10, 8, 30
    gain_c = rng.uniform(0.85, 1.15, n_c)[:, None, None]
    x = np.concatenate(
        [
            tpl_a[None].repeat(n_a, axis=0),
            tpl_b[None].repeat(n_b, axis=0),
            np.zeros((n_false, n_t, GRID.n_channels)),
            tpl_c[None] * gain_c,
        ]
    )
    x += rng.normal(0.0, 1.0, x.shape)
    # false detections: noise, with a step on one channel in half of them
    x[n_a + n_b : n_a + n_b + n_false : 2, centre:, 5] += 12.0
    x = x.astype(np.float32)
    truth = np.repeat([0, 1, -1, 2], [n_a, n_b, n_false, n_c])
    labels = np.where(truth == 2, 1, 0)  # A, B and the false detections in one cluster
    shifts = np.zeros(len(x), dtype=np.int64)
    noise = np.ones(GRID.n_channels)
    params = ClusterParams()
    new, _ = regroup_incoherent(x, centre, shifts, shifts, labels, 16, 9, noise, params)
    label_a, label_b = new[truth == 0], new[truth == 1]
    assert len(set(label_a.tolist())) == 1 and label_a[0] >= 0
    assert len(set(label_b.tolist())) == 1 and label_b[0] >= 0
    assert label_a[0] != label_b[0]
    # the false detections join no unit; the unsteady but coherent unit is kept whole
    assert not np.isin(new[truth == -1], [label_a[0], label_b[0]]).any()
    assert (new[truth == 2] == 1).all()
    # turned off, nothing changes
    off = ClusterParams(max_incoherence=0.0)
    same, _ = regroup_incoherent(x, centre, shifts, shifts, labels, 16, 9, noise, off)
    np.testing.assert_array_equal(same, labels)


def test_small_group_of_overlapped_discharges_is_redundant() -> None:
    """Overlapped discharges of a large unit are no unit; a distinct small unit is."""
    rng = np.random.default_rng(9)
    n_t, centre, half = 81, 40, 16
    tpl_a = synth.template(GRID, FS, iz_mm=28.0, cv_m_s=4.0, x_mm=8.0, amp_uv=30.0)
    tpl_b = synth.template(GRID, FS, iz_mm=40.0, cv_m_s=3.5, x_mm=24.0, amp_uv=20.0)
    # a distinct unit 6 mm across the fibres from A: A's template accepts its
    # discharges (residual about 0.45), yet its own explains them far better
    tpl_c = synth.template(GRID, FS, iz_mm=28.0, cv_m_s=4.0, x_mm=14.0, amp_uv=30.0)

    def later(tpl: np.ndarray, lag: int) -> np.ndarray:
        out = np.zeros_like(tpl)
        out[max(lag, 0) : n_t + min(lag, 0)] = tpl[max(-lag, 0) : n_t - max(lag, 0)]
        return out

    lags = rng.choice([-12, -9, -7, 7, 9, 12], 6)
    x = np.stack(
        [tpl_a] * 60 + [tpl_b] * 50 + [tpl_a + later(tpl_b, int(k)) for k in lags] + [tpl_c] * 3
    )
    x = (x + rng.normal(0.0, 1.0, x.shape)).astype(np.float32)
    labels = np.repeat([0, 1, 2, 3], [60, 50, 6, 3])
    windows = take_windows(x, centre, np.zeros(len(x), dtype=np.int64), half)
    templates = unit_templates(windows, labels, np.arange(4))
    noise = np.ones(GRID.n_channels)
    redundant = redundant_templates(x, centre, templates, labels, 9, 0.65, noise, max_fraction=0.1)
    assert redundant.tolist() == [False, False, True, False]
    # the large units are never judged, whatever their fit
    assert not redundant_templates(x, centre, templates, labels, 9, 0.65, noise, 0.01).any()


def test_high_rate_units_not_over_split() -> None:
    """Frequent discharges overlap often; the overlapped ones must not form units of their own."""
    rng = np.random.default_rng(0)
    tpls = [
        synth.template(GRID, FS, iz_mm=40.0, cv_m_s=4.0, x_mm=0.0, amp_uv=60.0),
        synth.template(GRID, FS, iz_mm=24.0, cv_m_s=3.5, x_mm=24.0, amp_uv=40.0),
        synth.template(GRID, FS, iz_mm=16.0, cv_m_s=4.5, x_mm=12.0, amp_uv=30.0),
    ]
    duration = 120.0
    trains = [synth.poisson_train(r, duration, rng, refractory_s=0.05) for r in (2.0, 2.0, 1.5)]
    rec = synth.recording(tpls, trains, FS, duration, GRID, noise_uv=2.0, seed=0)
    times = np.concatenate(trains)
    truth = np.repeat([0, 1, 2], [len(t) for t in trains])
    res = sort_recording(rec, times, seed=0)
    m = sorting_metrics(res.labels, truth)
    # without dropping the redundant small units this gives 4 units
    assert m["n_units_found"] == 3
    assert m["ari"] >= 0.94
    by_unit = res.units.set_index("unit")
    for k, cv in enumerate((4.0, 3.5, 4.5)):
        unit = int(np.bincount(res.labels[(truth == k) & (res.labels >= 0)]).argmax())
        assert by_unit.loc[unit, "cv_m_s"] == pytest.approx(cv, rel=0.15)


def _subsample_template(frac: float, **kwargs: float) -> np.ndarray:
    """``synth.template`` whose discharge lies ``frac`` of a sample after the centre (eighths)."""
    fine = synth.template(GRID, 8 * FS, n_samples=8 * 81, **kwargs)
    # fine sample 8 j + k lies (j - 40.5 + k / 8) samples from the centre
    k = round(4 - 8 * frac)
    return fine[k::8][:81]


def test_subsample_phases_of_one_large_unit_merge() -> None:
    """A large MUAP aligned half a sample apart differs by far more than noise; still one unit."""
    rng = np.random.default_rng(10)
    big = {"iz_mm": 28.0, "cv_m_s": 4.0, "x_mm": 8.0, "amp_uv": 300.0}
    fracs = np.concatenate([rng.uniform(-0.04, 0.04, 20), rng.uniform(0.46, 0.54, 20)])
    other = synth.template(GRID, FS, iz_mm=40.0, cv_m_s=3.5, x_mm=24.0, amp_uv=300.0)
    x = np.stack([_subsample_template(f, **big) for f in fracs] + [other] * 20)
    x = (x + rng.normal(0.0, 1.0, x.shape)).astype(np.float32)
    labels = np.repeat([0, 1, 2], 20)  # the unit cut in two by sub-sample phase
    shifts = np.zeros(len(x), dtype=np.int64)
    noise = np.ones(GRID.n_channels)
    merged, _ = merge_units(x, 40, shifts, labels, 16, 9, noise, ClusterParams())
    assert len(set(merged[:40].tolist())) == 1
    assert merged[40] != merged[0]
    assert len(set(merged[40:].tolist())) == 1
    # the halves really are far apart at whole-sample alignment
    wa = take_windows(x[:20], 40, shifts[:20], 16)
    wb = take_windows(x[20:40], 40, shifts[20:40], 16)
    assert separation(wa, wb, np.ones(GRID.n_channels, dtype=bool), noise) > 8.0
    # and the Lanczos re-sampling is accurate far below the noise
    # (a discharge half a sample later, read half a sample earlier)
    half_earlier = take_windows_fractional(_subsample_template(0.0, **big)[None], 40, [0], -0.5, 16)
    expected = take_windows(_subsample_template(0.5, **big)[None], 40, [0], 16)
    assert np.abs(half_earlier - expected).max() < 0.01 * 300.0


def test_alike_distinct_unit_is_no_composite() -> None:
    """A unit that one other template already explains is not an overlap of two."""
    a = synth.template(GRID, FS, iz_mm=28.0, cv_m_s=4.0, x_mm=8.0, amp_uv=100.0)
    b = synth.template(GRID, FS, iz_mm=40.0, cv_m_s=3.5, x_mm=24.0, amp_uv=80.0)
    small = synth.template(GRID, FS, iz_mm=24.0, cv_m_s=4.0, x_mm=12.0, amp_uv=10.0)
    # a distinct unit 1 mm from A: A's template leaves 8 % of its energy, and
    # the small unit fits a little of that difference
    alike = synth.template(GRID, FS, iz_mm=29.0, cv_m_s=4.0, x_mm=9.0, amp_uv=100.0)
    later = np.zeros_like(b)
    later[12:] = b[:-12]
    overlap = a + later  # A and B discharging 6 ms apart
    templates = np.stack([a, b, small, alike, overlap]).astype(np.float32)
    counts = np.array([100, 80, 50, 12, 6])
    assert composite_templates(templates, counts, 3).tolist() == [False] * 4 + [True]


def test_long_muap_timed_on_a_late_phase_is_an_alias() -> None:
    """A MUAP longer than the window, timed 20 samples after its main phase, joins its unit."""
    rng = np.random.default_rng(11)
    # a slow MUAP (2 m/s from the top row, 2 ms waves) lasting about 30 ms
    t = np.arange(140)
    full = np.zeros((140, GRID.n_channels))
    for c, (x_mm, y_mm) in enumerate(GRID.positions_mm):
        gain = 30.0 * np.exp(-0.5 * ((x_mm - 8.0) / 8.0) ** 2)
        full[:, c] = gain * synth.wave((t - 35) / FS - y_mm * 1e-3 / 2.0, 0.002)
    main, late = full[5:66], full[25:86]  # windows on the main phase and 20 samples later
    energy = np.square(full).sum(axis=1)
    # the late window keeps only 60 % of its energy in the overlap
    assert energy[25:66].sum() / energy[25:86].sum() < 0.7
    distinct = synth.template(
        GRID, FS, iz_mm=48.0, cv_m_s=4.0, x_mm=24.0, amp_uv=30.0, n_samples=61
    )
    templates = np.stack([main, late, distinct]) + rng.normal(0.0, 0.3, (3, 61, GRID.n_channels))
    primary, lags = alias_groups(templates, np.array([100, 30, 40]), 30, 10, ClusterParams())
    assert primary.tolist() == [0, 0, 2]
    assert lags.tolist() == [0, -20, 0]
