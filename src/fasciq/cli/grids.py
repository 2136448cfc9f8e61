"""``fasciq grids``: the electrode grid catalogue."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.table import Table

from fasciq.cli._common import console, user_errors
from fasciq.cli.app import app


@app.command()
@user_errors
def grids(
    name: Annotated[
        str | None, typer.Argument(help="A catalogue name or ROWSxCOLS@IEDmm spec to describe.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """List the grid catalogue, or describe one grid with its channel layout."""
    from fasciq.grids import catalogue_grid, catalogue_names, get_grid

    if name is None:
        items = [catalogue_grid(n).describe() for n in catalogue_names()]
        if as_json:
            typer.echo(json.dumps(items))
            return
        table = Table(title="electrode grid catalogue")
        for col in ("name", "rows x cols", "IED (mm)", "electrodes", "description"):
            table.add_column(col)
        for g in items:
            table.add_row(
                g["name"],
                f"{g['rows']} x {g['cols']}",
                f"{g['ied_mm']:g}",
                str(g["n_channels"]),
                g["description"],
            )
        console.print(table)
        console.print("Any other regular grid: ROWSxCOLS@IEDmm, e.g. 8x8@4 (row-major).")
        return
    grid = get_grid(name)
    if as_json:
        typer.echo(json.dumps({**grid.describe(), "layout": grid.layout.tolist()}))
        return
    console.print(repr(grid))
    width = len(str(grid.n_channels))
    for row in grid.layout:
        console.print(
            "  ".join("·".rjust(width) if c < 0 else str(c + 1).rjust(width) for c in row),
            highlight=False,
        )
    console.print(f"channel numbers are 1-based; fibres along the grid {grid.fibre_axis}")
