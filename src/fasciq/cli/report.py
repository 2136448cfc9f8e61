"""``fasciq report``: re-render the HTML report of a saved analysis."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from fasciq.cli._common import console, user_errors
from fasciq.cli.app import app


@app.command()
@user_errors
def report(
    outdir: Annotated[Path, typer.Argument(help="Analysis folder (holds summary.json).")],
    recording: Annotated[
        Path | None,
        typer.Option(
            "--recording",
            help="The analysed recording, for example traces (default: the file named in "
            "summary.json, if it still exists).",
        ),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing report.html.")
    ] = False,
) -> None:
    """Write OUTDIR/report.html from the saved results, without re-analysis."""
    from fasciq.report.html import render_report
    from fasciq.report.outputs import load_outputs

    out = load_outputs(outdir)
    source = recording
    if source is None:
        saved = out.source_path()
        if saved is not None and saved.exists():
            source = saved
        elif saved is not None:
            console.print(
                f"recording {saved} not found: the report has no example traces "
                "(give it with --recording)",
                highlight=False,
                soft_wrap=True,
            )
    path = render_report(outdir, source, overwrite=overwrite)
    console.print(f"wrote {path}", highlight=False, soft_wrap=True)
