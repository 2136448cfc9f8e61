"""CSV/TSV reader: rates, units, delimiters and cell-level error messages."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fasciq.errors import DataError, FormatError
from fasciq.io import read_recording
from fasciq.io.csv_format import read_csv


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_fs_from_time_column_with_offset_start(tmp_path: Path) -> None:
    rows = [f"{10 + i / 2000:.6f},{i},{-i}" for i in range(50)]
    p = _write(tmp_path / "a.csv", "Time (s),left,right\n" + "\n".join(rows) + "\n")
    rec = read_csv(p)
    assert rec.fs == 2000.0
    assert rec.channel_labels == ("left", "right")
    assert rec.metadata.extra["time_offset_s"] == pytest.approx(10.0)
    np.testing.assert_array_equal(rec.get_traces()[:, 0], np.arange(50))


def test_rate_precedence_kwarg_over_sidecar_over_time(tmp_path: Path) -> None:
    rows = [f"{i / 100:.4f},{i}" for i in range(20)]
    p = _write(tmp_path / "b.csv", "t,x\n" + "\n".join(rows) + "\n")
    assert read_csv(p).fs == 100.0
    (tmp_path / "b.json").write_text(json.dumps({"fs": 250, "unit": "mV"}))
    rec = read_csv(p)
    assert rec.fs == 250.0 and rec.get_traces()[3, 0] == pytest.approx(3000.0)
    rec = read_recording(p, fs=300, unit="V")
    assert rec.fs == 300.0 and rec.get_traces()[3, 0] == pytest.approx(3e6)


def test_per_column_units_and_semicolons(tmp_path: Path) -> None:
    p = _write(tmp_path / "c.txt", "a [mV];b [µV];c(V)\n1;2;3\n4;5;6\n")
    rec = read_csv(p, fs=10)
    assert rec.channel_labels == ("a", "b", "c")
    assert rec.file_unit == "mixed"
    np.testing.assert_allclose(rec.get_traces(), [[1000, 2, 3e6], [4000, 5, 6e6]])


def test_non_numeric_cell_names_line_and_column(tmp_path: Path) -> None:
    p = _write(tmp_path / "d.csv", "x,y\n1,2\n3,oops\n5,6\n")
    with pytest.raises(DataError) as info:
        read_csv(p, fs=100)
    msg = str(info.value)
    assert "d.csv" in msg and "line 3" in msg and "'y'" in msg and "'oops'" in msg


def test_empty_and_nan_cells_name_line_and_column(tmp_path: Path) -> None:
    p = _write(tmp_path / "e.csv", "x,y\n1,2\n3,4\n,6\n")
    with pytest.raises(DataError, match=r"line 4, column 'x' is empty or NaN"):
        read_csv(p, fs=100)
    p = _write(tmp_path / "f.csv", "x,y\n1,2\n3,NaN\n")
    with pytest.raises(DataError, match=r"line 3, column 'y'"):
        read_csv(p, fs=100)


@pytest.mark.parametrize(
    ("text", "kwargs", "error", "needle"),
    [
        ("1,2\n3,4\n", {"fs": 10}, FormatError, "header row"),
        ("x,y\n1,2\n", {}, DataError, "sampling rate is unknown"),
        ("time,x\n0,1\n0.001,2\n0.005,3\n0.006,4\n", {}, DataError, "irregular"),
        ("time,x\n0,1\n0,2\n", {}, DataError, "does not increase"),
        ("x\n", {"fs": 10}, DataError, "no rows"),
        ("x,y\n1,2\n", {"fs": 10, "unit": "mmHg"}, FormatError, "mmHg"),
        ("", {"fs": 10}, FormatError, "empty"),
    ],
)
def test_clear_errors(tmp_path: Path, text: str, kwargs: dict, error: type, needle: str) -> None:
    p = _write(tmp_path / "g.csv", text)
    with pytest.raises(error) as info:
        read_csv(p, **kwargs)
    assert needle in str(info.value) and "g.csv" in str(info.value)


def test_sidecar_labels_replace_header(tmp_path: Path) -> None:
    p = _write(tmp_path / "h.tsv", "a\tb\n1\t2\n")
    (tmp_path / "h.json").write_text(json.dumps({"fs": 5, "channels": ["TA", "SOL"]}))
    rec = read_csv(p)
    assert rec.channel_labels == ("TA", "SOL") and rec.format_name == "TSV"
