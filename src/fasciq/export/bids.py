"""BIDS events: one row per FP and per excluded span, with a sidecar describing each column."""

from __future__ import annotations

import json
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fasciq._atomic import atomic_path, write_text_atomic
from fasciq._version import __version__
from fasciq.errors import ParameterError
from fasciq.report.outputs import AnalysisOutputs, load_outputs
from fasciq.validate import check_output_free

FP_TYPE = "fasciculation"
EXCLUDED_TYPE = "excluded"

#: Column -> (LongName, Description, Units or None).
COLUMNS: dict[str, tuple[str, str, str | None]] = {
    "onset": (
        "Event onset",
        "Fasciculation: time of the FP's largest peak. Excluded span: its start. "
        "Seconds from the start of the recording.",
        "s",
    ),
    "duration": (
        "Event duration",
        "0 for a fasciculation (an instant mark); the length of an excluded span.",
        "s",
    ),
    "trial_type": ("Event type", "What the row marks.", None),
    "unit": (
        "Motor unit",
        "Putative motor unit the FP was assigned to; n/a when it belongs to no unit or "
        "for excluded spans.",
        None,
    ),
    "channel": (
        "Peak channel",
        "Label of the channel where the FP has its largest peak-to-peak amplitude.",
        None,
    ),
    "amplitude_uv": (
        "Peak-to-peak amplitude",
        "Peak-to-peak amplitude of the FP on its peak channel.",
        "uV",
    ),
    "duration_ms": (
        "FP duration",
        "Duration of the FP waveform on its peak channel, from first to last "
        "departure from baseline.",
        "ms",
    ),
    "phases": ("Phases", "Number of phases (baseline crossings + 1) on the peak channel.", None),
    "turns": ("Turns", "Number of turns (direction changes) on the peak channel.", None),
    "area_uv_ms": ("Area", "Area under the rectified FP waveform on the peak channel.", "uV*ms"),
    "n_channels": (
        "Channels involved",
        "Number of channels on which the FP stands out from the noise.",
        None,
    ),
    "centroid_x_mm": (
        "Centroid x",
        "Amplitude-weighted centre of the FP on the electrode grid, left to right.",
        "mm",
    ),
    "centroid_y_mm": (
        "Centroid y",
        "Amplitude-weighted centre of the FP on the electrode grid, top to bottom.",
        "mm",
    ),
    "reason": (
        "Exclusion reason",
        "Why a span was not analysed (n/a for fasciculations).",
        None,
    ),
}

REASON_LEVELS = {
    "voluntary": "voluntary muscle activity (regular motor-unit trains)",
    "artefact": "movement, electrode or other non-physiological artefact",
    "noise": "noise level too high to detect FPs",
}


def events_table(source: str | PathLike[str] | AnalysisOutputs | Any) -> pd.DataFrame:
    """BIDS events of an analysis: FPs and excluded spans, sorted by onset.

    Missing values are left as NaN/None (written as ``n/a``).
    """
    out = load_outputs(source)
    fp = out.fasciculations
    rows = pd.DataFrame(
        {
            "onset": fp["time_s"].to_numpy(dtype=float),
            "duration": np.zeros(len(fp)),
            "trial_type": FP_TYPE,
            "unit": [int(u) if u >= 0 else None for u in fp["unit"]],
        }
    )
    for col in COLUMNS:
        if col in fp.columns and col not in rows.columns and col not in ("duration", "onset"):
            rows[col] = fp[col].to_numpy()
    extra = [
        c
        for c in fp.columns
        if c not in COLUMNS and c not in ("time_s",) and pd.api.types.is_numeric_dtype(fp[c])
    ]
    for col in extra:
        rows[col] = fp[col].to_numpy()
    rows["reason"] = None
    ex = out.excluded
    spans = pd.DataFrame(
        {
            "onset": ex["start_s"].to_numpy(dtype=float),
            "duration": (ex["end_s"] - ex["start_s"]).clip(lower=0).to_numpy(dtype=float),
            "trial_type": EXCLUDED_TYPE,
            "unit": None,
            "reason": ex["reason"].astype(str).to_numpy(),
        }
    )
    table = pd.concat([rows, spans], ignore_index=True) if len(spans) else rows
    table["unit"] = table["unit"].astype("Int64")
    order = ["onset", "duration", "trial_type", "unit"]
    order += [c for c in table.columns if c not in order and c != "reason"] + ["reason"]
    return table[order].sort_values("onset", kind="stable").reset_index(drop=True)


def events_sidecar(table: pd.DataFrame) -> dict[str, Any]:
    """The ``*_events.json`` description of every column of ``table``."""
    sidecar: dict[str, Any] = {}
    for col in table.columns:
        long_name, description, units = COLUMNS.get(
            col,
            (
                col.replace("_", " "),
                f"FP feature {col!r} computed by fasciq (n/a for spans).",
                None,
            ),
        )
        entry: dict[str, Any] = {"LongName": long_name, "Description": description}
        if units:
            entry["Units"] = units
        sidecar[col] = entry
    sidecar["trial_type"]["Levels"] = {
        FP_TYPE: "a fasciculation potential (spontaneous discharge of one motor unit)",
        EXCLUDED_TYPE: "a span that was not analysed for fasciculations",
    }
    if "reason" in sidecar:
        reasons = sorted({str(r) for r in table["reason"].dropna()})
        sidecar["reason"]["Levels"] = {r: REASON_LEVELS.get(r, f"excluded as {r}") for r in reasons}
    sidecar["GeneratedBy"] = [{"Name": "fasciq", "Version": __version__}]
    return sidecar


def bids_events_path(data_path: str | PathLike[str]) -> Path:
    """``sub-01_task-rest_emg.edf`` → ``sub-01_task-rest_events.tsv`` (same folder)."""
    p = Path(data_path)
    stem = p.name.split(".")[0]
    for suffix in ("_emg", "_events"):
        if stem.endswith(suffix):
            stem = stem[: -len(suffix)]
    return p.with_name(f"{stem}_events.tsv")


def write_bids_events(
    source: str | PathLike[str] | AnalysisOutputs | Any,
    path: str | PathLike[str],
    overwrite: bool = False,
) -> tuple[Path, Path]:
    """Write BIDS ``*_events.tsv`` and its ``*_events.json`` sidecar.

    Parameters
    ----------
    source : path or result
        Analysis folder or in-memory result.
    path : path
        The ``.tsv`` to write (its name should end in ``_events.tsv``); the
        sidecar goes beside it with the ``.json`` suffix.
    overwrite : bool
        Replace existing files.

    Returns
    -------
    (tsv, json) : tuple of Path
    """
    tsv = Path(path)
    if tsv.suffix.lower() != ".tsv":
        raise ParameterError(
            f"BIDS events go in a .tsv file, not {tsv.suffix or 'a file without suffix'}",
            fix="name the output like sub-01_task-rest_events.tsv",
            source=tsv,
        )
    sidecar_path = tsv.with_suffix(".json")
    check_output_free(tsv, overwrite)
    check_output_free(sidecar_path, overwrite)
    table = events_table(source)
    text = table.copy()
    # onsets need sample precision however long the recording: fixed decimals
    text["onset"] = table["onset"].map("{:.6f}".format)
    text["duration"] = table["duration"].map("{:.6f}".format)
    with atomic_path(tsv, overwrite) as tmp:
        text.to_csv(tmp, sep="\t", index=False, na_rep="n/a", float_format="%.6g")
    write_text_atomic(sidecar_path, json.dumps(events_sidecar(table), indent=2), overwrite)
    return tsv, sidecar_path
