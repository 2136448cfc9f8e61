"""The Typer application; each command lives in its own module."""

from __future__ import annotations

from typing import Annotated

import typer

from fasciq._version import __version__

app = typer.Typer(
    name="fasciq",
    help="Detect, sort and quantify fasciculation potentials in surface EMG.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
    rich_markup_mode="rich",
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"fasciq {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
) -> None:
    """Detect, sort and quantify fasciculation potentials in surface EMG."""
    if verbose:
        import logging

        from fasciq._logging import logger, set_log_level

        set_log_level(True)
        if not any(isinstance(h, logging.StreamHandler) for h in logger.handlers):
            from rich.logging import RichHandler

            logger.addHandler(RichHandler(show_path=False))


# register commands (each module adds itself to `app`)
from fasciq.cli import evaluate as _evaluate  # noqa: E402,F401
from fasciq.cli import info as _info  # noqa: E402,F401
from fasciq.cli import grids as _grids  # noqa: E402,F401
from fasciq.cli import analyze as _analyze  # noqa: E402,F401
from fasciq.cli import report as _report  # noqa: E402,F401
from fasciq.cli import export as _export  # noqa: E402,F401
from fasciq.cli import simulate as _simulate  # noqa: E402,F401
from fasciq.cli import batch as _batch  # noqa: E402,F401
from fasciq.cli import query as _query  # noqa: E402,F401
from fasciq.cli import cohort as _cohort  # noqa: E402,F401
