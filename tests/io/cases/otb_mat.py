"""Conformance cases for the OTBioLab+ MATLAB export (v5 and v7.3).

Both files copy the layout of a real OTBioLab+ export: ``Data`` a 1x1 cell
holding ``samples x columns`` single-precision values, ``Description`` a
``columns x 1`` cell of strings, ``SamplingFrequency`` a scalar and ``Time`` a
1x1 cell with the time axis. The v7.3 file is HDF5 behind MATLAB's 512-byte
header, with cells stored as object references into ``#refs#`` and strings as
uint16 character arrays, the way MATLAB writes them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from tests.io.conformance import ConformanceCase, test_signal, truncate

FS = 2048
N = 1400
T0 = 7.0
UV_PER_BIT = 5.0 / 2**16 / 150 * 1e6


def descriptions(muscle: str = "Tibialis Anterior", grid: str = "GR04MM1305") -> list[str]:
    """Column descriptions: 64 EMG, two decomposition outputs, the force reference."""
    emg = [f"{muscle} - MULTIPLE IN 1 (Channel 1->64) - {grid} ({i + 1})[uV]" for i in range(64)]
    return [
        *emg,
        f"1 - 2 - Decomposition of {muscle} - MULTIPLE IN 1 (Channel 1->64) - {grid} (1)[a.u]",
        f"Source for decomposition of {muscle} - MULTIPLE IN 1 (Channel 1->64) - {grid} (1)[a.u]",
        "acquired data[ %(MVC)]",
    ]


def columns(n: int = N, seed: int = 21) -> tuple[np.ndarray, np.ndarray]:
    """``(data, emg_uv)``: all 67 float32 columns and the EMG part as float64."""
    emg = np.round(test_signal(n, 64, seed=seed, scale_uv=80.0) / UV_PER_BIT) * UV_PER_BIT
    rng = np.random.default_rng(seed + 1)
    others = np.column_stack(
        [
            (rng.random(n) < 0.01).astype(float),
            rng.normal(0, 0.05, n),
            np.linspace(0, 30, n),
        ]
    )
    data = np.hstack([emg, others]).astype(np.float32)
    return data, data[:, :64].astype(np.float64)


def _cell(values: list[np.ndarray], shape: tuple[int, int]) -> np.ndarray:
    cell = np.empty(shape, dtype=object)
    for i, v in enumerate(values):
        cell.reshape(-1)[i] = v
    return cell


def build_v5(tmp_path: Path) -> ConformanceCase:
    from scipy.io import savemat

    data, emg = columns()
    desc = descriptions()
    path = tmp_path / "tibialis_GR04MM1305.mat"
    savemat(
        path,
        {
            "Data": _cell([data], (1, 1)),
            "Description": _cell([np.array([d]) for d in desc], (len(desc), 1)),
            "SamplingFrequency": np.array([[FS]], dtype=np.uint16),
            "Time": _cell([(T0 + np.arange(N) / FS)[:, None]], (1, 1)),
            "OTBFile": np.array(["unknown"]),
        },
        format="5",
    )
    return ConformanceCase(
        path=path,
        format="otb-mat",
        fs=FS,
        labels=[f"GR04MM1305-{i + 1}" for i in range(64)],
        data_uv=emg,
        atol_uv=1e-3,
        file_unit="uV",
        grid_name="GR04MM1305",
        corrupt=truncate(0.5),
    )


MATLAB_73_HEADER_TEXT = (
    "MATLAB 7.3 MAT-file, Platform: PCWIN64, Created on: Wed May 10 14:49:19 2023 "
    "HDF5 schema 1.00 ."
)


def write_v73(path: Path, variables: dict[str, object]) -> Path:
    """A MATLAB v7.3 file: HDF5 with a 512-byte userblock holding MATLAB's header.

    ``variables`` maps names to numeric arrays (stored transposed, as MATLAB's
    column-major order appears in HDF5), ``str`` (a char array) or lists of
    arrays/str (a column cell array of object references into ``#refs#``).
    """
    import h5py

    def char(group: h5py.Group, name: str, text: str) -> h5py.Dataset:
        codes = np.array([ord(c) for c in text], dtype=np.uint16)[:, None]
        ds = group.create_dataset(name, data=codes)
        ds.attrs["MATLAB_class"] = np.bytes_("char")
        ds.attrs["MATLAB_int_decode"] = np.int32(2)
        return ds

    def numeric(group: h5py.Group, name: str, arr: np.ndarray) -> h5py.Dataset:
        arr = np.atleast_2d(np.asarray(arr))
        ds = group.create_dataset(name, data=arr.T)
        cls = {
            "f": "single" if arr.dtype == np.float32 else "double",
            "u": f"uint{arr.dtype.itemsize * 8}",
            "i": f"int{arr.dtype.itemsize * 8}",
        }
        ds.attrs["MATLAB_class"] = np.bytes_(cls[arr.dtype.kind])
        return ds

    with h5py.File(path, "w", userblock_size=512) as f:
        refs = f.create_group("#refs#")
        counter = iter(range(10**6))
        for name, value in variables.items():
            if isinstance(value, list):
                items = []
                for v in value:
                    key = f"r{next(counter)}"
                    items.append(
                        (char(refs, key, v) if isinstance(v, str) else numeric(refs, key, v)).ref
                    )
                ds = f.create_dataset(name, data=np.array([items], dtype=h5py.ref_dtype))
                ds.attrs["MATLAB_class"] = np.bytes_("cell")
            elif isinstance(value, str):
                char(f, name, value)
            else:
                numeric(f, name, np.asarray(value))
    header = MATLAB_73_HEADER_TEXT.encode("ascii").ljust(116, b" ")
    header += b"\x00" * 8 + b"\x00\x02" + b"IM"
    with open(path, "r+b") as fh:
        fh.write(header.ljust(512, b"\x00"))
    return path


def build_v73(tmp_path: Path) -> ConformanceCase:
    data, emg = columns(seed=31)
    desc = descriptions(muscle="Gastrocnemius Medialis", grid="GR08MM1305")
    path = write_v73(
        tmp_path / "gastrocnemius_v73.mat",
        {
            "Data": [data],
            "Description": desc,
            "SamplingFrequency": np.array([[float(FS)]]),
            "Time": [(T0 + np.arange(N) / FS)[:, None]],
            "OTBFile": "unknown",
        },
    )
    return ConformanceCase(
        path=path,
        format="otb-mat",
        fs=FS,
        labels=[f"GR08MM1305-{i + 1}" for i in range(64)],
        data_uv=emg,
        atol_uv=1e-3,
        file_unit="uV",
        grid_name="GR08MM1305",
        corrupt=truncate(0.5),
    )


CASES = [build_v5, build_v73]
