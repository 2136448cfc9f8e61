"""Ground-truth simulator of surface EMG with fasciculations.

Motor-unit action potentials come from a layered volume-conductor model of
fibres carrying the Rosenfalck intracellular action potential; motor-unit
pools, fasciculation and voluntary firing, noise, interference and
artefacts are composed into a :class:`Scenario`, and every discharge is
recorded in the :class:`Truth`::

    from fasciq.simulate import simulate, write_simulation, PRESETS
    sim = simulate(preset="als", duration_s=60.0, grid="GR08MM1305", seed=1)
    sim.recording.get_traces(0, 2048)   # synthesised on demand
    sim.truth.discharges                # one row per discharge
    write_simulation(sim, "als.bdf")    # + als.truth.csv, als.truth.json
"""

from fasciq.simulate.api import SimulatedRecording, Simulation, simulate, write_simulation
from fasciq.simulate.artefacts import (
    ArtefactParams,
    BadChannelParams,
    EcgParams,
    MotionParams,
    PopParams,
)
from fasciq.simulate.conductor import ConductorParams
from fasciq.simulate.firing import FasciculationParams, VoluntaryEpoch, VoluntaryParams
from fasciq.simulate.noise import NoiseParams
from fasciq.simulate.pool import PoolParams, Reinnervation
from fasciq.simulate.presets import PRESETS, Preset, get_preset
from fasciq.simulate.scenario import Scenario
from fasciq.simulate.truth import Truth

__all__ = [
    "PRESETS",
    "ArtefactParams",
    "BadChannelParams",
    "ConductorParams",
    "EcgParams",
    "FasciculationParams",
    "MotionParams",
    "NoiseParams",
    "PoolParams",
    "PopParams",
    "Preset",
    "Reinnervation",
    "Scenario",
    "SimulatedRecording",
    "Simulation",
    "Truth",
    "VoluntaryEpoch",
    "VoluntaryParams",
    "get_preset",
    "simulate",
    "write_simulation",
]
