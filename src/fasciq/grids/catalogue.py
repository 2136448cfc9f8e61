"""The grid catalogue: manufacturer grids kept as data in ``catalogue.toml``."""

from __future__ import annotations

import sys
from functools import lru_cache
from importlib import resources

import numpy as np

from fasciq.errors import GridError
from fasciq.grids.grid import Grid, parse_grid_spec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


@lru_cache(maxsize=1)
def _load_catalogue() -> dict[str, dict]:
    text = resources.files("fasciq.grids").joinpath("catalogue.toml").read_text("utf-8")
    return tomllib.loads(text)


def _key(name: str) -> str:
    return name.strip().upper().replace(" ", "").replace("_", "-")


@lru_cache(maxsize=1)
def _index() -> dict[str, str]:
    index: dict[str, str] = {}
    for name, entry in _load_catalogue().items():
        index[_key(name)] = name
        for alias in entry.get("aliases", []):
            index[_key(alias)] = name
    return index


def catalogue_names() -> list[str]:
    """Names of the grids in the catalogue."""
    return list(_load_catalogue())


def catalogue_grid(name: str) -> Grid:
    """The catalogue grid called ``name`` (case-insensitive, aliases allowed)."""
    try:
        canonical = _index()[_key(name)]
    except KeyError:
        raise GridError(
            f"unknown grid {name!r}",
            fix=f"use one of {', '.join(catalogue_names())} or a spec such as 8x8@4",
            source="--grid",
        ) from None
    entry = _load_catalogue()[canonical]
    layout = np.asarray(entry["layout"], dtype=np.int64) - 1
    return Grid(
        name=canonical,
        layout=layout,
        ied_mm=float(entry["ied_mm"]),
        fibre_axis=entry.get("fibre_axis", "rows"),
        electrode_diameter_mm=entry.get("electrode_diameter_mm"),
        description=f"{entry.get('manufacturer', '')} {entry.get('description', '')}".strip(),
        extra={"verified": entry.get("verified", "")},
    )


def find_catalogue_grid(text: str) -> Grid | None:
    """The catalogue grid whose name appears in ``text`` (e.g. an OTB description)."""
    upper = _key(text)
    for key, canonical in _index().items():
        if key in upper:
            return catalogue_grid(canonical)
    return None


def get_grid(spec: str | Grid | None) -> Grid | None:
    """Resolve a ``--grid`` value: a :class:`Grid`, a catalogue name or ``ROWSxCOLS@IED``."""
    if spec is None or isinstance(spec, Grid):
        return spec
    if not isinstance(spec, str) or not spec.strip():
        raise GridError(
            f"grid must be a catalogue name or a spec string, got {spec!r}",
            fix="give e.g. GR08MM1305 or 8x8@4",
            source="--grid",
        )
    if _key(spec) in _index():
        return catalogue_grid(spec)
    return parse_grid_spec(spec)
