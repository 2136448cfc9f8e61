"""CSV/TSV conformance cases: a header row of labels, one row per sample (RFC 4180 style)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.io.conformance import ConformanceCase, test_signal


def csv_with_time_column_in_mv(tmp_path: Path) -> ConformanceCase:
    """Comma-separated, ``time_s`` column (rate inferred), labels with ``(mV)`` suffixes."""
    d = tmp_path / "csv"
    d.mkdir()
    n, fs = 400, 1024.0
    uv = test_signal(n, 3, seed=10)
    lines = ["time_s,EMG1 (mV),EMG2 (mV),EMG3 (mV)"]
    for i in range(n):
        lines.append(f"{i / fs:.8f}," + ",".join(f"{v / 1000:.7f}" for v in uv[i]))
    (d / "rec.csv").write_text("\n".join(lines) + "\n")
    return ConformanceCase(
        path=d / "rec.csv",
        format="csv",
        fs=fs,
        labels=["EMG1", "EMG2", "EMG3"],
        data_uv=uv,
        atol_uv=1e-3,
        file_unit="mV",
        corrupt=_put_text_in_a_cell,
    )


def tsv_with_sidecar(tmp_path: Path) -> ConformanceCase:
    """Tab-separated without time column; fs, unit, grid and annotations from the sidecar."""
    d = tmp_path / "tsv"
    d.mkdir()
    n = 250
    uv = test_signal(n, 4, seed=11)
    lines = ["\t".join(["c1", "c2", "c3", "c4"])]
    lines += ["\t".join(f"{v * 1e-6:.12e}" for v in row) for row in uv]
    (d / "rec.tsv").write_text("\n".join(lines) + "\n")
    sidecar = {
        "fs": 500,
        "unit": "V",
        "grid": "2x2@10",
        "annotations": [{"onset": 0.2, "duration": 0.1, "description": "pop"}],
    }
    (d / "rec.json").write_text(json.dumps(sidecar))
    return ConformanceCase(
        path=d / "rec.tsv",
        format="csv",
        fs=500.0,
        labels=["c1", "c2", "c3", "c4"],
        data_uv=uv,
        atol_uv=1e-3,
        file_unit="V",
        annotations=[(0.2, 0.1, "pop")],
        grid_name="2x2@10",
    )


def _put_text_in_a_cell(path: Path) -> None:
    lines = path.read_text().splitlines()
    cells = lines[5].split(",")
    cells[2] = "n/a?"
    lines[5] = ",".join(cells)
    path.write_text("\n".join(lines) + "\n")


CASES = [csv_with_time_column_in_mv, tsv_with_sidecar]
