"""When motor units discharge: fasciculations and voluntary contractions.

Fasciculations are spontaneous, sporadic discharges of whole motor units:
a Poisson process per unit with a refractory period, rates from below one
per minute to a few per second (de Carvalho & Swash 2013; Mills 2011),
optionally modulated over time (e.g. the rise after exertion, the burst
after succinylcholine). A discharge can be followed by a second one 10-110 ms
later (double discharge) or about 30 ms later (an F-wave-like recurrent
discharge of a distally generated fasciculation).

Voluntary contractions recruit units in order of threshold (size
principle) and increase their rates with drive (rate coding from about
6 Hz at recruitment to about 20 Hz), with inter-spike intervals of
coefficient of variation 0.1-0.2 (Fuglevand et al. 1993; De Luca & Hostage
2010). The drive is a trapezoid: ramp up, plateau at a force level, ramp
down.

References
----------
de Carvalho M, Swash M (2013). Fasciculation potentials and earliest changes
in motor unit physiology in ALS. J Neurol Neurosurg Psychiatry 84:963-968.
Mills KR (2011). Detecting fasciculations in amyotrophic lateral sclerosis:
duration of observation required. J Neurol Neurosurg Psychiatry 82:549-551.
De Luca CJ, Hostage EC (2010). Relationship between firing rate and
recruitment threshold of motoneurons in voluntary isometric contractions.
J Neurophysiol 104:1034-1046.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from fasciq.errors import ParameterError
from fasciq.validate import check_in_range, check_positive

PAIR_NONE, PAIR_DOUBLE, PAIR_FWAVE = 0, 1, 2
PAIR_NAMES = ("", "double", "f-wave")


@dataclass(frozen=True)
class FasciculationParams:
    """Spontaneous discharges of the fasciculating units.

    Parameters
    ----------
    rate_range_per_min : tuple of float
        Each unit's mean rate is drawn log-uniformly in this range.
    refractory_s : float
        Shortest interval between two independent fasciculations of a unit.
    double_probability : float
        Probability that a fasciculation is followed by a second discharge.
    double_interval_s : tuple of float
        Range of the double-discharge interval.
    fwave_probability : float
        Probability of an F-wave-like second discharge.
    fwave_latency_s : tuple of float
        Mean and standard deviation of the F-wave-like interval.
    modulation : tuple of (float, float)
        Breakpoints ``(time_s, factor)`` of a piecewise-linear rate factor
        applied to all units (empty: constant rate).
    """

    rate_range_per_min: tuple[float, float] = (0.5, 6.0)
    refractory_s: float = 0.15
    double_probability: float = 0.02
    double_interval_s: tuple[float, float] = (0.010, 0.110)
    fwave_probability: float = 0.0
    fwave_latency_s: tuple[float, float] = (0.030, 0.002)
    modulation: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        lo, hi = self.rate_range_per_min
        check_in_range(lo, "rate_range_per_min", 0.0, 600.0)
        check_in_range(hi, "rate_range_per_min", lo, 600.0)
        check_in_range(self.refractory_s, "refractory_s", 0.0, 5.0)
        check_in_range(self.double_probability, "double_probability", 0.0, 1.0)
        check_in_range(self.fwave_probability, "fwave_probability", 0.0, 1.0)
        a, b = self.double_interval_s
        check_in_range(a, "double_interval_s", 0.001, 1.0)
        check_in_range(b, "double_interval_s", a, 1.0)
        check_positive(self.fwave_latency_s[0], "fwave_latency_s")
        for t, f in self.modulation:
            check_positive(t, "modulation time", allow_zero=True)
            check_positive(f, "modulation factor", allow_zero=True)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return asdict(self)


def rate_factor(modulation: tuple[tuple[float, float], ...], t: np.ndarray) -> np.ndarray:
    """The piecewise-linear rate factor at times ``t`` (1 without modulation)."""
    if not modulation:
        return np.ones_like(np.asarray(t, dtype=np.float64))
    times = np.array([m[0] for m in modulation], dtype=np.float64)
    factors = np.array([m[1] for m in modulation], dtype=np.float64)
    return np.interp(t, times, factors)


def fasciculation_train(
    rate_per_min: float, duration_s: float, params: FasciculationParams, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Discharge times of one fasciculating unit.

    Returns
    -------
    times : ndarray of float
        Discharge times (s), sorted.
    pair : ndarray of int
        ``PAIR_NONE``, ``PAIR_DOUBLE`` or ``PAIR_FWAVE`` for each discharge
        (both members of a pair are marked).
    """
    rate = rate_per_min / 60.0
    grid_t = np.array([m[0] for m in params.modulation] + [0.0, duration_s])
    peak = float(rate_factor(params.modulation, grid_t).max()) if params.modulation else 1.0
    lam = rate * peak
    if lam <= 0 or duration_s <= 0:
        return np.zeros(0), np.zeros(0, dtype=np.int64)
    n_cand = rng.poisson(lam * duration_s)
    cand = np.sort(rng.uniform(0.0, duration_s, n_cand))
    keep = rng.uniform(0.0, 1.0, n_cand) * peak < rate_factor(params.modulation, cand)
    cand = cand[keep]
    times: list[float] = []
    last = -np.inf
    for t in cand:
        if t - last >= params.refractory_s:
            times.append(float(t))
            last = t
    base = np.array(times)
    pair = np.zeros(len(base), dtype=np.int64)
    u = rng.uniform(0.0, 1.0, len(base))
    gap_d = rng.uniform(*params.double_interval_s, len(base))
    gap_f = np.maximum(rng.normal(*params.fwave_latency_s, len(base)), 0.005)
    is_double = u < params.double_probability
    is_fwave = (~is_double) & (u < params.double_probability + params.fwave_probability)
    extra_t = np.concatenate([base[is_double] + gap_d[is_double], base[is_fwave] + gap_f[is_fwave]])
    extra_p = np.concatenate(
        [np.full(is_double.sum(), PAIR_DOUBLE), np.full(is_fwave.sum(), PAIR_FWAVE)]
    )
    pair[is_double] = PAIR_DOUBLE
    pair[is_fwave] = PAIR_FWAVE
    times_all = np.concatenate([base, extra_t])
    pair_all = np.concatenate([pair, extra_p]).astype(np.int64)
    inside = times_all < duration_s
    order = np.argsort(times_all[inside], kind="stable")
    return times_all[inside][order], pair_all[inside][order]


@dataclass(frozen=True)
class VoluntaryEpoch:
    """One voluntary contraction: a trapezoidal drive.

    Parameters
    ----------
    start_s : float
        Start of the ramp up.
    duration_s : float
        Whole contraction, ramps included.
    level : float
        Plateau drive (0-1; 1 recruits the whole pool at its top rate).
    ramp_s : float
        Duration of each ramp.
    """

    start_s: float
    duration_s: float
    level: float = 0.3
    ramp_s: float = 1.0

    def __post_init__(self) -> None:
        check_positive(self.start_s, "start_s", allow_zero=True)
        check_positive(self.duration_s, "duration_s")
        check_in_range(self.level, "level", 0.0, 1.0)
        check_positive(self.ramp_s, "ramp_s", allow_zero=True)
        if 2 * self.ramp_s > self.duration_s:
            raise ParameterError(
                f"a voluntary epoch of {self.duration_s} s cannot hold two ramps "
                f"of {self.ramp_s} s",
                fix="make the epoch longer or the ramps shorter",
                source="voluntary epoch",
            )

    @property
    def end_s(self) -> float:
        """End of the ramp down."""
        return self.start_s + self.duration_s

    def drive(self, t: np.ndarray) -> np.ndarray:
        """Drive at times ``t`` (0 outside the epoch)."""
        t = np.asarray(t, dtype=np.float64)
        rel = t - self.start_s
        ramp = max(self.ramp_s, 1e-9)
        up = np.clip(rel / ramp, 0.0, 1.0)
        down = np.clip((self.duration_s - rel) / ramp, 0.0, 1.0)
        return self.level * np.minimum(up, down) * ((rel >= 0) & (rel <= self.duration_s))


@dataclass(frozen=True)
class VoluntaryParams:
    """Rate coding of the voluntary units and the schedule of contractions.

    Parameters
    ----------
    min_rate_hz, max_rate_hz : float
        Rate at recruitment and at full drive.
    isi_cov : float
        Coefficient of variation of inter-spike intervals.
    every_s : float
        Mean interval between contraction starts when epochs are drawn
        (0: no contractions unless listed in ``epochs``).
    duration_range_s : tuple of float
        Range of drawn contraction durations.
    level_range : tuple of float
        Range of drawn plateau drives.
    ramp_s : float
        Ramp duration of drawn contractions.
    epochs : tuple of VoluntaryEpoch
        Explicit contractions (used instead of drawing when given).
    """

    min_rate_hz: float = 6.0
    max_rate_hz: float = 20.0
    isi_cov: float = 0.15
    every_s: float = 0.0
    duration_range_s: tuple[float, float] = (5.0, 20.0)
    level_range: tuple[float, float] = (0.15, 0.6)
    ramp_s: float = 1.5
    epochs: tuple[VoluntaryEpoch, ...] = ()

    def __post_init__(self) -> None:
        check_in_range(self.min_rate_hz, "min_rate_hz", 1.0, 50.0)
        check_in_range(self.max_rate_hz, "max_rate_hz", self.min_rate_hz, 60.0)
        check_in_range(self.isi_cov, "isi_cov", 0.0, 0.5)
        check_positive(self.every_s, "every_s", allow_zero=True)
        a, b = self.duration_range_s
        check_in_range(a, "duration_range_s", 2 * self.ramp_s + 0.1, 600.0)
        check_in_range(b, "duration_range_s", a, 600.0)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return asdict(self)

    def schedule(self, duration_s: float, rng: np.random.Generator) -> tuple[VoluntaryEpoch, ...]:
        """The contractions of a recording of ``duration_s`` seconds."""
        if self.epochs:
            return tuple(e for e in self.epochs if e.start_s < duration_s)
        if self.every_s <= 0:
            return ()
        out = []
        t = float(rng.uniform(0.3, 0.8) * self.every_s)
        while True:
            dur = float(rng.uniform(*self.duration_range_s))
            if t + dur > duration_s:
                break
            level = float(rng.uniform(*self.level_range))
            out.append(VoluntaryEpoch(round(t, 3), round(dur, 3), round(level, 3), self.ramp_s))
            t += dur + float(rng.uniform(0.5, 1.5) * self.every_s)
        return tuple(out)


def voluntary_train(
    threshold: float,
    epochs: tuple[VoluntaryEpoch, ...],
    params: VoluntaryParams,
    rng: np.random.Generator,
    dt: float = 0.001,
) -> np.ndarray:
    """Discharge times of one voluntary unit across all contractions.

    A unit fires while the drive exceeds its ``threshold``, at
    ``min_rate + (max_rate - min_rate) (drive - threshold) / (1 - threshold)``,
    each interval drawn around the rate's inverse with ``isi_cov``.
    """
    times: list[float] = []
    for ep in epochs:
        if ep.level <= threshold:
            continue
        t_grid = np.arange(ep.start_s, ep.end_s, dt)
        drive = ep.drive(t_grid)
        above = drive > threshold
        if not above.any():
            continue
        span = max(1.0 - threshold, 1e-6)
        rate = params.min_rate_hz + (params.max_rate_hz - params.min_rate_hz) * np.clip(
            (drive - threshold) / span, 0.0, 1.0
        )
        t = float(t_grid[np.argmax(above)]) + float(rng.uniform(0.0, 1.0 / params.min_rate_hz))
        while t < ep.end_s:
            i = int((t - ep.start_s) / dt)
            if i >= len(t_grid) or not above[i]:
                nxt = np.flatnonzero(above[i:]) if i < len(t_grid) else np.zeros(0, dtype=int)
                if len(nxt) == 0:
                    break
                t = float(t_grid[i + nxt[0]])
                continue
            times.append(t)
            isi = (1.0 / rate[i]) * (1.0 + params.isi_cov * rng.standard_normal())
            t += max(isi, 0.3 / rate[i])
    return np.array(times)
