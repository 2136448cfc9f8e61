"""``fasciq simulate``: write a simulated recording with its ground truth."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from fasciq.cli._common import console, err_console, user_errors
from fasciq.cli.app import app
from fasciq.errors import ParameterError


@app.command("simulate")
@user_errors
def simulate_command(
    preset: Annotated[str, typer.Option("--preset", help="Scenario preset.")] = "als",
    duration: Annotated[float, typer.Option("--duration", help="Length in seconds.")] = 60.0,
    grid: Annotated[
        str, typer.Option("--grid", help="Catalogue name or ROWSxCOLS@IEDmm.")
    ] = "GR08MM1305",
    fs: Annotated[float, typer.Option("--fs", help="Sampling rate in Hz.")] = 2048.0,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same file).")] = 0,
    line_freq: Annotated[
        float | None, typer.Option("--line-freq", help="Mains frequency, 50 or 60 Hz.")
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Output .bdf (24-bit) or .edf file.")
    ] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace existing files.")] = False,
    list_presets: Annotated[
        bool, typer.Option("--list-presets", help="List the presets and exit.")
    ] = False,
) -> None:
    """Simulate surface EMG with known fasciculations.

    Writes the signal file plus ``<stem>.truth.csv`` (one row per discharge)
    and ``<stem>.truth.json``.
    """
    from fasciq.simulate import PRESETS, simulate, write_simulation

    if list_presets:
        table = Table(show_header=True, box=None)
        table.add_column("preset")
        table.add_column("description")
        for name, p in PRESETS.items():
            table.add_row(name, p.description)
        console.print(table)
        return
    if output is None:
        raise ParameterError(
            "no output file given", fix="pass -o PATH.bdf (or .edf)", source="fasciq simulate"
        )
    overrides = {} if line_freq is None else {"line_freq_hz": line_freq}
    sim = simulate(preset=preset, duration_s=duration, grid=grid, fs=fs, seed=seed, **overrides)
    with Progress(
        TextColumn("[bold]simulating[/] {task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    ) as progress:
        task = progress.add_task(output.name, total=sim.recording.n_samples)
        write_simulation(
            sim,
            output,
            overwrite=overwrite,
            progress=lambda done, total: progress.update(task, completed=done),
        )
    n_fp = int((sim.truth.discharges["kind"] == "fasciculation").sum())
    console.print(
        f"wrote {output} ({sim.recording.n_channels} ch, {duration:g} s, preset {preset}): "
        f"{n_fp} fasciculations from "
        f"{int((sim.truth.units['class'] == 'fasciculating').sum())} units, "
        f"{len(sim.truth.voluntary_epochs)} voluntary epochs",
        highlight=False,
    )
