r"""Volume conductor: surface potential of a point current source in muscle.

The limb is modelled as a planar, layered volume conductor (Farina &
Merletti 2001): an anisotropic muscle half-space (conductivity ``sigma_z``
along the fibres, ``sigma_r`` across them) under a layer of isotropic fat and
a layer of isotropic skin, with air above the skin. The problem is solved in
the two-dimensional spatial-frequency domain ``(k_x, k_z)``: the Fourier
transform of the surface potential of a unit point source at depth ``y``
below the muscle surface is

.. math::

    H(k_x, k_z; y) = \\frac{e^{-k_m y}}
        {(\\sigma_r k_m + Y_f)\\,\\cosh(k d_f)(1 + q \\tanh(k d_f))\\,\\cosh(k d_s)}

with :math:`k = \\sqrt{k_x^2 + k_z^2}`,
:math:`k_m = \\sqrt{k_x^2 + (\\sigma_z/\\sigma_r) k_z^2}`,
:math:`q = (\\sigma_s/\\sigma_f) \\tanh(k d_s)` and
:math:`Y_f = \\sigma_f k (\\tanh(k d_f) + q) / (1 + q \\tanh(k d_f))` the
"admittance" of the fat and skin layers seen from the muscle (continuity of
potential and of normal current at each interface, no current through the
skin into air). Without fat and skin it reduces to the anisotropic
half-space, :math:`e^{-k_m y}/(\\sigma_r k_m)`, the transform of
:math:`I/(2\\pi\\sigma r)`. Circular electrodes of radius ``a`` average the
potential over their area, a multiplication by :math:`2J_1(ka)/(ka)`.

:class:`SurfaceKernel` tabulates the inverse transform on a spatial grid
for a set of depths, so that any fibre's contribution to any electrode is a
table look-up.

References
----------
Farina D, Merletti R (2001). A novel approach for precise simulation of the
EMG signal detected by surface electrodes. IEEE Trans Biomed Eng 48:637-646.
Farina D, Mesin L, Martina S, Merletti R (2004). A surface EMG generation
model with multilayer cylindrical description of the volume conductor.
IEEE Trans Biomed Eng 51:415-426.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import numpy as np
from scipy import fft as sfft
from scipy import special

from fasciq.validate import check_in_range, check_positive


@dataclass(frozen=True)
class ConductorParams:
    """Layered volume conductor under the electrode grid.

    Parameters
    ----------
    sigma_z : float
        Muscle conductivity along the fibres (S/m).
    sigma_r : float
        Muscle conductivity across the fibres (S/m).
    sigma_fat : float
        Fat conductivity (S/m).
    sigma_skin : float
        Skin conductivity (S/m).
    fat_mm : float
        Subcutaneous fat thickness (mm).
    skin_mm : float
        Skin thickness (mm).
    muscle_mm : float
        Thickness of muscle in which motor-unit territories lie (mm).
    sigma_i : float
        Intracellular conductivity of a muscle fibre (S/m).
    fibre_diameter_um : float
        Muscle fibre diameter (µm); sets the membrane current per fibre.
    resolution_mm : float
        Spatial step of the tabulated kernel and of the fibre discretisation.
    """

    sigma_z: float = 0.5
    sigma_r: float = 0.1
    sigma_fat: float = 0.05
    sigma_skin: float = 1.0
    fat_mm: float = 3.0
    skin_mm: float = 1.0
    muscle_mm: float = 25.0
    sigma_i: float = 1.01
    fibre_diameter_um: float = 60.0
    resolution_mm: float = 0.5

    def __post_init__(self) -> None:
        for name in (
            "sigma_z",
            "sigma_r",
            "sigma_fat",
            "sigma_skin",
            "sigma_i",
            "fibre_diameter_um",
            "muscle_mm",
        ):
            check_positive(getattr(self, name), name)
        check_positive(self.fat_mm, "fat_mm", allow_zero=True)
        check_positive(self.skin_mm, "skin_mm", allow_zero=True)
        check_in_range(self.resolution_mm, "resolution_mm", 0.1, 1.0)

    @property
    def muscle_top_mm(self) -> float:
        """Depth of the muscle surface below the skin surface (mm)."""
        return self.skin_mm + self.fat_mm

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return asdict(self)


def transfer_function(
    kx: np.ndarray,
    kz: np.ndarray,
    depth_m: float | np.ndarray,
    params: ConductorParams,
    electrode_radius_m: float = 0.0,
) -> np.ndarray:
    """Spatial-frequency response of the surface potential to a unit point source.

    Parameters
    ----------
    kx, kz : ndarray
        Angular spatial frequencies (rad/m) across and along the fibres
        (broadcastable).
    depth_m : float or ndarray
        Depth of the source below the muscle surface (m).
    params : ConductorParams
        The volume conductor.
    electrode_radius_m : float
        Radius of circular electrodes (0 for point electrodes).

    Returns
    -------
    ndarray
        :math:`H(k_x, k_z)` in Ω·m²; the zero frequency is left infinite.
    """
    k = np.sqrt(kx**2 + kz**2)
    km = np.sqrt(kx**2 + (params.sigma_z / params.sigma_r) * kz**2)
    ds, df = params.skin_mm * 1e-3, params.fat_mm * 1e-3
    q = (params.sigma_skin / params.sigma_fat) * np.tanh(k * ds)
    tf = np.tanh(k * df)
    y_fat = params.sigma_fat * k * (tf + q) / (1.0 + q * tf)
    layers = 1.0 / (np.cosh(k * df) * (1.0 + q * tf) * np.cosh(k * ds))
    with np.errstate(divide="ignore", invalid="ignore"):
        h = np.exp(-km * depth_m) * layers / (params.sigma_r * km + y_fat)
        if electrode_radius_m > 0:
            ka = k * electrode_radius_m
            disc = np.where(ka > 1e-9, 2.0 * special.j1(ka) / np.where(ka > 1e-9, ka, 1.0), 1.0)
            h = h * disc
    return h


class SurfaceKernel:
    """Tabulated surface potential of a unit point source in the muscle.

    ``G(|dx|, |dz|, y)`` is the potential (V per A) at an electrode ``dx``
    across and ``dz`` along the fibres from a point source at depth ``y``
    below the muscle surface, electrode averaging included.

    Parameters
    ----------
    params : ConductorParams
        The volume conductor.
    electrode_radius_mm : float
        Radius of the (circular) electrodes.
    x_extent_mm, z_extent_mm : float
        Largest offsets tabulated; larger offsets are clamped.
    """

    def __init__(
        self,
        params: ConductorParams,
        electrode_radius_mm: float,
        x_extent_mm: float = 64.0,
        z_extent_mm: float = 160.0,
    ) -> None:
        self.params = params
        self.step_mm = params.resolution_mm
        step = self.step_mm * 1e-3
        nx = int(2 ** np.ceil(np.log2(2 * x_extent_mm / self.step_mm)))
        nz = int(2 ** np.ceil(np.log2(2 * z_extent_mm / self.step_mm)))
        kx = 2 * np.pi * sfft.fftfreq(nx, step)[:, None]
        kz = 2 * np.pi * sfft.fftfreq(nz, step)[None, :]
        # the zero frequency only adds a constant, which cancels for a fibre
        # (its membrane currents sum to zero); give it the value of a nearby bin
        kx = kx.copy()
        kx[0, 0] = 0.25 * 2 * np.pi / (nx * step)
        n_depth = int(np.ceil((params.muscle_mm + 2.0) / self.step_mm))
        self.depths_mm = self.step_mm * np.arange(1, n_depth + 1)
        keep_x, keep_z = nx // 2 + 1, nz // 2 + 1
        table = np.empty((len(self.depths_mm), keep_x, keep_z), dtype=np.float64)
        km = np.sqrt(kx**2 + (params.sigma_z / params.sigma_r) * kz**2)
        base = transfer_function(kx, kz, 0.0, params, electrode_radius_mm * 1e-3)
        for i, depth in enumerate(self.depths_mm):
            spectrum = base * np.exp(-km * depth * 1e-3)
            g = sfft.irfft2(spectrum[:, : nz // 2 + 1], s=(nx, nz), workers=1)
            table[i] = g[:keep_x, :keep_z] / (step * step)
        self.table = table
        self.x_max_mm = (keep_x - 1) * self.step_mm
        self.z_max_mm = (keep_z - 1) * self.step_mm

    def lookup(self, dx_mm: np.ndarray, dz_mm: np.ndarray, depth_mm: float) -> np.ndarray:
        """Potential (V/A) for offsets ``dx_mm`` (shape ``(e,)``) and ``dz_mm`` (``(e, j)``).

        Linear interpolation in depth, across and along the fibres.
        """
        d = np.clip(depth_mm, self.depths_mm[0], self.depths_mm[-1]) / self.step_mm - 1.0
        i0 = min(int(np.floor(d)), len(self.depths_mm) - 2)
        wd = d - i0
        plane = (1 - wd) * self.table[i0] + wd * self.table[i0 + 1]
        fx = np.clip(np.abs(dx_mm), 0, self.x_max_mm) / self.step_mm
        x0 = np.minimum(np.floor(fx).astype(np.int64), plane.shape[0] - 2)
        wx = (fx - x0)[:, None]
        fz = np.clip(np.abs(dz_mm), 0, self.z_max_mm) / self.step_mm
        z0 = np.minimum(np.floor(fz).astype(np.int64), plane.shape[1] - 2)
        wz = fz - z0
        rows0 = plane[x0]  # (e, nz)
        rows1 = plane[x0 + 1]
        row = (1 - wx) * rows0 + wx * rows1
        r = np.arange(row.shape[0])[:, None]
        return (1 - wz) * row[r, z0] + wz * row[r, z0 + 1]


@lru_cache(maxsize=4)
def surface_kernel(params: ConductorParams, electrode_radius_mm: float) -> SurfaceKernel:
    """Cached :class:`SurfaceKernel` (building one takes a fraction of a second)."""
    return SurfaceKernel(params, float(electrode_radius_mm))
