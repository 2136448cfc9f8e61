from __future__ import annotations

import pytest

from fasciq.simulate import (
    ArtefactParams,
    FasciculationParams,
    NoiseParams,
    PoolParams,
    Scenario,
    VoluntaryParams,
    simulate,
)


def quiet_scenario(**kw) -> Scenario:
    """Noise-free, artefact-free, no voluntary activity: only MUAPs."""
    base = dict(
        duration_s=8.0,
        grid="GR08MM1305",
        seed=3,
        fasciculating=PoolParams(
            n_units=4, fibres_min=150, size_ratio=5.0, depth_range_mm=(2.0, 8.0)
        ),
        fasciculation=FasciculationParams(rate_range_per_min=(20.0, 40.0), double_probability=0.0),
        contraction=VoluntaryParams(every_s=0.0),
        noise=NoiseParams.off(),
        artefacts=ArtefactParams.off(),
    )
    base.update(kw)
    return Scenario(**base)


@pytest.fixture(scope="module")
def quiet_sim():
    return simulate(scenario=quiet_scenario())
