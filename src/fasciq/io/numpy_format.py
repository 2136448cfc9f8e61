"""NumPy ``.npy``/``.npz`` recordings with a JSON sidecar: reader and writer.

A NumPy array carries samples but no sampling rate, units or channel names,
so fasciq reads them from a sidecar ``<stem>.json`` next to the array::

    {
      "fs": 2048,                         # Hz, required
      "unit": "uV",                       # V, mV, uV or µV (default uV)
      "channels": ["ch1", "ch2", ...],    # one label per channel
      "grid": "GR08MM1305",               # catalogue name or ROWSxCOLS@IEDmm
      "positions_mm": [[0, 0], [8, 0]],   # (x, y) per channel, if no grid
      "annotations": [{"onset": 1.5, "duration": 0, "description": "cue"}],
      "metadata": {"subject": "P01", "muscle": "biceps", "side": "left"},
      "layout": "samples_by_channels"     # or "channels_by_samples"
    }

Only ``fs`` is required. A ``.npy`` file is memory-mapped (``mmap_mode="r"``):
nothing is read until samples are asked for. A ``.npz`` archive cannot be
memory-mapped (its members may be compressed), so the array named ``data``
(or the only array) is loaded into memory when the file is opened.

The sidecar functions here are shared with the CSV reader.
"""

from __future__ import annotations

import json
import os
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fasciq._atomic import atomic_path, write_text_atomic
from fasciq._logging import logger
from fasciq._version import __version__
from fasciq.errors import DataError, FasciqError, FormatError, GridError
from fasciq.grids.catalogue import get_grid
from fasciq.grids.grid import Grid
from fasciq.io._units import normalise_unit, to_microvolt_factor
from fasciq.recording import Annotations, Recording, RecordingMetadata
from fasciq.validate import check_output_free, check_positive, check_sampling_rate

PathArg = str | os.PathLike[str]

LAYOUTS = ("samples_by_channels", "channels_by_samples")

SIDECAR_EXAMPLE = (
    '{"fs": 2048, "unit": "uV", "channels": ["ch1", "ch2"], "grid": "8x8@4", '
    '"layout": "samples_by_channels"}'
)

_UNIT_SPELLING = {"v": "V", "mv": "mV", "uv": "uV", "nv": "nV"}


def canonical_unit(unit: str, source: PathArg | None = None) -> str:
    """The usual spelling (``V``, ``mV``, ``uV``, ``nV``) of a voltage unit.

    Raises
    ------
    FormatError
        If ``unit`` is not a voltage unit.
    """
    to_microvolt_factor(unit, source)
    key = normalise_unit(unit)
    long_names = {
        "volt": "v",
        "volts": "v",
        "millivolt": "mv",
        "millivolts": "mv",
        "microvolt": "uv",
        "microvolts": "uv",
        "nanovolt": "nv",
        "nanovolts": "nv",
    }
    return _UNIT_SPELLING[long_names.get(key, key)]


@dataclass(frozen=True)
class Sidecar:
    """What a JSON sidecar says about an array of samples.

    Parameters
    ----------
    path : Path
        The sidecar file.
    fs : float or None
        Sampling rate in Hz (``None`` only where another source may give it).
    unit : str or None
        Voltage unit of the stored values (canonical spelling).
    channels : list of str or None
        Channel labels.
    grid : Grid or None
        Electrode grid.
    positions_mm : ndarray or None
        ``(n_channels, 2)`` electrode positions.
    annotations : Annotations
        Time-stamped marks.
    metadata : RecordingMetadata
        Subject, session, muscle...
    layout : str
        ``"samples_by_channels"`` or ``"channels_by_samples"``.
    """

    path: Path
    fs: float | None = None
    unit: str | None = None
    channels: list[str] | None = None
    grid: Grid | None = None
    positions_mm: np.ndarray | None = None
    annotations: Annotations = field(default_factory=Annotations)
    metadata: RecordingMetadata = field(default_factory=RecordingMetadata)
    layout: str = "samples_by_channels"


def sidecar_path(path: PathArg) -> Path:
    """The sidecar ``<stem>.json`` beside ``path``."""
    return Path(path).with_suffix(".json")


def _bad(sidecar: Path, problem: str, fix: str) -> FormatError:
    return FormatError(problem, fix=fix, source=sidecar)


def read_sidecar(path: PathArg, *, require_fs: bool = True) -> Sidecar:
    """Read and validate a JSON sidecar.

    Parameters
    ----------
    path : path
        The ``.json`` file.
    require_fs : bool
        Raise if the sidecar gives no ``fs``.

    Raises
    ------
    FormatError
        If the file is not valid JSON or a key has a value of the wrong kind.
    """
    p = Path(path)
    try:
        raw = json.loads(p.read_text(encoding="utf-8"))
    except json.JSONDecodeError as exc:
        raise _bad(
            p,
            f"sidecar is not valid JSON ({exc.msg} at line {exc.lineno})",
            f"write a JSON object such as {SIDECAR_EXAMPLE}",
        ) from None
    if not isinstance(raw, dict):
        raise _bad(p, "sidecar must hold a JSON object", f"write e.g. {SIDECAR_EXAMPLE}")
    fs = raw.get("fs", raw.get("sampling_frequency"))
    if fs is None:
        if require_fs:
            raise _bad(p, "sidecar gives no sampling rate", 'add "fs": RATE_IN_HZ to the JSON')
    else:
        fs = check_sampling_rate(fs, p)
    unit = raw.get("unit")
    if unit is not None:
        if not isinstance(unit, str):
            raise _bad(p, f"unit must be a string, got {unit!r}", 'use "V", "mV" or "uV"')
        unit = canonical_unit(unit, p)
    channels = raw.get("channels")
    if channels is not None and (
        not isinstance(channels, list) or not all(isinstance(c, str | int) for c in channels)
    ):
        raise _bad(p, "channels must be a list of labels", 'write e.g. "channels": ["ch1", "ch2"]')
    grid = None
    if raw.get("grid") is not None:
        try:
            grid = get_grid(raw["grid"])
        except GridError as exc:
            raise GridError(exc.problem, fix=exc.fix, source=p) from None
    positions = raw.get("positions_mm")
    if positions is not None:
        try:
            positions = np.asarray(positions, dtype=np.float64)
        except (TypeError, ValueError):
            positions = np.zeros((0, 0))
        if positions.ndim != 2 or positions.shape[1] != 2:
            raise _bad(
                p,
                "positions_mm must be a list of [x, y] pairs in mm",
                'write e.g. "positions_mm": [[0, 0], [8, 0]]',
            )
    layout = raw.get("layout", "samples_by_channels")
    if layout not in LAYOUTS:
        raise _bad(p, f"unknown layout {layout!r}", f"use one of {', '.join(LAYOUTS)}")
    return Sidecar(
        path=p,
        fs=fs,
        unit=unit,
        channels=None if channels is None else [str(c) for c in channels],
        grid=grid,
        positions_mm=positions,
        annotations=_annotations(raw.get("annotations"), p),
        metadata=_metadata(raw.get("metadata"), p),
        layout=layout,
    )


def _annotations(items: Any, sidecar: Path) -> Annotations:
    if items is None:
        return Annotations()
    fix = 'write "annotations": [{"onset": SECONDS, "duration": SECONDS, "description": TEXT}]'
    if not isinstance(items, list):
        raise _bad(sidecar, "annotations must be a list", fix)
    rows = []
    for i, item in enumerate(items):
        if not isinstance(item, dict) or "onset" not in item:
            raise _bad(sidecar, f"annotation {i} has no onset", fix)
        try:
            onset = float(item["onset"])
            duration = float(item.get("duration", 0.0) or 0.0)
        except (TypeError, ValueError):
            raise _bad(
                sidecar, f"annotation {i} has a non-numeric onset or duration", fix
            ) from None
        rows.append((onset, duration, str(item.get("description", ""))))
    return Annotations.from_list(rows)


def _metadata(data: Any, sidecar: Path) -> RecordingMetadata:
    if data is None:
        return RecordingMetadata()
    if not isinstance(data, dict):
        raise _bad(
            sidecar,
            "metadata must be a JSON object",
            'write e.g. "metadata": {"subject": "P01", "muscle": "biceps"}',
        )
    return RecordingMetadata.from_dict(data)


def geometry_kwargs(sidecar: Sidecar, n_channels: int) -> dict[str, Any]:
    """``grid``/``positions_mm`` arguments for :class:`Recording`, checked against the count."""
    out: dict[str, Any] = {}
    if sidecar.positions_mm is not None:
        if sidecar.positions_mm.shape[0] != n_channels:
            raise DataError(
                f"positions_mm gives {sidecar.positions_mm.shape[0]} positions for "
                f"{n_channels} channels",
                fix="give one [x, y] position per channel",
                source=sidecar.path,
            )
        out["positions_mm"] = sidecar.positions_mm
    if sidecar.grid is not None:
        out["grid"] = sidecar.grid
    return out


def channel_labels(sidecar: Sidecar | None, n_channels: int, source: Path) -> list[str]:
    """Labels from the sidecar, or ``ch1..chN``; raises if the count is wrong."""
    if sidecar is None or sidecar.channels is None:
        return [f"ch{i + 1}" for i in range(n_channels)]
    if len(sidecar.channels) != n_channels:
        raise DataError(
            f"sidecar names {len(sidecar.channels)} channels but {source.name} holds {n_channels}",
            fix='give one label per channel in "channels" (or check "layout")',
            source=sidecar.path,
        )
    return sidecar.channels


class NumpyRecording(Recording):
    """A recording backed by a NumPy array (memory-mapped for ``.npy``).

    ``data`` is the array as stored; ``transposed`` says it is
    ``(n_channels, n_samples)``; ``factor`` converts stored values to µV.
    """

    def __init__(self, data: np.ndarray, *, transposed: bool, factor: float, **kwargs: Any) -> None:
        self._data = data
        self._transposed = transposed
        self._factor = float(factor)
        n_samples, n_channels = (data.shape[1], data.shape[0]) if transposed else data.shape
        self._n = n_channels
        super().__init__(n_samples=n_samples, **kwargs)

    def _read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        if self._transposed:
            block = self._data[channels, start:stop].T
        else:
            block = self._data[start:stop][:, channels]
        if self._factor == 1.0:
            return np.asarray(block, dtype=np.float32)
        return (np.asarray(block, dtype=np.float64) * self._factor).astype(np.float32)


def _missing_sidecar(path: Path, shape: tuple[int, ...]) -> FormatError:
    n_ch = shape[1] if len(shape) == 2 else 1
    labels = ", ".join(f'"ch{i + 1}"' for i in range(min(n_ch, 3)))
    return FormatError(
        f"no sidecar {sidecar_path(path).name} beside the array (the sampling rate is unknown)",
        fix=f'write {sidecar_path(path).name} containing {{"fs": RATE_IN_HZ, "unit": "uV", '
        f'"channels": [{labels}{", ..." if n_ch > 3 else ""}]}} (one label per column of the '
        f"{'x'.join(map(str, shape))} array)",
        source=path,
    )


def _load_array(path: Path) -> tuple[np.ndarray, str]:
    try:
        if path.suffix.lower() == ".npz" or _is_zip(path):
            with np.load(path, allow_pickle=False) as archive:
                names = list(archive.files)
                if "data" in names:
                    name = "data"
                elif len(names) == 1:
                    name = names[0]
                else:
                    raise FormatError(
                        f"the archive holds arrays {', '.join(names)} and none is named 'data'",
                        fix="save the samples as np.savez(path, data=samples)",
                        source=path,
                    )
                return np.asarray(archive[name]), "NumPy .npz"
        return np.load(path, mmap_mode="r", allow_pickle=False), "NumPy .npy"
    except FasciqError:
        raise
    except (ValueError, OSError, EOFError, zipfile.BadZipFile) as exc:
        raise FormatError(
            f"cannot read the NumPy array ({exc})",
            fix="check that the file is complete (it may be truncated) and was written with "
            "numpy.save or numpy.savez",
            source=path,
        ) from None


def _is_zip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(4) == b"PK\x03\x04"


def read_numpy(path: PathArg, *, fs: float | None = None, unit: str | None = None) -> Recording:
    """Open a ``.npy``/``.npz`` recording with its JSON sidecar.

    Parameters
    ----------
    path : path
        The ``.npy`` or ``.npz`` file; ``<stem>.json`` must lie beside it
        (see the module docstring for its keys).
    fs : float, optional
        Sampling rate in Hz, overriding the sidecar.
    unit : str, optional
        Unit of the stored values, overriding the sidecar (default ``uV``).

    Returns
    -------
    Recording
        Lazy for ``.npy`` (memory map); ``.npz`` is loaded into memory.

    Raises
    ------
    FormatError
        Missing or invalid sidecar, unreadable or truncated array, array not 2-D.
    """
    p = Path(path)
    data, format_name = _load_array(p)
    if data.ndim == 1:
        data = data[:, None]
    if data.ndim != 2:
        raise FormatError(
            f"the array has shape {data.shape}; fasciq needs 2-D samples x channels",
            fix="save a 2-D array of shape (n_samples, n_channels)",
            source=p,
        )
    if not (np.issubdtype(data.dtype, np.floating) or np.issubdtype(data.dtype, np.integer)):
        raise FormatError(
            f"the array has dtype {data.dtype}; samples must be numbers",
            fix="save the samples as float32 or float64 in µV",
            source=p,
        )
    side_file = sidecar_path(p)
    sidecar = None
    if side_file.is_file():
        sidecar = read_sidecar(side_file, require_fs=fs is None)
    elif fs is None:
        raise _missing_sidecar(p, data.shape)
    rate = check_sampling_rate(fs if fs is not None else sidecar.fs, p)  # type: ignore[union-attr]
    transposed = sidecar is not None and sidecar.layout == "channels_by_samples"
    n_channels = data.shape[0] if transposed else data.shape[1]
    file_unit = canonical_unit(unit, p) if unit else (sidecar.unit if sidecar else None) or "uV"
    labels = channel_labels(sidecar, n_channels, p)
    extra: dict[str, Any] = {}
    if sidecar is not None:
        extra = geometry_kwargs(sidecar, n_channels)
        extra["annotations"] = sidecar.annotations
        extra["metadata"] = sidecar.metadata
    logger.debug("%s: %s array %s (%s), %g Hz", p.name, format_name, data.shape, data.dtype, rate)
    return NumpyRecording(
        data,
        transposed=transposed,
        factor=to_microvolt_factor(file_unit, p),
        fs=rate,
        channel_labels=labels,
        source=p,
        format_name=format_name,
        file_unit=file_unit,
        **extra,
    )


def _grid_entry(recording: Recording) -> dict[str, Any]:
    grid = recording.grid
    if grid is not None:
        try:
            resolved = get_grid(grid.name)
        except GridError:
            resolved = None
        if (
            resolved is not None
            and np.array_equal(resolved.layout, grid.layout)
            and (resolved.ied_mm == grid.ied_mm)
        ):
            return {"grid": grid.name}
    if recording.positions_mm is not None:
        return {"positions_mm": np.asarray(recording.positions_mm).tolist()}
    return {}


def sidecar_dict(recording: Recording) -> dict[str, Any]:
    """The JSON sidecar describing ``recording`` written as float32 µV."""
    out: dict[str, Any] = {
        "fs": recording.fs,
        "unit": "uV",
        "channels": list(recording.channel_labels),
        "layout": "samples_by_channels",
    }
    out.update(_grid_entry(recording))
    out["annotations"] = recording.annotations.to_list()
    out["metadata"] = recording.metadata.to_dict()
    out["written_by"] = f"fasciq {__version__}"
    if recording.source is not None:
        out["converted_from"] = {
            "file": recording.source.name,
            "format": recording.format_name,
            "file_unit": recording.file_unit,
        }
    return out


def write_numpy(
    recording: Recording, path: PathArg, *, overwrite: bool = False, chunk_s: float = 10.0
) -> Path:
    """Write ``recording`` as float32 µV ``.npy`` (or ``.npz``) plus a JSON sidecar.

    ``.npy`` output is streamed ``chunk_s`` seconds at a time into a memory
    map of a temporary file, which is renamed onto ``path`` once complete;
    memory use does not grow with the recording's length. ``.npz`` output
    (array ``data``) is built in memory. Reading the result back with
    :func:`read_numpy` gives exactly the same float32 samples, labels,
    geometry, annotations and metadata.

    Parameters
    ----------
    recording : Recording
        What to write.
    path : path
        ``.npy`` or ``.npz`` target; the sidecar goes to ``<stem>.json``.
    overwrite : bool
        Replace existing files instead of raising
        :class:`~fasciq.errors.OutputExistsError`.
    chunk_s : float
        Seconds per streamed chunk.

    Returns
    -------
    Path
        The array file written.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in (".npy", ".npz"):
        raise FormatError(
            f"cannot write NumPy data to a {suffix or 'suffix-less'} file",
            fix="give a path ending in .npy or .npz",
            source=p,
        )
    chunk_s = check_positive(chunk_s, "chunk_s")
    side = sidecar_path(p)
    check_output_free(p, overwrite)
    check_output_free(side, overwrite)
    shape = (recording.n_samples, recording.n_channels)
    if suffix == ".npy":
        step = max(1, round(chunk_s * recording.fs))
        with atomic_path(p, overwrite) as tmp:
            out = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.float32, shape=shape)
            try:
                for a in range(0, recording.n_samples, step):
                    out[a : a + step] = recording.get_traces(a, a + step)
                out.flush()
            finally:
                del out
    else:
        with atomic_path(p, overwrite) as tmp, open(tmp, "wb") as f:
            np.savez(f, data=recording.get_traces())
    write_text_atomic(
        side, json.dumps(sidecar_dict(recording), indent=2, default=str) + "\n", overwrite=True
    )
    logger.info("Wrote %s (%d x %d float32 µV) and %s", p.name, *shape, side.name)
    return p


__all__ = ["Sidecar", "read_numpy", "read_sidecar", "sidecar_dict", "write_numpy"]
