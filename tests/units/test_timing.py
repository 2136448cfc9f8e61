"""Sorted FPs timed at their unit's largest peak, read on its wide-band template."""

from __future__ import annotations

import numpy as np
import pytest

from fasciq.errors import ParameterError
from fasciq.units.timing import (
    UnitTimingParams,
    agrees,
    aligned_windows,
    best_unit,
    fit_at_lags,
    largest_peak,
    median_template,
    spread_sample,
)


def _template(n_t: int = 41, n_ch: int = 4) -> np.ndarray:
    """A biphasic MUAP: channel 1 largest (−10 at 15, +6 at 25), channel 2 later."""
    t = np.zeros((n_t, n_ch))
    t[15, 1], t[25, 1] = -10.0, 6.0
    t[18, 2], t[28, 2] = -5.0, 3.0
    return t


def test_aligned_windows_undo_each_shift_and_remove_each_baseline():
    rng = np.random.default_rng(0)
    tpl = _template()
    half, centre = 20, 30
    offsets = np.array([-4, 0, 3, 7])
    snippets = np.zeros((4, 61, 4))
    for i, off in enumerate(offsets):
        # the MUAP sits ``off`` samples after the snippet's centre, on a DC offset
        snippets[i, centre + off - half : centre + off + half + 1] = tpl
        snippets[i] += rng.uniform(-500, 500, size=4)
    windows, fits = aligned_windows(snippets, offsets, centre, half)
    assert fits.all()
    np.testing.assert_allclose(windows, np.broadcast_to(tpl, windows.shape), atol=1e-9)
    # a shift that reaches past the snippet leaves that discharge out
    windows, fits = aligned_windows(snippets, np.array([-4, 0, 3, 11]), centre, half)
    assert fits.tolist() == [True, True, True, False] and len(windows) == 3


def test_largest_peak_is_the_largest_sample_of_the_largest_channel():
    assert largest_peak(_template(), 0.9, 4) == (15, 1)
    # the positive phase made the larger: the peak moves to it
    tpl = _template()
    tpl[25, 1] = 12.0
    assert largest_peak(tpl, 0.9, 4) == (25, 1)


def test_tied_channels_peaking_apart_make_the_peak_ambiguous():
    tpl = _template()
    tpl[18, 2], tpl[28, 2] = -1.0, 15.0  # p2p 16 against 16: a tie, 13 samples apart
    assert largest_peak(tpl, 0.9, 4) is None
    # tied channels peaking within the spread allowed do not
    tpl[28, 2], tpl[17, 2] = 0.0, -15.0
    assert largest_peak(tpl, 0.9, 4) == (15, 1)
    # nor does a channel below the tie (p2p 14 < 0.9 × 16)
    tpl[17, 2] = tpl[18, 2] = 0.0
    tpl[28, 2] = 14.0
    assert largest_peak(tpl, 0.9, 4) == (15, 1)
    # ... unless the template's error makes the order uncertain
    assert largest_peak(tpl, 0.9, 4, tie_margin=np.array([0.0, 2.0, 2.0, 0.0])) is None
    assert largest_peak(np.zeros((10, 3)), 0.9, 4) is None


def test_median_template_ignores_an_overlapping_discharge_and_measures_its_error():
    rng = np.random.default_rng(1)
    tpl = _template()
    n, sigma = 25, 0.5
    windows = tpl + rng.normal(0.0, sigma, size=(n, *tpl.shape))
    windows[3, 25, 2] += 80.0  # another unit's discharge on one of them
    template, err = median_template(windows)
    assert largest_peak(template, 0.9, 4) == (15, 1)
    # standard error of a peak-to-peak of medians: sqrt(pi/2) * sqrt(2) * sigma / sqrt(n)
    assert err == pytest.approx(np.sqrt(np.pi) * sigma / np.sqrt(n), rel=0.15)


def test_agreement_at_the_peak():
    tpl = _template()
    windows = np.stack([tpl, 0.6 * tpl, 0.3 * tpl, -tpl])
    assert agrees(windows, tpl, (15, 1), 0.5).tolist() == [True, True, False, False]


def test_spread_sample_keeps_order_and_reaches_both_ends():
    members = np.arange(100, 200)
    picked = spread_sample(members, 10)
    assert len(picked) == 10 and picked[0] == 100 and picked[-1] == 199
    assert np.all(np.diff(picked) > 0)
    assert spread_sample(members[:5], 10).tolist() == list(range(100, 105))


def test_fit_at_lags_finds_a_discharge_timed_on_its_other_phase():
    rng = np.random.default_rng(3)
    tpl = _template()
    centre, n_win = 40, 81
    # discharges whose largest peak (sample 15 of the template) lies 12 samples
    # before, 2 after and 9 after their FP time, on a DC offset, at scale 0.8-1.2
    lags, scales = np.array([-12, 2, 9]), np.array([0.8, 1.0, 1.2])
    snippets = np.zeros((3, n_win, 4))
    for i, (lag, a) in enumerate(zip(lags, scales, strict=True)):
        start = centre + lag - 15
        snippets[i, start : start + len(tpl)] = a * tpl
        snippets[i] += rng.uniform(-300, 300, size=4) + rng.normal(0, 0.2, size=(n_win, 4))
    lag, scale, explained = fit_at_lags(snippets, centre, tpl, 15, np.array([1, 2]), 12, 16)
    assert lag.tolist() == lags.tolist()
    np.testing.assert_allclose(scale, scales, rtol=0.05)
    assert np.all(explained > 0.9)
    # beyond the lag allowed the discharge is not found where it is
    lag, _, explained = fit_at_lags(snippets, centre, tpl, 15, np.array([1, 2]), 12, 8)
    assert lag[0] != -12 and explained[0] < 0.9
    # noise alone is explained poorly; the sign counts (an inverted MUAP does not fit)
    noise = rng.normal(0, 1.0, size=(2, n_win, 4))
    noise[1, centre - 15 : centre - 15 + len(tpl)] -= tpl
    _, _, explained = fit_at_lags(noise, centre, tpl, 15, np.array([1, 2]), 12, 16)
    assert np.all(explained < 0.5)


def test_best_unit_needs_a_fit_like_the_units_own_clearly_ahead_and_of_its_size():
    params = UnitTimingParams(leftover_explained=0.5, leftover_margin=2.0, leftover_scale=1.6)
    typical = np.array([0.8, 0.2])
    explained = np.array(
        [
            [0.7, 0.7, 0.3, 0.05, 0.7, 0.7],
            [0.1, 0.5, 0.05, 0.15, 0.1, 0.1],
        ]
    )
    scale = np.ones_like(explained)
    scale[0, 4], scale[0, 5] = 0.5, 1.7
    joined = best_unit(explained, scale, typical, params)
    # 0: unit 0; 1: too close to unit 1; 2: below half of unit 0's own 0.8;
    # 3: unit 1, whose own discharges are explained only 0.2; 4, 5: wrong size
    assert joined.tolist() == [0, -1, -1, 1, -1, -1]
    assert best_unit(explained[:1], scale[:1], typical[:1], params).tolist() == [
        0,
        0,
        -1,
        -1,
        -1,
        -1,
    ]
    assert best_unit(np.zeros((0, 3)), np.zeros((0, 3)), np.zeros(0), params).tolist() == [-1] * 3


@pytest.mark.parametrize(
    "bad",
    [
        {"window_ms": 0},
        {"tie_fraction": 1.5},
        {"tie_z": -1},
        {"max_spread_ms": -1},
        {"min_discharges": 0},
        {"min_discharges": 2.5},
        {"agreement": 2},
        {"max_discharges": 0},
        {"leftover_lag_ms": -1},
        {"leftover_fit_ms": 0},
        {"leftover_channels": 1.5},
        {"leftover_explained": 0},
        {"leftover_margin": 0},
        {"leftover_scale": 0.9},
    ],
)
def test_params_are_validated(bad):
    with pytest.raises(ParameterError):
        UnitTimingParams(**bad)
