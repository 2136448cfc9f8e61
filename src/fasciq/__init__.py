"""fasciq: detect, sort and quantify fasciculation potentials in surface EMG.

Importing fasciq is cheap and has no side effects: submodules load on first
use. The main entry points are::

    import fasciq
    rec = fasciq.read_recording("session.bdf", grid="GR08MM1305")
    rec.get_traces(0, 2048)          # (n_samples, n_channels) float32 µV
"""

from __future__ import annotations

import importlib
from typing import Any

from fasciq._version import __version__

# public name -> module that defines it (imported on first access)
_LAZY = {
    "Recording": "fasciq.recording",
    "ArrayRecording": "fasciq.recording",
    "Annotations": "fasciq.recording",
    "RecordingMetadata": "fasciq.recording",
    "Grid": "fasciq.grids",
    "get_grid": "fasciq.grids",
    "read_recording": "fasciq.io",
    "write_recording": "fasciq.io",
    "FasciqError": "fasciq.errors",
    "set_log_level": "fasciq._logging",
    "simulate": "fasciq.simulate",
    "analyze": "fasciq.analysis",
    "AnalysisParams": "fasciq.analysis",
    "Result": "fasciq.result",
    "evaluate": "fasciq.evaluate",
    "plot": "fasciq.plot",
    "to_mne": "fasciq.interop.mne",
}

__all__ = ["__version__", *_LAZY]


def __getattr__(name: str) -> Any:
    module_name = _LAZY.get(name)
    if module_name is None:
        raise AttributeError(f"module 'fasciq' has no attribute {name!r}")
    module = importlib.import_module(module_name)
    value = module if module_name.endswith("." + name) else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
