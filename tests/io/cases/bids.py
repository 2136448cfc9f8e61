"""Conformance cases for the EMG-BIDS reader (BIDS 1.11 electromyography)."""

from __future__ import annotations

import json
from pathlib import Path

import edfio
import numpy as np

from tests.io.conformance import ConformanceCase, test_signal, truncate


def write_bids(
    root: Path,
    x_uv: np.ndarray,
    fs: float,
    names: list[str],
    types: list[str] | None = None,
    units: list[str] | None = None,
    status: list[str] | None = None,
    electrodes_cm: np.ndarray | None = None,
    coord_units: str = "cm",
    stem: str = "sub-07_ses-03_task-rest_acq-grid_run-1",
    fmt: str = "bdf",
    extra_columns: dict[str, list[str]] | None = None,
    sidecar: dict | None = None,
    channels_tsv: bool = True,
) -> Path:
    """Write a small EMG-BIDS dataset and return the data file.

    ``x_uv`` columns are written in µV with edfio; electrodes ``E<i>`` are
    referenced from ``_channels.tsv`` through ``signal_electrode``.
    """
    folder = root / "sub-07" / "ses-03" / "emg"
    folder.mkdir(parents=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "fasciq test", "BIDSVersion": "1.11.0"})
    )
    n_ch = x_uv.shape[1]
    types = types or ["EMG"] * n_ch
    units = units or ["uV"] * n_ch
    sig_cls, rec_cls = (
        (edfio.BdfSignal, edfio.Bdf) if fmt == "bdf" else (edfio.EdfSignal, edfio.Edf)
    )
    sigs = [sig_cls(x_uv[:, i], fs, label=names[i], physical_dimension="uV") for i in range(n_ch)]
    data = folder / f"{stem}_emg.{fmt}"
    rec_cls(sigs).write(data)
    if channels_tsv:
        cols = {
            "name": names,
            "type": types,
            "units": units,
            "status": status or ["good"] * n_ch,
            "signal_electrode": [f"E{i + 1}" for i in range(n_ch)],
            "reference": ["REF"] * n_ch,
        }
        cols.update(extra_columns or {})
        lines = ["\t".join(cols)] + [
            "\t".join(str(c[i]) for c in cols.values()) for i in range(n_ch)
        ]
        (folder / f"{stem}_channels.tsv").write_text("\n".join(lines) + "\n")
    (folder / f"{stem}_emg.json").write_text(
        json.dumps(
            {
                "SamplingFrequency": fs,
                "EMGReference": "REF on the olecranon",
                "PowerLineFrequency": 50,
                "EMGChannelCount": n_ch,
                **(sidecar or {}),
            }
        )
    )
    if electrodes_cm is not None:
        # electrodes and coordsystem shared by all runs (inheritance principle)
        rows = ["name\tx\ty\tz\tcoordinate_system\tgroup"]
        rows += [
            f"E{i + 1}\t{x:g}\t{y:g}\tn/a\tGrid\tgrid1" for i, (x, y) in enumerate(electrodes_cm)
        ]
        (folder / "sub-07_ses-03_acq-grid_electrodes.tsv").write_text("\n".join(rows) + "\n")
        (folder / "sub-07_ses-03_acq-grid_coordsystem.json").write_text(
            json.dumps(
                {
                    "EMGCoordinateSystem": "Other",
                    "EMGCoordinateUnits": coord_units,
                    "EMGCoordinateSystemDescription": "x along rows, y down the grid",
                }
            )
        )
    return data


def bids_grid_with_electrodes(tmp_path: Path) -> ConformanceCase:
    """A 2x3 grid, 8 mm spacing given in cm, plus a non-EMG trigger channel."""
    fs, n = 2048.0, 2048
    x = test_signal(n, 7, seed=11)
    names = [f"EMG{i + 1}" for i in range(6)] + ["TRIG"]
    pos_cm = np.array([[c * 0.8, r * 0.8] for r in range(2) for c in range(3)] + [[9, 9]])
    path = write_bids(tmp_path, x, fs, names, types=["EMG"] * 6 + ["TRIG"], electrodes_cm=pos_cm)
    step = max(np.ptp(x[:, i]) for i in range(6)) / (2**24 - 1)
    return ConformanceCase(
        path,
        "bids",
        fs,
        names[:6],
        x[:, :6],
        atol_uv=step + 1e-4,
        file_unit="uV",
        annotations=[],
        positions_mm=pos_cm[:6] * 10,
        corrupt=truncate(0.5),
    )


def bids_edf_without_electrodes(tmp_path: Path) -> ConformanceCase:
    """EDF data, units from _channels.tsv, no electrodes file."""
    fs, n = 1000.0, 2000
    x = test_signal(n, 3, seed=12)
    names = ["m1", "m2", "m3"]
    path = write_bids(tmp_path, x, fs, names, fmt="edf", stem="sub-07_ses-03_task-mvc")
    step = max(np.ptp(x[:, i]) for i in range(3)) / 65535
    return ConformanceCase(
        path, "bids", fs, names, x, atol_uv=step, file_unit="uV", corrupt=truncate(0.5)
    )


CASES = [bids_grid_with_electrodes, bids_edf_without_electrodes]
