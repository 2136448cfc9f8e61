"""The fast medians and quantiles return exactly what numpy returns."""

from __future__ import annotations

import numpy as np
import pytest

from fasciq.signal.robust import median, quantile


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("shape", "axis"),
    [
        ((4000, 63), 1),  # rows across a grid (sorted)
        ((4000, 64), 1),  # even count: mean of the two middle values
        ((63, 1501), 1),  # long lanes (partitioned)
        ((63, 1500), 1),
        ((1500, 7), 0),
        ((9, 256, 5), 1),
        ((1, 1), 0),
        ((2, 3), 0),
    ],
)
def test_median_equals_numpy(shape, axis, dtype):
    rng = np.random.default_rng(sum(shape))
    v = (rng.standard_normal(shape) * 7 + 3).astype(dtype)
    v.flat[::17] = 2.5  # ties
    ours = median(v, axis=axis)
    ref = np.median(v, axis=axis)
    assert ours.dtype == ref.dtype and ours.shape == ref.shape
    assert np.array_equal(ours, ref)


def test_median_of_integers_and_empty_lanes():
    v = np.arange(12).reshape(3, 4)[:, ::-1]
    assert np.array_equal(median(v, axis=1), np.median(v, axis=1))
    assert np.array_equal(median(v, axis=1), [1.5, 5.5, 9.5])
    assert np.isnan(median(np.zeros((3, 0)), axis=1)).all()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("q", [0.0, 0.05, 0.2, 0.5, 0.95, 1.0, 1 / 3])
@pytest.mark.parametrize("length", [1, 2, 121, 241, 700])
def test_quantile_equals_numpy(q, length, dtype):
    rng = np.random.default_rng(length)
    v = (rng.gamma(2.0, 3.0, (6, 5, length))).astype(dtype)
    for axis in (-1, 0):
        ours = quantile(v, q, axis=axis)
        ref = np.quantile(v, q, axis=axis)
        assert ours.dtype == ref.dtype and ours.shape == ref.shape
        assert np.array_equal(ours, ref)


def test_quantile_known_values():
    v = np.array([[4.0, 1.0, 3.0, 2.0, 5.0]])
    assert quantile(v, 0.5, axis=1)[0] == 3.0
    assert quantile(v, 0.25, axis=1)[0] == 2.0
    assert quantile(v, 0.1, axis=1)[0] == pytest.approx(1.4)
