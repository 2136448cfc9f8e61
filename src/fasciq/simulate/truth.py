"""What a simulation knows to be true, as tables and JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fasciq._version import __version__
from fasciq.simulate.engine import KIND_NAMES, Engine
from fasciq.simulate.firing import PAIR_NAMES

DISCHARGE_COLUMNS = [
    "time_s",
    "unit",
    "kind",
    "peak_time_s",
    "peak_channel",
    "amplitude_uv",
    "pair",
]


@dataclass
class Truth:
    """Ground truth of a simulated recording.

    Attributes
    ----------
    discharges : pandas.DataFrame
        One row per discharge: ``time_s`` (the motor neuron's discharge, i.e.
        the start of propagation at the end-plates), ``unit``, ``kind``
        (``"fasciculation"`` or ``"voluntary"``), ``peak_time_s`` (sample
        time of the MUAP's largest absolute value on ``peak_channel``),
        ``peak_channel`` (label of the channel with the largest
        peak-to-peak), ``amplitude_uv`` (that peak-to-peak), ``pair``
        (``""``, ``"double"`` or ``"f-wave"``; both members of a pair are
        marked).
    units : pandas.DataFrame
        One row per motor unit (see :func:`units_table`).
    voluntary_epochs : list of [start_s, end_s]
        Voluntary contractions, ramps included.
    artefacts : pandas.DataFrame
        ``start_s, end_s, kind, channel`` of ECG beats (QRS ± 60 ms), pops,
        motion and saturated channels.
    bad_channels : dict
        Channel label → ``"flat"``, ``"saturated"``, ``"disconnected"`` or
        ``"noisy"``.
    params : dict
        Every parameter of the scenario.
    line_freq_hz : float
        Mains frequency of the interference.
    """

    discharges: pd.DataFrame
    units: pd.DataFrame
    voluntary_epochs: list[list[float]]
    artefacts: pd.DataFrame
    bad_channels: dict[str, str]
    params: dict[str, Any]
    line_freq_hz: float
    fs: float = 2048.0
    duration_s: float = 0.0
    grid: str = ""
    preset: str = "custom"
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_engine(cls, engine: Engine, labels: tuple[str, ...]) -> Truth:
        """Collect the truth of an :class:`~fasciq.simulate.engine.Engine`."""
        sc = engine.scenario
        ev = engine.events
        order = np.argsort(ev.time_s, kind="stable")
        discharges = pd.DataFrame(
            {
                "time_s": np.round(ev.time_s[order], 6),
                "unit": ev.unit[order],
                "kind": [KIND_NAMES[k] for k in ev.kind[order]],
                "peak_time_s": np.round(ev.peak_sample[order] / engine.fs, 6),
                "peak_channel": [labels[c] for c in ev.peak_channel[order]],
                "amplitude_uv": np.round(ev.amplitude_uv[order], 3),
                "pair": [PAIR_NAMES[p] for p in ev.pair[order]],
            },
            columns=DISCHARGE_COLUMNS,
        )
        artefacts = pd.DataFrame(
            engine.artefacts.events(labels), columns=["start_s", "end_s", "kind", "channel"]
        )
        return cls(
            discharges=discharges,
            units=units_table(engine),
            voluntary_epochs=[[round(e.start_s, 6), round(e.end_s, 6)] for e in engine.epochs],
            artefacts=artefacts,
            bad_channels={labels[c]: r for c, r in sorted(engine.artefacts.bad.items())},
            params=sc.to_dict(),
            line_freq_hz=sc.line_freq_hz,
            fs=engine.fs,
            duration_s=engine.n_samples / engine.fs,
            grid=engine.grid.name,
            preset=sc.preset,
            seed=sc.seed,
            extra={"voluntary_levels": [e.level for e in engine.epochs]},
        )

    def fasciculations(self) -> pd.DataFrame:
        """Discharges of kind ``"fasciculation"``."""
        return self.discharges[self.discharges["kind"] == "fasciculation"]

    def to_json_dict(self) -> dict[str, Any]:
        """Everything but the discharge table, JSON-ready."""
        units = self.units.replace({np.nan: None}).to_dict(orient="records")
        return {
            "fasciq_version": __version__,
            "preset": self.preset,
            "seed": self.seed,
            "fs": self.fs,
            "duration_s": self.duration_s,
            "grid": self.grid,
            "line_freq_hz": self.line_freq_hz,
            "n_discharges": len(self.discharges),
            "n_fasciculations": int((self.discharges["kind"] == "fasciculation").sum()),
            "voluntary_epochs": self.voluntary_epochs,
            "bad_channels": self.bad_channels,
            "units": units,
            "artefacts": self.artefacts.to_dict(orient="records"),
            "params": self.params,
            **self.extra,
        }

    def to_json(self) -> str:
        """:meth:`to_json_dict` as indented, key-stable JSON text."""
        return json.dumps(_plain(self.to_json_dict()), indent=1, sort_keys=False) + "\n"

    def to_csv(self) -> str:
        """The discharge table as CSV text (fixed float formatting)."""
        return self.discharges.to_csv(index=False, float_format="%.6f", lineterminator="\n")


def units_table(engine: Engine) -> pd.DataFrame:
    """One row per unit: class, position under the grid, size, speed, rate, stability."""
    frame = engine.frame
    rows = []
    for i, (u, tpl) in enumerate(zip(engine.units, engine.templates, strict=True)):
        gx, gy = frame.to_grid_xy(np.array(u.x_mm), np.array(u.z_mm))
        rows.append(
            {
                "unit": i,
                "class": u.unit_class,
                "x_mm": round(float(gx), 3),
                "y_mm": round(float(gy), 3),
                "depth_mm": round(u.depth_mm, 3),
                "n_fibres": u.n_fibres,
                "territory_radius_mm": round(u.radius_mm, 3),
                "cv_m_s": round(u.cv_m_s, 4),
                "endplate_mm": round(u.z_mm, 3),
                "rate_per_min": round(float(engine.rates_per_min[i]), 4),
                "threshold": None if np.isnan(u.threshold) else round(u.threshold, 4),
                "reinnervated": u.reinnervated,
                "stable": u.stable,
                "block_probability": u.block_probability,
                "jitter_us": u.jitter_us,
                "ptp_uv": round(tpl.peak_to_peak(), 3),
                "n_discharges": int((engine.events.unit == i).sum()),
            }
        )
    return pd.DataFrame(rows)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (np.integer,)):
        return int(value)
    if isinstance(value, (np.floating, float)):
        v = float(value)
        return None if v != v else v
    if isinstance(value, np.bool_):
        return bool(value)
    return value
