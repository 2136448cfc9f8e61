"""Electrode grids: the catalogue (data) and the :class:`Grid` model."""

from fasciq.grids.catalogue import catalogue_grid, catalogue_names, find_catalogue_grid, get_grid
from fasciq.grids.grid import Grid, parse_grid_spec

__all__ = [
    "Grid",
    "catalogue_grid",
    "catalogue_names",
    "find_catalogue_grid",
    "get_grid",
    "parse_grid_spec",
]
