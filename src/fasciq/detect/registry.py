"""Registry of FP detection methods by name."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fasciq.errors import ParameterError

Detector = Callable[..., Any]

_DETECTORS: dict[str, Detector] = {}


def register_detector(name: str) -> Callable[[Detector], Detector]:
    """Decorator adding a detection function to the registry under ``name``."""

    def wrap(func: Detector) -> Detector:
        _DETECTORS[name] = func
        return func

    return wrap


def detector_names() -> list[str]:
    """Names of the registered detectors."""
    _load()
    return sorted(_DETECTORS)


def get_detector(name: str) -> Detector:
    """The detection function registered as ``name``."""
    _load()
    try:
        return _DETECTORS[name]
    except KeyError:
        raise ParameterError(
            f"unknown detection method {name!r}",
            fix=f"use one of {', '.join(sorted(_DETECTORS))}",
            source="method",
        ) from None


def _load() -> None:
    import fasciq.detect.detector  # noqa: F401  (registers the built-in methods)
