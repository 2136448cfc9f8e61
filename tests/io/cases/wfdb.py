"""WFDB conformance cases, written after the WFDB header and signal-file specification.

Header: record line ``NAME N_SIG FS N_SAMPLES``; one signal line per signal
``FILE FORMAT[+OFFSET] GAIN[(BASELINE)]/UNITS ADC_RES ADC_ZERO INIT CHECKSUM
BLOCKSIZE DESCRIPTION``. Signal files hold frames (one sample of every signal
of that file, in header order). Format 16: int16 little-endian; 212: two
12-bit two's-complement samples in three bytes (byte 0 = low 8 bits of the
first, low nibble of byte 1 = its high 4 bits, high nibble of byte 1 = high 4
bits of the second, byte 2 = low 8 bits of the second); 24/32: little-endian
two's complement; 61: int16 big-endian; 80: byte = value + 128; 8: int8
first differences from the initial value.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.io.conformance import ConformanceCase, test_signal


def encode(fmt: int, frames: np.ndarray) -> bytes:
    """Bytes of the signal file for integer ``frames`` of shape (n, n_signals)."""
    v = np.asarray(frames, dtype=np.int64)
    if fmt == 16:
        return v.astype("<i2").tobytes()
    if fmt == 61:
        return v.astype(">i2").tobytes()
    if fmt == 32:
        return v.astype("<i4").tobytes()
    if fmt == 80:
        return (v + 128).astype("u1").tobytes()
    if fmt == 24:
        u = v.reshape(-1) & 0xFFFFFF
        return np.column_stack([u & 0xFF, (u >> 8) & 0xFF, (u >> 16) & 0xFF]).astype("u1").tobytes()
    if fmt == 8:
        return np.diff(v, axis=0, prepend=v[:1]).astype("i1").tobytes()  # first diff = 0
    if fmt == 212:
        flat = list(v.reshape(-1) & 0xFFF)
        out = bytearray()
        for i in range(0, len(flat), 2):
            a = flat[i]
            if i + 1 < len(flat):
                b = flat[i + 1]
                out += bytes([a & 0xFF, ((a >> 8) & 0x0F) | (((b >> 8) & 0x0F) << 4), b & 0xFF])
            else:
                out += bytes([a & 0xFF, (a >> 8) & 0x0F])
        return bytes(out)
    raise ValueError(fmt)


def checksum(x: np.ndarray) -> int:
    s = int(np.asarray(x, dtype=np.int64).sum()) & 0xFFFF
    return s - 65536 if s > 32767 else s


def signal_line(
    fname: str, fmt: str, gain: str, res: int, zero: int, x: np.ndarray, desc: str
) -> str:
    return f"{fname} {fmt} {gain} {res} {zero} {int(x[0])} {checksum(x)} 0 {desc}"


def three_signals_212(tmp_path: Path) -> ConformanceCase:
    """Format 212, three interleaved signals, odd value count, ``200/mv`` and a baseline."""
    d = tmp_path / "r212"
    d.mkdir()
    n = 1001  # 3003 values: the last byte pair holds a single sample
    uv = test_signal(n, 3, seed=5, scale_uv=1500)
    gains = [200.0, 200.0, 400.0]
    baselines = [0, 0, 10]
    raw = (
        np.column_stack([np.round(uv[:, i] * gains[i] / 1000) + baselines[i] for i in range(3)])
        .clip(-2047, 2047)
        .astype(np.int64)
    )
    (d / "r212.dat").write_bytes(encode(212, raw))
    lines = [f"r212 3 500 {n} 10:20:30 17/05/2023"]
    lines.append(signal_line("r212.dat", "212", "200/mv", 12, 0, raw[:, 0], "EMG left"))
    lines.append(signal_line("r212.dat", "212", "200/mV", 12, 0, raw[:, 1], "EMG right"))
    lines.append(signal_line("r212.dat", "212", "400(10)/mV", 12, 0, raw[:, 2], "EMG chin"))
    lines.append("# <age>: 61 <sex>: F <diagnoses>: ALS")
    (d / "r212.hea").write_text("\n".join(lines) + "\n")
    expected = (raw - np.array(baselines)) / np.array(gains) * 1000.0
    return ConformanceCase(
        path=d / "r212.hea",
        format="wfdb",
        fs=500.0,
        labels=["EMG left", "EMG right", "EMG chin"],
        data_uv=expected,
        atol_uv=1e-3,
        file_unit="mV",
        corrupt=_truncate_dat(d / "r212.dat"),
    )


def two_files_16_and_32(tmp_path: Path) -> ConformanceCase:
    """Format 16 (two signals, byte offset, ``10000/mv``) plus format 32 in µV in a second
    file, and a non-voltage signal that is skipped."""
    d = tmp_path / "r16"
    d.mkdir()
    n = 640
    uv = test_signal(n, 3, seed=6, scale_uv=800)
    raw16 = np.round(uv[:, :2] * 10000 / 1000).astype(np.int64)  # 10000 adu per mV
    raw32 = np.round(uv[:, 2] * 50).astype(np.int64)  # 50 adu per µV
    force = np.round(np.linspace(0, 300, n)).astype(np.int64)
    (d / "r16_a.dat").write_bytes(b"\x00" * 24 + encode(16, raw16))
    (d / "r16_b.dat").write_bytes(encode(32, np.column_stack([raw32, force])))
    lines = [
        f"r16 4 2048 {n}",
        signal_line("r16_a.dat", "16+24", "10000/mv", 16, 0, raw16[:, 0], "TA"),
        signal_line("r16_a.dat", "16+24", "10000/mV", 16, 0, raw16[:, 1], "GM"),
        signal_line("r16_b.dat", "32", "50/uV", 32, 0, raw32, "FDI"),
        signal_line("r16_b.dat", "32", "10/N", 32, 0, force, "force"),
    ]
    (d / "r16.hea").write_text("\n".join(lines))  # no final newline, like PhysioNet's emgdb
    expected = np.column_stack([raw16 / 10.0, raw32 / 50.0])
    return ConformanceCase(
        path=d / "r16.hea",
        format="wfdb",
        fs=2048.0,
        labels=["TA", "GM", "FDI"],
        data_uv=expected,
        atol_uv=1e-3,
        file_unit="mixed",
        corrupt=_truncate_dat(d / "r16_b.dat"),
    )


def _truncate_dat(original: Path):
    def cut(hea: Path) -> None:
        dat = hea.parent / original.name
        size = dat.stat().st_size
        with open(dat, "r+b") as f:
            f.truncate(size * 2 // 3)

    return cut


CASES = [three_signals_212, two_files_16_and_32]
