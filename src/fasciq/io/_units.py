"""Physical units of voltage: every spelling labs use, converted to µV."""

from __future__ import annotations

from os import PathLike

from fasciq.errors import FormatError

# factors that turn a value in the given unit into microvolts
_TO_UV = {
    "v": 1e6,
    "volt": 1e6,
    "volts": 1e6,
    "mv": 1e3,
    "millivolt": 1e3,
    "millivolts": 1e3,
    "uv": 1.0,
    "microvolt": 1.0,
    "microvolts": 1.0,
    "nv": 1e-3,
    "nanovolt": 1e-3,
    "nanovolts": 1e-3,
}


def normalise_unit(unit: str) -> str:
    """Fold the spellings of a voltage unit (``µV``, ``μV``, ``uV``, ``mV``...) to lower ASCII."""
    text = unit.strip().replace("\u00b5", "u").replace("\u03bc", "u").replace(" ", "")
    return text.lower()


def is_voltage_unit(unit: str) -> bool:
    """True if ``unit`` is a spelling of a voltage unit."""
    return normalise_unit(unit) in _TO_UV


def to_microvolt_factor(unit: str, source: str | PathLike[str] | None = None) -> float:
    """Factor that converts values in ``unit`` to µV.

    Accepts ``V``, ``mV``, ``uV``/``µV``/``μV``, ``nV`` and long names in any
    case (``MV`` is read as millivolt: megavolts do not occur in EMG).

    Raises
    ------
    FormatError
        If ``unit`` is not a voltage unit.
    """
    key = normalise_unit(unit)
    if key not in _TO_UV:
        raise FormatError(
            f"unknown physical unit {unit!r} for an EMG channel",
            fix="the unit must be V, mV, uV or nV; correct the header or sidecar",
            source=source,
        )
    return _TO_UV[key]
