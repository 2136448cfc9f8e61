"""Where the electrodes lie relative to the muscle fibres."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fasciq.grids.grid import Grid


@dataclass(frozen=True)
class GridFrame:
    """Electrode positions in the muscle frame.

    The muscle frame has ``z`` along the fibres (the grid's ``fibre_axis``)
    and ``x`` across them, both in mm with the origin under the grid centre.

    Parameters
    ----------
    grid : Grid
        The electrode grid.
    """

    grid: Grid

    @property
    def along_index(self) -> int:
        """Column of :attr:`Grid.positions_mm` that runs along the fibres."""
        return 1 if self.grid.fibre_axis == "rows" else 0

    @property
    def centre_mm(self) -> np.ndarray:
        """Grid centre ``(x, y)`` in grid coordinates."""
        pos = self.grid.positions_mm
        return 0.5 * (pos.min(axis=0) + pos.max(axis=0))

    @property
    def electrode_z_mm(self) -> np.ndarray:
        """Electrode positions along the fibres."""
        i = self.along_index
        return self.grid.positions_mm[:, i] - self.centre_mm[i]

    @property
    def electrode_x_mm(self) -> np.ndarray:
        """Electrode positions across the fibres."""
        i = 1 - self.along_index
        return self.grid.positions_mm[:, i] - self.centre_mm[i]

    @property
    def electrode_radius_mm(self) -> float:
        """Electrode radius; without a catalogue value, 0.3 × IED capped at 1.5 mm."""
        if self.grid.electrode_diameter_mm:
            return 0.5 * float(self.grid.electrode_diameter_mm)
        return float(min(0.3 * self.grid.ied_mm, 1.5))

    @property
    def half_width_mm(self) -> float:
        """Half the grid extent across the fibres."""
        return float(np.ptp(self.electrode_x_mm) / 2)

    @property
    def half_length_mm(self) -> float:
        """Half the grid extent along the fibres."""
        return float(np.ptp(self.electrode_z_mm) / 2)

    def to_grid_xy(self, x_mm: np.ndarray, z_mm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Muscle-frame ``(x, z)`` back to grid coordinates ``(x, y)`` in mm."""
        c = self.centre_mm
        if self.along_index == 1:
            return np.asarray(x_mm) + c[0], np.asarray(z_mm) + c[1]
        return np.asarray(z_mm) + c[0], np.asarray(x_mm) + c[1]
