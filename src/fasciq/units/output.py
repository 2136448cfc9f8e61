"""Writing a sorting to disk: ``units.csv`` and ``templates.npz`` (atomically)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from fasciq._atomic import atomic_path
from fasciq.units.sorting import SortingResult


def save_sorting(
    sorting: SortingResult, outdir: str | os.PathLike[str], overwrite: bool = True
) -> tuple[Path, Path]:
    """Write ``units.csv`` and ``templates.npz`` into ``outdir``.

    ``templates.npz`` holds, for each unit ``<id>``, ``unit_<id>`` (the
    template, ``(n_window, n_channels)`` µV) and ``unit_<id>_examples`` (up
    to five aligned discharges, ``(k, n_window, n_channels)``), plus ``fs``.
    Each file is written to a temporary name and renamed, so a crash never
    leaves a half-written file.

    Parameters
    ----------
    sorting : SortingResult
        The sorting.
    outdir : path
        Folder (created if needed).
    overwrite : bool
        If false, raise :class:`~fasciq.errors.OutputExistsError` when a
        file exists already.

    Returns
    -------
    (units_csv, templates_npz) : tuple of Path
    """
    outdir = Path(outdir)
    units_csv = outdir / "units.csv"
    templates_npz = outdir / "templates.npz"
    with atomic_path(units_csv, overwrite) as tmp:
        sorting.units.to_csv(tmp, index=False, float_format="%.6g")
    arrays: dict[str, np.ndarray] = {"fs": np.asarray(sorting.fs)}
    for unit, template in sorting.templates.items():
        arrays[f"unit_{unit}"] = np.asarray(template, dtype=np.float32)
        arrays[f"unit_{unit}_examples"] = np.asarray(sorting.examples[unit], dtype=np.float32)
    with atomic_path(templates_npz, overwrite) as tmp, open(tmp, "wb") as fh:
        np.savez_compressed(fh, **arrays)
    return units_csv, templates_npz
