"""OT Bioelettronica archives beyond the shared conformance suite."""

from __future__ import annotations

import logging
import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest

from fasciq.errors import FormatError, ParameterError
from fasciq.io import read_recording
from fasciq.io.otb import DEFAULT_POWER_SUPPLY_V, power_supply_for, read_otb
from tests.io.cases.otb import (
    ABSTRACT_XML,
    FS,
    GAIN,
    N_TOTAL,
    PATIENT_XML,
    UV_PER_BIT,
    _grid_adapter,
    build_otb4,
    build_otb_plus,
    device_xml,
    emg_raw,
    otb_plus_frames,
    write_tar,
)


def _archive(tmp_path: Path, name: str = "rec.otb+", **members: bytes) -> Path:
    base = {"abstract.xml": ABSTRACT_XML, "patient.xml": PATIENT_XML}
    base.update({k.replace("__", "."): v for k, v in members.items()})
    return write_tar(tmp_path / name, base)


def test_scaling_follows_power_supply_bits_and_adapter_gain(tmp_path):
    case = build_otb_plus(tmp_path)
    rec = read_otb(case.path)
    # one count of a Quattrocento at gain 150 is 5 V / 2**16 / 150 = 0.50863 µV
    assert pytest.approx(0.508626, rel=1e-5) == UV_PER_BIT
    raw = emg_raw()
    np.testing.assert_allclose(rec.get_traces(0, 10, [0]), raw[:10, [0]] * 0.508626, rtol=1e-5)
    assert rec.metadata.extra["power_supply_v"] == 5.0
    assert rec.metadata.extra["ad_bits"] == 16
    assert rec.metadata.extra["adapters"][0]["gain"] == GAIN
    assert rec.metadata.muscle == "Biceps"
    assert rec.metadata.side == "Right"
    assert rec.metadata.start_time == "2024-03-05T10:15:00"


def test_aux_control_and_unused_channels_are_skipped_listed_and_logged(tmp_path, caplog):
    case = build_otb_plus(tmp_path)
    with caplog.at_level(logging.INFO, logger="fasciq"):
        rec = read_recording(case.path)
    aux = rec.metadata.extra["aux_channels"]
    assert rec.n_channels == 64
    assert any("AUX Acceleration" in a for a in aux)
    assert any(a.startswith("Buffer") for a in aux) and any(a.startswith("Ramp") for a in aux)
    assert any("5 channel(s) not described" in a for a in aux)
    assert "skipped" in caplog.text and "Ramp" in caplog.text
    assert rec.metadata.extra["processed_files_ignored"] == ["acq_000.sip"]


def test_sig_is_memory_mapped_inside_the_archive(tmp_path):
    case = build_otb_plus(tmp_path)
    rec = read_otb(case.path)
    with tarfile.open(case.path) as tar:
        member = tar.getmember("acq_000.sig")
    mapped = rec._map(0)
    assert isinstance(mapped, np.memmap)
    assert mapped.offset == member.offset_data
    assert mapped.shape == (case.data_uv.shape[0], N_TOTAL)
    np.testing.assert_allclose(
        rec.get_traces(700, 703, [63]), case.data_uv[700:703, [63]], atol=1e-3
    )


def test_pickled_recording_reads_the_same(tmp_path):
    case = build_otb_plus(tmp_path)
    rec = read_otb(case.path)
    rec.get_traces(0, 5)
    clone = pickle.loads(pickle.dumps(rec))
    np.testing.assert_array_equal(clone.get_traces(100, 200), rec.get_traces(100, 200))


def test_sig_that_is_not_whole_frames_is_a_format_error(tmp_path):
    frames = otb_plus_frames(emg_raw(50)).astype("<i2").tobytes() + b"\x01\x02"
    path = _archive(tmp_path, acq__xml=device_xml(), acq__sig=frames)
    with pytest.raises(FormatError, match="not a whole number") as info:
        read_otb(path)
    assert "rec.otb+" in str(info.value) and "Fix:" in str(info.value)


def test_broken_tar_is_a_format_error(tmp_path):
    path = tmp_path / "broken.otb+"
    path.write_bytes(b"this is not a tar archive" * 40)
    with pytest.raises(FormatError, match="broken tar") as info:
        read_recording(path)
    assert "broken.otb+" in str(info.value)


def test_missing_xml_header_is_a_format_error(tmp_path):
    path = _archive(tmp_path, acq__sig=otb_plus_frames(emg_raw(20)).tobytes())
    with pytest.raises(FormatError, match=r"not its XML header acq\.xml"):
        read_otb(path)


def test_archive_without_sig_is_a_format_error(tmp_path):
    path = _archive(tmp_path, acq__xml=device_xml())
    with pytest.raises(FormatError, match=r"no \.sig"):
        read_otb(path)


def test_old_otb_header_layout_asks_for_conversion(tmp_path):
    path = _archive(
        tmp_path,
        "old.otb",
        acq__xml=b"<Acquisition><Fs>2048</Fs></Acquisition>",
        acq__sig=b"\x00" * 64,
    )
    with pytest.raises(FormatError, match=r"save it as \.otb\+"):
        read_recording(path)


def test_two_grid_adapters_keep_all_channels_without_a_grid(tmp_path, caplog):
    a = emg_raw(300, seed=1)
    b = emg_raw(300, seed=2)
    adapters = _grid_adapter(0, 150) + _grid_adapter(64, 150, muscle="Triceps", position=5)
    frames = np.hstack([a, b]).astype("<i2")
    path = _archive(
        tmp_path, acq__xml=device_xml(128, adapters=adapters), acq__sig=frames.tobytes()
    )
    with caplog.at_level(logging.INFO, logger="fasciq"):
        rec = read_otb(path)
    assert rec.n_channels == 128 and rec.grid is None
    assert rec.channel_labels[0] == "A4-GR08MM1305-1"
    assert rec.channel_labels[64] == "A5-GR08MM1305-1"
    assert [g["grid"] for g in rec.metadata.extra["adapters"]] == ["GR08MM1305"] * 2
    assert rec.metadata.muscle is None  # two muscles
    np.testing.assert_allclose(rec.get_traces(0, 300, [64]), b[:, [0]] * UV_PER_BIT, atol=1e-3)
    assert "has 64 electrodes but 128 EMG channels" in caplog.text


def test_24_bit_samples_are_sign_extended(tmp_path):
    rng = np.random.default_rng(4)
    codes = rng.integers(-(2**23), 2**23, (40, 64), dtype=np.int32)
    codes[0, 0], codes[1, 0] = -(2**23), 2**23 - 1
    raw = codes.astype("<i4").view(np.uint8).reshape(40, 64, 4)[:, :, :3].tobytes()
    xml = device_xml(64, name="SESSANTAQUATTRO", adapters=_grid_adapter(0, 1)).replace(
        b'ad_bits="16"', b'ad_bits="24"'
    )
    path = _archive(tmp_path, acq__xml=xml, acq__sig=raw)
    rec = read_otb(path)
    step = DEFAULT_POWER_SUPPLY_V / 2**24 / 1 * 1e6
    np.testing.assert_allclose(rec.get_traces()[:, 0], codes[:, 0] * step, rtol=1e-6)
    np.testing.assert_allclose(rec.get_traces(), codes * step, rtol=1e-6, atol=1e-3)


def test_device_supply_table_and_override(tmp_path, caplog):
    assert power_supply_for("QUATTROCENTO;Firmware 1.5") == 5.0
    assert power_supply_for("DUE+") == 3.3
    assert power_supply_for("MUOVI") == DEFAULT_POWER_SUPPLY_V
    raw = emg_raw(30)
    xml = device_xml(64, name="MYSTERY", adapters=_grid_adapter(0, 150))
    path = _archive(tmp_path, acq__xml=xml, acq__sig=raw.astype("<i2").tobytes())
    with caplog.at_level(logging.WARNING, logger="fasciq"):
        rec = read_otb(path)
    assert "no known ADC range" in caplog.text
    np.testing.assert_allclose(
        rec.get_traces(0, 30, [5])[:, 0], raw[:, 5] * 4.8 / 2**16 / 150 * 1e6, rtol=1e-6
    )
    rec5 = read_otb(path, power_supply_v=5.0)
    np.testing.assert_allclose(rec5.get_traces(0, 30, [5])[:, 0], raw[:, 5] * UV_PER_BIT, rtol=1e-6)


def test_several_acquisitions_pick_by_name_or_index(tmp_path):
    a, b = emg_raw(20, seed=1), emg_raw(30, seed=2)
    xml = device_xml(64, adapters=_grid_adapter(0, 150))
    path = _archive(
        tmp_path, one__xml=xml, one__sig=a.tobytes(), two__xml=xml, two__sig=b.tobytes()
    )
    assert read_otb(path).n_samples == 20
    assert read_otb(path, acquisition="two").n_samples == 30
    assert read_otb(path, acquisition=1).n_samples == 30
    with pytest.raises(ParameterError, match="no acquisition"):
        read_otb(path, acquisition="three")


def test_otb4_lists_control_buffer_and_feedback_as_aux(tmp_path):
    rec = read_otb(build_otb4(tmp_path).path)
    assert rec.format_name == "OTB4" and rec.fs == FS
    aux = " ".join(rec.metadata.extra["aux_channels"])
    assert "Buffer" in aux and "Control Signal" in aux and "Performed Path" in aux
    assert rec.grid is not None and rec.grid.name == "GR08MM1305"


def test_otb4_track_pointing_past_its_stream_is_a_format_error(tmp_path):
    case = build_otb4(tmp_path)
    with tarfile.open(case.path) as tar:
        members = {m.name: tar.extractfile(m).read() for m in tar.getmembers()}
    members["Tracks_000.xml"] = members["Tracks_000.xml"].replace(
        b"<TotalChannelsInFile>66</TotalChannelsInFile>",
        b"<TotalChannelsInFile>60</TotalChannelsInFile>",
        1,
    )
    bad = write_tar(tmp_path / "bad.otb4", members)
    with pytest.raises(FormatError, match=r"bad\.otb4"):
        read_otb(bad)
