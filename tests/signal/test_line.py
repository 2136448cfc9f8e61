import numpy as np

from fasciq.signal.line import detect_line_frequency, line_harmonics, remove_line_noise

FS = 2048.0


def _signal(line_hz, seconds=8.0, ramp=True, seed=0):
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * FS)) / FS
    emg = rng.normal(0, 5, (t.size, 4))
    # line amplitude that changes over time: 10 -> 60 µV, plus a third harmonic
    amp = np.linspace(10, 60, t.size) if ramp else np.full(t.size, 30.0)
    line = amp * np.sin(2 * np.pi * line_hz * t) + 0.3 * amp * np.sin(2 * np.pi * 3 * line_hz * t)
    return emg + line[:, None], emg


def test_detects_50_and_60():
    for f in (50.0, 60.0):
        x, _ = _signal(f)
        assert detect_line_frequency(x, FS) == f


def test_no_line_detected_in_clean_noise():
    rng = np.random.default_rng(3)
    assert detect_line_frequency(rng.normal(0, 5, (int(8 * FS), 4)), FS) is None


def test_harmonics_found():
    x, _ = _signal(50.0)
    found = line_harmonics(x, FS, 50.0)
    assert 50.0 in found and 150.0 in found and 100.0 not in found


def test_removal_with_changing_amplitude():
    x, emg = _signal(60.0)
    clean, freqs = remove_line_noise(x, FS)
    assert freqs[:1] == [60.0] and 180.0 in freqs
    mid = slice(int(FS), int(7 * FS))
    residual = clean[mid] - emg[mid]
    # line up to 60 µV; what is left is a small fraction of the 5 µV EMG noise
    # (the notches also take the noise inside their 2 Hz bands)
    assert np.std(residual) < 1.0
    assert np.std(x[mid] - emg[mid]) > 20


def test_subtract_line_follows_drift_ignores_muaps_and_is_chunk_safe():
    from fasciq.signal.line import subtract_line

    rng = np.random.default_rng(5)
    n = int(10 * FS)
    t = np.arange(n) / FS
    emg = rng.normal(0, 2, (n, 3))
    muap = 1000 * np.hanning(40) * np.sin(np.linspace(0, 2 * np.pi, 40))
    emg[5000:5040, 0] += muap  # a very large FP
    amp = np.linspace(10, 60, n)  # the line grows sixfold
    line = amp * np.sin(2 * np.pi * 50.02 * t) + 0.3 * amp * np.sin(2 * np.pi * 150.06 * t)
    x = emg + line[:, None]
    w = int(FS // 2)
    clean = subtract_line(x, FS, 0, [50.0, 100.0, 150.0], w)
    resid = clean - emg
    core = slice(w, n - w)
    assert np.std(resid[core], axis=0).max() < 1.0  # of up to 60 µV of line
    # the FP is neither removed nor smeared over the neighbouring second
    assert np.abs(resid[5000:5040, 0]).max() < 3.0
    assert np.abs(resid[3000:4900, 0]).max() < 3.0 and np.abs(resid[5140:7000, 0]).max() < 3.0
    # chunks with three fit windows of margin give the same samples
    out = np.empty_like(clean)
    for a in range(0, n, 4096):
        b = min(a + 4096, n)
        lo, hi = max(0, a - 3 * w), min(n, b + 3 * w)
        out[a:b] = subtract_line(x[lo:hi], FS, lo, [50.0, 100.0, 150.0], w)[a - lo : b - lo]
    assert np.array_equal(out, clean)


def test_blocked_welch_equals_whole_array():
    from scipy import signal as sps

    from fasciq.signal.line import _welch

    rng = np.random.default_rng(8)
    x = rng.normal(0, 5, (8192, 37)).astype(np.float32)
    x[:, 20:] += 40 * np.sin(2 * np.pi * 50 * np.arange(8192) / 2048.0)[:, None]
    f, p = _welch(x, 2048.0, 4096)
    f0, p0 = sps.welch(x.astype(np.float64), fs=2048.0, nperseg=4096, axis=0)
    assert np.array_equal(f, f0)
    assert p.shape == (2049, 37) and np.allclose(p, p0, rtol=1e-10, atol=0)
    # the line sits on channels 20.. only
    k = np.argmin(np.abs(f - 50))
    assert (p[k, 20:] > 100 * p[k, :20].max()).all()


def test_a_few_samples_past_the_last_window_leave_no_wild_fit():
    # 4 s + k samples: the last fit window holds only k samples, too few to
    # fit five harmonics; its neighbour's fit is used, so nothing blows up
    from fasciq.signal.line import subtract_line

    rng = np.random.default_rng(2)
    freqs = [50.0, 100.0, 150.0, 200.0, 250.0]
    for k in (1, 3, 7, 50, 600):
        n = int(4 * FS) + k
        t = np.arange(n) / FS
        emg = rng.normal(0, 3, (n, 2))
        x = emg + 20 * np.sin(2 * np.pi * 50 * t + 0.3)[:, None]
        resid = subtract_line(x, FS, 0, freqs, int(FS)) - emg
        # of 20 µV of line, well under the 3 µV noise is left anywhere
        assert np.abs(resid).max() < 3.0, k
        # the same at a chunk's start that falls just before a window's end
        lo = int(FS) - k
        part = subtract_line(x[lo:], FS, lo, freqs, int(FS)) - emg[lo:]
        assert np.abs(part).max() < 3.0, k
