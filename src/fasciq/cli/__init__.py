"""The ``fasciq`` command line: thin commands over the library."""

from __future__ import annotations


def main() -> None:
    """Entry point of the ``fasciq`` console script."""
    from fasciq.cli.app import app

    app()
