"""The whole analysis on the real recordings of ../shared/data.

They carry no fasciculation labels, but each was recorded during a known
voluntary contraction, which the analysis must find and exclude rather than
count its motor-unit potentials as fasciculations:

* the OTBioLab+ vastus lateralis grid recording holds its force reference
  (% MVC) beside the EMG: every moment above 5 % MVC is voluntary;
* the PhysioNet needle recordings (single channel, 4 kHz) were taken while
  the subject dorsiflexed the foot against resistance; the healthy one shows
  a few units firing regular trains throughout, the myopathic one a dense
  interference pattern, the neuropathic one a few large units firing fast.
"""

from __future__ import annotations

import numpy as np
import pytest

from fasciq.analysis import analyze
from fasciq.intervals import inside, merge_spans
from fasciq.io import read_recording
from tests.conftest import OTB_MAT


def _voluntary(result) -> np.ndarray:
    ex = result.excluded
    return merge_spans(ex.loc[ex["reason"] == "voluntary", ["start_s", "end_s"]].to_numpy())


def test_grid_contraction_is_excluded_where_the_force_says_so(shared_data, otb_force):
    rec = read_recording(shared_data / OTB_MAT)
    force = otb_force
    res = analyze(rec)
    t = np.arange(rec.n_samples) / rec.fs
    active = force > 5.0
    assert active.mean() > 0.8  # the trapezoid holds most of the recording
    voluntary = _voluntary(res)
    assert inside(t[active], voluntary).mean() >= 0.99
    # what is left is the rest before and after the ramps, and no FP is in
    # the contraction
    assert res.summary["analysed_s"] <= (1.0 - active.mean()) * rec.duration_s + 1.0
    fp_t = res.fasciculations["time_s"].to_numpy()
    assert not inside(fp_t, np.column_stack([t[active][[0]], t[active][[-1]]])).any()


@pytest.mark.parametrize("record", ["emg_healthy", "emg_myopathy", "emg_neuropathy"])
def test_needle_contraction_is_excluded_not_counted(shared_data, record):
    rec = read_recording(shared_data / "physionet-emgdb" / f"{record}.hea")
    assert rec.n_channels == 1
    res = analyze(rec)
    s = res.summary
    assert s["neighbourhoods"] == "single channel"
    # four fifths or more of each contraction is excluded, most of it as voluntary
    # (before the single-channel density test: 18 % of the healthy recording
    # and 31 % of the myopathic one)
    assert s["excluded_s"] >= 0.8 * rec.duration_s
    voluntary = _voluntary(res)
    assert (voluntary[:, 1] - voluntary[:, 0]).sum() >= 0.75 * rec.duration_s
    assert not inside(res.fasciculations["time_s"].to_numpy(), voluntary).any()
