"""Where a batch puts its outputs: a BIDS-derivatives folder.

::

    DERIVATIVES/
      dataset_description.json
      sub-01/ses-01/emg/<stem>_fasciq/   one finished result per recording
          fasciculations.csv, excluded.csv, summary.json, ...
          fasciq_done.json               completion marker, written last
      catalogue/                         Parquet tables over all results
      failures.json                      recordings that could not be analysed
      .staging/                          half-written results (never read)

A result folder counts as finished only when its completion marker exists;
results are written into ``.staging`` and renamed into place, so a crash at
any moment leaves either a finished folder or none.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from fasciq._atomic import write_text_atomic
from fasciq._version import __version__
from fasciq.cohort.inputs import RecordingEntry

#: Name of the completion marker inside a result folder.
MARKER = "fasciq_done.json"
#: Suffix of a recording's result folder.
RESULT_SUFFIX = "_fasciq"
PIPELINE_NAME = "fasciq"


class DerivativesLayout:
    """Paths of a fasciq derivatives folder.

    Parameters
    ----------
    root : path
        The derivatives folder (created on demand).
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def result_dir(self, entry: RecordingEntry) -> Path:
        """``sub-XX/[ses-YY/]emg/<id>_fasciq`` (or ``<id>_fasciq`` without a subject)."""
        folder = self.root
        if entry.subject:
            folder = folder / f"sub-{entry.subject}"
            if entry.session:
                folder = folder / f"ses-{entry.session}"
            folder = folder / "emg"
        return folder / f"{entry.recording_id}{RESULT_SUFFIX}"

    def marker(self, entry: RecordingEntry) -> Path:
        """The completion marker of ``entry``'s result."""
        return self.result_dir(entry) / MARKER

    @property
    def staging(self) -> Path:
        """Folder of half-written results."""
        return self.root / ".staging"

    @property
    def catalogue(self) -> Path:
        """Folder of the Parquet catalogue tables."""
        return self.root / "catalogue"

    @property
    def failures(self) -> Path:
        """JSON list of the recordings that failed in the last batch."""
        return self.root / "failures.json"

    def markers(self) -> list[Path]:
        """Every completion marker under the root, sorted."""
        found = [
            p for p in self.root.rglob(MARKER) if ".staging" not in p.relative_to(self.root).parts
        ]
        return sorted(found)

    def write_description(self, source: str | None = None) -> Path:
        """Write ``dataset_description.json`` (BIDS derivatives) if missing."""
        path = self.root / "dataset_description.json"
        if path.exists():
            return path
        desc: dict[str, Any] = {
            "Name": "fasciq fasciculation analysis",
            "BIDSVersion": "1.10.0",
            "DatasetType": "derivative",
            "GeneratedBy": [
                {
                    "Name": PIPELINE_NAME,
                    "Version": __version__,
                    "Description": "Detection, sorting and quantification of fasciculation "
                    "potentials in surface EMG",
                }
            ],
        }
        if source:
            desc["SourceDatasets"] = [{"URL": Path(source).resolve().as_uri()}]
        self.root.mkdir(parents=True, exist_ok=True)
        return write_text_atomic(path, json.dumps(desc, indent=2))


def read_marker(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The content of a completion marker, or None if it is missing or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


__all__ = ["MARKER", "RESULT_SUFFIX", "DerivativesLayout", "read_marker"]
