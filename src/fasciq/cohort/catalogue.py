"""The results catalogue: every finished result of a study as Parquet tables, queried in SQL.

Four tables live under ``DERIVATIVES/catalogue/``:

``recordings``
    one row per recording: ``recording_id``, ``subject``, ``session``,
    ``muscle``, the participant and session metadata, ``months_since_first``
    (from ``acq_time``), ``status`` (``done``/``failed``) and the summary
    numbers (``n_fp``, ``fp_per_min``, its 95 % interval, ``analysed_s``,
    ``excluded_s``, ``n_units``, ``n_bad_channels``...).
``fasciculations``
    one row per FP, with ``recording_id``, ``subject``, ``session``,
    ``muscle`` before the columns of ``fasciculations.csv``.
``units``
    the rows of each result's ``units.csv`` (when the result has one).
``excluded``
    every span not analysed (``start_s``, ``end_s``, ``reason``).

The update is incremental: only results whose completion marker changed
since the last update are read again; ``catalogue/state.json`` (written
last) remembers what the tables hold. :func:`query` opens DuckDB on the
Parquet files with one view per table.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fasciq._atomic import atomic_path, write_text_atomic
from fasciq._logging import logger
from fasciq.cohort.inputs import RecordingEntry
from fasciq.cohort.layout import DerivativesLayout, read_marker
from fasciq.errors import FasciqError, FormatError

TABLES = ("recordings", "fasciculations", "units", "excluded")
ID_COLUMNS = ("recording_id", "subject", "session", "muscle")
#: Per-result files feeding the row tables.
_ROW_FILES = {
    "fasciculations": "fasciculations.csv",
    "units": "units.csv",
    "excluded": "excluded.csv",
}
_STATE = "state.json"
_DAYS_PER_MONTH = 365.25 / 12


def table_path(derivatives: str | os.PathLike[str], table: str) -> Path:
    """``DERIVATIVES/catalogue/<table>.parquet``."""
    return DerivativesLayout(derivatives).catalogue / f"{table}.parquet"


def months_since_first(frame: pd.DataFrame, column: str = "acq_time") -> pd.Series:
    """Months from each subject's first visit, from a date/time column.

    Parameters
    ----------
    frame : DataFrame
        With ``subject`` and ``column`` (ISO 8601 dates or date-times).
    column : str
        The visit time column (BIDS ``sessions.tsv`` calls it ``acq_time``).

    Returns
    -------
    Series of float
        NaN where the time is missing or unreadable.
    """
    if column not in frame.columns or "subject" not in frame.columns:
        return pd.Series(np.nan, index=frame.index, dtype=float)
    when = pd.to_datetime(frame[column], errors="coerce", utc=True, format="mixed")
    first = when.groupby(frame["subject"]).transform("min")
    return (when - first).dt.total_seconds() / 86400.0 / _DAYS_PER_MONTH


def _normalise_columns(frame: pd.DataFrame, skip: Sequence[str] = ()) -> pd.DataFrame:
    """Give each object column one type (numbers if all parse, else text) for Parquet."""
    out = frame.copy()
    for col in out.columns:
        if col in skip or out[col].dtype != object:
            continue
        values = out[col]
        present = values.dropna()
        if len(present) and all(isinstance(v, bool) for v in present):
            continue
        numeric = pd.to_numeric(values, errors="coerce")
        if len(present) and numeric[values.notna()].notna().all():
            out[col] = numeric
        else:
            out[col] = values.map(
                lambda v: (
                    None
                    if v is None or v is pd.NA or (isinstance(v, float) and np.isnan(v))
                    else str(v)
                )
            ).astype("string")
    return out


def _write_parquet(frame: pd.DataFrame, path: Path) -> None:
    with atomic_path(path, overwrite=True) as tmp:
        frame.to_parquet(tmp, index=False, engine="pyarrow")


def _read_parquet(path: Path) -> pd.DataFrame | None:
    if not path.is_file():
        return None
    try:
        return pd.read_parquet(path, engine="pyarrow")
    except (OSError, ValueError) as exc:
        logger.warning("catalogue table %s is unreadable (%s): rebuilding it", path, exc)
        return None


def _summary_row(result_dir: Path) -> dict[str, Any]:
    try:
        summary = json.loads((result_dir / "summary.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise FormatError(
            f"cannot read summary.json: {exc}",
            fix="re-run the batch with --overwrite",
            source=result_dir,
        ) from exc
    ci = summary.get("fp_per_min_ci95") or [None, None]
    rec = summary.get("recording") or {}
    bad = summary.get("bad_channels") or {}
    return {
        "n_fp": summary.get("n_fp"),
        "fp_per_min": summary.get("fp_per_min"),
        "fp_per_min_ci_low": ci[0] if len(ci) > 1 else None,
        "fp_per_min_ci_high": ci[1] if len(ci) > 1 else None,
        "analysed_s": summary.get("analysed_s"),
        "excluded_s": summary.get("excluded_s"),
        "n_units": summary.get("n_units"),
        "n_bad_channels": len(bad),
        "line_freq_hz": summary.get("line_freq_hz"),
        "duration_s": rec.get("duration_s"),
        "fs": rec.get("fs"),
        "n_channels": rec.get("n_channels"),
        "grid": rec.get("grid"),
        "fasciq_version": summary.get("fasciq_version"),
    }


def _rows(result_dir: Path, table: str, ids: dict[str, Any]) -> pd.DataFrame | None:
    path = result_dir / _ROW_FILES[table]
    if not path.is_file():
        return None
    try:
        frame = pd.read_csv(path, dtype={"channel": str, "reason": str})
    except pd.errors.EmptyDataError:
        return None
    except (ValueError, pd.errors.ParserError) as exc:
        raise FormatError(
            f"cannot read {path.name}: {exc}",
            fix="re-run the batch with --overwrite",
            source=result_dir,
        ) from exc
    for i, col in enumerate(ID_COLUMNS):
        frame.insert(i, col, ids.get(col))
    return frame


def _finished(root: Path) -> dict[str, tuple[Path, dict[str, Any], str]]:
    """recording_id -> (result folder, marker, signature) for every finished result."""
    layout = DerivativesLayout(root)
    found: dict[str, tuple[Path, dict[str, Any], str]] = {}
    for marker_path in layout.markers():
        marker = read_marker(marker_path)
        if marker is None:
            continue
        rid = str(marker.get("recording_id") or marker_path.parent.name)
        signature = (
            f"{marker.get('params_hash')}:{marker.get('finished')}:{marker_path.stat().st_mtime_ns}"
        )
        found[rid] = (marker_path.parent, marker, signature)
    return found


def update_catalogue(
    derivatives: str | os.PathLike[str],
    entries: Sequence[RecordingEntry] | None = None,
    *,
    failures: Sequence[dict[str, Any]] | None = None,
    rebuild: bool = False,
) -> dict[str, int]:
    """Bring the Parquet tables up to date with the finished results.

    Parameters
    ----------
    derivatives : path
        The derivatives root.
    entries : sequence of RecordingEntry, optional
        The study as discovered now: its metadata (participants, sessions)
        replaces what the completion markers recorded, and only these
        recordings are catalogued. Without it, every finished result is,
        with the metadata of its marker.
    failures : sequence of dict, optional
        Failed recordings (default: ``failures.json``), listed in
        ``recordings`` with ``status = "failed"``.
    rebuild : bool
        Read every result again instead of only the changed ones.

    Returns
    -------
    dict
        Row count of each table.
    """
    root = Path(derivatives)
    layout = DerivativesLayout(root)
    if not root.is_dir():
        raise FasciqError(
            "derivatives folder does not exist",
            fix="run fasciq batch INPUT -o DERIVATIVES first",
            source=root,
        )
    finished = _finished(root)
    meta: dict[str, dict[str, Any]] = {}
    if entries is not None:
        meta = {e.recording_id: e.row() for e in entries}
        finished = {k: v for k, v in finished.items() if k in meta}
    else:
        meta = {
            rid: dict(m.get("metadata") or {"recording_id": rid})
            for rid, (_, m, _) in finished.items()
        }
    if failures is None:
        try:
            failures = json.loads(layout.failures.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            failures = []
    state_path = layout.catalogue / _STATE
    state: dict[str, str] = {}
    if not rebuild and state_path.is_file():
        try:
            state = dict(json.loads(state_path.read_text(encoding="utf-8")))
        except (OSError, ValueError):
            state = {}
    current = {rid: sig for rid, (_, _, sig) in finished.items()}
    changed = {rid for rid, sig in current.items() if state.get(rid) != sig}
    stale = (set(state) - set(current)) | changed
    layout.catalogue.mkdir(parents=True, exist_ok=True)

    counts: dict[str, int] = {}
    for table in ("fasciculations", "units", "excluded"):
        path = table_path(root, table)
        old = None if rebuild else _read_parquet(path)
        if old is None:
            todo, keep = set(current), None
        else:
            todo = changed
            keep = old[~old["recording_id"].isin(stale | todo)]
        parts = [keep] if keep is not None and len(keep) else []
        for rid in sorted(todo):
            folder = finished[rid][0]
            ids = {**meta.get(rid, {}), "recording_id": rid}
            frame = _rows(folder, table, ids)
            if frame is not None and len(frame):
                parts.append(frame)
        if parts:
            frame = pd.concat(parts, ignore_index=True)
        else:
            frame = pd.DataFrame({c: pd.Series(dtype="string") for c in ID_COLUMNS})
        frame = frame.sort_values(
            ["recording_id", *[c for c in ("time_s", "start_s", "unit") if c in frame]],
            kind="stable",
        ).reset_index(drop=True)
        _write_parquet(_normalise_columns(frame, skip=("channel", "reason")), path)
        counts[table] = len(frame)

    rows = []
    for rid, row_meta in meta.items():
        row = {c: row_meta.get(c) for c in ID_COLUMNS}
        row["recording_id"] = rid
        row.update({k: v for k, v in row_meta.items() if k not in row})
        if rid in finished:
            folder, marker, _ = finished[rid]
            row["status"] = "done"
            row["result_dir"] = str(folder.relative_to(root))
            row["params_hash"] = marker.get("params_hash")
            row.update(_summary_row(folder))
        rows.append(row)
    failed = {f.get("recording_id"): f for f in failures}
    for row in rows:
        if "status" not in row:
            fail = failed.get(row["recording_id"])
            row["status"] = "failed" if fail else "missing"
            row["error"] = None if fail is None else fail.get("message")
    recordings = pd.DataFrame(rows)
    if len(recordings):
        recordings["months_since_first"] = months_since_first(recordings)
        recordings = recordings.sort_values("recording_id", kind="stable").reset_index(drop=True)
    else:
        recordings = pd.DataFrame({c: pd.Series(dtype="string") for c in (*ID_COLUMNS, "status")})
    _write_parquet(_normalise_columns(recordings), table_path(root, "recordings"))
    counts["recordings"] = len(recordings)
    # written last: the tables above hold exactly these results
    write_text_atomic(state_path, json.dumps(current, indent=1, sort_keys=True))
    logger.info(
        "catalogue: %d recordings (%d read again), %d FPs",
        counts["recordings"],
        len(changed),
        counts["fasciculations"],
    )
    return counts


def load_table(derivatives: str | os.PathLike[str], table: str) -> pd.DataFrame:
    """One catalogue table as a DataFrame."""
    if table not in TABLES:
        raise FasciqError(
            f"unknown catalogue table {table!r}",
            fix=f"use one of {', '.join(TABLES)}",
            source="table",
        )
    path = table_path(derivatives, table)
    frame = _read_parquet(path)
    if frame is None:
        raise FasciqError(
            "the catalogue has not been built",
            fix="run fasciq batch INPUT -o DERIVATIVES (it builds the catalogue)",
            source=path.parent,
        )
    return frame


def connect(derivatives: str | os.PathLike[str]) -> Any:
    """An in-memory DuckDB connection with one view per catalogue table.

    Parameters
    ----------
    derivatives : path
        The derivatives root holding ``catalogue/``.

    Returns
    -------
    duckdb.DuckDBPyConnection
    """
    try:
        import duckdb
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise FasciqError(
            "DuckDB is not installed", fix='pip install "fasciq[cohort]"', source="query"
        ) from exc
    folder = DerivativesLayout(derivatives).catalogue
    if not (folder / "recordings.parquet").is_file():
        raise FasciqError(
            "no catalogue here",
            fix="give the -o folder of fasciq batch (it holds catalogue/)",
            source=derivatives,
        )
    con = duckdb.connect(":memory:")
    for table in TABLES:
        path = folder / f"{table}.parquet"
        if path.is_file():
            literal = str(path).replace("'", "''")
            con.execute(f"CREATE VIEW {table} AS SELECT * FROM read_parquet('{literal}')")
    return con


def query(derivatives: str | os.PathLike[str], sql: str) -> pd.DataFrame:
    """Run SQL on the catalogue (views ``recordings``, ``fasciculations``, ``units``, ``excluded``).

    Parameters
    ----------
    derivatives : path
        The derivatives root.
    sql : str
        A DuckDB query, e.g. ``"SELECT muscle, avg(fp_per_min) FROM recordings
        GROUP BY muscle"``.

    Returns
    -------
    DataFrame
    """
    import duckdb

    con = connect(derivatives)
    try:
        return con.execute(sql).df()
    except duckdb.Error as exc:
        raise FasciqError(
            f"the query failed: {str(exc).splitlines()[0]}",
            fix="check the SQL; tables are " + ", ".join(TABLES),
            source="query",
        ) from exc
    finally:
        con.close()


__all__ = [
    "TABLES",
    "connect",
    "load_table",
    "months_since_first",
    "query",
    "table_path",
    "update_catalogue",
]
