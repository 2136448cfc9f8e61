"""A simulation scenario: every parameter, assembled from parts."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from fasciq.errors import ParameterError
from fasciq.simulate.artefacts import ArtefactParams
from fasciq.simulate.conductor import ConductorParams
from fasciq.simulate.firing import FasciculationParams, VoluntaryParams
from fasciq.simulate.noise import NoiseParams
from fasciq.simulate.pool import PoolParams
from fasciq.validate import check_in_range, check_positive, check_sampling_rate


@dataclass(frozen=True)
class Scenario:
    """Everything a simulation needs; a pure description (no random draws yet).

    Parameters
    ----------
    duration_s : float
        Length of the recording.
    fs : float
        Sampling rate (Hz).
    grid : str
        Catalogue name or ``ROWSxCOLS@IEDmm`` spec of the electrode grid.
    seed : int
        Seed of every random draw; the same scenario and seed give the same
        samples.
    preset : str
        Name of the preset it came from (``"custom"`` otherwise).
    conductor : ConductorParams
        Volume conductor.
    fasciculating : PoolParams
        Units that fasciculate.
    voluntary : PoolParams
        Units recruited in voluntary contractions.
    fasciculation : FasciculationParams
        Fasciculation firing.
    contraction : VoluntaryParams
        Voluntary contractions.
    noise : NoiseParams
        Amplifier noise, power line, baseline.
    artefacts : ArtefactParams
        ECG, pops, motion, bad channels.
    """

    duration_s: float = 60.0
    fs: float = 2048.0
    grid: str = "GR08MM1305"
    seed: int = 0
    preset: str = "custom"
    conductor: ConductorParams = field(default_factory=ConductorParams)
    fasciculating: PoolParams = field(default_factory=PoolParams)
    voluntary: PoolParams = field(
        default_factory=lambda: PoolParams(n_units=0, unit_class="voluntary")
    )
    fasciculation: FasciculationParams = field(default_factory=FasciculationParams)
    contraction: VoluntaryParams = field(default_factory=VoluntaryParams)
    noise: NoiseParams = field(default_factory=NoiseParams)
    artefacts: ArtefactParams = field(default_factory=ArtefactParams)

    def __post_init__(self) -> None:
        check_positive(self.duration_s, "duration_s")
        check_in_range(self.duration_s, "duration_s", 0.1, 48 * 3600.0)
        check_sampling_rate(self.fs, "fs")
        check_in_range(self.fs, "fs", 500.0, 20000.0)
        check_in_range(self.seed, "seed", 0, 2**63 - 1)
        if self.fasciculating.unit_class != "fasciculating":
            raise ParameterError(
                "the fasciculating pool must have unit_class='fasciculating'",
                fix="build it with PoolParams(unit_class='fasciculating', ...)",
                source="fasciculating",
            )
        if self.voluntary.unit_class != "voluntary":
            raise ParameterError(
                "the voluntary pool must have unit_class='voluntary'",
                fix="build it with PoolParams(unit_class='voluntary', ...)",
                source="voluntary",
            )

    @property
    def line_freq_hz(self) -> float:
        """Mains frequency of the simulated interference."""
        return float(self.noise.line_freq_hz)

    def replace(self, **changes: Any) -> Scenario:
        """A copy with some fields replaced.

        Besides the fields, ``line_freq_hz`` is accepted as a shortcut for
        the noise's mains frequency. Unknown names raise
        :class:`~fasciq.errors.ParameterError`.
        """
        changes = dict(changes)
        if "line_freq_hz" in changes:
            line = float(changes.pop("line_freq_hz"))
            noise = changes.get("noise", self.noise)
            changes["noise"] = dataclasses.replace(noise, line_freq_hz=line)
        names = {f.name for f in dataclasses.fields(self)}
        unknown = sorted(set(changes) - names)
        if unknown:
            raise ParameterError(
                f"unknown simulation parameter(s) {', '.join(unknown)}",
                fix=f"use {', '.join(sorted(names | {'line_freq_hz'}))}",
                source="simulate",
            )
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """Every parameter, JSON-ready."""
        return _jsonable(dataclasses.asdict(self))


def _jsonable(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, float) and value != value:  # NaN
        return None
    return value
