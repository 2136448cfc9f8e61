"""Exceptions raised for problems the user can fix.

Every user-facing error names three things: the file (or argument) at
fault, what is wrong with it, and how to fix it. The command line prints
``str(error)`` as a single line and exits non-zero, without a traceback.
"""

from __future__ import annotations

from os import PathLike


class FasciqError(Exception):
    """A problem with the user's input that fasciq can explain.

    Parameters
    ----------
    problem : str
        What is wrong, in plain words.
    fix : str, optional
        What the user can do about it.
    source : str or path-like, optional
        The file or argument the problem is in.
    """

    def __init__(
        self,
        problem: str,
        fix: str | None = None,
        source: str | PathLike[str] | None = None,
    ) -> None:
        self.problem = problem
        self.fix = fix
        self.source = None if source is None else str(source)
        super().__init__(self.message)

    @property
    def message(self) -> str:
        """One line: ``SOURCE: PROBLEM. Fix: FIX``."""
        text = self.problem.rstrip(".")
        if self.source:
            text = f"{self.source}: {text}"
        return f"{text}. Fix: {self.fix.rstrip('.')}." if self.fix else f"{text}."

    def __str__(self) -> str:
        return self.message


class FormatError(FasciqError):
    """A file is of an unknown format, truncated, corrupt or inconsistent."""


class DataError(FasciqError):
    """Signal values are unusable (NaN/inf, no channels, too short...)."""


class GridError(FasciqError):
    """An electrode grid spec is malformed or does not fit the recording."""


class ParameterError(FasciqError):
    """A method or execution parameter has an invalid value."""


class OutputExistsError(FasciqError):
    """An output would overwrite an existing result without ``--overwrite``."""
