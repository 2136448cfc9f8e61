"""Readers and writers for the EMG formats labs use.

One module per format and one dispatcher, :func:`read_recording`, which picks
the reader from the file's content (magic bytes) and, failing that, its
extension, and logs what it found. Readers are imported lazily so that
``import fasciq`` stays cheap.
"""

from __future__ import annotations

import importlib
import tarfile
from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

from fasciq._logging import logger
from fasciq.errors import FasciqError, FormatError
from fasciq.recording import Recording
from fasciq.validate import check_file_exists

PathArg = str | PathLike[str]


def _head(path: Path, n: int = 64) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(n)
    except IsADirectoryError:
        return b""


def _is_bids(path: Path) -> bool:
    name = path.name.lower()
    if not (name.endswith("_emg.edf") or name.endswith("_emg.bdf")):
        return False
    stem = path.name[: -len("_emg.edf")]
    return any((path.parent / f"{stem}{s}").exists() for s in ("_channels.tsv", "_emg.json"))


def _is_edf(path: Path) -> bool:
    head = _head(path, 8)
    return head == b"0       " or head == b"\xffBIOSEMI"


def _is_otb(path: Path) -> bool:
    return path.suffix.lower() in (".otb+", ".otb", ".otb4") or (
        path.is_file() and path.suffix.lower() not in (".npz", ".mat") and tarfile.is_tarfile(path)
    )


def _is_mat(path: Path) -> bool:
    return _head(path, 6) == b"MATLAB" or path.suffix.lower() == ".mat"


def _is_poly5(path: Path) -> bool:
    return _head(path, 16).startswith(b"POLY SAMPLE FILE") or path.suffix.lower() == ".poly5"


def _is_wfdb(path: Path) -> bool:
    suffix = path.suffix.lower()
    return suffix == ".hea" or (suffix == ".dat" and path.with_suffix(".hea").exists())


def _is_numpy(path: Path) -> bool:
    return _head(path, 6) == b"\x93NUMPY" or path.suffix.lower() in (".npy", ".npz")


def _is_csv(path: Path) -> bool:
    return path.suffix.lower() in (".csv", ".tsv", ".txt")


@dataclass(frozen=True)
class FormatSpec:
    """One readable format: how to recognise it and where its reader lives."""

    name: str
    description: str
    extensions: tuple[str, ...]
    sniff: Callable[[Path], bool]
    module: str
    function: str

    def reader(self) -> Callable[..., Recording]:
        """Import and return the reader function."""
        return getattr(importlib.import_module(self.module), self.function)


#: Formats in the order the dispatcher tries them (most specific first).
FORMATS: tuple[FormatSpec, ...] = (
    FormatSpec(
        "bids",
        "EMG-BIDS (EDF/BDF with sidecars)",
        ("_emg.edf", "_emg.bdf"),
        _is_bids,
        "fasciq.io.bids",
        "read_bids",
    ),
    FormatSpec(
        "edf",
        "EDF, EDF+, BDF, BDF+",
        (".edf", ".bdf", ".rec"),
        _is_edf,
        "fasciq.io.edf",
        "read_edf",
    ),
    FormatSpec("poly5", "TMSi Poly5", (".poly5",), _is_poly5, "fasciq.io.poly5", "read_poly5"),
    FormatSpec(
        "wfdb", "WFDB (PhysioNet .hea + .dat)", (".hea",), _is_wfdb, "fasciq.io.wfdb", "read_wfdb"
    ),
    FormatSpec(
        "numpy",
        "NumPy .npy/.npz with JSON sidecar",
        (".npy", ".npz"),
        _is_numpy,
        "fasciq.io.numpy_format",
        "read_numpy",
    ),
    FormatSpec(
        "otb",
        "OT Bioelettronica .otb+/.otb/.otb4",
        (".otb+", ".otb", ".otb4"),
        _is_otb,
        "fasciq.io.otb",
        "read_otb",
    ),
    FormatSpec(
        "otb-mat",
        "OTBioLab+ MATLAB export (.mat)",
        (".mat",),
        _is_mat,
        "fasciq.io.otb_mat",
        "read_otb_mat",
    ),
    FormatSpec(
        "csv",
        "CSV/TSV text (one column per channel)",
        (".csv", ".tsv", ".txt"),
        _is_csv,
        "fasciq.io.csv_format",
        "read_csv",
    ),
)


def format_names() -> list[str]:
    """Names accepted by ``read_recording(..., format=NAME)``."""
    return [f.name for f in FORMATS]


def detect_format(path: PathArg) -> FormatSpec:
    """The :class:`FormatSpec` that reads ``path``.

    Raises
    ------
    FormatError
        If no reader recognises the file.
    """
    p = check_file_exists(path)
    for spec in FORMATS:
        if spec.sniff(p):
            return spec
    known = ", ".join(sorted({e for f in FORMATS for e in f.extensions}))
    raise FormatError(
        "unknown recording format",
        fix=f"fasciq reads {known}; convert the file or pass format=NAME "
        f"({', '.join(format_names())})",
        source=p,
    )


def read_recording(
    path: PathArg,
    *,
    grid: Any = None,
    format: str | None = None,
    **kwargs: Any,
) -> Recording:
    """Open a recording of any supported format, lazily.

    Parameters
    ----------
    path : path
        The file (for WFDB the ``.hea`` header, for EMG-BIDS the
        ``*_emg.edf|bdf`` file).
    grid : str or Grid, optional
        Catalogue name or ``ROWSxCOLS@IEDmm`` spec; overrides geometry found
        in the file. A grid whose size differs from the channel count is an
        error.
    format : str, optional
        Force a reader (see :func:`format_names`) instead of sniffing.
    **kwargs
        Passed to the format's reader.

    Returns
    -------
    Recording
        Nothing is loaded until :meth:`Recording.get_traces` is called.
    """
    p = check_file_exists(path)
    if format is not None:
        matches = [f for f in FORMATS if f.name == format.lower()]
        if not matches:
            raise FormatError(
                f"unknown format name {format!r}",
                fix=f"use one of {', '.join(format_names())}",
                source=p,
            )
        spec = matches[0]
    else:
        spec = detect_format(p)
    try:
        recording = spec.reader()(p, **kwargs)
    except FasciqError:
        raise
    except (OSError, ValueError, EOFError, KeyError, IndexError, tarfile.TarError) as exc:
        raise FormatError(
            f"cannot read as {spec.description}: {exc}",
            fix="check that the file is complete and of the format its name says",
            source=p,
        ) from exc
    if grid is not None:
        recording = recording.with_grid(grid)
    logger.info(
        "Read %s as %s: %d channels at %g Hz, %.1f s, grid %s",
        p.name,
        recording.format_name,
        recording.n_channels,
        recording.fs,
        recording.duration_s,
        recording.grid.name if recording.grid is not None else "none",
    )
    return recording


def write_recording(recording: Recording, path: PathArg, **kwargs: Any) -> Path:
    """Write ``recording`` in the format given by the extension of ``path``.

    ``.edf``/``.bdf`` write EDF+/BDF+ with annotations; ``.npy``/``.npz``
    write NumPy with a JSON sidecar.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix in (".edf", ".bdf"):
        from fasciq.io.edf_writer import write_edf

        return write_edf(recording, p, **kwargs)
    if suffix in (".npy", ".npz"):
        from fasciq.io.numpy_format import write_numpy

        return write_numpy(recording, p, **kwargs)
    raise FormatError(
        f"cannot write {suffix or 'files without extension'}",
        fix="write .edf, .bdf, .npy or .npz",
        source=p,
    )


__all__ = [
    "FORMATS",
    "FormatSpec",
    "detect_format",
    "format_names",
    "read_recording",
    "write_recording",
]
