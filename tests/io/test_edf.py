"""EDF/BDF reader: discontinuity, truncation, laziness, channel selection, metadata."""

from __future__ import annotations

import logging

import edfio
import numpy as np
import pytest

from fasciq.errors import DataError, FormatError
from fasciq.io import read_recording
from fasciq.io.edf import EdfRecording, parse_tals, read_edf
from fasciq.io.edf_writer import EdfWriter
from tests.io.cases.edf import SpecSignal, tal_records, to_digital, write_spec_edf

PHYS, DIG = (-1000.0, 1000.0), (-32768, 32767)


def _edfplus(tmp_path, onsets, reserved="EDF+D", name="d.edf", n_ch=2, spr=100, extra=None):
    rng = np.random.default_rng(0)
    n_rec = len(onsets)
    x = rng.normal(0, 100, (n_rec * spr, n_ch))
    sigs, expect = [], []
    for i in range(n_ch):
        d, e = to_digital(x[:, i], PHYS, DIG)
        sigs.append(SpecSignal(f"E{i}", "uV", PHYS, DIG, d.reshape(n_rec, spr)))
        expect.append(e)
    sigs.append(SpecSignal("EDF Annotations", "", (-1.0, 1.0), DIG, tal_records(onsets, 60, extra)))
    path = write_spec_edf(
        tmp_path / name,
        sigs,
        record_duration=1.0,
        reserved=reserved,
        patient="P-007 F 01-JAN-1970 X",
        recording=("Startdate 05-MAR-2024 X X Amp_64"),
    )
    return path, np.column_stack(expect)


def test_discontinuous_edfplus_with_gap_is_rejected(tmp_path):
    path, _ = _edfplus(tmp_path, [0.0, 1.0, 5.0, 6.0])
    with pytest.raises(FormatError) as info:
        read_edf(path)
    msg = str(info.value)
    assert "d.edf" in msg and "discontinuous" in msg and "record 2 starts at 5 s" in msg


def test_discontinuous_header_but_contiguous_records_is_read(tmp_path):
    extra = {1: b"+1.5\x14stim\x14\x00"}
    path, expect = _edfplus(tmp_path, [0.0, 1.0, 2.0, 3.0], extra=extra)
    rec = read_edf(path)
    assert rec.format_name == "EDF+"
    assert rec.n_samples == 400
    np.testing.assert_allclose(rec.get_traces(), expect, atol=1e-3)
    assert list(rec.annotations) == [(1.5, 0.0, "stim")]
    assert rec.metadata.subject == "P-007"
    assert rec.metadata.extra["sex"] == "F"
    assert rec.metadata.extra["equipment"] == "Amp 64"
    assert rec.metadata.start_time == "2024-03-05T10:11:12"


def test_subsecond_start_shifts_annotations_and_start_time(tmp_path):
    extra = {0: b"+0.75\x14FP\x14\x00"}
    path, _ = _edfplus(tmp_path, [0.25, 1.25, 2.25], reserved="EDF+C", extra=extra)
    rec = read_edf(path)
    assert list(rec.annotations) == [(0.5, 0.0, "FP")]
    assert rec.metadata.start_time == "2024-03-05T10:11:12.250000"


def test_truncated_file_message(tmp_path):
    path, _ = _edfplus(tmp_path, [0.0, 1.0, 2.0, 3.0], reserved="EDF+C")
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 10)
    with pytest.raises(FormatError) as info:
        read_recording(path)
    msg = str(info.value)
    record_bytes = (2 * 100 + 30) * 2
    assert f"header says 4 data records of {record_bytes} bytes" in msg
    assert f"the file holds {size - 10} bytes" in msg
    assert "truncated" in msg and "d.edf" in msg


def test_record_count_minus_one_is_taken_from_file_size(tmp_path):
    rng = np.random.default_rng(1)
    x = rng.normal(0, 50, (300, 1))
    d, e = to_digital(x[:, 0], PHYS, DIG)
    sig = SpecSignal("E", "uV", PHYS, DIG, d.reshape(3, 100))
    path = write_spec_edf(tmp_path / "live.edf", [sig], 1.0, n_records_field=-1)
    rec = read_edf(path)
    assert rec.n_samples == 300
    np.testing.assert_allclose(rec.get_traces()[:, 0], e, atol=1e-3)
    with open(path, "r+b") as f:
        f.truncate(path.stat().st_size - 1)
    with pytest.raises(FormatError, match="not a whole number"):
        read_edf(path)


def test_not_edf_is_rejected(tmp_path):
    path = tmp_path / "junk.edf"
    path.write_bytes(b"hello" * 100)
    with pytest.raises(FormatError, match=r"junk\.edf"):
        read_edf(path)


def test_mixed_units_and_rates_are_skipped_and_recorded(tmp_path, caplog):
    n = 2048 * 2
    rng = np.random.default_rng(2)
    sigs = [
        edfio.EdfSignal(rng.normal(size=n), 2048, label="A", physical_dimension="uV"),
        edfio.EdfSignal(rng.normal(size=n), 2048, label="B", physical_dimension="mV"),
        edfio.EdfSignal(rng.normal(size=200), 100, label="Force", physical_dimension="N"),
        edfio.EdfSignal(rng.normal(size=2000), 1000, label="Slow", physical_dimension="uV"),
        edfio.EdfSignal(rng.normal(size=n), 2048, label="Temp", physical_dimension="degC"),
        edfio.EdfSignal(rng.normal(size=n), 2048, label="NoUnit", physical_dimension=""),
    ]
    path = tmp_path / "mixed.edf"
    edfio.Edf(sigs).write(path)
    with caplog.at_level(logging.WARNING, logger="fasciq"):
        rec = read_edf(path)
    assert rec.channel_labels == ("A", "B")
    skipped = {d["label"]: d["reason"] for d in rec.metadata.extra["skipped_channels"]}
    assert set(skipped) == {"Force", "Slow", "Temp", "NoUnit"}
    assert "1000 Hz" in skipped["Slow"] and "N" in skipped["Force"]
    assert "Force" in caplog.text and "Slow" in caplog.text
    ref = edfio.read_edf(path)
    np.testing.assert_allclose(
        rec.get_traces()[:, 1], ref.signals[1].data * 1000, rtol=1e-5, atol=1e-2
    )


def test_rate_tie_goes_to_the_higher_rate(tmp_path):
    rng = np.random.default_rng(3)
    sigs = [
        edfio.EdfSignal(rng.normal(size=1000), 1000, label="lo", physical_dimension="uV"),
        edfio.EdfSignal(rng.normal(size=2000), 2000, label="hi", physical_dimension="uV"),
    ]
    path = tmp_path / "tie.edf"
    edfio.Edf(sigs).write(path)
    rec = read_edf(path)
    assert rec.fs == 2000 and rec.channel_labels == ("hi",)


def test_only_non_voltage_channels_is_a_clear_error(tmp_path):
    path = tmp_path / "force.edf"
    edfio.Edf([edfio.EdfSignal(np.arange(100.0), 100, label="F", physical_dimension="N")]).write(
        path
    )
    with pytest.raises(DataError, match=r"force.edf.*no voltage.*F \(not a voltage \(N\)\)"):
        read_edf(path)


def test_annotations_match_edfio(tmp_path):
    rng = np.random.default_rng(4)
    anns = [
        edfio.EdfAnnotation(float(o), None, f"FP {i}")
        for i, o in enumerate(np.round(np.sort(rng.uniform(0, 9.9, 200)), 4))
    ]
    anns.append(edfio.EdfAnnotation(3.0, 1.5, "voluntary contraction"))
    path = tmp_path / "ann.edf"
    edfio.Edf(
        [edfio.EdfSignal(rng.normal(size=10000), 1000, label="E", physical_dimension="uV")],
        annotations=anns,
    ).write(path)
    rec = read_edf(path)
    want = sorted((a.onset, a.duration or 0.0, a.text) for a in edfio.read_edf(path).annotations)
    assert sorted(rec.annotations) == want
    assert len(want) == 201


def test_parse_tals_handles_several_texts_and_durations():
    raw = b"+0\x14\x14\x00+1.5\x150.25\x14a\x14b\x14\x00-0.5\x14neg\x14\x00\x00\x00"
    assert parse_tals(raw) == [(0.0, None, [""]), (1.5, 0.25, ["a", "b"]), (-0.5, None, ["neg"])]


class _Spy:
    def __init__(self, rec: EdfRecording) -> None:
        self.calls: list[tuple[int, int]] = []
        original = rec._map_records

        def spy(first: int, stop: int) -> np.ndarray:
            self.calls.append((first, stop))
            return original(first, stop)

        rec._map_records = spy  # type: ignore[method-assign]


def test_lazy_read_touches_only_the_records_needed(tmp_path):
    fs, n_ch, seconds = 1000.0, 8, 60
    path = tmp_path / "long.bdf"
    rng = np.random.default_rng(5)
    blocks = []
    with EdfWriter(
        path,
        fs=fs,
        labels=[f"c{i}" for i in range(n_ch)],
        fmt="bdf",
        physical_range_uv=(-2000.0, 2000.0),
        record_duration_s=0.5,
    ) as w:
        for _ in range(seconds):
            b = rng.normal(0, 100, (int(fs), n_ch))
            blocks.append(b)
            w.write(b)
    x = np.concatenate(blocks)
    rec = read_edf(path)
    spy = _Spy(rec)
    a = 30_250  # 30.25 s: starts inside record 60
    y = rec.get_traces(a, a + 1000, channels=[5, 2])
    # 1 s from 30.25 s covers records 60, 61 and 62 (0.5 s each) and nothing else
    assert spy.calls == [(60, 63)]
    step = 4000.0 / (2**24 - 1)
    np.testing.assert_allclose(y, x[a : a + 1000][:, [5, 2]], atol=step + 1e-4)
    # a mapped window is exactly those records' bytes
    block = rec._map_records(60, 63)
    assert block.shape == (3, rec.header.record_bytes)
    assert block.offset == rec.header.header_bytes + 60 * rec.header.record_bytes


def test_channel_subset_gathers_only_their_bytes(tmp_path):
    path, expect = _edfplus(tmp_path, [0.0, 1.0, 2.0], reserved="EDF+C", n_ch=4)
    rec = read_edf(path)
    seen: list[np.ndarray] = []
    original = rec._map_records

    class Watch(np.ndarray):
        def __getitem__(self, key):
            seen.append(key)
            return np.asarray(super().__getitem__(key))

    rec._map_records = lambda a, b: original(a, b).view(Watch)  # type: ignore[method-assign]
    y = rec.get_traces(50, 250, channels=[3, 1])
    np.testing.assert_allclose(y, expect[50:250][:, [3, 1]], atol=1e-3)
    cols = seen[0][1]
    # channel 3 starts at byte 3 * 100 * 2 of a record, channel 1 at 200: 200 bytes each
    assert sorted(np.unique(np.asarray(cols) // 200).tolist()) == [1, 3]
