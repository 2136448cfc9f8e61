import numpy as np
import pytest

from fasciq.detect.detector import Neighbourhood, data_neighbourhood, detect_spatial
from fasciq.detect.params import DetectParams
from fasciq.detect.registry import detector_names, get_detector
from fasciq.errors import ParameterError
from fasciq.evaluate import match_events
from fasciq.signal.filters import bandpass, bandpass_sos, filter_margin, zero_phase

from .synth import add_pops, synth


def _run(rec, hood, params=None):
    sos = bandpass_sos(rec.fs)
    y = zero_phase(rec.get_traces(), sos, filter_margin(sos, rec.fs))
    sigma = np.full_like(y, np.median(np.abs(y)) * 1.4826)
    return y, detect_spatial(y, sigma, hood, rec.fs, params)


def _grid_hood(rec):
    return Neighbourhood(rec.grid.adjacency(), np.asarray(rec.grid.positions_mm))


def test_one_event_per_discharge_and_all_found():
    rec, times = synth(duration_s=30, rate_per_min=200, seed=2)
    _, ev = _run(rec, _grid_hood(rec))
    m = match_events(ev.sample / rec.fs, times, 0.01)
    assert m.n_truth > 80
    assert m.true_positives >= 0.98 * m.n_truth
    assert m.false_positives <= 0.02 * m.n_truth  # phases are not split into extra FPs


def test_pops_on_one_channel_are_not_fps():
    rec, _ = synth(duration_s=20, rate_per_min=0, seed=5)
    rec = add_pops(rec, np.arange(1.0, 19.0, 1.5), channel=10, amp_uv=800.0)
    _, ev = _run(rec, _grid_hood(rec))
    # (the pipeline drops peaks within one phase window of the recording's ends)
    edge = 0.01 * rec.fs
    assert not ((ev.sample > edge) & (ev.sample < rec.n_samples - edge)).any()


def test_overlapping_fps_of_distant_units_are_separated():
    fs = 2048.0
    rec, _ = synth(duration_s=2, rate_per_min=0, seed=6, rows=13, cols=5)
    x = rec.get_traces().astype(np.float64)
    pos = np.asarray(rec.grid.positions_mm)
    tt = (np.arange(-40, 41) / fs) * 1000
    from .synth import muap

    for (cx, cy), t0 in (((0.0, 0.0), 1.0), ((32.0, 96.0), 1.004)):
        d = np.sqrt((pos[:, 0] - cx) ** 2 + (pos[:, 1] - cy) ** 2)
        gain = 100 / (1 + (d / 8.0) ** 2)
        i0 = int(t0 * fs)
        x[i0 - 40 : i0 + 41] += muap(tt)[:, None] * gain[None, :]
    rec2 = type(rec)(x.astype(np.float32), fs, grid=rec.grid)
    _, ev = _run(rec2, _grid_hood(rec2))
    assert len(ev) == 2
    assert abs(ev.sample[1] - ev.sample[0] - 0.004 * fs) <= 2


def test_without_grid_and_on_one_channel():
    rec, times = synth(duration_s=30, rate_per_min=150, seed=7, amp_uv=120)
    y = bandpass(rec.get_traces(), rec.fs)
    hood = data_neighbourhood(y)
    assert hood.adjacency.any(axis=1).all() and not hood.adjacency.diagonal().any()
    _, ev = _run(rec, hood)
    m = match_events(ev.sample / rec.fs, times, 0.01)
    assert m.true_positives >= 0.95 * m.n_truth and m.false_positives <= 0.05 * m.n_truth
    # one channel: the best channel of the strongest unit still finds its FPs
    single = rec.select_channels([int(np.argmax(np.abs(y).max(axis=0)))]).load()
    _y1, ev1 = _run(single, Neighbourhood(np.zeros((1, 1), dtype=bool)))
    assert len(ev1) >= 0.2 * len(times)
    m1 = match_events(ev1.sample / rec.fs, times, 0.01)
    assert m1.false_positives <= 0.05 * len(ev1)


def test_registry_and_threshold_reference():
    assert {"spatial", "threshold"} <= set(detector_names())
    with pytest.raises(ParameterError, match="unknown detection method"):
        get_detector("nope")
    rec, times = synth(duration_s=20, rate_per_min=120, seed=8)
    y = bandpass(rec.get_traces(), rec.fs)
    sigma = np.full_like(y, np.median(np.abs(y)) * 1.4826)
    ev = get_detector("threshold")(y, sigma, _grid_hood(rec), rec.fs, DetectParams())
    m = match_events(ev.sample / rec.fs, times, 0.01)
    assert m.true_positives >= 0.9 * m.n_truth


def test_parameter_validation():
    with pytest.raises(ParameterError, match="k_low"):
        DetectParams(k_low=6, k_high=5)
    with pytest.raises(ParameterError, match="min_channels"):
        DetectParams(min_channels=0)


def test_row_time_max_matches_a_full_maximum_filter():
    from scipy import ndimage

    from fasciq.detect.detector import _rows_time_max

    rng = np.random.default_rng(4)
    v = rng.normal(size=(500, 6)).astype(np.float32)
    rows = np.array([0, 1, 7, 250, 498, 499])
    full = ndimage.maximum_filter1d(v, 7, axis=0, mode="nearest")
    assert np.array_equal(_rows_time_max(v, rows, 3), full[rows])


def test_spatial_integration_finds_small_fps_without_false_ones():
    # small FPs: about 4 σ on the largest channel, less on its neighbours
    rec, times = synth(duration_s=30, rate_per_min=120, amp_uv=22.0, seed=31, n_units=3)
    hood = _grid_hood(rec)
    found = {}
    for k_energy in (0.0, 3.0):
        _, ev = _run(rec, hood, DetectParams(k_energy=k_energy, k_coherent=0.0))
        found[k_energy] = match_events(ev.sample / rec.fs, times, 0.01)
    single, joint = found[0.0], found[3.0]
    assert joint.n_truth > 50
    assert joint.true_positives >= 0.9 * joint.n_truth
    assert single.true_positives <= 0.85 * single.n_truth  # a threshold per channel misses them
    assert joint.false_positives <= 3
    noise, _ = synth(duration_s=30, rate_per_min=0, seed=32)
    _, ev = _run(noise, _grid_hood(noise), DetectParams(k_energy=3.0))
    edge = 0.01 * noise.fs
    assert ((ev.sample > edge) & (ev.sample < noise.n_samples - edge)).sum() <= 1
