"""Motor-unit action potentials from fibre physics.

Each muscle fibre carries the Rosenfalck (1969) intracellular action
potential, ``Vm(ζ) = 96 ζ³ e^{-ζ} − 90`` mV with ``ζ`` the distance in mm
behind the wave front. Both waves start at the fibre's end-plate at the
moment the motor neuron's discharge reaches it, travel towards the two
tendons at the fibre's conduction velocity and are extinguished there. The
membrane current per unit length is ``σ_i π a² ∂²Vm/∂z²`` (core conductor),
computed on a 0.5 mm lattice along the fibre with sealed ends, so the
currents sum to zero and generation at the end-plate and extinction at the
tendons appear as the non-propagating components of the surface potential.
The surface potential on each electrode is the sum over the fibre of
current × :class:`~fasciq.simulate.conductor.SurfaceKernel`.

Fibres of a motor unit are grouped (each group: one position in the
territory, one end-plate, one pair of tendon ends, one conduction velocity,
a number of fibres), which keeps a 64-channel template to a few tens of
milliseconds. Keeping the groups apart lets a discharge lose some of them
(neuromuscular blocking) or shift them in time (jitter): the unstable MUAPs
of reinnervated units.

References
----------
Rosenfalck P (1969). Intra- and extracellular potential fields of active
nerve and muscle fibres. Acta Physiol Scand Suppl 321:1-168.
Merletti R, Lo Conte L, Avignone E, Guglielminotti P (1999). Modeling of
surface myoelectric signals, part I: model implementation. IEEE Trans
Biomed Eng 46:810-820.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fasciq.simulate.conductor import ConductorParams, SurfaceKernel


def rosenfalck(zeta_mm: np.ndarray) -> np.ndarray:
    """Depolarisation ``Vm + 90`` (mV) at ``zeta_mm`` behind the wave front (0 ahead of it)."""
    z = np.asarray(zeta_mm, dtype=np.float64)
    out = np.zeros(z.shape)
    live = (z > 0.0) & (z < 40.0)  # beyond 40 mm the tail is below 1e-10 mV
    zl = z[live]
    out[live] = 96.0 * zl**3 * np.exp(-zl)
    return out


@dataclass(frozen=True)
class FibreGroups:
    """Fibres of one motor unit, gathered in groups.

    All arrays have one entry per group; positions are in mm in the muscle
    frame (``x`` across the fibres, ``z`` along them, origin under the grid
    centre; ``depth`` below the muscle surface).
    """

    x_mm: np.ndarray
    depth_mm: np.ndarray
    endplate_mm: np.ndarray
    left_end_mm: np.ndarray
    right_end_mm: np.ndarray
    cv_m_s: np.ndarray
    n_fibres: np.ndarray

    def __len__(self) -> int:
        return len(self.x_mm)

    def duration_s(self, tail_mm: float = 15.0) -> float:
        """Time from discharge until the last wave has left the fibres."""
        reach = np.maximum(
            self.endplate_mm - self.left_end_mm, self.right_end_mm - self.endplate_mm
        )
        return float(np.max((reach + tail_mm) / (self.cv_m_s * 1e3)))


def group_potentials(
    groups: FibreGroups,
    kernel: SurfaceKernel,
    electrode_x_mm: np.ndarray,
    electrode_z_mm: np.ndarray,
    fs_os: float,
    n_pre: int,
    n_t: int,
    conductor: ConductorParams,
) -> np.ndarray:
    """Surface potential of every fibre group on every electrode.

    Parameters
    ----------
    groups : FibreGroups
        The unit's fibre groups.
    kernel : SurfaceKernel
        Tabulated volume conductor.
    electrode_x_mm, electrode_z_mm : ndarray, shape (n_electrodes,)
        Electrode positions across and along the fibres (muscle frame).
    fs_os : float
        Sampling rate of the template (Hz), usually a multiple of the
        recording rate.
    n_pre : int
        Samples before the discharge (time 0).
    n_t : int
        Template length in samples.
    conductor : ConductorParams
        Gives the fibre diameter and intracellular conductivity.

    Returns
    -------
    ndarray, shape (n_groups, n_t, n_electrodes), float32
        Potentials in µV.
    """
    step = conductor.resolution_mm
    t = (np.arange(n_t) - n_pre) / fs_os  # s
    radius_m = 0.5 * conductor.fibre_diameter_um * 1e-6
    # membrane current per lattice node: sigma_i*pi*a^2 * d2V/dz2 * dz  (A per mV-difference)
    scale = conductor.sigma_i * np.pi * radius_m**2 / (step * 1e-3) * 1e-3
    out = np.empty((len(groups), n_t, len(electrode_x_mm)), dtype=np.float32)
    dx = electrode_x_mm - 0.0
    for g in range(len(groups)):
        left, right = groups.left_end_mm[g], groups.right_end_mm[g]
        z = np.arange(left, right + 0.5 * step, step)
        travelled = groups.cv_m_s[g] * 1e3 * t  # mm
        zeta = travelled[None, :] - np.abs(z - groups.endplate_mm[g])[:, None]
        vm = rosenfalck(zeta)  # (n_z, n_t)
        padded = np.concatenate([vm[:1], vm, vm[-1:]], axis=0)  # sealed ends
        current = (padded[2:] - 2.0 * vm + padded[:-2]) * scale  # A
        gains = kernel.lookup(
            dx - groups.x_mm[g], electrode_z_mm[:, None] - z[None, :], groups.depth_mm[g]
        )  # V/A, (n_e, n_z)
        out[g] = (gains @ current).T * (groups.n_fibres[g] * 1e6)
    return out


@dataclass(frozen=True)
class PeakInfo:
    """Where a MUAP peaks once placed in the signal."""

    channel: int
    offset: int
    peak_to_peak: float


class UnitTemplate:
    """The MUAP of one motor unit, at ``R`` times the recording rate.

    Parameters
    ----------
    groups_uv : ndarray, shape (n_groups, n_t, n_electrodes)
        Potential of each fibre group (µV) from :func:`group_potentials`.
    oversampling : int
        ``R``: template samples per recording sample.
    n_pre : int
        Template samples before the discharge.
    keep_groups : bool
        Keep the per-group potentials (needed for unstable units).
    """

    def __init__(
        self, groups_uv: np.ndarray, oversampling: int, n_pre: int, keep_groups: bool
    ) -> None:
        self.oversampling = int(oversampling)
        self.n_pre = int(n_pre)
        self.mean = groups_uv.sum(axis=0, dtype=np.float64).astype(np.float32)
        self.groups = groups_uv if keep_groups else None
        self.n_groups = groups_uv.shape[0]
        self._phases = [self.decimate(self.mean, p) for p in range(self.oversampling)]
        self._peaks = [peak_info(w) for w in self._phases]

    @property
    def n_channels(self) -> int:
        """Number of electrodes."""
        return int(self.mean.shape[1])

    def decimate(self, waveform: np.ndarray, phase: int) -> np.ndarray:
        """Recording-rate samples of an oversampled waveform, starting at ``phase``."""
        return np.ascontiguousarray(waveform[phase :: self.oversampling])

    def phase(self, phase: int) -> np.ndarray:
        """The stable MUAP at recording rate for sub-sample ``phase``."""
        return self._phases[phase]

    def peak(self, phase: int) -> PeakInfo:
        """Peak of the stable MUAP for sub-sample ``phase``."""
        return self._peaks[phase]

    def variant(self, active: np.ndarray, shifts: np.ndarray) -> np.ndarray:
        """One discharge of an unstable unit (oversampled).

        Parameters
        ----------
        active : ndarray of bool, shape (n_groups,)
            Groups that conduct (the others are blocked).
        shifts : ndarray of int, shape (n_groups,)
            Extra latency of each group, in template samples (jitter, ≥ 0).
        """
        if self.groups is None:
            return self.mean
        n_t = self.mean.shape[0]
        out = np.zeros((n_t + int(shifts.max(initial=0)), self.n_channels), dtype=np.float32)
        for g in np.flatnonzero(active):
            s = int(shifts[g])
            out[s : s + n_t] += self.groups[g]
        return out[:n_t] if out.shape[0] > n_t and not shifts.any() else out

    def peak_to_peak(self) -> float:
        """Largest peak-to-peak over electrodes of the stable MUAP (µV)."""
        return float(np.ptp(self.mean, axis=0).max())


def peak_info(waveform: np.ndarray) -> PeakInfo:
    """Channel with the largest peak-to-peak, its largest absolute sample and its peak-to-peak."""
    ptp = np.ptp(waveform, axis=0)
    ch = int(np.argmax(ptp))
    return PeakInfo(ch, int(np.argmax(np.abs(waveform[:, ch]))), float(ptp[ch]))
