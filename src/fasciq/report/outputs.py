"""Read the files an analysis writes (its output contract) into one object.

The report, the figures and the exports depend only on these files —
``fasciculations.csv``, ``excluded.csv``, ``summary.json`` and, when motor
units were sorted, ``units.csv`` and ``templates.npz`` — so they work on any
saved analysis, whatever produced it. Missing optional files and columns are
tolerated: the consumers then leave out what cannot be shown.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fasciq._logging import logger
from fasciq.detect.features import FEATURE_COLUMNS
from fasciq.errors import FasciqError, FormatError
from fasciq.grids.grid import Grid

FP_COLUMNS = FEATURE_COLUMNS
EXCLUDED_COLUMNS = ("start_s", "end_s", "reason")


@dataclass(frozen=True)
class AnalysisOutputs:
    """The saved results of one analysis.

    Attributes
    ----------
    fasciculations : DataFrame
        One row per FP, sorted by ``time_s``; ``unit`` is -1 when unsorted.
    excluded : DataFrame
        ``start_s, end_s, reason`` of every span not analysed.
    summary : dict
        Contents of ``summary.json``.
    units : DataFrame or None
        One row per motor unit, if sorting ran.
    templates : dict of int to ndarray
        Unit id to its ``(n_samples, n_channels)`` template in µV.
    examples : dict of int to ndarray
        Unit id to ``(k, n_samples, n_channels)`` example discharges in µV.
    templates_fs : float or None
        Sampling rate of the templates in Hz.
    outdir : Path or None
        Folder the results were read from.
    """

    fasciculations: pd.DataFrame
    excluded: pd.DataFrame
    summary: dict[str, Any]
    units: pd.DataFrame | None = None
    templates: dict[int, np.ndarray] = field(default_factory=dict)
    examples: dict[int, np.ndarray] = field(default_factory=dict)
    templates_fs: float | None = None
    outdir: Path | None = None

    # -- recording description ---------------------------------------------------
    @property
    def recording_info(self) -> dict[str, Any]:
        """The ``recording`` entry of the summary (empty if absent)."""
        info = self.summary.get("recording")
        return info if isinstance(info, dict) else {}

    @property
    def channels(self) -> list[str]:
        """Channel labels of the analysed recording, in recording order."""
        labels = self.recording_info.get("channels")
        if labels:
            return [str(c) for c in labels]
        if "channel" in self.fasciculations:
            return sorted({str(c) for c in self.fasciculations["channel"].dropna()})
        return []

    @property
    def fs(self) -> float | None:
        """Sampling rate of the recording in Hz, if known."""
        fs = self.recording_info.get("fs")
        return float(fs) if fs else self.templates_fs

    @property
    def duration_s(self) -> float:
        """Length of the recording in seconds (best estimate from what is saved)."""
        candidates = [
            self.recording_info.get("duration_s"),
            _num(self.summary.get("analysed_s"), 0.0) + _num(self.summary.get("excluded_s"), 0.0),
        ]
        for value in candidates:
            if value is not None and math.isfinite(float(value)) and float(value) > 0:
                return float(value)
        ends = [0.0]
        if len(self.fasciculations):
            ends.append(float(self.fasciculations["time_s"].max()))
        if len(self.excluded):
            ends.append(float(self.excluded["end_s"].max()))
        return max(ends)

    @property
    def grid(self) -> Grid | None:
        """The electrode grid described in the summary, or ``None``."""
        return grid_from_description(self.recording_info.get("grid"), len(self.channels))

    @property
    def has_units(self) -> bool:
        """Whether motor-unit sorting ran (some FP has a unit id ≥ 0)."""
        if self.units is not None and len(self.units):
            return True
        return bool(len(self.fasciculations) and (self.fasciculations["unit"] >= 0).any())

    def source_path(self) -> Path | None:
        """Path of the analysed recording as saved in the summary, if any."""
        source = self.recording_info.get("source")
        return Path(source) if source else None


def _num(value: Any, default: float | None = None) -> float | None:
    try:
        out = float(value)
    except (TypeError, ValueError):
        return default
    return out if math.isfinite(out) else default


def grid_from_description(desc: Any, n_channels: int | None = None) -> Grid | None:
    """Rebuild a :class:`Grid` from its JSON description (``Grid.describe()``).

    Catalogue names and ``ROWSxCOLS@IED`` specs are resolved exactly (channel
    order included); a ``layout`` entry is used as given; otherwise channels
    are numbered row-major from the top-left, skipping ``missing`` places.
    Returns ``None`` when the description does not fit ``n_channels``.
    """
    if not isinstance(desc, dict):
        return None
    from fasciq.grids.catalogue import get_grid

    grid: Grid | None = None
    name = desc.get("name")
    if isinstance(name, str) and name:
        try:
            grid = get_grid(name)
        except FasciqError:
            grid = None
    if grid is None and desc.get("layout") is not None:
        try:
            grid = Grid(str(name or "grid"), np.asarray(desc["layout"]), float(desc["ied_mm"]))
        except (FasciqError, KeyError, TypeError, ValueError):
            grid = None
    if grid is None:
        try:
            rows, cols = int(desc["rows"]), int(desc["cols"])
            ied = float(desc.get("ied_mm") or 1.0)
        except (KeyError, TypeError, ValueError):
            return None
        layout = np.zeros((rows, cols), dtype=np.int64)
        for r, c in desc.get("missing") or []:
            if 0 <= int(r) < rows and 0 <= int(c) < cols:
                layout[int(r), int(c)] = -1
        present = layout >= 0
        layout[present] = np.arange(int(present.sum()))
        try:
            grid = Grid(str(name or f"{rows}x{cols}"), layout, ied)
        except FasciqError:
            return None
    if n_channels and grid.n_channels != n_channels:
        logger.info(
            "grid %s has %d electrodes, not %d channels: drawn without it",
            grid.name,
            grid.n_channels,
            n_channels,
        )
        return None
    return grid


def _read_csv(path: Path, required: tuple[str, ...]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except pd.errors.EmptyDataError:
        return pd.DataFrame({c: [] for c in required})
    except (OSError, ValueError, pd.errors.ParserError) as exc:
        raise FormatError(
            f"cannot read the table: {exc}",
            fix="re-run the analysis to rewrite its output folder",
            source=path,
        ) from exc
    missing = [c for c in required if c not in frame.columns]
    if missing:
        raise FormatError(
            f"missing column(s) {', '.join(missing)}",
            fix="re-run the analysis with this version of fasciq to rewrite the folder",
            source=path,
        )
    return frame


def normalise_fasciculations(frame: pd.DataFrame) -> pd.DataFrame:
    """FP table sorted by time, with ``unit`` as int (-1 when absent)."""
    out = frame.copy()
    if "time_s" not in out:
        raise FormatError(
            "the FP table has no time_s column",
            fix="give one row per FP with its time in seconds",
            source="fasciculations",
        )
    out["time_s"] = pd.to_numeric(out["time_s"], errors="coerce")
    out = out[np.isfinite(out["time_s"].to_numpy(dtype=float))]
    if "unit" in out:
        out["unit"] = pd.to_numeric(out["unit"], errors="coerce").fillna(-1).astype(np.int64)
    else:
        out["unit"] = np.full(len(out), -1, dtype=np.int64)
    if "channel" in out:
        out["channel"] = out["channel"].astype(str)
    return out.sort_values("time_s", kind="stable").reset_index(drop=True)


def normalise_excluded(frame: pd.DataFrame | None) -> pd.DataFrame:
    """Excluded spans sorted by start, ``reason`` as text (``"excluded"`` if blank)."""
    if frame is None or len(frame) == 0:
        return pd.DataFrame(
            {
                "start_s": np.zeros(0),
                "end_s": np.zeros(0),
                "reason": pd.Series([], dtype=object),
            }
        )
    out = frame.copy()
    out["start_s"] = pd.to_numeric(out["start_s"], errors="coerce")
    out["end_s"] = pd.to_numeric(out["end_s"], errors="coerce")
    out = out.dropna(subset=["start_s", "end_s"])
    if "reason" not in out:
        out["reason"] = "excluded"
    out["reason"] = out["reason"].fillna("excluded").astype(str)
    return out.sort_values("start_s", kind="stable").reset_index(drop=True)


def _read_templates(
    path: Path,
) -> tuple[dict[int, np.ndarray], dict[int, np.ndarray], float | None]:
    templates: dict[int, np.ndarray] = {}
    examples: dict[int, np.ndarray] = {}
    fs: float | None = None
    try:
        with np.load(path, allow_pickle=False) as data:
            for key in data.files:
                if key == "fs":
                    fs = float(np.asarray(data[key]).reshape(-1)[0])
                    continue
                parts = key.split("_")
                if len(parts) < 2 or parts[0] != "unit":
                    continue
                try:
                    unit = int(parts[1])
                except ValueError:
                    continue
                arr = np.asarray(data[key], dtype=np.float32)
                if len(parts) == 2 and arr.ndim == 2:
                    templates[unit] = arr
                elif len(parts) == 3 and parts[2] == "examples" and arr.ndim == 3:
                    examples[unit] = arr
    except (OSError, ValueError) as exc:
        raise FormatError(
            f"cannot read unit templates: {exc}",
            fix="re-run the analysis to rewrite templates.npz, or delete it",
            source=path,
        ) from exc
    return templates, examples, fs


def load_outputs(source: str | PathLike[str] | Any) -> AnalysisOutputs:
    """Read an analysis folder, or take the tables of an in-memory result.

    Parameters
    ----------
    source : path or result
        Folder written by ``fasciq analyze`` (``Result.save``), an
        :class:`AnalysisOutputs`, or any object with ``fasciculations``,
        ``excluded`` and ``summary`` attributes (and optionally ``units``,
        ``templates``).

    Returns
    -------
    AnalysisOutputs

    Raises
    ------
    FasciqError
        If the folder does not exist or lacks ``summary.json`` or
        ``fasciculations.csv``.
    """
    if isinstance(source, AnalysisOutputs):
        return source
    if not isinstance(source, (str, PathLike)):
        return _from_object(source)
    outdir = Path(source)
    if not outdir.is_dir():
        raise FasciqError(
            "analysis folder not found",
            fix="give the output folder of `fasciq analyze` (it holds summary.json)",
            source=outdir,
        )
    summary_path = outdir / "summary.json"
    fp_path = outdir / "fasciculations.csv"
    for needed in (summary_path, fp_path):
        if not needed.is_file():
            raise FasciqError(
                f"{needed.name} is missing, so this is not a complete analysis folder",
                fix="run `fasciq analyze RECORDING -o FOLDER` first, then use that folder",
                source=outdir,
            )
    try:
        summary = json.loads(summary_path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FormatError(
            f"cannot read the summary: {exc}",
            fix="re-run the analysis to rewrite it",
            source=summary_path,
        ) from exc
    if not isinstance(summary, dict):
        raise FormatError(
            "the summary is not a JSON object",
            fix="re-run the analysis to rewrite it",
            source=summary_path,
        )
    fasciculations = normalise_fasciculations(_read_csv(fp_path, ("time_s",)))
    excluded_path = outdir / "excluded.csv"
    excluded = normalise_excluded(
        _read_csv(excluded_path, EXCLUDED_COLUMNS) if excluded_path.is_file() else None
    )
    units_path = outdir / "units.csv"
    units = _read_csv(units_path, ("unit",)) if units_path.is_file() else None
    templates_path = outdir / "templates.npz"
    templates, examples, tfs = (
        _read_templates(templates_path) if templates_path.is_file() else ({}, {}, None)
    )
    return AnalysisOutputs(
        fasciculations=fasciculations,
        excluded=excluded,
        summary=summary,
        units=units,
        templates=templates,
        examples=examples,
        templates_fs=tfs,
        outdir=outdir,
    )


def _from_object(result: Any) -> AnalysisOutputs:
    try:
        fasciculations = result.fasciculations
        summary = result.summary
    except AttributeError:
        raise FasciqError(
            f"cannot take analysis results from a {type(result).__name__}",
            fix="pass an analysis folder or the Result returned by fasciq.analyze",
            source="result",
        ) from None
    excluded = getattr(result, "excluded", None)
    units = getattr(result, "units", None)
    templates = getattr(result, "templates", None) or {}
    examples = getattr(result, "examples", None) or {}
    return AnalysisOutputs(
        fasciculations=normalise_fasciculations(pd.DataFrame(fasciculations)),
        excluded=normalise_excluded(None if excluded is None else pd.DataFrame(excluded)),
        summary=dict(summary or {}),
        units=None if units is None else pd.DataFrame(units),
        templates={int(k): np.asarray(v) for k, v in dict(templates).items()},
        examples={int(k): np.asarray(v) for k, v in dict(examples).items()},
        templates_fs=_num(getattr(result, "templates_fs", None)),
        outdir=None,
    )
