"""Electrode grids: positions, missing electrodes, neighbours, rows and columns.

A :class:`Grid` maps each recorded channel (0-based, in recording order) to an
electrode on a rectangular lattice. Conventions used everywhere in fasciq:

* positions are in mm, ``x`` left to right (grid columns), ``y`` top to bottom
  (grid rows), origin at the top-left electrode;
* a generic spec ``ROWSxCOLS@IEDmm`` numbers channels row-major from the
  top-left electrode;
* catalogue grids (``catalogue.toml``) carry the manufacturer's channel order.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import numpy as np

from fasciq.errors import GridError

_SPEC = re.compile(
    r"^\s*(?P<rows>\d+)\s*[xX×]\s*(?P<cols>\d+)\s*(?:@\s*(?P<ied>\d+(?:\.\d+)?)\s*(?:mm)?)?\s*$"
)


@dataclass(frozen=True, eq=False)
class Grid:
    """A rectangular electrode grid.

    Parameters
    ----------
    name : str
        Catalogue name or spec string.
    layout : ndarray of int, shape (rows, cols)
        0-based channel index recorded at each electrode, ``-1`` where the
        grid has no electrode.
    ied_mm : float
        Inter-electrode distance in mm (same along rows and columns).
    fibre_axis : {"rows", "cols"}
        Grid direction intended to lie along the muscle fibres: ``"rows"``
        means down each column (along ``y``), ``"cols"`` across (along ``x``).
    electrode_diameter_mm : float or None
        Electrode diameter, if known.
    description : str
        Free text (manufacturer, product).
    """

    name: str
    layout: np.ndarray
    ied_mm: float
    fibre_axis: str = "rows"
    electrode_diameter_mm: float | None = None
    description: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        layout = np.asarray(self.layout, dtype=np.int64)
        if layout.ndim != 2 or layout.size == 0:
            raise GridError(
                f"grid {self.name!r} layout must be a non-empty 2-D table",
                fix="give one list of channel numbers per grid row",
                source="grid",
            )
        used = np.sort(layout[layout >= 0])
        if used.size == 0 or not np.array_equal(used, np.arange(used.size)):
            raise GridError(
                f"grid {self.name!r} layout must number its channels 0..N-1 exactly once",
                fix="check the layout table for repeated or skipped channel numbers",
                source="grid",
            )
        if not (np.isfinite(self.ied_mm) and self.ied_mm > 0):
            raise GridError(
                f"grid {self.name!r} inter-electrode distance must be > 0 mm, got {self.ied_mm}",
                fix="give the spacing in mm, e.g. 8x8@4",
                source="grid",
            )
        if self.fibre_axis not in ("rows", "cols"):
            raise GridError(
                f"grid {self.name!r} fibre_axis must be 'rows' or 'cols', got {self.fibre_axis!r}",
                fix="set fibre_axis to 'rows' or 'cols'",
                source="grid",
            )
        layout.setflags(write=False)
        object.__setattr__(self, "layout", layout)

    # -- shape --------------------------------------------------------------
    @property
    def rows(self) -> int:
        """Number of grid rows."""
        return int(self.layout.shape[0])

    @property
    def cols(self) -> int:
        """Number of grid columns."""
        return int(self.layout.shape[1])

    @property
    def n_channels(self) -> int:
        """Number of electrodes (recorded channels)."""
        return int((self.layout >= 0).sum())

    @property
    def missing(self) -> list[tuple[int, int]]:
        """``(row, col)`` of lattice places without an electrode."""
        return [(int(r), int(c)) for r, c in np.argwhere(self.layout < 0)]

    @cached_property
    def rowcol(self) -> np.ndarray:
        """``(n_channels, 2)`` integer ``(row, col)`` of each channel."""
        out = np.empty((self.n_channels, 2), dtype=np.int64)
        rr, cc = np.nonzero(self.layout >= 0)
        out[self.layout[rr, cc]] = np.column_stack([rr, cc])
        out.setflags(write=False)
        return out

    @cached_property
    def positions_mm(self) -> np.ndarray:
        """``(n_channels, 2)`` electrode positions ``(x, y)`` in mm."""
        rc = self.rowcol
        pos = np.column_stack([rc[:, 1], rc[:, 0]]).astype(np.float64) * self.ied_mm
        pos.setflags(write=False)
        return pos

    # -- neighbourhoods -----------------------------------------------------
    def adjacency(self, diagonal: bool = True) -> np.ndarray:
        """Boolean ``(n, n)`` matrix of lattice neighbours (8- or 4-connected)."""
        d = np.abs(self.rowcol[:, None, :] - self.rowcol[None, :, :])
        near = (d.max(axis=-1) == 1) if diagonal else (d.sum(axis=-1) == 1)
        return near

    def neighbours(self, channel: int, diagonal: bool = True) -> np.ndarray:
        """Channel indices next to ``channel`` on the lattice."""
        return np.flatnonzero(self.adjacency(diagonal)[channel])

    def lines(self, axis: str) -> list[np.ndarray]:
        """Channels along each grid line, in order.

        Parameters
        ----------
        axis : {"rows", "cols", "fibre", "across"}
            ``"rows"``: one array per grid row, left to right; ``"cols"``: one
            per grid column, top to bottom; ``"fibre"``: lines that run along
            the fibres (so propagation can be followed); ``"across"``: the
            perpendicular ones.
        """
        if axis == "fibre":
            axis = "cols" if self.fibre_axis == "rows" else "rows"
        elif axis == "across":
            axis = "rows" if self.fibre_axis == "rows" else "cols"
        if axis == "rows":
            table = self.layout
        elif axis == "cols":
            table = self.layout.T
        else:
            raise GridError(
                f"unknown grid axis {axis!r}",
                fix="use 'rows', 'cols', 'fibre' or 'across'",
                source="axis",
            )
        return [line[line >= 0] for line in table if (line >= 0).any()]

    # -- checks and description ----------------------------------------------
    def check_channel_count(self, n_channels: int, source: object = None) -> None:
        """Raise :class:`GridError` unless the grid has ``n_channels`` electrodes."""
        if n_channels != self.n_channels:
            raise GridError(
                f"grid {self.name} has {self.n_channels} electrodes but the recording has "
                f"{n_channels} EMG channels",
                fix="pick the grid that was used (fasciq info lists the channels), "
                f"or a spec such as {_suggest_spec(n_channels)}",
                source=source,
            )

    def describe(self) -> dict[str, Any]:
        """A JSON-ready description."""
        return {
            "name": self.name,
            "rows": self.rows,
            "cols": self.cols,
            "ied_mm": self.ied_mm,
            "n_channels": self.n_channels,
            "missing": self.missing,
            "fibre_axis": self.fibre_axis,
            "electrode_diameter_mm": self.electrode_diameter_mm,
            "description": self.description,
        }

    def __repr__(self) -> str:
        return (
            f"Grid({self.name!r}, {self.rows}x{self.cols}@{self.ied_mm:g}mm, "
            f"{self.n_channels} electrodes)"
        )

    # -- construction --------------------------------------------------------
    @classmethod
    def regular(cls, rows: int, cols: int, ied_mm: float, name: str | None = None) -> Grid:
        """A full grid with channels row-major from the top-left electrode."""
        if rows < 1 or cols < 1:
            raise GridError(
                f"a grid needs at least one row and one column, got {rows}x{cols}",
                fix="use a spec such as 8x8@4",
                source="grid",
            )
        layout = np.arange(rows * cols).reshape(rows, cols)
        return cls(name or f"{rows}x{cols}@{ied_mm:g}", layout, float(ied_mm))

    @classmethod
    def from_positions(
        cls, positions_mm: np.ndarray, name: str = "from positions", tol: float = 0.15
    ) -> Grid | None:
        """Fit a lattice to electrode positions; ``None`` if they are not on one.

        Parameters
        ----------
        positions_mm : ndarray, shape (n, 2)
            ``(x, y)`` positions in mm, ``y`` increasing downwards.
        name : str
            Name of the resulting grid.
        tol : float
            Largest deviation from the lattice, as a fraction of the spacing.
        """
        pos = np.asarray(positions_mm, dtype=np.float64)
        if pos.ndim != 2 or pos.shape[1] != 2 or len(pos) < 2 or not np.isfinite(pos).all():
            return None
        d = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
        d[np.diag_indices_from(d)] = np.inf
        ied = float(np.median(d.min(axis=1)))
        if ied <= 0:
            return None
        origin = pos.min(axis=0)
        # refine spacing and origin by least squares on the lattice indices: the
        # nearest-neighbour median alone is biased low by measurement jitter
        for _ in range(3):
            idx = np.rint((pos - origin) / ied).astype(np.int64)
            design = np.zeros((2 * len(pos), 3))
            design[0::2, 0] = 1.0
            design[1::2, 1] = 1.0
            design[:, 2] = idx.reshape(-1)
            coef, *_ = np.linalg.lstsq(design, pos.reshape(-1), rcond=None)
            if coef[2] <= 0:
                return None
            origin, ied = coef[:2], float(coef[2])
        rel = (pos - origin) / ied
        idx = np.rint(rel).astype(np.int64)
        if np.abs(rel - idx).max() > tol or idx.min() < 0:
            return None
        rows, cols = idx[:, 1].max() + 1, idx[:, 0].max() + 1
        layout = -np.ones((rows, cols), dtype=np.int64)
        if len({(int(a), int(b)) for a, b in idx}) != len(idx):
            return None
        layout[idx[:, 1], idx[:, 0]] = np.arange(len(pos))
        return cls(name, layout, round(ied, 6))


def _suggest_spec(n_channels: int) -> str:
    for rows in (8, 13, 16, 4, 2, 1):
        if n_channels % rows == 0:
            return f"{rows}x{n_channels // rows}@8"
    return f"1x{n_channels}@8"


def parse_grid_spec(spec: str) -> Grid:
    """Build a :class:`Grid` from ``ROWSxCOLS@IEDmm`` (row-major from the top-left).

    ``8x8@4``, ``13x5@8mm`` and ``8X8@4.0`` are accepted; a missing ``@IED``
    is an error because spacing matters for conduction velocity.
    """
    match = _SPEC.match(spec)
    if not match or match.group("ied") is None:
        raise GridError(
            f"cannot read grid spec {spec!r}",
            fix="give a catalogue name (see `fasciq grids`) or ROWSxCOLS@IEDmm, e.g. 8x8@4",
            source="--grid",
        )
    rows, cols = int(match.group("rows")), int(match.group("cols"))
    ied = float(match.group("ied"))
    if rows < 1 or cols < 1 or ied <= 0:
        raise GridError(
            f"grid spec {spec!r} needs rows, columns and spacing above zero",
            fix="give e.g. 8x8@4",
            source="--grid",
        )
    return Grid.regular(rows, cols, ied, name=f"{rows}x{cols}@{ied:g}")
