import numpy as np

from fasciq.signal.noise import (
    NoiseParams,
    noise_per_sample,
    rolling_quantile,
    track_noise,
    window_noise,
)

FS = 1000.0


def test_window_noise_ignores_sparse_spikes():
    rng = np.random.default_rng(0)
    x = rng.normal(0, 4.0, (20000, 2))
    x[::200, 0] += 200.0  # sparse large events: 0.5 % of samples
    sig = window_noise(x, 1000)
    assert sig.shape == (20, 2)
    assert np.allclose(np.median(sig, axis=0), 4.0, rtol=0.06)


def test_tracking_follows_drift_and_ignores_bursts():
    rng = np.random.default_rng(1)
    n_win = 600  # 5 minutes of 0.5 s windows
    true = np.linspace(3.0, 6.0, n_win)  # noise doubles over five minutes
    win = 500
    x = rng.normal(0, 1, (n_win * win, 1)) * np.repeat(true, win)[:, None]
    # a 10 s burst of voluntary-like activity, 5x the noise
    x[100 * win : 120 * win] *= 5
    sig = window_noise(x, win)
    tracked = track_noise(sig, 0.5, NoiseParams(window_s=0.5, track_s=30.0, quantile=0.2), win // 4)
    rel = tracked[:, 0] / true
    assert np.all(np.abs(rel - 1) < 0.1)


def test_rolling_quantile_handles_nan_and_edges():
    v = np.arange(10, dtype=float)[:, None]
    out = rolling_quantile(v, 2, 0.5)
    assert out[0, 0] == 1.0 and out[5, 0] == 5.0 and out[9, 0] == 8.0
    v[3] = np.nan
    out = rolling_quantile(v, 1, 0.5)
    assert out[3, 0] == 3.0


def test_noise_per_sample_interpolates_between_window_centres():
    tracked = np.array([[1.0], [3.0]])
    s = noise_per_sample(tracked, 100, 0, 200)
    assert s[0, 0] == 1.0 and s[50, 0] == 1.0 and abs(s[100, 0] - 2.0) < 1e-6
    assert s[199, 0] == 3.0


def test_rolling_quantile_rows_match_the_whole():
    from fasciq.signal.noise import rolling_quantile_rows

    rng = np.random.default_rng(2)
    v = rng.normal(size=(50, 3))
    whole = rolling_quantile(v, 6, 0.2)
    for lo, hi in ((0, 4), (3, 20), (40, 50), (0, 50)):
        assert np.allclose(rolling_quantile_rows(v, lo, hi, 6, 0.2), whole[lo:hi])
