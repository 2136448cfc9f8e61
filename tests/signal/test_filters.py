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
