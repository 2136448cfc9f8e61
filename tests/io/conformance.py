"""The reader conformance contract.

Every reader contributes cases: a module in ``tests/io/cases/`` defines
``CASES``, a list of functions ``build(tmp_path) -> ConformanceCase`` that
write a file of their format (following the public format description byte
for byte) and state what reading it must give. ``test_conformance.py`` runs
the same checks on every case.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np


@dataclass
class ConformanceCase:
    """A file and what reading it must give.

    Parameters
    ----------
    path : Path
        File to pass to ``read_recording``.
    format : str
        Dispatcher format name expected (``FormatSpec.name``).
    fs : float
        Sampling rate in Hz.
    labels : list of str
        EMG channel labels in order.
    data_uv : ndarray, shape (n_samples, n_channels)
        Expected traces in µV.
    atol_uv : float
        Allowed absolute error (the format's resolution).
    file_unit : str, optional
        Unit the file declares (normalised spelling, e.g. ``"mV"``).
    annotations : list of (onset, duration, text), optional
        Expected annotations (``None``: not checked).
    grid_name : str, optional
        Grid the reader must recognise from the file itself.
    positions_mm : ndarray, optional
        Electrode positions the reader must find.
    corrupt : callable, optional
        ``corrupt(path)`` damages the file so that reading must fail with a
        :class:`~fasciq.errors.FasciqError`.
    kwargs : dict
        Extra keyword arguments for ``read_recording``.
    """

    path: Path
    format: str
    fs: float
    labels: list[str]
    data_uv: np.ndarray
    atol_uv: float
    file_unit: str | None = None
    annotations: list[tuple[float, float, str]] | None = None
    grid_name: str | None = None
    positions_mm: np.ndarray | None = None
    corrupt: Callable[[Path], None] | None = None
    kwargs: dict = field(default_factory=dict)


def truncate(fraction: float = 0.5) -> Callable[[Path], None]:
    """A ``corrupt`` function that cuts the file to ``fraction`` of its size."""

    def cut(path: Path) -> None:
        size = path.stat().st_size
        with open(path, "r+b") as f:
            f.truncate(int(size * fraction))

    return cut


def test_signal(
    n_samples: int, n_channels: int, seed: int = 0, scale_uv: float = 200.0
) -> np.ndarray:
    """A reproducible test signal in µV: noise plus a per-channel sine."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples)[:, None]
    sines = scale_uv * np.sin(2 * np.pi * t * (1 + np.arange(n_channels)) / 997.0)
    return (sines + rng.normal(0, scale_uv / 4, (n_samples, n_channels))).astype(np.float64)
