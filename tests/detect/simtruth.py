"""Evaluation reference from an in-memory simulation (no files)."""

from __future__ import annotations

import numpy as np

from fasciq.evaluate import Truth


def reference(sim) -> Truth:
    """The simulator's fasciculations as an evaluation :class:`Truth`."""
    d = sim.truth.discharges
    d = d[d["kind"].astype(str) == "fasciculation"]
    return Truth(
        times_s=d["peak_time_s"].to_numpy(dtype=np.float64),
        units=d["unit"].to_numpy(dtype=np.int64),
        voluntary_epochs=[(float(a), float(b)) for a, b in sim.truth.voluntary_epochs],
        duration_s=float(sim.recording.duration_s),
        kind="simulation",
        source="simulation",
    )
