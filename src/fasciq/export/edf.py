"""The analysed recording as EDF+/BDF+ with the FPs and exclusions as annotations."""

from __future__ import annotations

from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from fasciq._logging import logger
from fasciq.errors import DataError
from fasciq.recording import Annotations, Recording
from fasciq.report.outputs import AnalysisOutputs, load_outputs


def fp_label(unit: int) -> str:
    """Annotation text of an FP: ``"FP unit 3"``, or ``"FP"`` without a unit."""
    return f"FP unit {int(unit)}" if int(unit) >= 0 else "FP"


def excluded_label(reason: str) -> str:
    """Annotation text of an excluded span: ``"excluded: voluntary"``."""
    return f"excluded: {reason}"


def result_annotations(source: str | PathLike[str] | AnalysisOutputs | Any) -> Annotations:
    """Annotations for every FP (at its peak, duration 0) and every excluded span.

    Parameters
    ----------
    source : path or result
        Analysis folder, :class:`~fasciq.report.outputs.AnalysisOutputs` or
        an in-memory result.

    Returns
    -------
    Annotations
        Sorted by onset.
    """
    out = load_outputs(source)
    fp = out.fasciculations
    ex = out.excluded
    onset = np.concatenate([fp["time_s"].to_numpy(dtype=float), ex["start_s"].to_numpy(float)])
    duration = np.concatenate(
        [np.zeros(len(fp)), (ex["end_s"] - ex["start_s"]).clip(lower=0).to_numpy(float)]
    )
    text = tuple(fp_label(u) for u in fp["unit"]) + tuple(excluded_label(r) for r in ex["reason"])
    return Annotations(onset, duration, text)


def _check_match(recording: Recording, out: AnalysisOutputs, path: Path) -> None:
    labels = out.channels
    info = out.recording_info
    if info.get("channels") and list(recording.channel_labels) != labels:
        raise DataError(
            "the recording has other channels than the analysed one "
            f"({recording.n_channels} vs {len(labels)})",
            fix="export the recording that was analysed (summary.json names it)",
            source=recording.source or path,
        )
    fs = out.fs
    if fs and abs(recording.fs - fs) > 1e-6 * fs:
        raise DataError(
            f"the recording is sampled at {recording.fs:g} Hz but the analysis at {fs:g} Hz",
            fix="export the recording that was analysed (summary.json names it)",
            source=recording.source or path,
        )
    last = float(out.fasciculations["time_s"].max()) if len(out.fasciculations) else 0.0
    if last > recording.duration_s + 1.0 / recording.fs:
        raise DataError(
            f"an FP at {last:.3f} s lies beyond the end of the recording "
            f"({recording.duration_s:.3f} s)",
            fix="export the recording that was analysed (summary.json names it)",
            source=recording.source or path,
        )


def export_annotated(
    recording: Recording,
    outdir_or_result: str | PathLike[str] | AnalysisOutputs | Any,
    path: str | PathLike[str],
    fmt: str | None = None,
    overwrite: bool = False,
    *,
    keep_file_annotations: bool = True,
    chunk_s: float = 10.0,
) -> Path:
    """Write ``recording`` as EDF+/BDF+ with the analysis results as annotations.

    Each FP becomes an annotation ``"FP unit N"`` (``"FP"`` when it belongs
    to no unit) at the time of its largest peak with duration 0; each
    excluded span becomes ``"excluded: REASON"`` with its duration. The file
    opens in EDFbrowser, MNE (``mne.io.read_raw_edf``) or any EDF+ viewer
    with the marks in place. Samples are streamed, so memory does not grow
    with the recording.

    Parameters
    ----------
    recording : Recording
        The analysed recording.
    outdir_or_result : path or result
        Analysis folder or in-memory result.
    path : path
        Output ``.edf`` (16 bit) or ``.bdf`` (24 bit) file.
    fmt : {"edf", "bdf"}, optional
        Format; from the suffix of ``path`` by default.
    overwrite : bool
        Replace an existing file.
    keep_file_annotations : bool
        Also keep the annotations the recording already carries.
    chunk_s : float
        Seconds read per chunk.

    Returns
    -------
    Path
        The written file.

    Raises
    ------
    DataError
        If the recording is not the one analysed (other channels, sampling
        rate, or shorter than the FP times).
    """
    from fasciq.io.edf_writer import write_edf

    p = Path(path)
    out = load_outputs(outdir_or_result)
    _check_match(recording, out, p)
    annotations = result_annotations(out)
    if keep_file_annotations and len(recording.annotations):
        annotations = recording.annotations + annotations
    written = write_edf(
        recording, p, fmt=fmt, annotations=annotations, overwrite=overwrite, chunk_s=chunk_s
    )
    logger.info(
        "Wrote %s with %d FP and %d excluded-span annotations",
        written,
        len(out.fasciculations),
        len(out.excluded),
    )
    return written
