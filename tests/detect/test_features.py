"""FP times and one row per discharge when discharges overlap."""

import numpy as np

from fasciq.detect.detector import Events
from fasciq.detect.features import event_features

from .synth import muap


def _two_units(gap_ms: float, b_uv: float = 60.0, fs: float = 2048.0):
    """A large MUAP on channels 0-3 and a smaller one on channels 2-5, ``gap_ms`` later."""
    n, n_ch = 2048, 8
    x = np.zeros((n, n_ch))
    tt = (np.arange(n) - 800) / fs * 1000
    gain_a = np.array([1.0, 0.9, 0.8, 0.6, 0, 0, 0, 0]) * 200
    gain_b = np.array([0, 0, 0.5, 0.8, 1.0, 0.9, 0, 0]) * b_uv
    x += muap(tt)[:, None] * gain_a
    x += muap(tt - gap_ms)[:, None] * gain_b
    x += np.random.default_rng(0).normal(0, 1.0, x.shape)
    return x, 800, 800 + round(gap_ms * fs / 1000)


def test_overlapping_discharges_keep_their_own_times():
    fs = 2048.0
    # 18 ms apart: the second one's search reaches the first, whose channel 2
    # has the largest peak-to-peak of that window
    x, ta, tb = _two_units(18.0, b_uv=150.0)
    foot = np.zeros((2, 8), dtype=bool)
    foot[0, :4] = True
    foot[1, 2:6] = True
    ev = Events(np.array([ta, tb]), np.array([0, 4]), foot)
    f = event_features(x, np.ones_like(x), ev, fs)
    assert len(f["peak_sample"]) == 2
    assert abs(f["peak_sample"][0] - ta) <= 2
    assert abs(f["peak_sample"][1] - tb) <= 2
    assert f["channel"][1] == 4


def test_two_detections_of_one_discharge_give_one_row():
    fs = 2048.0
    x, ta, _ = _two_units(30.0)
    foot = np.zeros((2, 8), dtype=bool)
    foot[:, :4] = True
    # a phase of the same MUAP detected separately, 3 ms after its peak
    ev = Events(np.array([ta, ta + 6]), np.array([0, 3]), foot)
    f = event_features(x, np.ones_like(x), ev, fs)
    assert len(f["peak_sample"]) == 1
    assert abs(f["peak_sample"][0] - ta) <= 2
