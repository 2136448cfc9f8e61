"""Exports of analysis results to the formats the field already uses.

* :func:`export_annotated` — the recording as EDF+/BDF+ with one annotation
  per FP and the excluded spans, for EDFbrowser, MNE and other viewers;
* :func:`write_bids_events` — BIDS ``*_events.tsv`` with a JSON sidecar
  describing every column.
"""

from __future__ import annotations

from fasciq.export.bids import bids_events_path, events_table, write_bids_events
from fasciq.export.edf import export_annotated, result_annotations

__all__ = [
    "bids_events_path",
    "events_table",
    "export_annotated",
    "result_annotations",
    "write_bids_events",
]
