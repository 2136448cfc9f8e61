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


# register commands: each module adds itself to `app`; the order here is the
# order of `fasciq --help`
from fasciq.cli import (  # noqa: E402, F401, I001
    info,
    grids,
    simulate,
    analyze,
    evaluate,
    report,
    export,
    batch,
    query,
    cohort,
)
