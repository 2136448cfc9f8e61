"""Poly5 reader: channel selection, scaling, block handling and damaged files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fasciq.errors import FormatError
from fasciq.io import read_recording
from fasciq.io.poly5 import read_poly5
from tests.io.cases.poly5 import SAGA_SIGNALS, write_poly5


def _saga(tmp_path: Path, n: int = 95, per_block: int = 10, **kw) -> tuple[Path, np.ndarray]:
    rng = np.random.default_rng(1)
    values = rng.normal(0, 100, (n, len(SAGA_SIGNALS))).astype(np.float32)
    values[:, 4] = np.linspace(-1, 1, n)  # AUX in mV
    return write_poly5(
        tmp_path / "s.poly5", 4096, SAGA_SIGNALS, values, per_block=per_block, **kw
    ), values


def test_skipped_channels_metadata_and_start_time(tmp_path: Path) -> None:
    path, values = _saga(tmp_path)
    rec = read_poly5(path)
    assert rec.channel_labels == ("UNI 1", "UNI 2", "UNI 3", "BIP 1")
    assert rec.metadata.extra["skipped_channels"] == ["AUX 1-1", "STATUS", "COUNTER"]
    assert rec.metadata.extra["measurement"] == "test measurement"
    assert rec.metadata.start_time == "2023-05-17T14:30:05"
    assert rec.format_name == "TMSi Poly5 (32-bit)"
    assert rec.n_samples == 95 and rec.fs == 4096.0
    np.testing.assert_allclose(rec.get_traces(), values[:, :4], rtol=1e-6)


def test_aux_in_mvolt_kept_on_request_and_scaled(tmp_path: Path) -> None:
    path, values = _saga(tmp_path)
    rec = read_poly5(path, include_aux=True)
    assert rec.channel_labels[-1] == "AUX 1-1"
    assert rec.file_unit == "mixed"
    np.testing.assert_allclose(
        rec.get_traces(channels=["AUX 1-1"])[:, 0], values[:, 4] * 1000.0, rtol=1e-6
    )  # mVolt -> µV


@pytest.mark.parametrize("n", [90, 91, 99])
def test_reads_across_block_edges_and_short_last_block(tmp_path: Path, n: int) -> None:
    path, values = _saga(tmp_path, n=n, per_block=10)
    rec = read_recording(path)
    for a, b in [(0, n), (9, 11), (19, 20), (85, n), (n - 1, n), (30, 30)]:
        np.testing.assert_allclose(rec.get_traces(a, b, [3, 0]), values[a:b][:, [3, 0]], rtol=1e-6)


def test_padded_last_block_reads_the_announced_count(tmp_path: Path) -> None:
    path, values = _saga(tmp_path, n=95, full_last_block=True)
    rec = read_poly5(path)
    assert rec.n_samples == 95
    np.testing.assert_allclose(rec.get_traces(90, 95), values[90:95, :4], rtol=1e-6)


def test_16bit_adc_scaling_with_offset(tmp_path: Path) -> None:
    counts = np.array([[0], [1000], [-1000], [4095]], dtype=np.int16)
    sig = [
        {
            "name": "EMG",
            "unit": "Volt",
            "unit_low": -0.001,
            "unit_high": 0.003,
            "adc_low": 0,
            "adc_high": 4095,
        }
    ]
    path = write_poly5(tmp_path / "old.poly5", 500, sig, counts, per_block=4, bits=16)
    rec = read_poly5(path)
    expected = (-0.001 + counts[:, 0] / 4095 * 0.004) * 1e6
    np.testing.assert_allclose(rec.get_traces()[:, 0], expected, rtol=1e-5)
    assert rec.format_name == "TMSi Poly5 (16-bit)" and rec.file_unit == "V"


@pytest.mark.parametrize(
    "keep", [217 + 14 * 136 + 5, 217 + 100, 150, 3 * (86 + 280) + 217 + 14 * 136 + 90]
)
def test_truncated_files_raise_format_error(tmp_path: Path, keep: int) -> None:
    path, _ = _saga(tmp_path)
    data = path.read_bytes()
    path.write_bytes(data[:keep])
    with pytest.raises(FormatError) as info:
        read_poly5(path)
    assert "s.poly5" in str(info.value) and "truncated" in str(info.value)


def test_not_a_poly5_and_inconsistent_block_size(tmp_path: Path) -> None:
    bad = tmp_path / "x.poly5"
    bad.write_bytes(b"NOT A POLY FILE" + b"\x00" * 300)
    with pytest.raises(FormatError, match="not a Poly5 file"):
        read_poly5(bad)
    path, _ = _saga(tmp_path)
    data = bytearray(path.read_bytes())
    data[149:151] = (123).to_bytes(2, "little")  # bytes per block field
    path.write_bytes(bytes(data))
    with pytest.raises(FormatError, match="do not hold"):
        read_poly5(path)
