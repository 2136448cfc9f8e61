"""The package logger (``logging.getLogger("fasciq")``) and its verbosity switch."""

from __future__ import annotations

import logging

logger = logging.getLogger("fasciq")
logger.addHandler(logging.NullHandler())

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def set_log_level(verbose: bool | str | int | None = None) -> None:
    """Set how much the ``fasciq`` logger says.

    Parameters
    ----------
    verbose : bool, str, int or None
        ``True`` means INFO, ``False``/``None`` WARNING; a level name
        (``"debug"``, ``"info"``, ``"warning"``, ``"error"``) or a number
        from :mod:`logging` is used as given.
    """
    if verbose is None or verbose is False:
        level = logging.WARNING
    elif verbose is True:
        level = logging.INFO
    elif isinstance(verbose, str):
        try:
            level = _LEVELS[verbose.lower()]
        except KeyError:
            from fasciq.errors import ParameterError

            raise ParameterError(
                f"unknown log level {verbose!r}",
                fix=f"use one of {', '.join(_LEVELS)}",
                source="verbose",
            ) from None
    else:
        level = int(verbose)
    logger.setLevel(level)
