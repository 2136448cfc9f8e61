import numpy as np
import pytest

from fasciq.errors import ParameterError
from fasciq.evaluate import match_events
from fasciq.intervals import inside, merge_spans, overlap_length, total_length


def test_exact_and_shifted_matches():
    truth = np.array([1.0, 2.0, 3.0, 4.0])
    det = np.array([1.004, 2.5, 3.0, 3.996, 9.0])
    m = match_events(det, truth, tolerance_s=0.005)
    assert m.true_positives == 3
    assert m.false_positives == 2
    assert m.false_negatives == 1
    np.testing.assert_array_equal(m.truth_index, [0, 2, 3])
    np.testing.assert_array_equal(m.detected_index, [0, 2, 3])
    np.testing.assert_allclose(m.delta_s, [0.004, 0.0, -0.004], atol=1e-12)
    np.testing.assert_array_equal(m.unmatched_truth, [1])
    np.testing.assert_array_equal(m.unmatched_detected, [1, 4])


def test_one_to_one_prefers_closest():
    # two detections compete for one truth event: the closer one wins
    m = match_events([0.995, 1.001], [1.0], tolerance_s=0.01)
    assert m.true_positives == 1
    np.testing.assert_array_equal(m.detected_index, [1])
    # a detection between two truth events takes the nearer; the other is missed
    m = match_events([1.006], [1.0, 1.01], tolerance_s=0.01)
    np.testing.assert_array_equal(m.truth_index, [1])
    assert m.false_negatives == 1


def test_tolerance_is_inclusive_and_never_exceeded():
    rng = np.random.default_rng(3)
    truth = np.sort(rng.uniform(0, 100, 500))
    det = truth + rng.uniform(-0.02, 0.02, truth.size)
    m = match_events(det, truth, tolerance_s=0.01)
    assert np.abs(m.delta_s).max() <= 0.01 + 1e-12
    expected = int((np.abs(det - truth) <= 0.01).sum())
    # pairs can only be lost to competition, never gained beyond the close ones
    assert m.true_positives >= expected - 5


def test_empty_inputs_and_bad_tolerance():
    m = match_events([], [1.0, 2.0])
    assert m.true_positives == 0 and m.false_negatives == 2
    m = match_events([1.0], [])
    assert m.false_positives == 1
    with pytest.raises(ParameterError, match="tolerance_s"):
        match_events([1.0], [1.0], tolerance_s=-1)


def test_span_arithmetic():
    spans = [(5, 7), (0, 2), (1, 3), (10, 10)]
    np.testing.assert_array_equal(merge_spans(spans), [[0, 3], [5, 7]])
    assert total_length(spans) == 5
    assert overlap_length([(0, 10)], [(2, 3), (9, 12)]) == 2
    np.testing.assert_array_equal(inside([0, 2.999, 3, 6, 8], spans), [1, 1, 0, 1, 0])
