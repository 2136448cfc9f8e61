"""The recording and its FPs as an :class:`mne.io.RawArray` (optional extra ``fasciq[mne]``)."""

from __future__ import annotations

from os import PathLike
from typing import Any

import numpy as np

from fasciq.errors import FasciqError
from fasciq.recording import Recording


def _import_mne() -> Any:
    try:
        import mne
    except ImportError:
        raise FasciqError(
            "MNE-Python is not installed",
            fix="install it with `pip install fasciq[mne]` (or `pip install mne`)",
            source="to_mne",
        ) from None
    return mne


def to_mne(
    recording: Recording,
    result: str | PathLike[str] | Any | None = None,
    *,
    bad_prefix: bool = True,
) -> Any:
    """Convert a recording (and optionally its analysis) to MNE-Python.

    The whole recording is read into memory (MNE's ``RawArray`` holds it).

    Parameters
    ----------
    recording : Recording
        The analysed recording.
    result : path or result, optional
        Analysis folder or in-memory result; each FP becomes an annotation
        ``"FP unit N"`` (``"FP"`` without a unit) at its peak, and each
        excluded span one with its duration.
    bad_prefix : bool
        Name excluded spans ``"BAD_excluded: REASON"`` so that MNE leaves
        them out of epochs and averages (``"excluded: REASON"`` otherwise).

    Returns
    -------
    mne.io.RawArray
        Data in volts, channel type ``emg``; electrode positions (in m,
        ``x`` to the right, ``y`` upwards, as in MNE's head frame) when the
        grid is known; the recording's own annotations kept.
    """
    mne = _import_mne()
    info = mne.create_info(list(recording.channel_labels), recording.fs, ch_types="emg")
    positions = recording.positions_mm
    if positions is not None:
        for ch, (x_mm, y_mm) in zip(info["chs"], positions, strict=True):
            loc = np.full(12, np.nan)
            loc[:3] = (x_mm / 1000.0, -y_mm / 1000.0, 0.0)
            ch["loc"] = loc
    meta = recording.metadata
    if meta.subject:
        info["subject_info"] = {"his_id": str(meta.subject)}
    data = recording.get_traces().T.astype(np.float64) * 1e-6
    raw = mne.io.RawArray(data, info, verbose="error")
    onsets: list[float] = []
    durations: list[float] = []
    texts: list[str] = []
    for onset, duration, text in recording.annotations:
        onsets.append(onset)
        durations.append(duration)
        texts.append(text)
    if result is not None:
        from fasciq.export.edf import result_annotations

        for onset, duration, text in result_annotations(result):
            onsets.append(onset)
            durations.append(duration)
            texts.append(f"BAD_{text}" if bad_prefix and text.startswith("excluded") else text)
    if onsets:
        raw.set_annotations(mne.Annotations(onsets, durations, texts))
    return raw
