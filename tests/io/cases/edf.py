"""Conformance cases for the EDF/EDF+/BDF/BDF+ reader.

Files come from three independent writers: edfio, a byte-for-byte writer
following the EDF specification (https://www.edfplus.info/specs/edf.html,
below), and fasciq's own :class:`~fasciq.io.edf_writer.EdfWriter`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import edfio
import numpy as np

from fasciq.io.edf_writer import write_edf
from fasciq.recording import Annotations, ArrayRecording
from tests.io.conformance import ConformanceCase, test_signal, truncate


@dataclass
class SpecSignal:
    """One signal for :func:`write_spec_edf` (digital samples, record-major)."""

    label: str
    unit: str
    physical: tuple[float, float]
    digital_range: tuple[int, int]
    digital: np.ndarray  # (n_records, samples_per_record) ints, or uint8 bytes for TALs


def _field(text: str, width: int) -> bytes:
    return text.encode("ascii").ljust(width)[:width]


def write_spec_edf(
    path: Path,
    signals: list[SpecSignal],
    record_duration: float,
    reserved: str = "",
    bdf: bool = False,
    patient: str = "X X X X",
    recording: str = "Startdate X X X X",
    n_records_field: int | None = None,
) -> Path:
    """Write an EDF/BDF file byte for byte after the specification.

    An annotation signal is given as ``digital`` of dtype uint8 holding the raw
    bytes of each record (``(n_records, 2 * samples_per_record)`` for EDF).
    """
    bps = 3 if bdf else 2
    ns = len(signals)
    n_rec = signals[0].digital.shape[0]
    spr = [s.digital.shape[1] // (bps if s.digital.dtype == np.uint8 else 1) for s in signals]
    head = [
        b"\xffBIOSEMI" if bdf else _field("0", 8),
        _field(patient, 80),
        _field(recording, 80),
        _field("05.03.24", 8),
        _field("10.11.12", 8),
        _field(str(256 * (ns + 1)), 8),
        _field(reserved, 44),
        _field(str(n_rec if n_records_field is None else n_records_field), 8),
        _field(f"{record_duration:g}", 8),
        _field(str(ns), 4),
    ]
    cols = [
        [_field(s.label, 16) for s in signals],
        [_field("", 80) for s in signals],
        [_field(s.unit, 8) for s in signals],
        [_field(f"{s.physical[0]:g}", 8) for s in signals],
        [_field(f"{s.physical[1]:g}", 8) for s in signals],
        [_field(str(s.digital_range[0]), 8) for s in signals],
        [_field(str(s.digital_range[1]), 8) for s in signals],
        [_field("", 80) for s in signals],
        [_field(str(n), 8) for n in spr],
        [_field("", 32) for s in signals],
    ]
    body = []
    for r in range(n_rec):
        for s in signals:
            if s.digital.dtype == np.uint8:
                body.append(s.digital[r].tobytes())
            elif bdf:
                body.append(
                    s.digital[r].astype("<i4").view(np.uint8).reshape(-1, 4)[:, :3].tobytes()
                )
            else:
                body.append(s.digital[r].astype("<i2").tobytes())
    path.write_bytes(b"".join(head) + b"".join(b"".join(c) for c in cols) + b"".join(body))
    return path


def tal_records(
    onsets: list[float], width: int, extra: dict[int, bytes] | None = None
) -> np.ndarray:
    """Annotation-signal bytes: the time-keeping TAL of each record (+ extra TALs)."""
    out = np.zeros((len(onsets), width), dtype=np.uint8)
    for r, onset in enumerate(onsets):
        raw = f"+{onset:g}".encode() + b"\x14\x14\x00" + (extra or {}).get(r, b"")
        out[r, : len(raw)] = np.frombuffer(raw, np.uint8)
    return out


def to_digital(
    x: np.ndarray, physical: tuple[float, float], digital: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Digitise ``x`` and return (digital, what a correct reader decodes)."""
    gain = (physical[1] - physical[0]) / (digital[1] - digital[0])
    d = np.clip(np.rint((x - physical[0]) / gain) + digital[0], *digital).astype(np.int64)
    return d, (d - digital[0]) * gain + physical[0]


def edfplus_mv_edfio(tmp_path: Path) -> ConformanceCase:
    """EDF+ written by edfio, in mV, with annotations."""
    fs, n = 1000.0, 3000
    x = test_signal(n, 3, seed=1)
    labels = ["EMG1", "EMG2", "EMG3"]
    sigs = [
        edfio.EdfSignal(x[:, i] / 1000.0, fs, label=lab, physical_dimension="mV")
        for i, lab in enumerate(labels)
    ]
    ann = [(0.5, 0.0, "fasciculation"), (1.25, 0.5, "voluntary"), (2.0, 0.0, "pop ü")]
    edf = edfio.Edf(sigs, annotations=[edfio.EdfAnnotation(o, d or None, t) for o, d, t in ann])
    path = tmp_path / "edfplus_mv.edf"
    edf.write(path)
    step = max(np.ptp(x[:, i]) for i in range(3)) / 65535
    return ConformanceCase(
        path,
        "edf",
        fs,
        labels,
        x,
        atol_uv=step,
        file_unit="mV",
        annotations=ann,
        corrupt=truncate(0.5),
    )


def bdfplus_uv_edfio(tmp_path: Path) -> ConformanceCase:
    """BDF+ written by edfio, in µV."""
    fs, n = 2048.0, 2048 * 2
    x = test_signal(n, 4, seed=2)
    labels = [f"R{i}" for i in range(4)]
    sigs = [
        edfio.BdfSignal(x[:, i], fs, label=lab, physical_dimension="uV")
        for i, lab in enumerate(labels)
    ]
    ann = [(0.25, 0.0, "FP"), (1.5, 0.1, "FP")]
    bdf = edfio.Bdf(sigs, annotations=[edfio.EdfAnnotation(o, d or None, t) for o, d, t in ann])
    path = tmp_path / "bdfplus_uv.bdf"
    bdf.write(path)
    step = max(np.ptp(x[:, i]) for i in range(4)) / (2**24 - 1)
    return ConformanceCase(
        path,
        "edf",
        fs,
        labels,
        x,
        atol_uv=step + 1e-4,
        file_unit="uV",
        annotations=ann,
        corrupt=truncate(0.7),
    )


def plain_edf_spec(tmp_path: Path) -> ConformanceCase:
    """Plain EDF (no '+', no annotations) written byte for byte after the spec."""
    fs, n_rec, spr = 512.0, 4, 256
    x = test_signal(n_rec * spr, 2, seed=3)
    phys, dig = (-2000.0, 2000.0), (-32768, 32767)
    sigs, expect = [], []
    for i, lab in enumerate(["BB1", "BB2"]):
        d, e = to_digital(x[:, i], phys, dig)
        sigs.append(SpecSignal(lab, "uV", phys, dig, d.reshape(n_rec, spr)))
        expect.append(e)
    path = write_spec_edf(tmp_path / "plain.edf", sigs, record_duration=0.5)
    return ConformanceCase(
        path,
        "edf",
        fs,
        ["BB1", "BB2"],
        np.column_stack(expect),
        atol_uv=1e-3,
        file_unit="uV",
        annotations=[],
        corrupt=truncate(0.8),
    )


def mixed_rate_edfio(tmp_path: Path) -> ConformanceCase:
    """EMG at 2048 Hz plus a force channel at 100 Hz: only the EMG is read."""
    n = 2048 * 2
    x = test_signal(n, 2, seed=4)
    force = np.linspace(0, 50, 200)
    sigs = [
        edfio.EdfSignal(x[:, 0], 2048, label="EMG a", physical_dimension="uV"),
        edfio.EdfSignal(force, 100, label="Force", physical_dimension="N"),
        edfio.EdfSignal(x[:, 1], 2048, label="EMG b", physical_dimension="uV"),
    ]
    path = tmp_path / "mixed.edf"
    edfio.Edf(sigs).write(path)
    step = max(np.ptp(x[:, i]) for i in range(2)) / 65535
    return ConformanceCase(
        path,
        "edf",
        2048.0,
        ["EMG a", "EMG b"],
        x,
        atol_uv=step,
        file_unit="uV",
        corrupt=truncate(0.5),
    )


def fasciq_writer_bdf(tmp_path: Path) -> ConformanceCase:
    """BDF+ from fasciq's writer, with annotations."""
    fs, n = 2000.0, 2000 * 3
    x = test_signal(n, 5, seed=5).astype(np.float32)
    ann = [(0.1, 0.0, "FP"), (2.5, 0.25, "voluntary")]
    rec = ArrayRecording(x, fs, annotations=Annotations.from_list(ann))
    path = write_edf(rec, tmp_path / "own.bdf")
    return ConformanceCase(
        path,
        "edf",
        fs,
        list(rec.channel_labels),
        x.astype(np.float64),
        atol_uv=2e-4,
        file_unit="uV",
        annotations=ann,
        corrupt=truncate(0.6),
    )


CASES = [edfplus_mv_edfio, bdfplus_uv_edfio, plain_edf_spec, mixed_rate_edfio, fasciq_writer_bdf]
