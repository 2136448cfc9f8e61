"""EMG-BIDS reader: sidecars, units, bad channels, electrodes, entities."""

from __future__ import annotations

import numpy as np
import pytest

from fasciq.errors import FormatError
from fasciq.io import read_recording
from fasciq.io.bids import bids_entities, read_bids
from tests.io.cases.bids import write_bids
from tests.io.conformance import test_signal as make_signal


def test_entities_metadata_bad_channels_and_muscle(tmp_path):
    x = make_signal(1024, 4, seed=1)
    path = write_bids(
        tmp_path,
        x,
        1024.0,
        ["a", "b", "c", "d"],
        status=["good", "bad", "good", "good"],
        extra_columns={"target_muscle": ["biceps brachii"] * 4},
    )
    rec = read_recording(path)
    assert rec.format_name == "EMG-BIDS (BDF)"
    assert rec.channel_labels == ("a", "b", "c", "d")  # bad channels are still read
    assert rec.metadata.extra["bad_channels"] == ["b"]
    assert rec.metadata.subject == "07" and rec.metadata.session == "03"
    assert rec.metadata.extra["task"] == "rest" and rec.metadata.extra["acq"] == "grid"
    assert rec.metadata.muscle == "biceps brachii"
    assert rec.metadata.extra["bids_sidecar"]["EMGReference"] == "REF on the olecranon"


def test_units_from_channels_tsv_take_precedence(tmp_path):
    x = make_signal(1000, 2, seed=2)
    # the header says uV; the table says mV: the table wins (values x 1000)
    path = write_bids(tmp_path, x, 1000.0, ["a", "b"], units=["mV", "mV"], fmt="edf")
    rec = read_bids(path)
    assert rec.file_unit == "mV"
    step = max(np.ptp(x, axis=0)) / 65535 * 1000
    np.testing.assert_allclose(rec.get_traces(), x * 1000, atol=step, rtol=1e-6)


def test_electrodes_in_metres_and_grid_fitted(tmp_path):
    x = make_signal(512, 4, seed=3)
    pos_m = np.array([[0, 0], [0.004, 0], [0, 0.004], [0.004, 0.004]])
    path = write_bids(
        tmp_path, x, 512.0, ["a", "b", "c", "d"], electrodes_cm=pos_m, coord_units="m"
    )
    rec = read_bids(path)
    np.testing.assert_allclose(rec.positions_mm, pos_m * 1000, atol=1e-9)
    assert rec.grid is not None and rec.grid.ied_mm == pytest.approx(4.0)
    assert (rec.grid.rows, rec.grid.cols) == (2, 2)


def test_unconvertible_coordinate_units_give_no_positions(tmp_path):
    x = make_signal(512, 2, seed=4)
    path = write_bids(
        tmp_path, x, 512.0, ["a", "b"], electrodes_cm=np.eye(2), coord_units="percent"
    )
    assert read_bids(path).positions_mm is None


def test_channels_tsv_disagreeing_with_data_is_a_format_error(tmp_path):
    x = make_signal(512, 3, seed=5)
    path = write_bids(tmp_path, x, 512.0, ["a", "b", "c"])
    tsv = path.with_name(path.name.replace("_emg.bdf", "_channels.tsv"))
    lines = tsv.read_text().splitlines()
    lines[2] = lines[2].replace("b\t", "zz\t", 1)
    tsv.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError) as info:
        read_recording(path)
    msg = str(info.value)
    assert path.name in msg and "zz not in the data file" in msg and "b not listed" in msg


def test_missing_channels_tsv_is_tolerated(tmp_path):
    x = make_signal(512, 2, seed=6)
    path = write_bids(tmp_path, x, 512.0, ["a", "b"], channels_tsv=False)
    rec = read_recording(path)
    assert rec.format_name.startswith("EMG-BIDS") and rec.n_channels == 2


def test_events_tsv_become_annotations(tmp_path):
    x = make_signal(2048, 1, seed=7)
    path = write_bids(tmp_path, x, 1024.0, ["a"])
    events = path.with_name(path.name.replace("_emg.bdf", "_events.tsv"))
    events.write_text("onset\tduration\ttrial_type\n0.5\tn/a\tFP\n1.0\t0.5\tvoluntary\n")
    rec = read_bids(path)
    assert list(rec.annotations) == [(0.5, 0.0, "FP"), (1.0, 0.5, "voluntary")]


def test_sampling_frequency_mismatch_is_logged(tmp_path, caplog):
    x = make_signal(1024, 1, seed=8)
    path = write_bids(tmp_path, x, 1024.0, ["a"], sidecar={"SamplingFrequency": 2000})
    rec = read_bids(path)
    assert rec.fs == 1024.0 and "2000" in caplog.text


def test_bids_entities():
    ents, suffix = bids_entities("sub-01_ses-pre_task-rest_acq-8x8_run-02_emg.bdf")
    assert ents == {"sub": "01", "ses": "pre", "task": "rest", "acq": "8x8", "run": "02"}
    assert suffix == "emg"


def test_sidecar_json_is_checked(tmp_path):
    x = make_signal(512, 1, seed=9)
    path = write_bids(tmp_path, x, 512.0, ["a"])
    path.with_name(path.name.replace("_emg.bdf", "_emg.json")).write_text("{not json")
    with pytest.raises(FormatError, match="JSON"):
        read_bids(path)
