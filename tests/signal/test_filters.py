import numpy as np
import pytest
from scipy import signal as sps

from fasciq.errors import ParameterError
from fasciq.signal.filters import (
    BandpassParams,
    bandpass,
    bandpass_sos,
    filter_margin,
    zero_phase,
)
from fasciq.signal.line import notch_sos

FS = 2048.0


def _chunked(x, sos, chunk, margin):
    out = np.empty_like(x, dtype=np.float32)
    n = x.shape[0]
    for a in range(0, n, chunk):
        b = min(a + chunk, n)
        lo, hi = max(0, a - margin), min(n, b + margin)
        y = zero_phase(x[lo:hi], sos, margin)
        out[a:b] = y[a - lo : a - lo + (b - a)]
    return out


@pytest.mark.parametrize("with_notch", [False, True])
def test_chunked_equals_whole(with_notch):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 10, (int(12 * FS), 3)).astype(np.float32)
    x += 500.0  # a DC offset, as raw amplifiers give
    sos = bandpass_sos(FS)
    if with_notch:
        sos = np.concatenate([sos, notch_sos(FS, [50.0, 100.0, 150.0])])
    margin = filter_margin(sos, FS)
    whole = zero_phase(x, sos, margin)
    chunked = _chunked(x, sos, int(2.5 * FS), margin)
    # float32 arithmetic: agreement to well below a microvolt on 10 µV noise
    assert np.abs(whole - chunked).max() < 1e-3


def test_matches_scipy_sosfiltfilt():
    rng = np.random.default_rng(1)
    x = rng.normal(0, 10, (5000, 2))
    sos = bandpass_sos(FS)
    ref = sps.sosfiltfilt(sos, x, axis=0)
    assert np.abs(bandpass(x, FS) - ref).max() < 1e-3


def test_passband_and_stopband_gain():
    t = np.arange(int(4 * FS)) / FS
    mid = slice(int(FS), int(3 * FS))
    for f, low, high in ((100.0, 0.98, 1.02), (5.0, 0.0, 0.01), (900.0, 0.0, 0.05)):
        y = bandpass(np.sin(2 * np.pi * f * t), FS)
        gain = np.abs(y[mid]).max()
        assert low <= gain <= high, (f, gain)


def test_zero_phase_keeps_peak_time():
    x = np.zeros(4096)
    x[2000] = 1.0
    y = bandpass(x, FS)
    assert int(np.argmax(np.abs(y))) == 2000


def test_margin_grows_with_narrow_notch():
    wide = filter_margin(notch_sos(FS, [50.0], bandwidth_hz=4.0), FS)
    narrow = filter_margin(notch_sos(FS, [50.0], bandwidth_hz=1.0), FS)
    assert narrow > 2 * wide


def test_high_edge_clipped_for_slow_sampling():
    sos = bandpass_sos(500.0, 20.0, 450.0)
    _w, h = sps.sosfreqz(sos, worN=[100.0, 240.0], fs=500.0)
    assert abs(h[0]) > 0.95 and abs(h[1]) < 0.5


def test_bad_parameters():
    with pytest.raises(ParameterError, match="high_hz"):
        BandpassParams(low_hz=100, high_hz=50)
    with pytest.raises(ParameterError, match="order"):
        BandpassParams(order=0)
    with pytest.raises(ParameterError, match="pass band"):
        bandpass_sos(30.0, 20.0, 450.0)


def test_common_mode_matches_projector():
    from fasciq.grids import Grid
    from fasciq.signal.filters import common_mode, common_mode_basis, common_mode_projector

    pos = np.asarray(Grid.regular(8, 8, 8.0).positions_mm)
    rng = np.random.default_rng(5)
    # a plane over the grid plus local noise: the plane is the common part
    plane = 30.0 + 2.0 * pos[:, 0] - 1.5 * pos[:, 1]
    x = (rng.normal(0, 5, (2000, 64)) + plane).astype(np.float32)
    q = common_mode_basis(pos, 64)
    assert q.shape == (64, 3) and np.allclose(q.T @ q, np.eye(3), atol=1e-5)
    p = common_mode_projector(pos, 64)
    assert np.allclose(x - common_mode(x, q), x @ p, atol=1e-3)
    # the plane itself is removed entirely, local noise is kept
    assert np.abs(common_mode(plane[None, :].astype(np.float32), q) - plane).max() < 1e-3
    left = x - common_mode(x, q)
    assert 4.5 < left.std() < 5.1
    # a single row spans a line; without positions only the mean is removed
    assert common_mode_basis(pos[:8] * [1, 0], 8).shape == (8, 2)
    mean_only = common_mode_basis(None, 10)
    assert np.allclose(common_mode(np.ones((3, 10), np.float32), mean_only), 1.0)
    assert common_mode_basis(pos[:4], 4) is None


def test_many_channels_filtered_in_blocks_equal_one_by_one():
    sos = bandpass_sos(FS)
    rng = np.random.default_rng(9)
    # 150 channels: two whole blocks and a partial one, each with its own offset
    x = (rng.normal(0, 5, (6000, 150)) + rng.uniform(-1e4, 1e4, 150)).astype(np.float32)
    y = zero_phase(x, sos, 500)
    assert y.shape == x.shape and y.dtype == np.float32
    for ch in (0, 63, 64, 127, 128, 149):
        assert np.array_equal(y[:, ch], zero_phase(x[:, ch], sos, 500))
    ref = sps.sosfiltfilt(sos, x.astype(np.float64), axis=0, padlen=500)
    assert np.abs(y - ref).max() < 1e-3 * np.abs(ref).max()


@pytest.mark.parametrize("n", [1, 2, 5, 40])
def test_short_traces_match_scipy(n):
    # padding is cut to the samples there are, as SciPy's odd extension
    sos = bandpass_sos(FS)
    x = np.random.default_rng(n).normal(0, 5, (n, 3))
    y = zero_phase(x, sos, 500)
    assert y.shape == (n, 3) and y.dtype == np.float32
    if n > 1:
        ref = sps.sosfiltfilt(sos, x - x.mean(axis=0), axis=0, padlen=n - 1)
        assert np.abs(y - ref).max() < 1e-3 * max(1.0, np.abs(ref).max())
