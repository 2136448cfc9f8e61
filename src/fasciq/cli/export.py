"""``fasciq export``: the recording as EDF+/BDF+ with FP annotations, and BIDS events."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fasciq.cli._common import console, user_errors
from fasciq.cli.app import app


@app.command()
@user_errors
def export(
    recording: Annotated[Path, typer.Argument(help="The analysed recording.")],
    outdir: Annotated[Path, typer.Argument(help="Analysis folder (holds summary.json).")],
    output: Annotated[
        Path, typer.Option("--output", "-o", help="File to write: .edf (16 bit) or .bdf (24 bit).")
    ],
    bids_events: Annotated[
        bool,
        typer.Option(
            "--bids-events",
            help="Also write BIDS *_events.tsv + *_events.json beside the output.",
        ),
    ] = False,
    grid: Annotated[
        str | None, typer.Option("--grid", help="Catalogue name or ROWSxCOLS@IEDmm.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
) -> None:
    """Write RECORDING with one annotation per FP and per excluded span.

    The file opens in EDFbrowser or MNE with "FP unit N" marks at each FP's
    peak and "excluded: REASON" spans.
    """
    from fasciq.errors import ParameterError
    from fasciq.export.bids import bids_events_path, write_bids_events
    from fasciq.export.edf import export_annotated
    from fasciq.io import read_recording
    from fasciq.report.outputs import load_outputs
    from fasciq.validate import check_output_free

    if output.suffix.lower() not in (".edf", ".bdf"):
        raise ParameterError(
            f"cannot export to {output.suffix or 'a file without suffix'}",
            fix="name the output .edf or .bdf",
            source=output,
        )
    events = bids_events_path(output)
    if bids_events:
        check_output_free(events, overwrite)
        check_output_free(events.with_suffix(".json"), overwrite)
    out = load_outputs(outdir)
    rec = read_recording(recording, grid=grid)
    path = export_annotated(rec, out, output, overwrite=overwrite)
    console.print(
        f"wrote {path} ({len(out.fasciculations)} FPs, {len(out.excluded)} excluded spans)",
        highlight=False,
        soft_wrap=True,
    )
    if bids_events:
        tsv, sidecar = write_bids_events(out, events, overwrite=overwrite)
        console.print(f"wrote {tsv} and {sidecar}", highlight=False, soft_wrap=True)
