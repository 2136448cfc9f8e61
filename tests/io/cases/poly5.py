"""Poly5 conformance cases, written byte by byte after the published TMSi layout.

File header (v2.03, 217 bytes): 31-byte identifier, uint16 version, 81-byte
Pascal name, int16 fs, int16 storage rate, uint8 storage type, int16 number
of signal descriptions, int32 sample periods, 4 reserved, 7 x int16 start
time, int32 blocks, uint16 periods per block, uint16 data bytes per block,
int16 compression flag, 64 reserved. v2.04 has a 32-byte identifier.
Signal description (136 bytes): 41-byte Pascal name, 4 reserved, 11-byte
Pascal unit, 4 x float32 (unit low/high, ADC low/high), int16 index, int16
cache offset, 60 reserved. Each block: 86-byte header (int32 first period,
4 reserved, 7 x int16 time, 64 reserved) then samples period by period.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.io.conformance import ConformanceCase, test_signal, truncate

MAGIC_203 = b"POLY SAMPLE FILEversion 2.03\r\n\x1a"
MAGIC_204 = b"POLY SAMPLE FILE version 2.04\r\n\x1a"


def _pascal(text: str, size: int, encoding: str = "utf-8") -> bytes:
    raw = text.encode(encoding)
    assert len(raw) < size
    return bytes([len(raw)]) + raw + b"\x00" * (size - 1 - len(raw))


def _i16(v: int) -> bytes:
    return int(v).to_bytes(2, "little", signed=True)


def _u16(v: int) -> bytes:
    return int(v).to_bytes(2, "little", signed=False)


def _i32(v: int) -> bytes:
    return int(v).to_bytes(4, "little", signed=True)


def _f32(v: float) -> bytes:
    return np.array([v], dtype="<f4").tobytes()


START = (2023, 5, 17, 3, 14, 30, 5)  # year, month, day, day of week, hour, minute, second


def write_poly5(
    path: Path,
    fs: int,
    signals: list[dict],
    values: np.ndarray,
    *,
    per_block: int = 10,
    bits: int = 32,
    version: int = 203,
    full_last_block: bool = False,
) -> Path:
    """Write a Poly5 file.

    ``signals``: dicts with ``name``, ``unit`` and optionally ``unit_low``,
    ``unit_high``, ``adc_low``, ``adc_high``. ``values``: stored values,
    shape (n_periods, n_signals) (float32 for 32-bit, int16 for 16-bit).
    """
    n_periods, n_sig = values.shape
    assert n_sig == len(signals)
    n_blocks = -(-n_periods // per_block)
    n_desc = 2 * n_sig if bits == 32 else n_sig
    itemsize = 4 if bits == 32 else 2
    out = bytearray()
    out += MAGIC_203 if version == 203 else MAGIC_204
    out += _u16(version)
    out += _pascal("test measurement", 81)
    out += _i16(fs) + _i16(fs) + bytes([0]) + _i16(n_desc) + _i32(n_periods) + b"\x00" * 4
    out += b"".join(_i16(v) for v in START)
    out += _i32(n_blocks) + _u16(per_block) + _u16(per_block * n_sig * itemsize) + _i16(0)
    out += b"\x00" * 64
    assert len(out) == (217 if version == 203 else 218)
    for i, s in enumerate(signals):
        names = [f"(Lo) {s['name']}", f"(Hi) {s['name']}"] if bits == 32 else [s["name"]]
        for name in names:
            desc = _pascal(name, 41) + b"\x00" * 4 + _pascal(s["unit"], 11)
            desc += _f32(s.get("unit_low", 0.0)) + _f32(s.get("unit_high", 1000.0))
            desc += _f32(s.get("adc_low", 0.0)) + _f32(s.get("adc_high", 1000.0))
            desc += _i16(i) + _i16(0) + b"\x00" * 60
            assert len(desc) == 136
            out += desc
    dtype = "<f4" if bits == 32 else "<i2"
    for b in range(n_blocks):
        block = values[b * per_block : (b + 1) * per_block]
        if full_last_block and len(block) < per_block:
            block = np.vstack([block, np.zeros((per_block - len(block), n_sig))])
        head = _i32(b * per_block) + b"\x00" * 4 + b"".join(_i16(v) for v in START)
        head += b"\x00" * 64
        assert len(head) == 86
        out += head + np.ascontiguousarray(block, dtype=dtype).tobytes()
    path.write_bytes(bytes(out))
    return path


SAGA_SIGNALS = [
    {"name": "UNI 1", "unit": "µVolt"},
    {"name": "UNI 2", "unit": "µVolt"},
    {"name": "UNI 3", "unit": "µVolt"},
    {"name": "BIP 1", "unit": "uVolt"},
    {"name": "AUX 1-1", "unit": "mVolt"},
    {"name": "STATUS", "unit": "-"},
    {"name": "COUNTER", "unit": "-"},
]


def saga_32bit(tmp_path: Path) -> ConformanceCase:
    """32-bit SAGA-like file: EMG in µVolt, AUX/STATUS/COUNTER skipped, short last block."""
    n = 257
    emg = test_signal(n, 4, seed=3).astype(np.float32)
    aux = np.linspace(0, 1, n, dtype=np.float32)[:, None]
    status = np.full((n, 1), 252.0, dtype=np.float32)
    counter = np.arange(n, dtype=np.float32)[:, None]
    values = np.hstack([emg, aux, status, counter])
    path = write_poly5(tmp_path / "saga.Poly5", 2000, SAGA_SIGNALS, values, per_block=20)
    return ConformanceCase(
        path=path,
        format="poly5",
        fs=2000.0,
        labels=["UNI 1", "UNI 2", "UNI 3", "BIP 1"],
        data_uv=emg.astype(np.float64),
        atol_uv=1e-4,
        file_unit="uV",
        corrupt=truncate(0.6),
    )


def legacy_16bit_v204(tmp_path: Path) -> ConformanceCase:
    """16-bit file (v2.04) with ADC -> mV scaling: 4000 counts span 2 mV (0.5 µV/count)."""
    n = 120
    counts = np.round(test_signal(n, 2, seed=4) * 2).clip(-2000, 2000).astype(np.int16)
    scale = {"unit_low": -1.0, "unit_high": 1.0, "adc_low": -2000.0, "adc_high": 2000.0}
    signals = [
        {"name": "ExG 1", "unit": "mVolt", **scale},
        {"name": "ExG 2", "unit": "mVolt", **scale},
    ]
    path = write_poly5(
        tmp_path / "porti.poly5",
        1024,
        signals,
        counts,
        per_block=16,
        bits=16,
        version=204,
        full_last_block=True,
    )
    return ConformanceCase(
        path=path,
        format="poly5",
        fs=1024.0,
        labels=["ExG 1", "ExG 2"],
        data_uv=counts.astype(np.float64) * 0.5,
        atol_uv=1e-3,
        file_unit="mV",
        corrupt=truncate(0.5),
    )


CASES = [saga_32bit, legacy_16bit_v204]
