"""``fasciq info``: what a recording holds, and the quality of its channels."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import numpy as np
import typer
from rich.table import Table

from fasciq.cli._common import console, user_errors
from fasciq.cli.app import app


def quality_sample(recording, seconds: float = 60.0, n_windows: int = 6) -> np.ndarray:
    """Up to ``seconds`` of raw traces taken in windows spread over the recording."""
    n = recording.n_samples
    want = int(min(n, seconds * recording.fs))
    win = max(1, want // n_windows)
    if want >= n:
        return recording.get_traces()
    starts = np.linspace(0, n - win, n_windows).astype(int)
    return np.concatenate([recording.get_traces(s, s + win) for s in starts], axis=0)


@app.command()
@user_errors
def info(
    path: Annotated[Path, typer.Argument(help="Recording file (any supported format).")],
    grid: Annotated[
        str | None, typer.Option("--grid", help="Catalogue name or ROWSxCOLS@IEDmm.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print one JSON object.")] = False,
) -> None:
    """Describe a recording and the quality of its channels.

    Prints format, channels, sampling rate, duration, units, grid,
    annotations and per-channel quality flags.
    """
    from fasciq.io import read_recording
    from fasciq.signal.line import detect_line_frequency
    from fasciq.signal.quality import channel_quality
    from fasciq.validate import check_finite

    rec = read_recording(path, grid=grid)
    sample = quality_sample(rec)
    check_finite(sample, rec.source, rec.channel_labels)
    line_freq = detect_line_frequency(sample, rec.fs)
    adjacency = rec.grid.adjacency() if rec.grid is not None else None
    flags = channel_quality(sample, rec.fs, adjacency=adjacency, line_freq=line_freq)
    desc = rec.describe()
    desc["line_freq_hz"] = line_freq
    desc["quality"] = {lab: f for lab, f in zip(rec.channel_labels, flags, strict=True) if f}
    if as_json:
        typer.echo(json.dumps(desc, default=str))
        return
    table = Table(show_header=False, box=None)
    table.add_row("file", str(rec.source))
    table.add_row("format", rec.format_name)
    table.add_row(
        "channels",
        f"{rec.n_channels} ({', '.join(rec.channel_labels[:6])}"
        f"{', ...' if rec.n_channels > 6 else ''})",
    )
    table.add_row("sampling rate", f"{rec.fs:g} Hz")
    table.add_row("duration", f"{rec.duration_s:.2f} s ({rec.n_samples} samples)")
    table.add_row("units", f"µV (file: {rec.file_unit})")
    table.add_row("grid", repr(rec.grid) if rec.grid is not None else "none")
    table.add_row("line noise", f"{line_freq:g} Hz" if line_freq else "not detected")
    table.add_row("annotations", str(len(rec.annotations)))
    meta = rec.metadata.to_dict()
    extra = meta.pop("extra")
    shown = {k: v for k, v in meta.items() if v not in (None, [], {})}
    if shown:
        table.add_row("metadata", ", ".join(f"{k}={v}" for k, v in shown.items()))
    for key in ("skipped_channels", "aux_channels", "bad_channels"):
        items = extra.get(key) or []
        if items:
            names = [str(i) for i in items]
            text = ", ".join(names[:3]) + (f" ... ({len(names)} in all)" if len(names) > 3 else "")
            table.add_row(key.replace("_", " "), text)
    bad = desc["quality"]
    table.add_row(
        "channel quality",
        "all good" if not bad else "; ".join(f"{k}: {', '.join(v)}" for k, v in bad.items()),
    )
    console.print(table)
    for onset, duration, text in list(rec.annotations)[:20]:
        console.print(f"  {onset:10.3f} s  {duration:8.3f} s  {text}", highlight=False)
    if len(rec.annotations) > 20:
        console.print(f"  ... and {len(rec.annotations) - 20} more")
