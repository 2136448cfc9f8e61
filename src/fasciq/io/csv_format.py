"""CSV/TSV text recordings: one column per channel, a header row of labels.

Text cannot be memory-mapped sample by sample, so the whole table is parsed
into memory at once (pandas, C engine) and kept as float32 µV; use NumPy or
EDF for long recordings. The delimiter is taken from the header line (tab,
semicolon or comma).

* **Time column.** A column named ``time``, ``time_s``, ``t`` (any case,
  optionally with a unit suffix such as ``time (s)``) is not a channel; when
  no sampling rate is given the rate is inferred from it, which needs
  regular steps.
* **Sampling rate.** From ``fs=``, else the sidecar ``<stem>.json`` (same
  keys as for NumPy files: ``fs``, ``unit``, ``channels``, ``grid``,
  ``positions_mm``, ``annotations``, ``metadata``), else the time column.
* **Units.** From ``unit=``, else the sidecar, else a suffix of each column
  name (``EMG1 (uV)``, ``EMG2 [mV]``; the suffix is removed from the label),
  else µV.

A cell that is not a number, or an empty cell, raises
:class:`~fasciq.errors.DataError` naming its line and column.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fasciq._logging import logger
from fasciq.errors import DataError, FormatError
from fasciq.io._units import is_voltage_unit, to_microvolt_factor
from fasciq.io.numpy_format import (
    canonical_unit,
    geometry_kwargs,
    read_sidecar,
    sidecar_path,
)
from fasciq.recording import ArrayRecording, Recording, RecordingMetadata
from fasciq.validate import check_sampling_rate

PathArg = str | os.PathLike[str]

_TIME_NAMES = {"time", "time_s", "t", "times", "timestamp_s", "time_sec", "seconds"}
_UNIT_SUFFIX = re.compile(r"^(?P<label>.*?)\s*[\(\[](?P<unit>[^\)\]]+)[\)\]]\s*$")


def _delimiter(first_line: str) -> str:
    counts = {d: first_line.count(d) for d in ("\t", ";", ",")}
    best = max(counts, key=lambda d: counts[d])
    return best if counts[best] else ","


def _split_unit(name: str) -> tuple[str, str | None]:
    m = _UNIT_SUFFIX.match(name)
    if m and is_voltage_unit(m.group("unit")):
        return m.group("label").strip(), m.group("unit").strip()
    if m and m.group("unit").strip().lower() in ("s", "sec", "seconds"):
        return m.group("label").strip(), m.group("unit").strip()
    return name.strip(), None


def _is_time(name: str) -> bool:
    label, _ = _split_unit(name)
    return label.strip().lower() in _TIME_NAMES


def _first_bad_cell(frame: pd.DataFrame, path: Path) -> DataError | None:
    for col in frame.columns:
        column = frame[col]
        numeric = pd.api.types.is_numeric_dtype(column.dtype)
        values = column if numeric else pd.to_numeric(column, errors="coerce")
        bad = values.isna().to_numpy()
        if bad.any():
            row = int(np.flatnonzero(bad)[0])
            cell = column.iloc[row]
            if pd.isna(cell) or str(cell).strip() == "":
                what = "is empty or NaN"
            else:
                what = f"holds {str(cell)!r}, not a number"
            return DataError(
                f"line {row + 2}, column {col!r} {what} ({int(bad.sum())} such cells in "
                "that column)",
                fix="write a number in every cell (interpolate or remove missing samples, "
                "or drop the column)",
                source=path,
            )
    return None


def _fs_from_time(t: np.ndarray, path: Path) -> float:
    if len(t) < 2:
        raise DataError(
            "the time column has fewer than two rows; the sampling rate is unknown",
            fix="pass fs=RATE_IN_HZ or give it in the JSON sidecar",
            source=path,
        )
    steps = np.diff(t)
    span = t[-1] - t[0]
    if span <= 0 or np.any(steps <= 0):
        raise DataError(
            "the time column does not increase from row to row",
            fix="sort the rows by time, or pass fs=RATE_IN_HZ",
            source=path,
        )
    dt = span / (len(t) - 1)
    if np.max(np.abs(steps - dt)) > 0.1 * dt:
        worst = int(np.argmax(np.abs(steps - dt)))
        raise DataError(
            f"the time column is irregular (step of {steps[worst]:.6g} s at line {worst + 3}, "
            f"mean step {dt:.6g} s)",
            fix="give the sampling rate with fs=RATE_IN_HZ or in the JSON sidecar, or write "
            "the times with more decimals",
            source=path,
        )
    fs = 1.0 / dt
    return float(round(fs)) if abs(fs - round(fs)) < 1e-6 * fs + 1e-3 else fs


def read_csv(
    path: PathArg, fs: float | None = None, unit: str | None = None, *, delimiter: str | None = None
) -> Recording:
    """Read a CSV/TSV recording into memory.

    Parameters
    ----------
    path : path
        ``.csv``, ``.tsv`` or ``.txt`` file whose first row holds channel labels.
    fs : float, optional
        Sampling rate in Hz (overrides the sidecar and the time column).
    unit : str, optional
        Unit of all channels (overrides the sidecar and column suffixes).
    delimiter : str, optional
        Column separator; guessed from the header line by default.

    Returns
    -------
    Recording
        An in-memory recording in float32 µV.

    Raises
    ------
    FormatError
        No header row, no channel columns, unknown units.
    DataError
        Non-numeric or empty cells, irregular time column, unknown rate.
    """
    p = Path(path)
    with open(p, encoding="utf-8-sig", errors="replace") as f:
        first = f.readline()
    if not first.strip():
        raise FormatError(
            "the file is empty or starts with a blank line",
            fix="put a header row of channel labels on the first line",
            source=p,
        )
    sep = delimiter or ("\t" if p.suffix.lower() == ".tsv" else _delimiter(first))
    try:
        frame = pd.read_csv(p, sep=sep, engine="c", skipinitialspace=True, encoding="utf-8-sig")
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise FormatError(
            f"cannot parse the table ({exc})",
            fix="check that every row has as many cells as the header",
            source=p,
        ) from None
    names = [str(c) for c in frame.columns]
    if all(_is_number(n) for n in names):
        raise FormatError(
            "the first row holds numbers, not channel labels",
            fix="add a header row naming each column (e.g. time,ch1,ch2)",
            source=p,
        )
    if frame.shape[0] == 0:
        raise DataError(
            "the table has a header but no rows of samples",
            fix="check that the file is complete",
            source=p,
        )
    numeric = all(pd.api.types.is_numeric_dtype(t) for t in frame.dtypes)
    if not numeric or frame.isna().to_numpy().any():
        bad = _first_bad_cell(frame, p)
        if bad is not None:
            raise bad
    values = frame.to_numpy(dtype=np.float64)
    time_cols = [i for i, n in enumerate(names) if _is_time(n)]
    channel_cols = [i for i in range(len(names)) if i not in time_cols[:1]]
    if not channel_cols:
        raise FormatError("the table holds only a time column", fix="add channel columns", source=p)
    side = sidecar_path(p)
    sidecar = read_sidecar(side, require_fs=False) if side.is_file() else None
    rate = fs if fs is not None else (sidecar.fs if sidecar is not None else None)
    if time_cols:
        t = values[:, time_cols[0]]
        if rate is None:
            rate = _fs_from_time(t, p)
            logger.info("%s: sampling rate %g Hz inferred from the time column", p.name, rate)
        start = float(t[0])
    else:
        start = 0.0
    if rate is None:
        raise DataError(
            "the sampling rate is unknown (no fs, no sidecar, no time column)",
            fix=f"pass fs=RATE_IN_HZ, add a time column, or write {side.name} with "
            '{"fs": RATE_IN_HZ}',
            source=p,
        )
    rate = check_sampling_rate(rate, p)
    labels, units = [], []
    for i in channel_cols:
        label, col_unit = _split_unit(names[i])
        labels.append(label)
        units.append(col_unit)
    if unit is not None:
        units = [canonical_unit(unit, p)] * len(labels)
    elif sidecar is not None and sidecar.unit is not None:
        units = [sidecar.unit] * len(labels)
    else:
        units = [canonical_unit(u, p) if u else "uV" for u in units]
    if sidecar is not None and sidecar.channels is not None:
        if len(sidecar.channels) != len(labels):
            raise DataError(
                f"sidecar names {len(sidecar.channels)} channels but the table has {len(labels)}",
                fix='give one label per channel column in "channels"',
                source=sidecar.path,
            )
        labels = sidecar.channels
    factors = np.array([to_microvolt_factor(u, p) for u in units])
    data = (values[:, channel_cols] * factors).astype(np.float32)
    extra: dict[str, Any] = {}
    if sidecar is not None:
        extra = geometry_kwargs(sidecar, len(labels))
        extra["annotations"] = sidecar.annotations
        extra["metadata"] = sidecar.metadata
    if start != 0.0:
        meta = extra.get("metadata")
        meta = meta if meta is not None else RecordingMetadata()
        extra["metadata"] = RecordingMetadata.from_dict(
            {**meta.to_dict(), "extra": {**meta.extra, "time_offset_s": start}}
        )
    return ArrayRecording(
        data,
        rate,
        channel_labels=labels,
        source=p,
        format_name="TSV" if sep == "\t" else "CSV",
        file_unit=units[0] if len(set(units)) == 1 else "mixed",
        **extra,
    )


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


__all__ = ["read_csv"]
