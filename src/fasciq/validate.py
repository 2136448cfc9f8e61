"""Central validators for user input.

Each raises a :class:`~fasciq.errors.FasciqError` whose message names the bad
value and the fix. Never ``assert`` on user input.
"""

from __future__ import annotations

from collections.abc import Sequence
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from fasciq.errors import DataError, FasciqError, OutputExistsError, ParameterError

Source = str | PathLike[str] | None


def check_positive(value: Any, name: str, *, allow_zero: bool = False) -> float:
    """Return ``value`` as float if it is a finite positive number."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ParameterError(
            f"{name} must be a number, got {value!r}", fix=f"give {name} as a number", source=name
        ) from None
    if not np.isfinite(number) or number < 0 or (number == 0 and not allow_zero):
        bound = "≥ 0" if allow_zero else "> 0"
        raise ParameterError(
            f"{name} must be finite and {bound}, got {value!r}",
            fix=f"give a {name} {bound}",
            source=name,
        )
    return number


def check_int(value: Any, name: str, low: int) -> int:
    """Return ``value`` as int if it is a whole number ``>= low``."""
    try:
        whole = int(value) == value
    except (TypeError, ValueError):
        whole = False
    if not whole or value < low:
        raise ParameterError(
            f"{name} must be an integer ≥ {low}, got {value!r}",
            fix=f"give {name} as a whole number ≥ {low}",
            source=name,
        )
    return int(value)


def check_in_range(value: Any, name: str, low: float, high: float) -> float:
    """Return ``value`` as float if ``low <= value <= high``."""
    number = check_positive(value, name, allow_zero=True) if low >= 0 else float(value)
    if not (low <= number <= high):
        raise ParameterError(
            f"{name} must lie in [{low}, {high}], got {value!r}",
            fix=f"choose {name} between {low} and {high}",
            source=name,
        )
    return number


def check_choice(value: Any, name: str, choices: Sequence[Any]) -> Any:
    """Return ``value`` if it is one of ``choices``."""
    if value not in choices:
        raise ParameterError(
            f"{name} must be one of {', '.join(map(repr, choices))}, got {value!r}",
            fix=f"pick one of {', '.join(map(str, choices))}",
            source=name,
        )
    return value


def check_sampling_rate(fs: Any, source: Source = None) -> float:
    """Return a valid sampling rate in Hz (finite, > 0)."""
    try:
        rate = float(fs)
    except (TypeError, ValueError):
        rate = float("nan")
    if not np.isfinite(rate) or rate <= 0:
        raise DataError(
            f"the sampling rate must be a positive number of Hz, got {fs!r}",
            fix="check the header or sidecar that gives the sampling rate",
            source=source,
        )
    return rate


def check_finite(traces: np.ndarray, source: Source = None, labels: Sequence[str] = ()) -> None:
    """Raise if ``traces`` (samples × channels) holds NaN or infinite values."""
    finite = np.isfinite(traces)
    if finite.all():
        return
    bad_cols = np.flatnonzero(~finite.all(axis=0)) if traces.ndim == 2 else np.array([0])
    names = [labels[i] if i < len(labels) else str(i) for i in bad_cols[:5]]
    more = "" if len(bad_cols) <= 5 else f" and {len(bad_cols) - 5} more"
    raise DataError(
        f"{int((~finite).sum())} samples are NaN or infinite (channels {', '.join(names)}{more})",
        fix="remove or interpolate the missing samples before analysis, or drop those channels",
        source=source,
    )


def check_file_exists(path: str | PathLike[str]) -> Path:
    """Return ``path`` as :class:`Path` if it exists."""
    p = Path(path)
    if not p.exists():
        raise FasciqError("file not found", fix="check the path and spelling", source=p)
    return p


def check_output_free(path: str | PathLike[str], overwrite: bool) -> Path:
    """Raise unless ``path`` does not exist or ``overwrite`` is set."""
    p = Path(path)
    if p.exists() and not overwrite:
        raise OutputExistsError(
            "output already exists", fix="choose another output or pass --overwrite", source=p
        )
    return p
