import numpy as np

from fasciq.detect.rates import intervals, per_minute, poisson_ci, poisson_upper_bound


def test_garwood_known_values():
    # exact Poisson limits for 10 events (tables: 4.795 – 18.39)
    low, high = poisson_ci(10, 1.0)
    assert abs(low - 4.7954) < 1e-3 and abs(high - 18.3904) < 1e-3
    low, high = poisson_ci(0, 2.0)
    assert low == 0.0 and abs(high - 3.6889 / 2) < 1e-3
    assert np.isnan(poisson_ci(3, 0.0)[0])


def test_upper_bound_rule_of_three():
    assert abs(poisson_upper_bound(0, 30.0) - 2.9957 / 30.0) < 1e-4


def test_per_minute_uses_analysed_time():
    times = np.array([5.0, 10.0, 70.0, 75.0, 80.0])
    table = per_minute(times, lambda a, b: (b - a) / 2, 120.0)
    assert table["n_fp"].tolist() == [2, 3]
    assert np.allclose(table["fp_per_min"], [4.0, 6.0])


def test_intervals_skip_excluded_time():
    gaps = intervals(np.array([1.0, 2.0, 10.0, 10.5]), np.array([[3.0, 9.0]]))
    assert np.allclose(gaps, [1.0, 0.5])
