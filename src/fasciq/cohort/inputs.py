"""Find the recordings of a study and the metadata that goes with each.

Four kinds of input are understood:

* an **EMG-BIDS root** (a folder holding ``sub-*`` folders): every
  ``sub-*/[ses-*/]emg/*_emg.edf|bdf``, with the participant columns of
  ``participants.tsv`` and the session columns of
  ``sub-*/sub-*_sessions.tsv`` attached;
* a **folder** of recordings (searched recursively for readable files);
* a **glob** pattern (``"data/**/*.bdf"``);
* a **CSV/TSV listing** with a ``path`` column (relative to the listing)
  and any metadata columns (``subject``, ``session``, ``muscle``, ``group``,
  covariates...).

Each recording becomes a :class:`RecordingEntry`: its path, a unique
``recording_id`` (the file stem, made unique with its sub-folder when
needed) and a flat dictionary of metadata.
"""

from __future__ import annotations

import contextlib
import glob as _glob
import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pandas as pd

from fasciq._logging import logger
from fasciq.errors import FormatError, ParameterError

#: Extensions tried when a plain folder is searched for recordings.
RECORDING_EXTENSIONS = (
    ".edf",
    ".bdf",
    ".otb+",
    ".otb4",
    ".poly5",
    ".hea",
    ".npy",
    ".npz",
    ".mat",
)

#: BIDS filename entities, in the order they appear in a file name.
_ENTITY = re.compile(r"(?:^|_)([a-zA-Z0-9]+)-([a-zA-Z0-9]+)")

#: Sidecar keys that may name the recorded muscle.
_MUSCLE_KEYS = ("TargetMuscle", "EMGTargetMuscle", "Muscle", "muscle", "target_muscle")


@dataclass(frozen=True)
class RecordingEntry:
    """One recording of a study.

    Parameters
    ----------
    path : Path
        The recording file.
    recording_id : str
        Unique, file-system-safe identifier within the study.
    subject, session, muscle : str or None
        Identifiers (BIDS labels without the ``sub-``/``ses-`` prefix).
    metadata : dict
        Further columns (group, visit date, covariates, exposures...).
    """

    path: Path
    recording_id: str
    subject: str | None = None
    session: str | None = None
    muscle: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def row(self) -> dict[str, Any]:
        """Flat dictionary: ids first, then metadata (ids win on clashes)."""
        out = {
            k: v
            for k, v in self.metadata.items()
            if k not in ("recording_id", "subject", "session", "muscle", "path")
        }
        return {
            "recording_id": self.recording_id,
            "subject": self.subject,
            "session": self.session,
            "muscle": self.muscle,
            "path": str(self.path),
            **out,
        }


def bids_entities(name: str) -> dict[str, str]:
    """The ``key-value`` entities of a BIDS file name (``sub``, ``ses``, ``acq``...)."""
    stem = name.split(".")[0]
    return {k: v for k, v in _ENTITY.findall(stem)}


def _read_tsv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(
            path, sep="\t", dtype=str, keep_default_na=False, na_values=["n/a", "N/A", "NA", ""]
        )
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise FormatError(
            f"cannot read the table: {exc}",
            fix="write a tab-separated table with a header row",
            source=path,
        ) from exc


def _clean(value: Any) -> Any:
    """Numbers as numbers, missing values as None, text as text."""
    if value is None or (isinstance(value, float) and value != value):
        return None
    if isinstance(value, str):
        text = value.strip()
        if text == "" or text.lower() in ("n/a", "na", "nan"):
            return None
        try:
            number = float(text)
        except ValueError:
            return text
        return int(number) if number.is_integer() and re.fullmatch(r"[-+]?\d+", text) else number
    return value


def _strip(label: Any, prefix: str) -> str | None:
    if label is None:
        return None
    text = str(label)
    return text[len(prefix) :] if text.startswith(prefix) else text


def _muscle_from_sidecars(path: Path, entities: dict[str, str]) -> str | None:
    stem = path.name.rsplit("_emg.", 1)[0]
    sidecar = path.parent / f"{stem}_emg.json"
    if sidecar.is_file():
        try:
            data = json.loads(sidecar.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            data = {}
        for key in _MUSCLE_KEYS:
            if isinstance(data, dict) and data.get(key):
                return str(data[key])
    channels = path.parent / f"{stem}_channels.tsv"
    if channels.is_file():
        with contextlib.suppress(FormatError):
            table = _read_tsv(channels)
            if "target_muscle" in table.columns:
                if "type" in table.columns:
                    table = table[table["type"].astype(str).str.upper() == "EMG"]
                muscles = sorted(table["target_muscle"].dropna().astype(str).unique())
                if muscles:
                    return ", ".join(muscles)
    return entities.get("acq") or entities.get("recording")


def is_bids_root(path: Path) -> bool:
    """True for a folder holding ``sub-*`` folders or a ``dataset_description.json``."""
    return path.is_dir() and (
        any(p.is_dir() for p in path.glob("sub-*"))
        or ((path / "dataset_description.json").is_file() and (path / "participants.tsv").exists())
    )


def discover_bids(root: str | os.PathLike[str]) -> list[RecordingEntry]:
    """Every EMG recording of an EMG-BIDS dataset, with participant and session metadata.

    Parameters
    ----------
    root : path
        The dataset root (holding ``participants.tsv`` and ``sub-*``).

    Returns
    -------
    list of RecordingEntry
        Sorted by subject, session and file name.
    """
    root = Path(root)
    participants: dict[str, dict[str, Any]] = {}
    ptsv = root / "participants.tsv"
    if ptsv.is_file():
        table = _read_tsv(ptsv)
        if "participant_id" not in table.columns:
            raise FormatError(
                "participants.tsv has no participant_id column",
                fix="add a participant_id column (sub-XX labels)",
                source=ptsv,
            )
        for rec in table.to_dict(orient="records"):
            sub = _strip(rec.pop("participant_id"), "sub-")
            participants[str(sub)] = {k: _clean(v) for k, v in rec.items()}
    files = sorted(
        p
        for pattern in ("sub-*/emg/*_emg.*", "sub-*/ses-*/emg/*_emg.*")
        for p in root.glob(pattern)
        if p.suffix.lower() in (".edf", ".bdf")
    )
    sessions: dict[str, dict[str, dict[str, Any]]] = {}
    entries: list[RecordingEntry] = []
    for path in files:
        ent = bids_entities(path.name)
        sub = ent.get("sub")
        ses = ent.get("ses")
        if sub not in sessions:
            sessions[str(sub)] = {}
            stsv = root / f"sub-{sub}" / f"sub-{sub}_sessions.tsv"
            if stsv.is_file():
                table = _read_tsv(stsv)
                if "session_id" not in table.columns:
                    raise FormatError(
                        "sessions table has no session_id column",
                        fix="add a session_id column (ses-XX labels)",
                        source=stsv,
                    )
                for rec in table.to_dict(orient="records"):
                    sid = _strip(rec.pop("session_id"), "ses-")
                    sessions[str(sub)][str(sid)] = {k: _clean(v) for k, v in rec.items()}
        meta: dict[str, Any] = {}
        meta.update(participants.get(str(sub), {}))
        if ses is not None:
            meta.update(sessions[str(sub)].get(ses, {}))
        for key in ("task", "acq", "run", "recording"):
            if key in ent:
                meta[key] = ent[key]
        entries.append(
            RecordingEntry(
                path=path,
                recording_id=path.name.rsplit("_emg.", 1)[0],
                subject=sub,
                session=ses,
                muscle=_muscle_from_sidecars(path, ent),
                metadata=meta,
            )
        )
    if not entries:
        raise FormatError(
            "no EMG recordings found in this BIDS dataset",
            fix="put recordings at sub-XX/[ses-YY/]emg/sub-XX_..._emg.edf (or .bdf)",
            source=root,
        )
    logger.info(
        "found %d recordings of %d participants in %s",
        len(entries),
        len({e.subject for e in entries}),
        root,
    )
    return entries


def _unique_ids(paths: list[Path], base: Path | None) -> list[str]:
    """File stems, prefixed with their folder path where stems repeat."""
    stems = [p.name.split(".")[0] for p in paths]
    seen: dict[str, int] = {}
    for s in stems:
        seen[s] = seen.get(s, 0) + 1
    ids = []
    for p, s in zip(paths, stems, strict=True):
        if seen[s] > 1:
            rel = (
                p.parent.relative_to(base)
                if base is not None and p.is_relative_to(base)
                else p.parent
            )
            prefix = "-".join(part for part in rel.parts if part not in ("/", ""))
            s = f"{prefix}-{s}" if prefix else s
        ids.append(re.sub(r"[^A-Za-z0-9_.+-]", "-", s))
    if len(set(ids)) != len(ids):
        dup = sorted({i for i in ids if ids.count(i) > 1})
        raise ParameterError(
            f"recordings share the identifier(s) {', '.join(dup[:5])}",
            fix="give the files distinct names",
            source=str(base or "input"),
        )
    return ids


def _from_paths(paths: list[Path], base: Path | None) -> list[RecordingEntry]:
    entries = []
    for path, rid in zip(paths, _unique_ids(paths, base), strict=True):
        ent = bids_entities(path.name)
        entries.append(
            RecordingEntry(
                path=path,
                recording_id=rid,
                subject=ent.get("sub"),
                session=ent.get("ses"),
                muscle=ent.get("acq") or ent.get("recording"),
            )
        )
    return entries


def discover_folder(folder: str | os.PathLike[str]) -> list[RecordingEntry]:
    """Every recording file under ``folder`` (recursively), by extension."""
    base = Path(folder)
    paths = sorted(
        p
        for p in base.rglob("*")
        if p.is_file()
        and p.suffix.lower() in RECORDING_EXTENSIONS
        and not any(part.startswith(".") for part in p.relative_to(base).parts)
    )
    if not paths:
        raise FormatError(
            "no recordings found in this folder",
            fix=f"put files ending in {', '.join(RECORDING_EXTENSIONS)} there, "
            "or give a glob or a CSV listing",
            source=base,
        )
    return _from_paths(paths, base)


def discover_listing(listing: str | os.PathLike[str]) -> list[RecordingEntry]:
    """Recordings named in a CSV/TSV table with a ``path`` column and metadata columns."""
    path = Path(listing)
    sep = "\t" if path.suffix.lower() == ".tsv" else ","
    try:
        table = pd.read_csv(path, sep=sep, dtype=str, keep_default_na=False)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise FormatError(
            f"cannot read the listing: {exc}",
            fix="write a CSV with a header row and a path column",
            source=path,
        ) from exc
    if "path" not in table.columns:
        raise FormatError(
            "the listing has no path column",
            fix="add a column named path with one recording file per row",
            source=path,
        )
    paths = []
    for i, text in enumerate(table["path"]):
        p = Path(text)
        p = p if p.is_absolute() else (path.parent / p)
        if not p.is_file():
            raise FormatError(
                f"row {i + 2}: recording {text!r} does not exist",
                fix="correct the path (relative paths start at the listing's folder)",
                source=path,
            )
        paths.append(p)
    if not paths:
        raise FormatError("the listing names no recordings", fix="add rows", source=path)
    ids = (
        list(table["recording_id"])
        if "recording_id" in table.columns
        else _unique_ids(paths, path.parent)
    )
    if len(set(ids)) != len(ids):
        raise FormatError("recording_id values repeat", fix="make them unique", source=path)
    entries = []
    for p, rid, rec in zip(paths, ids, table.to_dict(orient="records"), strict=True):
        meta = {k: _clean(v) for k, v in rec.items() if k not in ("path", "recording_id")}
        ent = bids_entities(p.name)
        subject = meta.pop("subject", None) or ent.get("sub")
        session = meta.pop("session", None) or ent.get("ses")
        muscle = meta.pop("muscle", None) or ent.get("acq")
        entries.append(
            RecordingEntry(
                path=p,
                recording_id=str(rid),
                subject=None if subject is None else str(subject),
                session=None if session is None else str(session),
                muscle=None if muscle is None else str(muscle),
                metadata=meta,
            )
        )
    return entries


def discover(source: str | os.PathLike[str]) -> list[RecordingEntry]:
    """The recordings of a study, from a BIDS root, folder, glob or listing.

    Parameters
    ----------
    source : path or str
        EMG-BIDS root, folder, glob pattern, or CSV/TSV listing.

    Returns
    -------
    list of RecordingEntry

    Raises
    ------
    FormatError
        If nothing is found or a metadata table is malformed.
    """
    text = str(source)
    path = Path(text)
    if path.is_dir():
        return discover_bids(path) if is_bids_root(path) else discover_folder(path)
    if path.is_file() and path.suffix.lower() in (".csv", ".tsv"):
        return discover_listing(path)
    if path.is_file():
        return _from_paths([path], path.parent)
    if any(c in text for c in "*?["):
        paths = sorted(Path(p) for p in _glob.glob(text, recursive=True) if Path(p).is_file())
        if not paths:
            raise FormatError(
                "the pattern matches no files",
                fix="check the pattern (quote it so the shell does not expand it)",
                source=text,
            )
        return _from_paths(paths, Path(os.path.commonpath([str(p.parent) for p in paths])))
    raise FormatError(
        "input does not exist",
        fix="give an EMG-BIDS root, a folder, a glob or a CSV listing",
        source=text,
    )


__all__ = [
    "RecordingEntry",
    "bids_entities",
    "discover",
    "discover_bids",
    "discover_folder",
    "discover_listing",
    "is_bids_root",
]
