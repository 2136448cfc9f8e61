"""The MATLAB export of OT Bioelettronica's OTBioLab+ (``File > Export > .mat``).

Layout (checked on a real export, ``vastus_lateralis_GR08MM1305.mat`` in the
project's shared data, and on openhdemg's importer of the same files):

``Data``
    A 1x1 cell (or a plain matrix) holding ``samples x columns`` values.
``Description``
    A ``columns x 1`` cell of strings, one per column, such as
    ``"Vastus Lateralis - AUX 3 (Channel 1->1) - GR08MM1305 (12)[uV]"``:
    muscle, input, grid and the 1-based electrode number, then the unit in
    brackets. Decomposition outputs (``"... Decomposition of ...[a.u]"``,
    ``"Source for decomposition ..."``) and the force reference
    (``"acquired data[ %(MVC)]"``) share the matrix.
``SamplingFrequency``, ``Time``
    Scalar rate in Hz and the time axis in seconds (a cell like ``Data``);
    the time axis need not start at 0.

EMG columns are those whose unit is a voltage and whose description is not a
decomposition output; everything else is listed in
``metadata.extra["aux_channels"]``. A column without a unit is taken as EMG in
µV (what OTBioLab+ exports) when it names a catalogue grid. The real export
is quantised in steps of 0.50863 µV = 5 V / 2**16 / 150 * 1e6, a
Quattrocento at gain 150, which confirms the µV unit.

MATLAB v5 files are read with :func:`scipy.io.loadmat`, which cannot
memory-map, so their EMG columns are loaded once (as float32) when the file
is opened. MATLAB v7.3 files are HDF5 and are read lazily through
:mod:`h5py` (the optional ``fasciq[hdf5]`` extra).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from fasciq._logging import logger
from fasciq.errors import FormatError
from fasciq.grids.catalogue import find_catalogue_grid
from fasciq.grids.grid import Grid
from fasciq.io._units import is_voltage_unit, to_microvolt_factor
from fasciq.recording import Recording, RecordingMetadata

_UNIT = re.compile(r"\[\s*(?P<unit>[^\]]*?)\s*\]\s*$")
_NUMBER = re.compile(r"\((?P<n>\d+)\)\s*(?:\[[^\]]*\])?\s*$")
_NOT_EMG = (
    "decomposition",
    "source for",
    "discharge",
    "acquired data",
    "force",
    "mvc",
    "path",
    "torque",
)
_FIX = "export the recording again from OTBioLab+ (File > Export > MATLAB)"


@dataclass(frozen=True)
class ColumnInfo:
    """What a ``Description`` entry says about one column."""

    text: str
    unit: str | None
    number: int | None
    grid: Grid | None
    muscle: str | None

    @property
    def is_emg(self) -> bool:
        """True for a voltage column that is not a processing output."""
        low = self.text.lower()
        if any(w in low for w in _NOT_EMG):
            return False
        if self.unit is None:
            return self.grid is not None
        return is_voltage_unit(self.unit)

    def label(self) -> str:
        """``GRID-N`` when the grid and electrode number are named, else the text."""
        if self.grid is not None and self.number is not None:
            return f"{self.grid.name}-{self.number}"
        return _UNIT.sub("", self.text).strip() or "channel"


def parse_description(text: str) -> ColumnInfo:
    """Split an OTBioLab+ column description into unit, electrode number, grid and muscle."""
    text = str(text).strip()
    m = _UNIT.search(text)
    unit = m.group("unit").strip() if m else None
    n = _NUMBER.search(text)
    grid = find_catalogue_grid(text)
    parts = [p.strip() for p in text.split(" - ")]
    muscle = parts[0] if len(parts) >= 3 and parts[0] and not parts[0][0].isdigit() else None
    return ColumnInfo(text, unit or None, int(n.group("n")) if n else None, grid, muscle)


# -- file access ---------------------------------------------------------------------------


def _is_hdf5_mat(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(520)
    return head[:19] == b"MATLAB 7.3 MAT-file" or head[512:520] == b"\x89HDF\r\n\x1a\n"


def _text_of(item: Any) -> str:
    arr = np.asarray(item)
    while arr.dtype == object and arr.size == 1:
        arr = np.asarray(arr.reshape(-1)[0])
    if arr.dtype.kind in "US":
        return "".join(str(s) for s in arr.reshape(-1))
    if arr.dtype == object:
        return " ".join(_text_of(x) for x in arr.reshape(-1))
    return str(arr.reshape(-1)[0]) if arr.size else ""


def _unwrap_cell(value: Any, what: str, path: Path) -> list[np.ndarray]:
    arr = np.asarray(value)
    if arr.dtype != object:
        return [arr]
    blocks = [np.asarray(b) for b in arr.reshape(-1) if np.asarray(b).size]
    if not blocks:
        raise FormatError(f"the variable {what} is empty", fix=_FIX, source=path)
    return blocks


def _load_v5(path: Path) -> dict[str, Any]:
    from scipy.io import loadmat

    try:
        return loadmat(path, variable_names=("Data", "Description", "SamplingFrequency", "Time"))
    except (ValueError, TypeError, OSError, EOFError) as exc:
        raise FormatError(
            f"not a readable MATLAB file ({exc})",
            fix="check that the file was copied completely; " + _FIX,
            source=path,
        ) from None


def _h5py() -> Any:
    try:
        import h5py
    except ImportError:
        raise FormatError(
            "this is a MATLAB v7.3 (HDF5) file, which needs the optional h5py package",
            fix="pip install 'fasciq[hdf5]' (or h5py), or export the file as MATLAB v7 (save -v7)",
            source="h5py",
        ) from None
    return h5py


def _h5_deref(f: Any, obj: Any) -> Any:
    """Follow MATLAB cell references to the dataset that holds the values."""
    h5py = _h5py()
    while isinstance(obj, h5py.Dataset) and obj.dtype == h5py.ref_dtype:
        refs = [r for r in obj[()].reshape(-1) if r]
        if len(refs) != 1:
            return [f[r] for r in refs]
        obj = f[refs[0]]
    return obj


def _h5_text(f: Any, obj: Any) -> list[str]:
    h5py = _h5py()
    if isinstance(obj, h5py.Dataset) and obj.dtype == h5py.ref_dtype:
        return ["".join(_h5_text(f, f[r])) for r in obj[()].reshape(-1, order="F") if r]
    data = np.asarray(obj[()])
    if data.dtype.kind in "ui":
        return ["".join(chr(int(c)) for c in data.reshape(-1, order="F") if c)]
    return [_text_of(data)]


# -- the recording ---------------------------------------------------------------------------


class OTBMatRecording(Recording):
    """EMG columns of an OTBioLab+ MATLAB export.

    v5 files hold the EMG columns in memory; v7.3 files read an HDF5 dataset
    lazily. Built by :func:`read_otb_mat`.
    """

    def __init__(
        self,
        path: Path,
        *,
        fs: float,
        n_samples: int,
        labels: Sequence[str],
        scale_uv: np.ndarray,
        grid: Grid | None,
        metadata: RecordingMetadata,
        file_unit: str,
        format_name: str,
        data: np.ndarray | None = None,
        h5_columns: np.ndarray | None = None,
        h5_ref: Any = None,
    ) -> None:
        super().__init__(
            fs=fs,
            n_samples=n_samples,
            channel_labels=labels,
            grid=grid,
            metadata=metadata,
            source=path,
            format_name=format_name,
            file_unit=file_unit,
        )
        self._path = path
        self._scale = np.asarray(scale_uv, dtype=np.float64)
        self._data = data
        self._h5_columns = h5_columns
        self._h5_ref = h5_ref

    def _read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        if self._data is not None:
            return self._data[start:stop, channels]
        h5py = _h5py()
        cols = self._h5_columns[channels]
        lo, hi = int(cols.min()), int(cols.max()) + 1
        with h5py.File(self._path, "r") as f:
            ds = f[self._h5_ref]
            # MATLAB stores samples x columns column-major: HDF5 shape (columns, samples)
            block = np.asarray(ds[lo:hi, start:stop])
        return (block[cols - lo].T * self._scale[channels]).astype(np.float32)


def _columns(descriptions: list[str], n_columns: int, path: Path) -> list[ColumnInfo]:
    if len(descriptions) != n_columns:
        raise FormatError(
            f"Description has {len(descriptions)} entries but Data has {n_columns} columns",
            fix=_FIX,
            source=path,
        )
    return [parse_description(d) for d in descriptions]


def _select(infos: list[ColumnInfo], path: Path) -> tuple[np.ndarray, list[str]]:
    emg = [i for i, c in enumerate(infos) if c.is_emg]
    aux = [infos[i].text for i in range(len(infos)) if i not in set(emg)]
    if not emg:
        raise FormatError(
            "no column of Data is EMG (no Description names a voltage unit or a grid)",
            fix="export the raw EMG tracks, not only processed ones, from OTBioLab+",
            source=path,
        )
    numbers = [infos[i].number for i in emg]
    if None not in numbers and sorted(numbers) == list(range(1, len(emg) + 1)):
        emg = [i for _, i in sorted(zip(numbers, emg, strict=True))]
    if aux:
        logger.info("%s: skipped %d non-EMG column(s): %s", path.name, len(aux), "; ".join(aux))
    return np.asarray(emg, dtype=np.int64), aux


def _grid(infos: list[ColumnInfo], emg: np.ndarray, path: Path) -> Grid | None:
    names = {infos[i].grid.name if infos[i].grid is not None else None for i in emg}
    if len(names) != 1 or None in names:
        logger.info(
            "%s: EMG columns name %s; no single grid applied",
            path.name,
            sorted(str(n) for n in names),
        )
        return None
    grid = infos[int(emg[0])].grid
    if grid is None or grid.n_channels != len(emg):
        logger.info(
            "%s: grid %s does not cover the %d EMG columns; geometry not applied",
            path.name,
            None if grid is None else grid.name,
            len(emg),
        )
        return None
    return grid


def _scales(infos: list[ColumnInfo], emg: np.ndarray, path: Path) -> tuple[np.ndarray, str]:
    units = [infos[i].unit or "uV" for i in emg]
    factors = np.array([to_microvolt_factor(u, path) for u in units])
    return factors, units[0] if len(set(units)) == 1 else "mixed"


def _metadata(
    infos: list[ColumnInfo], emg: np.ndarray, aux: list[str], time_offset: float | None
) -> RecordingMetadata:
    muscles = {infos[i].muscle for i in emg if infos[i].muscle}
    extra: dict[str, Any] = {"aux_channels": aux}
    if time_offset is not None:
        extra["time_offset_s"] = time_offset
    return RecordingMetadata(muscle=muscles.pop() if len(muscles) == 1 else None, extra=extra)


def _fs(fs_value: Any, time: np.ndarray | None, path: Path) -> float:
    if fs_value is not None and np.asarray(fs_value).size:
        return float(np.asarray(fs_value, dtype=np.float64).reshape(-1)[0])
    if time is not None and time.size > 1:
        return float(1.0 / np.median(np.diff(time)))
    raise FormatError("the file gives no SamplingFrequency and no Time axis", fix=_FIX, source=path)


def _read_v5(path: Path) -> OTBMatRecording:
    mat = _load_v5(path)
    if "Data" not in mat or "Description" not in mat:
        raise FormatError(
            "not an OTBioLab+ export: the variables Data and Description are missing "
            f"(found {', '.join(k for k in mat if not k.startswith('__')) or 'none'})",
            fix="export from OTBioLab+, or convert the file to a supported format",
            source=path,
        )
    blocks = _unwrap_cell(mat["Data"], "Data", path)
    lengths = {b.shape[0] for b in blocks}
    if len(lengths) != 1 or any(b.ndim != 2 for b in blocks):
        raise FormatError(
            "Data holds several blocks of different lengths",
            fix="export one acquisition (one sampling rate) per file from OTBioLab+",
            source=path,
        )
    data = blocks[0] if len(blocks) == 1 else np.hstack(blocks)
    descriptions = [_text_of(d) for d in np.asarray(mat["Description"], dtype=object).reshape(-1)]
    infos = _columns(descriptions, data.shape[1], path)
    emg, aux = _select(infos, path)
    time = None
    if "Time" in mat:
        time = np.asarray(_unwrap_cell(mat["Time"], "Time", path)[0], dtype=np.float64)
        time = time.reshape(-1)
    fs = _fs(mat.get("SamplingFrequency"), time, path)
    factors, unit = _scales(infos, emg, path)
    values = np.asarray(data[:, emg], dtype=np.float64) * factors
    if not np.all(np.isfinite(values)):
        logger.warning("%s: EMG columns hold NaN or infinite values", path.name)
    return OTBMatRecording(
        path,
        fs=fs,
        n_samples=data.shape[0],
        labels=[infos[i].label() for i in emg],
        scale_uv=factors,
        grid=_grid(infos, emg, path),
        metadata=_metadata(
            infos, emg, aux, None if time is None or not time.size else float(time[0])
        ),
        file_unit=unit,
        format_name="OTBioLab+ MAT v5",
        data=values.astype(np.float32),
    )


def _read_v73(path: Path) -> OTBMatRecording:
    h5py = _h5py()
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise FormatError(
            f"not a readable MATLAB v7.3 (HDF5) file ({exc})",
            fix="check that the file was copied completely; " + _FIX,
            source=path,
        ) from None
    with f:
        if "Data" not in f or "Description" not in f:
            raise FormatError(
                "not an OTBioLab+ export: the variables Data and Description are missing",
                fix="export from OTBioLab+, or convert the file to a supported format",
                source=path,
            )
        ds = _h5_deref(f, f["Data"])
        if isinstance(ds, list):
            raise FormatError(
                "Data holds several blocks", fix="export one acquisition per file", source=path
            )
        if ds.ndim != 2:
            raise FormatError(f"Data has {ds.ndim} dimensions, expected 2", fix=_FIX, source=path)
        n_columns, n_samples = ds.shape
        ref = ds.name
        descriptions = _h5_text(f, f["Description"])
        time = None
        if "Time" in f:
            t = _h5_deref(f, f["Time"])
            if not isinstance(t, list) and t.size:
                time = np.asarray(t[()], dtype=np.float64).reshape(-1)
        fs_value = np.asarray(f["SamplingFrequency"][()]) if "SamplingFrequency" in f else None
    infos = _columns(descriptions, n_columns, path)
    emg, aux = _select(infos, path)
    fs = _fs(fs_value, time, path)
    factors, unit = _scales(infos, emg, path)
    return OTBMatRecording(
        path,
        fs=fs,
        n_samples=n_samples,
        labels=[infos[i].label() for i in emg],
        scale_uv=factors,
        grid=_grid(infos, emg, path),
        metadata=_metadata(infos, emg, aux, None if time is None else float(time[0])),
        file_unit=unit,
        format_name="OTBioLab+ MAT v7.3",
        h5_columns=emg,
        h5_ref=ref,
    )


def read_otb_mat(path: str | PathLike[str], **kwargs: Any) -> OTBMatRecording:
    """Open an OTBioLab+ MATLAB export (v5 or v7.3).

    Parameters
    ----------
    path : path
        The ``.mat`` file.
    **kwargs
        Ignored (accepted for a uniform reader signature).

    Returns
    -------
    OTBMatRecording
        The EMG columns in µV, ordered by electrode number when every EMG
        column names one; the grid named in the descriptions when it covers
        exactly those columns; the first value of ``Time`` in
        ``metadata.extra["time_offset_s"]``.

    Raises
    ------
    FormatError
        Not a MATLAB file, no ``Data``/``Description``, descriptions that do
        not match the columns, no EMG column, or v7.3 without h5py.
    """
    p = Path(path)
    if kwargs:
        logger.debug("read_otb_mat ignores %s", ", ".join(kwargs))
    if _is_hdf5_mat(p):
        return _read_v73(p)
    return _read_v5(p)


__all__ = ["ColumnInfo", "OTBMatRecording", "parse_description", "read_otb_mat"]
