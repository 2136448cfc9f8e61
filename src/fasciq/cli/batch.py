"""``fasciq batch``: analyse a whole study on Dask into a BIDS-derivatives folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fasciq.cli._common import console, user_errors
from fasciq.cli.app import app


@app.command()
@user_errors
def batch(
    source: Annotated[
        str,
        typer.Argument(
            help="EMG-BIDS root, folder, glob pattern (quoted) or CSV listing "
            "(path + metadata columns)."
        ),
    ],
    derivatives: Annotated[
        Path, typer.Option("-o", "--output", help="Derivatives folder (created if needed).")
    ],
    grid: Annotated[
        str | None, typer.Option("--grid", help="Catalogue name or ROWSxCOLS@IEDmm for all.")
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            "-w",
            help="Local worker processes (default: one per core, at most one per recording).",
        ),
    ] = None,
    threads: Annotated[
        int | None,
        typer.Option(
            "--threads",
            help="Threads per recording (default: the cores shared out between local "
            "workers; 1 on an external cluster).",
        ),
    ] = None,
    scheduler: Annotated[
        str | None,
        typer.Option(
            "--scheduler",
            help="Address (tcp://HOST:PORT) or scheduler JSON file of a running "
            "Dask cluster, instead of a local one.",
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", help="TOML or JSON file of analysis parameters.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Recompute finished, unchanged recordings too.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Analyse every recording of a study; skip finished ones; build the catalogue.

    Results go to DERIVATIVES/sub-XX/ses-YY/emg/<recording>_fasciq/. A recording that
    fails is listed in DERIVATIVES/failures.json and the batch goes on. Run it again
    after an interruption: finished recordings are kept.
    """
    from fasciq.analysis import AnalysisParams
    from fasciq.cohort.batch import BatchSettings, ProcessOptions, run_batch
    from fasciq.cohort.inputs import discover

    params = AnalysisParams.from_file(config) if config is not None else AnalysisParams()
    if grid is not None:
        from fasciq.grids import get_grid

        get_grid(grid)  # a bad spec fails here, not once per recording
    entries = discover(source)
    settings = BatchSettings(
        n_workers=workers,
        scheduler=scheduler,
        overwrite=overwrite,
        progress=not quiet,
        threads=threads,
    )
    report = run_batch(
        entries,
        derivatives,
        ProcessOptions(params=params.to_dict(), grid=grid),
        settings,
        source=source,
    )
    table = Table(title=f"fasciq batch → {derivatives}")
    table.add_column("recordings")
    table.add_column("count", justify="right")
    for name, value in (
        ("found", report.n_total),
        ("analysed now", report.n_done),
        ("already finished", report.n_skipped),
        ("failed", report.n_failed),
    ):
        table.add_row(name, str(value))
    console.print(table)
    if report.n_done:
        console.print(
            f"{report.n_done} analysed in {report.wall_s:.1f} s on {report.n_workers} worker(s), "
            f"{report.threads} thread(s) per recording"
        )
    for fail in report.failures[:10]:
        console.print(
            f"[red]failed[/] {fail['recording_id']}: {fail['message']}",
            highlight=False,
            soft_wrap=True,
        )
    if report.n_failed:
        console.print(f"failures are listed in {Path(derivatives) / 'failures.json'}")
        raise typer.Exit(code=1)
