"""``fasciq analyze``: find every FP of a recording and write the result folder."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

from fasciq.cli._common import console, err_console, user_errors
from fasciq.cli.app import app


def default_outdir(path: Path) -> Path:
    """``RECORDING_fasciq`` beside the recording."""
    name = path.name
    for suffix in (".otb+", ".otb4"):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
            break
    else:
        name = path.stem
    return path.with_name(f"{name}_fasciq")


@app.command()
@user_errors
def analyze(
    path: Annotated[Path, typer.Argument(help="Recording file (any supported format).")],
    grid: Annotated[
        str | None, typer.Option("--grid", help="Catalogue name or ROWSxCOLS@IEDmm.")
    ] = None,
    line_freq: Annotated[
        float | None,
        typer.Option("--line-freq", help="Mains frequency in Hz (detected when not given)."),
    ] = None,
    outdir: Annotated[
        Path | None,
        typer.Option("-o", "--outdir", help="Result folder (default: RECORDING_fasciq)."),
    ] = None,
    overwrite: Annotated[
        bool, typer.Option("--overwrite", help="Replace an existing result folder.")
    ] = False,
    config: Annotated[
        Path | None,
        typer.Option("--config", help="TOML or JSON file of analysis parameters."),
    ] = None,
    chunk_s: Annotated[
        float, typer.Option("--chunk-s", help="Seconds processed at once (memory, not results).")
    ] = 30.0,
    n_jobs: Annotated[
        int,
        typer.Option(
            "--jobs",
            "-j",
            help="Threads (2: read ahead while analysing, and sort in parallel; the results do "
            "not depend on it).",
        ),
    ] = 1,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Detect and sort fasciculation potentials; write the results and report.html.

    Writes fasciculations.csv, excluded.csv, summary.json, units.csv,
    templates.npz and report.html into the output folder, atomically.
    """
    import dataclasses

    from fasciq.analysis import AnalysisParams, ExecutionSettings
    from fasciq.analysis import analyze as run_analysis
    from fasciq.io import read_recording
    from fasciq.result import output_free

    params = AnalysisParams.from_file(config) if config is not None else AnalysisParams()
    if line_freq is not None:
        params = dataclasses.replace(params, line_freq=line_freq)
    execution = ExecutionSettings(chunk_s=chunk_s, n_jobs=n_jobs)
    out = outdir if outdir is not None else default_outdir(path)
    output_free(out, overwrite)  # refuse before spending minutes on the analysis
    rec = read_recording(path, grid=grid)
    with Progress(
        TextColumn("[bold]analysing[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.completed:.0f}/{task.total:.0f} s"),
        TimeRemainingColumn(),
        console=err_console,
        disable=quiet,
        transient=True,
    ) as bar:
        task = bar.add_task(path.name, total=rec.duration_s)
        result = run_analysis(
            rec,
            params,
            execution=execution,
            progress=lambda done, total: bar.update(task, completed=done, total=total),
        )
    result.save(out, overwrite=overwrite, recording=rec)
    s = result.summary
    if s["fp_per_min"] is None:
        rate = "no rate: nothing could be analysed"
    else:
        low, high = s["fp_per_min_ci95"]
        rate = f"{s['fp_per_min']:.1f} FP/min (95 % CI {low:.1f}–{high:.1f})"
    console.print(
        f"{s['n_fp']} FPs, {rate}; analysed {s['analysed_s']:.1f} s, "
        f"excluded {s['excluded_s']:.1f} s"
        + (f"; bad channels: {', '.join(s['bad_channels'])}" if s["bad_channels"] else ""),
        highlight=False,
    )
    console.print(f"results in {out}", highlight=False)
