"""``fasciq query``: SQL over the results catalogue of a batch."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from fasciq.cli._common import console, user_errors
from fasciq.cli.app import app


@app.command()
@user_errors
def query(
    derivatives: Annotated[Path, typer.Argument(help="Derivatives folder of fasciq batch.")],
    sql: Annotated[
        str,
        typer.Argument(
            help="DuckDB SQL over the tables recordings, fasciculations, units, excluded."
        ),
    ],
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV instead of a table.")] = False,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print JSON records instead of a table.")
    ] = False,
    limit: Annotated[int, typer.Option("--limit", help="Rows shown in the table.")] = 50,
) -> None:
    """Query the catalogue, e.g. "SELECT muscle, avg(fp_per_min) FROM recordings GROUP BY 1"."""
    from fasciq.cohort.catalogue import query as run_query

    frame = run_query(derivatives, sql)
    if as_csv:
        typer.echo(frame.to_csv(index=False), nl=False)
        return
    if as_json:
        typer.echo(frame.to_json(orient="records", date_format="iso"))
        return
    table = Table(caption=f"{len(frame)} row(s)")
    for col in frame.columns:
        table.add_column(str(col), justify="right" if frame[col].dtype.kind in "iuf" else "left")
    for row in frame.head(limit).itertuples(index=False):
        table.add_row(*[_cell(v) for v in row])
    console.print(table)


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if value != value else f"{value:.6g}"
    return str(value)
