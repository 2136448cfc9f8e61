"""NumPy conformance cases: ``.npy`` (NPY format 1.0 via numpy.save) and ``.npz`` with a
JSON sidecar ``<stem>.json``."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from fasciq.grids import get_grid
from tests.io.conformance import ConformanceCase, test_signal, truncate


def npy_with_catalogue_grid(tmp_path: Path) -> ConformanceCase:
    """64-channel float32 µV ``.npy``, grid named in the sidecar, annotations, metadata."""
    d = tmp_path / "npy"
    d.mkdir()
    data = test_signal(300, 64, seed=7).astype(np.float32)
    np.save(d / "rec.npy", data)
    labels = [f"E{i + 1}" for i in range(64)]
    sidecar = {
        "fs": 2048,
        "unit": "µV",
        "channels": labels,
        "grid": "gr08mm1305",
        "annotations": [
            {"onset": 0.1, "duration": 0.02, "description": "voluntary"},
            {"onset": 0.05, "duration": 0, "description": "cue"},
        ],
        "metadata": {
            "subject": "P07",
            "muscle": "biceps",
            "side": "left",
            "exposures": ["caffeine"],
        },
    }
    (d / "rec.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return ConformanceCase(
        path=d / "rec.npy",
        format="numpy",
        fs=2048.0,
        labels=labels,
        data_uv=data.astype(np.float64),
        atol_uv=0.0,
        file_unit="uV",
        annotations=[(0.05, 0.0, "cue"), (0.1, 0.02, "voluntary")],
        grid_name="GR08MM1305",
        corrupt=truncate(0.5),
    )


def npz_channels_by_samples_in_mv(tmp_path: Path) -> ConformanceCase:
    """``.npz`` array ``data`` stored channels x samples in mV, positions in the sidecar."""
    d = tmp_path / "npz"
    d.mkdir()
    uv = test_signal(500, 4, seed=8)
    np.savez(d / "rec.npz", data=(uv / 1000.0).T, other=np.arange(3))
    positions = [[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]]
    sidecar = {
        "fs": 1000.0,
        "unit": "mV",
        "layout": "channels_by_samples",
        "channels": ["a", "b", "c", "d"],
        "positions_mm": positions,
    }
    (d / "rec.json").write_text(json.dumps(sidecar), encoding="utf-8")
    return ConformanceCase(
        path=d / "rec.npz",
        format="numpy",
        fs=1000.0,
        labels=["a", "b", "c", "d"],
        data_uv=uv,
        atol_uv=1e-3,
        file_unit="mV",
        positions_mm=np.array(positions),
        corrupt=truncate(0.5),
    )


def npy_generic_grid_spec(tmp_path: Path) -> ConformanceCase:
    """int16 ``.npy`` in µV with a ``ROWSxCOLS@IED`` grid spec."""
    d = tmp_path / "spec"
    d.mkdir()
    data = np.round(test_signal(200, 8, seed=9)).astype(np.int16)
    np.save(d / "grid.npy", data)
    (d / "grid.json").write_text(json.dumps({"fs": 4000, "grid": "2x4@5"}), encoding="utf-8")
    return ConformanceCase(
        path=d / "grid.npy",
        format="numpy",
        fs=4000.0,
        labels=[f"ch{i + 1}" for i in range(8)],
        data_uv=data.astype(np.float64),
        atol_uv=0.0,
        file_unit="uV",
        grid_name=get_grid("2x4@5").name,
    )


CASES = [npy_with_catalogue_grid, npz_channels_by_samples_in_mv, npy_generic_grid_spec]
