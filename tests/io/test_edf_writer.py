"""EDF+/BDF+ writer: exact round trips, annotations via edfio, atomicity, streaming."""

from __future__ import annotations

import tracemalloc

import edfio
import numpy as np
import pytest

from fasciq.errors import DataError, OutputExistsError, ParameterError
from fasciq.io import write_recording
from fasciq.io.edf import decode_records, read_edf
from fasciq.io.edf_writer import EdfWriter, write_edf
from fasciq.recording import Annotations, ArrayRecording, RecordingMetadata


def _digital_exact(rec):
    """Physical values decoded in float64 from the digital samples (no float32 rounding)."""
    h = rec.header
    sigs = [s for s in h.signals if not s.is_annotation]
    block = rec._map_records(0, h.n_records)
    d = decode_records(
        block,
        rec._byte_offsets,
        rec._spr,
        h.bytes_per_sample,
        np.ones(len(sigs)),
        np.zeros(len(sigs)),
    ).astype(np.float64)
    gain = np.array([s.gain for s in sigs])
    return d * gain + np.array([s.offset for s in sigs]), gain


@pytest.mark.parametrize("fmt", ["edf", "bdf"])
def test_round_trip_within_half_a_digital_step(tmp_path, fmt):
    rng = np.random.default_rng(0)
    x = rng.normal(0, 150, (4096, 6)).astype(np.float32)
    x[:, 3] *= 1e-3  # a tiny channel gets its own tight range
    x[100, 0] = 4000.0  # an outlier sets channel 0's range
    rec = ArrayRecording(x, 2048.0, channel_labels=[f"ch{i}" for i in range(6)])
    path = write_edf(rec, tmp_path / f"rt.{fmt}")
    back = read_edf(path)
    assert back.format_name == fmt.upper() + "+"
    assert back.n_samples == 4096 and back.fs == 2048.0
    assert back.header.record_duration == 1.0  # 4096 samples fill 1-s records
    phys, step = _digital_exact(back)
    err = np.abs(phys - x.astype(np.float64)).max(axis=0)
    assert np.all(err <= 0.5 * step * (1 + 1e-9)), err / step
    # the step is tight: the range is the data's, not a default
    full_scale = 65535 if fmt == "edf" else 2**24 - 1
    ptp = np.ptp(x.astype(np.float64), axis=0)
    assert np.all(step * full_scale <= ptp * 1.01 + 1e-3)
    # float32 traces add only float32 rounding
    y = back.get_traces()
    tol = 0.5 * step + 2 * np.spacing(np.abs(x).max(axis=0))
    assert np.all(np.abs(y - x).max(axis=0) <= tol)


def test_write_recording_dispatches_on_suffix(tmp_path):
    x = np.ones((1000, 2), dtype=np.float32)
    out = write_recording(ArrayRecording(x, 1000.0), tmp_path / "a.edf")
    assert edfio.read_edf(out).labels == ("ch1", "ch2")


def test_awkward_length_is_zero_padded(tmp_path):
    x = np.random.default_rng(1).normal(0, 10, (2053, 1)).astype(np.float32)  # 2053 is prime
    path = write_edf(ArrayRecording(x, 1000.0), tmp_path / "p.bdf")
    back = read_edf(path)
    assert back.header.record_duration == 1.0
    assert back.n_samples == 3000
    y = back.get_traces()
    np.testing.assert_allclose(y[:2053], x, atol=1e-4)
    np.testing.assert_allclose(y[2053:], 0.0, atol=1e-4)


def test_streaming_writer_with_thousands_of_annotations(tmp_path):
    rng = np.random.default_rng(2)
    fs, seconds = 1000.0, 20
    onsets = np.round(np.sort(rng.uniform(0, seconds, 5000)), 6)
    durations = np.where(rng.random(5000) < 0.1, 0.25, 0.0)
    texts = tuple(f"FP unit {i % 17} ✓" if i % 3 else f"FP {i}" for i in range(5000))
    ann = Annotations(onsets, durations, texts)
    meta = RecordingMetadata(subject="ALS 12", start_time="2023-11-02T09:30:05", extra={"sex": "M"})
    x = rng.normal(0, 80, (int(fs * seconds), 3))
    path = tmp_path / "many.bdf"
    with EdfWriter(
        path,
        fs=fs,
        labels=["a", "b", "c"],
        annotations=ann,
        metadata=meta,
        physical_range_uv=(-1000, 1000),
    ) as w:
        pos = 0
        for n in [1, 999, 1500, 7, 12000, 2345, 3148]:  # odd block sizes
            w.write(x[pos : pos + n])
            pos += n
        assert pos == len(x)
    ref = edfio.read_bdf(path)
    got = sorted((round(a.onset, 6), a.duration or 0.0, a.text) for a in ref.annotations)
    want = sorted((round(o, 6), d, t) for o, d, t in ann)
    assert got == want
    assert ref.is_continuous
    assert ref.reserved == "BDF+C"
    assert ref.patient.code == "ALS_12" and ref.patient.sex == "M"
    assert ref.startdatetime.isoformat() == "2023-11-02T09:30:05"
    np.testing.assert_allclose(ref.signals[1].data, x[:, 1], atol=2000 / 2**24)
    back = read_edf(path)
    assert sorted(back.annotations) == sorted(ann)
    assert back.metadata.subject == "ALS 12"


def test_edf_header_bytes_follow_the_spec(tmp_path):
    path = tmp_path / "h.edf"
    with EdfWriter(
        path,
        fs=500,
        labels=["EMG"],
        fmt="edf",
        physical_range_uv=(-123.4567, 99.5),
        record_duration_s=0.5,
    ) as w:
        w.write(np.zeros((1000, 1)))
    raw = path.read_bytes()
    assert raw[:8] == b"0       "
    assert raw[184:192] == b"768     "  # 256 * (1 + 2 signals)
    assert raw[192:236] == b"EDF+C".ljust(44)
    assert raw[236:244] == b"4       " and raw[244:252] == b"0.5     "
    assert raw[252:256] == b"2   "
    assert raw[256:288] == b"EMG".ljust(16) + b"EDF Annotations "
    # physical minimum rounded outwards to fit 8 characters
    pmin = raw[256 + 32 + 160 + 16 : 256 + 32 + 160 + 24]
    assert pmin == b"-123.457"
    assert all(32 <= c < 127 for c in raw[:768])


def test_bdf_header_identifies_biosemi(tmp_path):
    path = tmp_path / "h.bdf"
    with EdfWriter(path, fs=100, labels=["x"]) as w:
        w.write(np.zeros((100, 1)))
    raw = path.read_bytes()
    assert raw[:8] == b"\xffBIOSEMI" and raw[192:197] == b"BDF+C"


def test_exception_inside_with_leaves_no_file(tmp_path):
    path = tmp_path / "crash.bdf"
    with pytest.raises(RuntimeError, match="boom"), EdfWriter(path, fs=100, labels=["x"]) as w:
        w.write(np.zeros((250, 1)))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_overwrite_refused_unless_asked(tmp_path):
    path = tmp_path / "o.edf"
    path.write_bytes(b"keep me")
    with pytest.raises(OutputExistsError, match=r"o\.edf"):
        EdfWriter(path, fs=100, labels=["x"], fmt="edf")
    with pytest.raises(OutputExistsError):
        write_edf(ArrayRecording(np.zeros((100, 1)), 100.0), path)
    assert path.read_bytes() == b"keep me"
    write_edf(ArrayRecording(np.ones((100, 1)), 100.0), path, overwrite=True)
    assert read_edf(path).n_samples == 100


def test_nan_and_bad_parameters_are_clear_errors(tmp_path):
    x = np.zeros((100, 2))
    x[50, 1] = np.nan
    with pytest.raises(DataError, match=r"ch2 hold NaN"):
        write_edf(ArrayRecording(x, 100.0), tmp_path / "nan.edf")
    with (
        pytest.raises(DataError, match="NaN"),
        EdfWriter(tmp_path / "n.bdf", fs=100, labels=["a", "b"]) as w,
    ):
        w.write(x)
    with pytest.raises(DataError, match="no channels"):
        EdfWriter(tmp_path / "e.bdf", fs=100, labels=[])
    with pytest.raises(ParameterError, match="whole number of samples"):
        EdfWriter(tmp_path / "e.bdf", fs=2048, labels=["a"], record_duration_s=0.3)
    with pytest.raises(ParameterError, match="suffix"):
        write_edf(ArrayRecording(np.zeros((10, 1)), 100.0), tmp_path / "x.dat")
    assert not any(p.suffix in (".edf", ".bdf") for p in tmp_path.iterdir())


def test_values_outside_the_range_are_clipped_and_counted(tmp_path):
    path = tmp_path / "clip.edf"
    with EdfWriter(path, fs=100, labels=["x"], fmt="edf", physical_range_uv=(-100, 100)) as w:
        w.write(np.array([[0.0], [250.0], [-300.0], [50.0]] * 25))
        assert w.n_clipped == 50
    y = read_edf(path).get_traces()[:4, 0]
    np.testing.assert_allclose(y, [0, 100, -100, 50], atol=0.01)


def test_annotations_after_the_data_go_into_the_last_record(tmp_path):
    ann = Annotations.from_list([(0.5, 0.0, "in"), (3.5, 0.0, "late")])
    path = tmp_path / "late.edf"
    with EdfWriter(path, fs=100, labels=["x"], fmt="edf", annotations=ann) as w:
        w.write(np.zeros((200, 1)))
    assert [a.text for a in edfio.read_edf(path).annotations] == ["in", "late"]


def test_memory_does_not_grow_with_length(tmp_path):
    block = np.random.default_rng(3).normal(0, 50, (1000, 16))

    def peak(n_blocks: int) -> int:
        tracemalloc.start()
        with EdfWriter(
            tmp_path / f"m{n_blocks}.bdf", fs=1000, labels=[f"c{i}" for i in range(16)]
        ) as w:
            for _ in range(n_blocks):
                w.write(block)
        _, top = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return top

    short, long = peak(5), peak(50)
    assert long < 1.5 * short + 100_000
    assert (tmp_path / "m50.bdf").stat().st_size > 50 * block.nbytes * 3 / 8
