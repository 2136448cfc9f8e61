"""Discharge patterns on hand-made spike trains with known answers."""

from __future__ import annotations

import numpy as np
import pytest

from fasciq.units.params import PatternParams
from fasciq.units.patterns import nearest_latencies, time_locked_pairs, train_pattern


def test_doublets_isolated_continual_by_hand() -> None:
    # intervals: 0.050 (doublet), 0.950, 0.100 (doublet), 0.900, 0.005 (too short),
    # 0.995, 0.300, 0.115 (too long)
    t = np.array([0.0, 0.05, 1.0, 1.1, 2.0, 2.005, 3.0, 3.3, 3.415])
    p = train_pattern(t[::-1])  # order does not matter
    assert p.doublets == 2
    np.testing.assert_allclose(np.sort(p.doublet_intervals_s), [0.05, 0.1])
    # isolated: both neighbouring intervals > 250 ms; 0.0 has no left neighbour
    # 0.0 (right 0.05) no; 0.05 no; 1.0 no (right 0.1); 1.1 no; 2.0 no; 2.005 no;
    # 3.0: left 0.995, right 0.3 -> yes; 3.3: right 0.115 no; 3.415: left 0.115 no
    assert p.isolated == 1
    assert p.continual == len(t) - 1
    assert p.is_isolated.tolist() == [False] * 6 + [True, False, False]


def test_lone_and_empty_trains() -> None:
    assert train_pattern(np.array([5.0])).isolated == 1
    empty = train_pattern(np.zeros(0))
    assert (empty.doublets, empty.isolated, empty.continual) == (0, 0, 0)


def test_custom_limits() -> None:
    p = train_pattern(np.array([0.0, 0.2, 0.5]), PatternParams(doublet_max_s=0.25, isolated_s=0.1))
    assert p.doublets == 1
    assert p.isolated == 3


def test_nearest_latencies() -> None:
    a = np.array([1.0, 2.0, 3.0])
    b = np.array([1.02, 2.5, 2.99])
    np.testing.assert_allclose(nearest_latencies(a, b, 0.1), [0.02, -0.01])


def test_time_locked_pair_found_and_independent_unit_not() -> None:
    rng = np.random.default_rng(3)
    duration = 600.0
    a = np.sort(rng.uniform(0, duration, 60))
    b = a + 0.020 + rng.normal(0, 0.0005, a.size)  # follows a by 20 ms
    c = np.sort(rng.uniform(0, duration, 60))  # independent
    pairs = time_locked_pairs({0: a, 1: b, 2: c}, duration, PatternParams(n_shuffles=100), seed=1)
    assert [(p.unit_a, p.unit_b) for p in pairs] == [(0, 1)]
    assert pairs[0].latency_s == pytest.approx(0.020, abs=0.001)
    assert pairs[0].count >= 55
    assert pairs[0].p_value < 0.02


def test_shuffled_counts_match_one_shuffle_at_a_time() -> None:
    from fasciq.units.params import PatternParams
    from fasciq.units.patterns import _peak_count, _shuffled_peak_counts, nearest_latencies

    rng = np.random.default_rng(4)
    duration = 300.0
    a = np.sort(rng.uniform(0, duration, 400))
    # b partly locked to a at 12 ms, partly independent
    b = np.sort(np.concatenate([a[::3] + 0.012, rng.uniform(0, duration, 150)]) % duration)
    params = PatternParams()
    offsets = rng.uniform(0, duration, 50)
    fast = _shuffled_peak_counts(a, b, offsets, duration, params)
    slow = [
        _peak_count(
            nearest_latencies(a, np.sort(np.mod(b + off, duration)), params.lock_window_s),
            params.lock_window_s,
            params.lock_bin_s,
        )[0]
        for off in offsets
    ]
    np.testing.assert_array_equal(fast, slow)
    # the shuffles break the lock: their peaks stay far below the locked one
    locked = _peak_count(
        nearest_latencies(a, b, params.lock_window_s), params.lock_window_s, params.lock_bin_s
    )[0]
    assert locked > 2 * max(slow)
