"""Figures of fasciculation results (matplotlib, headless-safe).

Every function returns a :class:`matplotlib.figure.Figure` and takes
``ax=`` to draw into an existing axes. Nothing here selects a backend:
figures are plain ``Figure`` objects, shown by notebooks as they are and
saved with ``fig.savefig(...)``.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "plot_timeline": "fasciq.plot.timeline",
    "plot_raster": "fasciq.plot.raster",
    "plot_grid_heatmap": "fasciq.plot.grid",
    "plot_bad_channels": "fasciq.plot.grid",
    "plot_unit_template": "fasciq.plot.template",
    "plot_amplitude_hist": "fasciq.plot.hist",
    "plot_interval_hist": "fasciq.plot.hist",
    "plot_noise": "fasciq.plot.noise",
    "plot_fp_example": "fasciq.plot.traces",
    "reason_colour": "fasciq.plot._base",
    "unit_colour": "fasciq.plot._base",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'fasciq.plot' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
