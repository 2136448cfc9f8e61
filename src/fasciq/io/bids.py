"""Reader for EMG-BIDS recordings (BIDS 1.11 electromyography).

An EMG-BIDS recording is an EDF(+)/BDF(+) file ``sub-<label>[_ses-<label>]
_task-<label>[_acq-<label>][_run-<index>]_emg.<edf|bdf>`` with sidecars:

* ``_channels.tsv`` (``name``, ``type``, ``units``, optional ``status``,
  ``signal_electrode``, ``reference``, ``group``, ``target_muscle``...):
  only ``type`` EMG channels are kept; its ``units`` take precedence over the
  data file's header; ``status`` "bad" channels are read but listed in
  ``metadata.extra["bad_channels"]``;
* ``_emg.json`` (``SamplingFrequency``, ``EMGReference``,
  ``PowerLineFrequency``...), kept in ``metadata.extra["bids_sidecar"]``;
* ``_electrodes.tsv`` (``name``, ``x``, ``y``, ``z``, ``coordinate_system``,
  ``group``) with ``_coordsystem.json`` (``EMGCoordinateUnits`` or
  ``EMGCoordinateSystemUnits``, top level or per named coordinate system):
  electrode positions are matched to channels through the channel's
  ``signal_electrode`` (else its name) and converted to mm;
* ``_events.tsv`` (``onset``, ``duration``, ``trial_type``/``value``), added to
  the data file's annotations.

Sidecars are found by the BIDS inheritance principle (same or parent
folder, entities a subset of the data file's). Missing sidecars are
tolerated; a ``_channels.tsv`` that does not list the data file's channels is
a :class:`~fasciq.errors.FormatError`.

Verified against the specification text of
``src/modality-specific-files/electromyography.md`` (bids-specification)
and its example tables, with data files written by edfio and fasciq.
"""

from __future__ import annotations

import csv
import json
import re
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from fasciq._logging import logger
from fasciq.errors import FormatError
from fasciq.io.edf import (
    EdfRecording,
    check_contiguous,
    pick_channels,
    read_edf_annotations,
    read_edf_header,
)
from fasciq.recording import Annotations, RecordingMetadata
from fasciq.validate import check_file_exists

__all__ = ["bids_entities", "find_sidecar", "read_bids"]

_ENTITY = re.compile(r"^([a-zA-Z]+)-([a-zA-Z0-9+]+)$")
_TO_MM = {"m": 1000.0, "cm": 10.0, "mm": 1.0}


def bids_entities(name: str) -> tuple[dict[str, str], str]:
    """Split a BIDS file name into its entities and suffix.

    Parameters
    ----------
    name : str
        File name, e.g. ``"sub-01_ses-2_task-rest_emg.bdf"``.

    Returns
    -------
    entities : dict
        ``{"sub": "01", "ses": "2", "task": "rest"}``.
    suffix : str
        ``"emg"``.
    """
    stem = name.split(".", 1)[0]
    parts = stem.split("_")
    entities = {}
    for part in parts[:-1]:
        m = _ENTITY.match(part)
        if m:
            entities[m.group(1)] = m.group(2)
    return entities, parts[-1]


def find_sidecar(data_path: Path, suffix: str, extension: str) -> Path | None:
    """The sidecar ``*_<suffix><extension>`` that applies to ``data_path``.

    Follows the inheritance principle: candidates lie in the data file's
    folder or a parent folder up to the dataset root, and their entities
    must be a subset of the data file's; the closest, most specific wins.
    """
    entities, _ = bids_entities(data_path.name)
    best: tuple[int, int, Path] | None = None
    folder = data_path.parent
    for depth in range(4):
        for cand in sorted(folder.glob(f"*_{suffix}{extension}")) + sorted(
            folder.glob(f"{suffix}{extension}")
        ):
            ents, suf = bids_entities(cand.name)
            if suf != suffix or any(entities.get(k) != v for k, v in ents.items()):
                continue
            score = (-depth, len(ents))
            if best is None or score > best[:2]:
                best = (*score, cand)
        if (folder / "dataset_description.json").exists() or folder.parent == folder:
            break
        folder = folder.parent
    return None if best is None else best[2]


def _read_tsv(path: Path) -> list[dict[str, str]]:
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = list(csv.DictReader(f, delimiter="\t"))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FormatError(
            f"cannot read the table ({exc})", fix="save it as UTF-8 tab-separated text", source=path
        ) from exc
    return [{(k or "").strip(): (v or "").strip() for k, v in row.items()} for row in rows]


def _read_json(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8-sig"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise FormatError(
            f"cannot read the JSON sidecar ({exc})", fix="correct the JSON syntax", source=path
        ) from exc
    if not isinstance(data, dict):
        raise FormatError(
            "the JSON sidecar is not an object",
            fix="write the sidecar as a JSON object {...}",
            source=path,
        )
    return data


def _na(value: str | None) -> bool:
    return value is None or value.strip().lower() in ("", "n/a", "na")


def _coordinate_units(coordsystem: dict[str, Any], system: str | None) -> str | None:
    keys = ("EMGCoordinateUnits", "EMGCoordinateSystemUnits")
    if system and isinstance(coordsystem.get(system), dict):
        sub = coordsystem[system]
        for key in keys:
            if key in sub:
                return str(sub[key])
    for key in keys:
        if key in coordsystem:
            return str(coordsystem[key])
    return None


def _positions(data_path: Path, channel_rows: list[dict[str, str]]) -> np.ndarray | None:
    """``(n, 2)`` positions in mm of the given channel rows, or None."""
    el_path = find_sidecar(data_path, "electrodes", ".tsv")
    if el_path is None:
        return None
    electrodes = _read_tsv(el_path)
    cs_path = find_sidecar(data_path, "coordsystem", ".json")
    coordsystem = _read_json(cs_path) if cs_path is not None else {}
    if cs_path is None:
        logger.warning(
            "%s: no _coordsystem.json beside %s; electrode units assumed mm",
            data_path.name,
            el_path.name,
        )
    by_key: dict[tuple[str, str], dict[str, str]] = {}
    by_name: dict[str, list[dict[str, str]]] = {}
    for e in electrodes:
        by_key[(e.get("name", ""), e.get("group", ""))] = e
        by_name.setdefault(e.get("name", ""), []).append(e)
    out = np.zeros((len(channel_rows), 2))
    for i, row in enumerate(channel_rows):
        name = row.get("signal_electrode") or row["name"]
        if _na(name):
            name = row["name"]
        match = by_key.get((name, row.get("group", "")))
        if match is None:
            cands = by_name.get(name, [])
            match = cands[0] if len(cands) == 1 else None
        if match is None:
            logger.warning(
                "%s: no unique electrode %r in %s for channel %s; positions not used",
                data_path.name,
                name,
                el_path.name,
                row["name"],
            )
            return None
        units = _coordinate_units(coordsystem, match.get("coordinate_system")) or "mm"
        factor = _TO_MM.get(units.strip().lower())
        if factor is None:
            logger.warning(
                "%s: electrode coordinates in %r cannot be converted to mm; positions not used",
                data_path.name,
                units,
            )
            return None
        try:
            x = float(match["x"])
            y = 0.0 if _na(match.get("y")) else float(match["y"])
        except (KeyError, ValueError):
            logger.warning(
                "%s: electrode %r in %s has no numeric x/y; positions not used",
                data_path.name,
                name,
                el_path.name,
            )
            return None
        out[i] = (x * factor, y * factor)
    return out


def _events(data_path: Path) -> Annotations:
    path = find_sidecar(data_path, "events", ".tsv")
    if path is None:
        return Annotations()
    items = []
    for row in _read_tsv(path):
        try:
            onset = float(row["onset"])
        except (KeyError, ValueError):
            continue
        duration = 0.0 if _na(row.get("duration")) else float(row["duration"])
        text = next(
            (row[k] for k in ("trial_type", "value", "description") if not _na(row.get(k))), "event"
        )
        items.append((onset, duration, text))
    return Annotations.from_list(items)


def read_bids(path: str | PathLike[str], **kwargs: Any) -> EdfRecording:
    """Open an EMG-BIDS recording (``*_emg.edf`` or ``*_emg.bdf``) lazily.

    Parameters
    ----------
    path : path
        The data file.
    **kwargs
        ``annotations``, ``metadata``, ``positions_mm`` or ``grid`` to use
        instead of what the sidecars give.

    Returns
    -------
    EdfRecording
        ``format_name`` ``"EMG-BIDS (BDF+)"`` etc.; electrode positions in mm
        when ``_electrodes.tsv`` gives them for every EMG channel.

    Raises
    ------
    FormatError
        Data file problems (see :func:`~fasciq.io.edf.read_edf`) or a
        ``_channels.tsv`` that disagrees with the data file.
    """
    p = check_file_exists(path)
    header = read_edf_header(p)
    annotations, onsets = read_edf_annotations(header)
    check_contiguous(header, onsets)
    entities, _ = bids_entities(p.name)
    signal_index = {s.label: i for i, s in enumerate(header.signals) if not s.is_annotation}

    ch_path = find_sidecar(p, "channels", ".tsv")
    rows: list[dict[str, str]] = []
    extra: dict[str, Any] = {"bids_entities": entities}
    if ch_path is not None:
        rows = _read_tsv(ch_path)
        names = [r.get("name", "") for r in rows]
        missing = [n for n in names if n not in signal_index]
        unlisted = [lab for lab in signal_index if lab not in names]
        if missing or unlisted or not rows:
            parts = []
            if missing:
                parts.append(f"{', '.join(missing[:5])} not in the data file")
            if unlisted:
                parts.append(f"data channels {', '.join(unlisted[:5])} not listed")
            raise FormatError(
                f"the rows of {ch_path.name} disagree with the channels of the data file "
                f"({'; '.join(parts) or 'no rows'})",
                fix=f"make {ch_path.name} list exactly the channels of {p.name}, by name",
                source=p,
            )
        emg_rows = [r for r in rows if r.get("type", "").upper() == "EMG"]
        other = [r["name"] for r in rows if r.get("type", "").upper() != "EMG"]
        units = {}
        for r in emg_rows:
            i = signal_index[r["name"]]
            units[i] = header.signals[i].unit if _na(r.get("units")) else r["units"]
        keep, skipped = pick_channels(header, units)
        skipped += [{"label": n, "reason": "type is not EMG in _channels.tsv"} for n in other]
        row_of = {r["name"]: r for r in emg_rows}
        emg_rows = [row_of[header.signals[i].label] for i in keep]
        unit_list = [units[i] for i in keep]
        bad = [r["name"] for r in emg_rows if r.get("status", "").lower() == "bad"]
        extra["bad_channels"] = bad
        muscles = sorted({r["target_muscle"] for r in emg_rows if not _na(r.get("target_muscle"))})
    else:
        logger.info("%s: no _channels.tsv; voltage channels taken from the header", p.name)
        keep, skipped = pick_channels(header)
        unit_list = [header.signals[i].unit for i in keep]
        emg_rows = [{"name": header.signals[i].label} for i in keep]
        extra["bad_channels"] = []
        muscles = []
    if skipped:
        extra["skipped_channels"] = skipped
        logger.warning(
            "%s: skipped %d channel(s): %s",
            p.name,
            len(skipped),
            "; ".join(f"{d['label']}: {d['reason']}" for d in skipped),
        )

    json_path = find_sidecar(p, "emg", ".json")
    sidecar = _read_json(json_path) if json_path is not None else {}
    if sidecar:
        extra["bids_sidecar"] = sidecar
        fs_json = sidecar.get("SamplingFrequency")
        fs_data = header.signals[keep[0]].fs
        if isinstance(fs_json, (int, float)) and abs(float(fs_json) - fs_data) > 1e-6 * fs_data:
            logger.warning(
                "%s: SamplingFrequency %g Hz in %s differs from the data file's "
                "%g Hz; the data file is used",
                p.name,
                fs_json,
                json_path.name,
                fs_data,
            )
    muscle = ", ".join(muscles) if muscles else None
    for key in ("TargetMuscle", "Muscle", "EMGTargetMuscle"):
        if muscle is None and isinstance(sidecar.get(key), str):
            muscle = sidecar[key]
    metadata = RecordingMetadata(
        subject=entities.get("sub"),
        session=entities.get("ses"),
        muscle=muscle,
        extra={
            **extra,
            "task": entities.get("task"),
            "acq": entities.get("acq"),
            "run": entities.get("run"),
        },
    )
    if "positions_mm" not in kwargs and "grid" not in kwargs:
        positions = _positions(p, emg_rows)
        if positions is not None:
            kwargs["positions_mm"] = positions
    kwargs.setdefault("annotations", annotations + _events(p))
    kwargs.setdefault("metadata", metadata)
    kwargs.setdefault("format_name", f"EMG-BIDS ({header.format_name})")
    kwargs.setdefault("file_unit", max(set(unit_list), key=unit_list.count))
    return EdfRecording(header, keep, units=unit_list, **kwargs)
