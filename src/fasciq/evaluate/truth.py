"""Reference events to evaluate against: a simulator truth table or human labels."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from fasciq.errors import FormatError
from fasciq.validate import check_file_exists

#: Default matching tolerance against simulator truth (peak times are exact there).
SIMULATION_TOLERANCE_S = 0.010
#: Default matching tolerance against human marks (placed by eye on a screen).
ANNOTATION_TOLERANCE_S = 0.025


@dataclass(frozen=True)
class Truth:
    """Reference fasciculations and the context needed to judge a result.

    Attributes
    ----------
    times_s : ndarray
        Time of each reference FP (for simulator truth, the time of the MUAP's
        largest peak when known, else the discharge time).
    units : ndarray of int or None
        Reference motor unit of each FP (simulator truth only).
    voluntary_epochs : list of (start_s, end_s)
        Spans of voluntary activity (not rest).
    duration_s : float or None
        Length of the recording, if known.
    kind : {"simulation", "annotation"}
        Where the reference comes from; sets the default tolerance.
    source : str
        File it was read from.
    """

    times_s: np.ndarray
    units: np.ndarray | None = None
    voluntary_epochs: list[tuple[float, float]] = field(default_factory=list)
    duration_s: float | None = None
    kind: str = "annotation"
    source: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_simulation(cls, sim_truth: Any) -> Truth:
        """Reference from a simulator truth object (``simulate(...).truth``)."""
        table = sim_truth.discharges
        fps = table[table["kind"].astype(str) == "fasciculation"]
        col = "peak_time_s" if "peak_time_s" in fps.columns else "time_s"
        return cls(
            times_s=fps[col].to_numpy(dtype=np.float64),
            units=fps["unit"].to_numpy(dtype=np.int64),
            voluntary_epochs=[(float(a), float(b)) for a, b in sim_truth.voluntary_epochs],
            duration_s=float(sim_truth.duration_s) or None,
            kind="simulation",
            source=f"simulation (preset {getattr(sim_truth, 'preset', '?')}, "
            f"seed {getattr(sim_truth, 'seed', '?')})",
        )

    @property
    def default_tolerance_s(self) -> float:
        """Matching window appropriate to the reference kind."""
        return SIMULATION_TOLERANCE_S if self.kind == "simulation" else ANNOTATION_TOLERANCE_S


def _truth_files(path: Path) -> tuple[Path, Path | None]:
    """Resolve a recording, a ``.truth.csv`` or ``.truth.json`` to (csv, json)."""
    name = path.name
    if name.endswith(".truth.csv"):
        stem = name[: -len(".truth.csv")]
    elif name.endswith(".truth.json"):
        stem = name[: -len(".truth.json")]
    elif path.suffix.lower() in (".bdf", ".edf"):
        stem = path.stem
    else:
        return path, None
    csv = path.parent / f"{stem}.truth.csv"
    js = path.parent / f"{stem}.truth.json"
    return check_file_exists(csv), (js if js.exists() else None)


def load_truth(path: str | PathLike[str]) -> Truth:
    """Read reference FPs.

    Parameters
    ----------
    path : path
        A simulator ``<stem>.truth.csv`` (the ``.truth.json`` beside it adds
        voluntary epochs and duration), the simulated recording itself, or a
        human annotation CSV with a ``time_s`` column (one row per FP; an
        optional ``unit`` column is used for sorting metrics).
    """
    import pandas as pd

    p = check_file_exists(path)
    csv, js = _truth_files(p)
    try:
        table = pd.read_csv(csv)
    except (ValueError, pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise FormatError(
            f"cannot read the reference table: {exc}",
            fix="give a CSV with a header row and a time_s column",
            source=csv,
        ) from exc
    if "time_s" not in table.columns:
        raise FormatError(
            f"reference table has no time_s column (columns: {', '.join(map(str, table.columns))})",
            fix="name the column of FP times (seconds from recording start) time_s",
            source=csv,
        )
    info: dict[str, Any] = {}
    is_sim = "kind" in table.columns
    if is_sim:
        table = table[table["kind"].astype(str) == "fasciculation"]
    time_col = "peak_time_s" if "peak_time_s" in table.columns else "time_s"
    times = pd.to_numeric(table[time_col], errors="coerce").to_numpy(dtype=np.float64)
    if not np.isfinite(times).all():
        bad = int(np.flatnonzero(~np.isfinite(times))[0])
        raise FormatError(
            f"row {bad + 2} of column {time_col} is not a number",
            fix="give every FP time in seconds as a number",
            source=csv,
        )
    units = table["unit"].to_numpy(dtype=np.int64) if "unit" in table.columns else None
    epochs: list[tuple[float, float]] = []
    duration = None
    if js is not None:
        try:
            meta = json.loads(js.read_text(encoding="utf-8"))
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise FormatError(
                f"truth sidecar is not valid JSON: {exc}",
                fix="re-create it with fasciq simulate",
                source=js,
            ) from exc
        epochs = [(float(a), float(b)) for a, b in meta.get("voluntary_epochs", [])]
        duration = meta.get("duration_s")
        info = {k: meta[k] for k in ("preset", "seed", "grid", "fs") if k in meta}
    return Truth(
        times_s=times,
        units=units,
        voluntary_epochs=epochs,
        duration_s=None if duration is None else float(duration),
        kind="simulation" if is_sim else "annotation",
        source=str(csv),
        info=info,
    )
