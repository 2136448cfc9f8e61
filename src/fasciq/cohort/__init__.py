"""Cohorts at scale: batch analysis on Dask, a results catalogue, longitudinal statistics.

::

    from fasciq.cohort import discover, run_batch, query, fit_longitudinal, load_table
    entries = discover("bids_root")                 # EMG-BIDS, folder, glob or CSV listing
    run_batch(entries, "derivatives")               # one Dask task per recording
    query("derivatives", "SELECT count(*) FROM fasciculations")
    fit = fit_longitudinal(load_table("derivatives", "recordings"))

Dask, DuckDB and statsmodels are imported only when used.
"""

from __future__ import annotations

import importlib
from typing import Any

_LAZY = {
    "RecordingEntry": "fasciq.cohort.inputs",
    "discover": "fasciq.cohort.inputs",
    "DerivativesLayout": "fasciq.cohort.layout",
    "BatchSettings": "fasciq.cohort.batch",
    "BatchReport": "fasciq.cohort.batch",
    "ProcessOptions": "fasciq.cohort.batch",
    "run_batch": "fasciq.cohort.batch",
    "update_catalogue": "fasciq.cohort.catalogue",
    "load_table": "fasciq.cohort.catalogue",
    "query": "fasciq.cohort.catalogue",
    "StatsParams": "fasciq.cohort.stats",
    "LongitudinalFit": "fasciq.cohort.stats",
    "fit_longitudinal": "fasciq.cohort.stats",
    "write_cohort_report": "fasciq.cohort.report",
}

__all__ = sorted(_LAZY)


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'fasciq.cohort' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
