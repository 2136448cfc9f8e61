"""Motor-unit pools: sizes, territories, end-plates, conduction velocities.

Sizes (fibre counts) span a range exponentially, as twitch forces do
(Fuglevand, Winter & Patla 1993): many small units, few large ones.
Recruitment thresholds follow size (Henneman's size principle) and
conduction velocity rises with size (larger motor units have larger, faster
fibres). Each territory is a disc in the muscle cross-section whose area is
the fibre count over the unit's fibre density (Buchthal: territories of
5-10 mm in limb muscles). Reinnervated units (collateral sprouting after
motor neuron loss) are larger, with widely scattered end-plates, immature
fibres of varied conduction velocity and insecure neuromuscular
transmission (blocking and jitter; Stålberg 1982).

References
----------
Fuglevand AJ, Winter DA, Patla AE (1993). Models of recruitment and rate
coding organization in motor-unit pools. J Neurophysiol 70:2470-2488.
Stålberg E (1982). Macro EMG, a new recording technique. J Neurol
Neurosurg Psychiatry 45:403-411 (motor-unit enlargement in reinnervation).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fasciq.simulate.muap import FibreGroups
from fasciq.validate import check_choice, check_in_range, check_positive


@dataclass(frozen=True)
class Reinnervation:
    """How reinnervated units differ from normal ones.

    Parameters
    ----------
    size_factor : float
        Fibre count multiplier (collateral sprouting).
    density_factor : float
        Fibre density multiplier within the territory (fibre-type grouping
        packs more of the unit's fibres together).
    endplate_sd_mm : float
        Spread of end-plate positions along the fibres.
    cv_group_sd_m_s : float
        Spread of conduction velocity between fibre groups (immature fibres).
    block_probability : float
        Probability that a fibre group fails to conduct on a discharge.
    jitter_us : float
        Standard deviation of the per-discharge latency of each fibre group.
    """

    size_factor: float = 3.0
    density_factor: float = 1.5
    endplate_sd_mm: float = 7.0
    cv_group_sd_m_s: float = 0.45
    block_probability: float = 0.2
    jitter_us: float = 250.0

    def __post_init__(self) -> None:
        check_positive(self.size_factor, "size_factor")
        check_positive(self.density_factor, "density_factor")
        check_positive(self.endplate_sd_mm, "endplate_sd_mm", allow_zero=True)
        check_positive(self.cv_group_sd_m_s, "cv_group_sd_m_s", allow_zero=True)
        check_in_range(self.block_probability, "block_probability", 0.0, 0.9)
        check_in_range(self.jitter_us, "jitter_us", 0.0, 2000.0)


@dataclass(frozen=True)
class PoolParams:
    """A population of motor units under the grid.

    Parameters
    ----------
    n_units : int
        Number of units.
    unit_class : {"fasciculating", "voluntary"}
        Role of the units in the simulation.
    fibres_min : int
        Fibre count of the smallest unit.
    size_ratio : float
        Largest over smallest fibre count (sizes spaced exponentially).
    fibre_density_per_mm2 : float
        Fibres of one unit per mm² of its territory.
    cv_range_m_s : tuple of float
        Conduction velocity of the smallest and of the largest unit.
    cv_sd_m_s : float
        Unit-to-unit scatter of conduction velocity around the size trend.
    cv_group_sd_m_s : float
        Spread of conduction velocity between the fibre groups of a unit.
    iz_mm : float
        Innervation zone of the muscle along the fibres, from the grid centre.
    iz_spread_mm : float
        Spread of units' mean end-plate positions around ``iz_mm``.
    endplate_sd_mm : float
        Spread of end-plates within a unit.
    half_length_mm : float
        Distance from the innervation zone to each tendon.
    tendon_sd_mm : float
        Spread of fibre ends around the tendons.
    width_mm : float
        Territory centres lie within ±width/2 across the fibres.
    depth_range_mm : tuple of float
        Territory centres lie this deep below the muscle surface.
    n_groups : int
        Fibre groups per unit (more: smoother and slower).
    reinnervated_fraction : float
        Fraction of units (the largest) that are reinnervated.
    reinnervation : Reinnervation
        How reinnervated units differ.
    recruitment_range : float
        Voluntary units: the last unit is recruited at this drive (0-1).
    """

    n_units: int = 10
    unit_class: str = "fasciculating"
    fibres_min: int = 50
    size_ratio: float = 30.0
    fibre_density_per_mm2: float = 8.0
    cv_range_m_s: tuple[float, float] = (3.3, 4.7)
    cv_sd_m_s: float = 0.15
    cv_group_sd_m_s: float = 0.1
    iz_mm: float = 0.0
    iz_spread_mm: float = 5.0
    endplate_sd_mm: float = 2.0
    half_length_mm: float = 60.0
    tendon_sd_mm: float = 3.0
    width_mm: float = 50.0
    depth_range_mm: tuple[float, float] = (2.0, 18.0)
    n_groups: int = 24
    reinnervated_fraction: float = 0.0
    reinnervation: Reinnervation = field(default_factory=Reinnervation)
    recruitment_range: float = 0.6

    def __post_init__(self) -> None:
        check_in_range(self.n_units, "n_units", 0, 500)
        check_choice(self.unit_class, "unit_class", ("fasciculating", "voluntary"))
        check_in_range(self.fibres_min, "fibres_min", 5, 5000)
        check_in_range(self.size_ratio, "size_ratio", 1.0, 200.0)
        check_positive(self.fibre_density_per_mm2, "fibre_density_per_mm2")
        lo, hi = self.cv_range_m_s
        check_in_range(lo, "cv_range_m_s", 1.0, 8.0)
        check_in_range(hi, "cv_range_m_s", lo, 8.0)
        check_in_range(self.n_groups, "n_groups", 1, 400)
        check_in_range(self.reinnervated_fraction, "reinnervated_fraction", 0.0, 1.0)
        check_in_range(self.recruitment_range, "recruitment_range", 0.01, 1.0)
        check_positive(self.half_length_mm, "half_length_mm")
        check_positive(self.width_mm, "width_mm", allow_zero=True)
        check_in_range(self.depth_range_mm[0], "depth_range_mm", 0.0, 100.0)
        check_in_range(self.depth_range_mm[1], "depth_range_mm", self.depth_range_mm[0], 100.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return asdict(self)


@dataclass(frozen=True)
class MotorUnit:
    """One simulated motor unit.

    Positions are in the muscle frame (mm): ``x_mm`` across the fibres and
    ``z_mm`` (mean end-plate) along them from the grid centre; ``depth_mm``
    is the territory centre below the skin surface.
    """

    unit_class: str
    n_fibres: int
    x_mm: float
    z_mm: float
    depth_mm: float
    radius_mm: float
    cv_m_s: float
    threshold: float
    reinnervated: bool
    block_probability: float
    jitter_us: float
    groups: FibreGroups

    @property
    def stable(self) -> bool:
        """True when every discharge has the same shape."""
        return self.block_probability == 0 and self.jitter_us == 0


def make_pool(
    params: PoolParams, muscle_top_mm: float, muscle_mm: float, rng: np.random.Generator
) -> list[MotorUnit]:
    """Draw the units of a pool.

    Parameters
    ----------
    params : PoolParams
        The pool description.
    muscle_top_mm : float
        Depth of the muscle surface below the skin.
    muscle_mm : float
        Muscle thickness available for territories.
    rng : numpy.random.Generator
        Source of randomness (the pool is a pure function of it).

    Returns
    -------
    list of MotorUnit
        Ordered by size (smallest first).
    """
    n = params.n_units
    if n == 0:
        return []
    position = np.linspace(0.0, 1.0, n) if n > 1 else np.array([0.5])
    jitter = rng.normal(0.0, 0.15 / max(n, 1), n)
    log_size = np.clip(position + jitter, 0.0, 1.0)
    sizes = np.sort(params.fibres_min * params.size_ratio**log_size)
    n_reinn = round(params.reinnervated_fraction * n)
    reinnervated = np.zeros(n, dtype=bool)
    if n_reinn:
        reinnervated[n - n_reinn :] = True
    cv_lo, cv_hi = params.cv_range_m_s
    cv = cv_lo + (cv_hi - cv_lo) * log_size + rng.normal(0.0, params.cv_sd_m_s, n)
    cv = np.clip(cv, 2.5, 6.0)
    if params.unit_class == "voluntary":
        rr = 30.0
        thresholds = params.recruitment_range * (np.exp(np.log(rr) * position) - 1) / (rr - 1)
        thresholds = np.maximum(thresholds, 0.01)
    else:
        thresholds = np.full(n, np.nan)
    units = []
    for i in range(n):
        re = params.reinnervation if reinnervated[i] else None
        n_fibres = round(sizes[i] * (re.size_factor if re else 1.0))
        density = params.fibre_density_per_mm2 * (re.density_factor if re else 1.0)
        radius = float(np.sqrt(n_fibres / (np.pi * density)))
        lo = max(params.depth_range_mm[0], min(radius, muscle_mm / 2)) + 0.5
        hi = max(min(params.depth_range_mm[1], muscle_mm - radius), lo)
        depth = float(rng.uniform(lo, hi))
        x = float(rng.uniform(-params.width_mm / 2, params.width_mm / 2))
        z_ep = float(params.iz_mm + rng.normal(0.0, params.iz_spread_mm))
        groups = _fibre_groups(
            n_fibres, radius, x, depth, z_ep, float(cv[i]), params, re, muscle_mm, rng
        )
        units.append(
            MotorUnit(
                unit_class=params.unit_class,
                n_fibres=n_fibres,
                x_mm=x,
                z_mm=z_ep,
                depth_mm=muscle_top_mm + depth,
                radius_mm=radius,
                cv_m_s=float(cv[i]),
                threshold=float(thresholds[i]),
                reinnervated=bool(reinnervated[i]),
                block_probability=re.block_probability if re else 0.0,
                jitter_us=re.jitter_us if re else 0.0,
                groups=groups,
            )
        )
    return units


def _fibre_groups(
    n_fibres: int,
    radius: float,
    x: float,
    depth: float,
    z_ep: float,
    cv: float,
    params: PoolParams,
    re: Reinnervation | None,
    muscle_mm: float,
    rng: np.random.Generator,
) -> FibreGroups:
    g = int(min(params.n_groups, n_fibres))
    counts = rng.multinomial(n_fibres - g, np.full(g, 1.0 / g)) + 1
    r = radius * np.sqrt(rng.uniform(0.0, 1.0, g))
    theta = rng.uniform(0.0, 2 * np.pi, g)
    gx = x + r * np.cos(theta)
    gd = np.clip(depth + r * np.sin(theta), 0.3, muscle_mm + 1.5)
    ep_sd = re.endplate_sd_mm if re else params.endplate_sd_mm
    cv_sd = re.cv_group_sd_m_s if re else params.cv_group_sd_m_s
    endplate = z_ep + rng.normal(0.0, ep_sd, g)
    left = params.iz_mm - params.half_length_mm + rng.normal(0.0, params.tendon_sd_mm, g)
    right = params.iz_mm + params.half_length_mm + rng.normal(0.0, params.tendon_sd_mm, g)
    endplate = np.clip(endplate, left + 5.0, right - 5.0)
    return FibreGroups(
        x_mm=gx,
        depth_mm=gd,
        endplate_mm=endplate,
        left_end_mm=left,
        right_end_mm=right,
        cv_m_s=np.clip(cv + rng.normal(0.0, cv_sd, g), 2.0, 7.0),
        n_fibres=counts.astype(np.float64),
    )
