"""WFDB reader: the real PhysioNet emgdb records and every supported sample format."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from fasciq.errors import FasciqError, FormatError
from fasciq.io import detect_format, read_recording
from fasciq.io.wfdb import parse_header, read_wfdb
from tests.io.cases.wfdb import encode, signal_line

EMGDB = {
    # record: (samples, initial value from the header)
    "emg_healthy": (50_860, -333),
    "emg_myopathy": (110_337, -50),
    "emg_neuropathy": (147_858, 900),
}


@pytest.mark.parametrize("record", sorted(EMGDB))
def test_physionet_emgdb_records(shared_data: Path, record: str) -> None:
    n, init = EMGDB[record]
    hea = shared_data / "physionet-emgdb" / f"{record}.hea"
    rec = read_recording(hea, verify_checksum=True)  # decodes all samples, checks the sums
    assert rec.n_samples == n
    assert rec.fs == 4000.0
    assert rec.n_channels == 1 and rec.channel_labels == ("EMG",)
    assert rec.file_unit == "mV"  # 'mV' and the lower-case 'mv' of emg_myopathy
    x = rec.get_traces()
    # gain 10000 adu/mV: one adu is 0.1 µV; the first sample is the header's initial value
    assert x[0, 0] == pytest.approx(init / 10.0)
    assert np.all(np.abs(x) <= 3276.8)  # 16-bit range at 10000/mV
    p99 = np.percentile(np.abs(x), 99)
    assert 50.0 < p99 < 3000.0  # needle EMG: hundreds of µV, not volts or nanovolts
    assert np.std(x) > 20.0
    assert rec.metadata.extra["sex"] == "M"
    assert rec.metadata.extra["age"] in ("44", "57", "62")


def test_emgdb_metadata_and_dat_path(shared_data: Path) -> None:
    folder = shared_data / "physionet-emgdb"
    rec = read_recording(folder / "emg_neuropathy.dat")  # .dat with a sibling .hea
    assert detect_format(folder / "emg_neuropathy.dat").name == "wfdb"
    assert rec.metadata.extra["diagnosis"] == (
        "chronic low back pain and neuropathy due to a right L5 radiculopathy"
    )
    myo = read_wfdb(folder / "emg_myopathy.hea")
    assert myo.metadata.extra["medications"] == "steroids, low-dose methotrexate"
    healthy = read_wfdb(folder / "emg_healthy.hea")
    assert healthy.metadata.extra["diagnosis"] == "no history of neuromuscular disease"
    # slices equal the same span of the full read (lazy memory map)
    np.testing.assert_array_equal(rec.get_traces(1000, 1010), rec.get_traces()[1000:1010])


def test_truncated_emgdb_copy_is_a_format_error(shared_data: Path, tmp_path: Path) -> None:
    for suffix in (".hea", ".dat"):
        shutil.copy(shared_data / "physionet-emgdb" / f"emg_healthy{suffix}", tmp_path)
    dat = tmp_path / "emg_healthy.dat"
    dat.chmod(0o644)
    with open(dat, "r+b") as f:
        f.truncate(50_000)
    with pytest.raises(FormatError) as info:
        read_wfdb(tmp_path / "emg_healthy.hea")
    msg = str(info.value)
    assert "emg_healthy.dat" in msg and "50860" in msg and "truncated" in msg


def _write_record(d: Path, fmt: int, raw: np.ndarray, gain: str = "100/uV") -> Path:
    d.mkdir(exist_ok=True)
    (d / f"f{fmt}.dat").write_bytes(encode(fmt, raw))
    lines = [f"f{fmt} {raw.shape[1]} 1000 {len(raw)}"]
    for i in range(raw.shape[1]):
        lines.append(signal_line(f"f{fmt}.dat", str(fmt), gain, 16, 0, raw[:, i], f"s{i}"))
    (d / f"f{fmt}.hea").write_text("\n".join(lines) + "\n")
    return d / f"f{fmt}.hea"


@pytest.mark.parametrize(
    ("fmt", "low", "high"),
    [
        (16, -32767, 32767),
        (61, -32767, 32767),
        (24, -(2**23) + 1, 2**23 - 1),
        (32, -(2**31) + 1, 2**31 - 1),
        (80, -127, 127),
        (212, -2047, 2047),
        (8, -1000, 1000),
    ],
)
def test_every_format_round_trips(tmp_path: Path, fmt: int, low: int, high: int) -> None:
    rng = np.random.default_rng(fmt)
    if fmt == 8:  # first differences must fit in int8
        raw = np.cumsum(rng.integers(-100, 100, (301, 2)), axis=0) + 17
    else:
        raw = rng.integers(low, high + 1, (301, 2))
        raw[0] = [low, high]
    hea = _write_record(tmp_path, fmt, raw)
    rec = read_wfdb(hea, verify_checksum=True)
    assert rec.n_samples == 301
    expected = raw / 100.0  # 100 adu per µV
    np.testing.assert_allclose(rec.get_traces(), expected, rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(
        rec.get_traces(151, 163, [1]), expected[151:163, [1]], rtol=1e-6, atol=1e-6
    )


def test_invalid_sample_code_becomes_nan(tmp_path: Path) -> None:
    raw = np.array([[5, 7], [-32768, 8], [6, 9]])
    hea = _write_record(tmp_path, 16, raw)
    x = read_wfdb(hea).get_traces()
    assert np.isnan(x[1, 0]) and not np.isnan(x[1, 1]) and x[2, 0] == pytest.approx(0.06)


def test_header_fields_defaults_and_units(tmp_path: Path) -> None:
    text = (
        "# leading comment\n"
        "rec 2 360/720(2) 1000 08:30:05.5 24/12/2021\n"
        "rec.dat 212\n"
        "rec.dat 212 0(-5)/uV 12 3 0 0 0 V5 lead\n"
    )
    header = parse_header(text, tmp_path / "rec.hea")
    assert header.fs == 360.0 and header.counter_freq == 720.0 and header.base_counter == 2.0
    a, b = header.signals
    assert (a.gain, a.units, a.baseline, a.adc_res) == (200.0, "mV", 0, 12)  # defaults
    assert (b.gain, b.units, b.baseline, b.adc_zero) == (200.0, "uV", -5, 3)  # gain 0 -> 200
    assert b.description == "V5 lead"
    raw = np.array([[10, 20], [30, 40]] * 500)
    (tmp_path / "rec.dat").write_bytes(encode(212, raw))
    (tmp_path / "rec.hea").write_text(text)
    rec = read_wfdb(tmp_path / "rec.hea")
    assert rec.metadata.start_time == "2021-12-24T08:30:05.500000"
    np.testing.assert_allclose(
        rec.get_traces(0, 2), [[10 / 200 * 1000, 25 / 200], [30 / 200 * 1000, 45 / 200]], rtol=1e-6
    )


def test_checksum_mismatch_is_detected(tmp_path: Path) -> None:
    raw = np.arange(40).reshape(20, 2)
    hea = _write_record(tmp_path, 16, raw)
    data = bytearray((tmp_path / "f16.dat").read_bytes())
    data[10] ^= 0x01
    (tmp_path / "f16.dat").write_bytes(bytes(data))
    read_wfdb(hea)  # lazy open does not read the samples
    with pytest.raises(FormatError, match="checksum"):
        read_wfdb(hea, verify_checksum=True)


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("rec/2 2 360 100\nrec_1 1 360 50\n", "multi-segment"),
        ("rec 1 360 100\nrec.dat 310 200/mV\n", "format 310"),
        ("rec 2 360 100\nrec.dat 16 200/mV\n", "announces 2 signals"),
        ("rec 1 360 100\nrec.dat 16 200/mmHg 16 0 0 0 0 BP\n", "no signal is a voltage"),
        ("rec 1 360 100\nmissing.dat 16 200/mV\n", "missing.dat"),
    ],
)
def test_bad_headers_give_clear_errors(tmp_path: Path, text: str, needle: str) -> None:
    (tmp_path / "rec.dat").write_bytes(b"\x00" * 200)
    (tmp_path / "rec.hea").write_text(text)
    with pytest.raises(FasciqError) as info:
        read_wfdb(tmp_path / "rec.hea")
    assert needle in str(info.value)


def test_sample_count_inferred_from_file_size(tmp_path: Path) -> None:
    raw = np.arange(30).reshape(15, 2)
    (tmp_path / "r.dat").write_bytes(encode(16, raw))
    (tmp_path / "r.hea").write_text("r 2 100\nr.dat 16 1/uV\nr.dat 16 2/uV\n")
    rec = read_wfdb(tmp_path / "r.hea")
    assert rec.n_samples == 15
    np.testing.assert_allclose(rec.get_traces(), raw / [1.0, 2.0])
