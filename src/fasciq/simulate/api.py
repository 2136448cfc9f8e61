"""Public entry points: :func:`simulate` and :func:`write_simulation`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from fasciq._atomic import write_text_atomic
from fasciq._logging import logger
from fasciq.errors import ParameterError
from fasciq.recording import Annotations, Recording, RecordingMetadata
from fasciq.simulate.engine import Engine
from fasciq.simulate.scenario import Scenario
from fasciq.simulate.truth import Truth
from fasciq.validate import check_output_free

START_TIME = "2000-01-01T00:00:00"  # fixed, so that the same seed writes the same bytes


class SimulatedRecording(Recording):
    """A lazy recording synthesised on demand from a scenario and its seed.

    Samples are made block by block (4 s at 2048 Hz) when read; nothing but
    the two most recent blocks is kept.
    """

    def __init__(
        self, engine: Engine, annotations: Annotations, metadata: RecordingMetadata
    ) -> None:
        super().__init__(
            fs=engine.fs,
            n_samples=engine.n_samples,
            channel_labels=[f"ch{i + 1}" for i in range(engine.n_channels)],
            grid=engine.grid,
            annotations=annotations,
            metadata=metadata,
            format_name="simulated",
        )
        self._engine = engine

    def _read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        return self._engine.read(start, stop, np.asarray(channels))

    def muaps_only(self, start: int = 0, stop: int | None = None) -> np.ndarray:
        """The MUAPs alone (no noise or artefacts) for samples ``[start, stop)``."""
        from fasciq.simulate.engine import BLOCK

        stop = self.n_samples if stop is None else min(stop, self.n_samples)
        out = np.empty((stop - start, self.n_channels), dtype=np.float32)
        for b in range(start // BLOCK, (stop - 1) // BLOCK + 1):
            data = self._engine.block(b, muaps_only=True)
            n0 = b * BLOCK
            s0, s1 = max(start, n0), min(stop, n0 + data.shape[0])
            out[s0 - start : s1 - start] = data[s0 - n0 : s1 - n0]
        return out


@dataclass
class Simulation:
    """A simulated recording and its ground truth."""

    recording: SimulatedRecording
    truth: Truth
    scenario: Scenario
    engine: Engine

    def template(self, unit: int) -> np.ndarray:
        """The stable MUAP of ``unit`` at the recording rate, ``(n, n_channels)`` µV."""
        return self.engine.templates[unit].phase(0)


def simulate(
    preset: str | None = "als",
    duration_s: float | None = None,
    grid: str | None = None,
    fs: float | None = None,
    seed: int | None = None,
    *,
    scenario: Scenario | None = None,
    **overrides: Any,
) -> Simulation:
    """Simulate a surface EMG recording with known fasciculations.

    Parameters
    ----------
    preset : str, optional
        Name of a preset (see :data:`fasciq.simulate.PRESETS`); ignored when
        ``scenario`` is given.
    duration_s, grid, fs, seed : optional
        Length (s, default 60), grid (default ``GR08MM1305``), sampling rate
        (default 2048 Hz) and seed (default 0).
    scenario : Scenario, optional
        A scenario built from parts, instead of a preset.
    **overrides
        Scenario fields to replace (``noise=...``, ``artefacts=...``,
        ``line_freq_hz=60``...).

    Returns
    -------
    Simulation
        ``.recording`` (lazy) and ``.truth``.
    """
    if scenario is None:
        from fasciq.simulate.presets import get_preset

        scenario = get_preset(preset or "als").scenario(
            duration_s=60.0 if duration_s is None else duration_s,
            fs=2048.0 if fs is None else fs,
            grid=grid or "GR08MM1305",
            seed=0 if seed is None else seed,
        )
    else:
        given = {"duration_s": duration_s, "grid": grid, "fs": fs, "seed": seed}
        overrides = {**{k: v for k, v in given.items() if v is not None}, **overrides}
    if overrides:
        scenario = scenario.replace(**overrides)
    engine = Engine(scenario)
    labels = tuple(f"ch{i + 1}" for i in range(engine.n_channels))
    truth = Truth.from_engine(engine, labels)
    items = [(a, b - a, "voluntary") for a, b in truth.voluntary_epochs]
    for row in truth.artefacts.itertuples(index=False):
        if row.kind == "ecg":
            continue
        text = row.kind if not row.channel else f"{row.kind} {row.channel}"
        items.append((row.start_s, row.end_s - row.start_s, text))
    metadata = RecordingMetadata(
        subject="simulated",
        session=scenario.preset,
        muscle="simulated",
        start_time=START_TIME,
        extra={"simulated": True, "preset": scenario.preset, "seed": scenario.seed},
    )
    recording = SimulatedRecording(engine, Annotations.from_list(items), metadata)
    return Simulation(recording, truth, scenario, engine)


def truth_paths(path: str | PathLike[str]) -> tuple[Path, Path]:
    """``<stem>.truth.csv`` and ``<stem>.truth.json`` beside ``path``."""
    p = Path(path)
    return p.with_name(p.stem + ".truth.csv"), p.with_name(p.stem + ".truth.json")


def write_simulation(
    sim: Simulation,
    path: str | PathLike[str],
    overwrite: bool = False,
    chunk_s: float = 10.0,
    progress: Callable[[int, int], None] | None = None,
) -> Path:
    """Stream a simulation to BDF (24-bit) or EDF (16-bit), with its truth files.

    Parameters
    ----------
    sim : Simulation
        From :func:`simulate`.
    path : path
        ``.bdf`` or ``.edf``; ``<stem>.truth.csv`` and ``<stem>.truth.json``
        are written beside it.
    overwrite : bool
        Replace existing files.
    chunk_s : float
        Seconds synthesised and written at a time.
    progress : callable, optional
        Called with ``(samples_done, samples_total)`` after each chunk.

    Returns
    -------
    Path
        The signal file.
    """
    from fasciq.io.edf_writer import EdfWriter

    p = Path(path)
    fmt = p.suffix.lower().lstrip(".")
    if fmt not in ("bdf", "edf"):
        raise ParameterError(
            f"cannot write a simulation as {p.suffix or 'a file without extension'}",
            fix="give a .bdf (24-bit) or .edf (16-bit) output path",
            source=p,
        )
    csv_path, json_path = truth_paths(p)
    for target in (p, csv_path, json_path):
        check_output_free(target, overwrite)
    rec = sim.recording
    rail = sim.scenario.artefacts.bad.rail_uv
    step = max(1, round(chunk_s * rec.fs))
    with EdfWriter(
        p,
        fs=rec.fs,
        labels=list(rec.channel_labels),
        fmt=fmt,
        physical_range_uv=(-rail, rail),
        annotations=rec.annotations,
        metadata=rec.metadata,
        overwrite=overwrite,
    ) as writer:
        for a in range(0, rec.n_samples, step):
            b = min(a + step, rec.n_samples)
            writer.write(rec.get_traces(a, b))
            if progress is not None:
                progress(b, rec.n_samples)
    write_text_atomic(csv_path, sim.truth.to_csv(), overwrite=overwrite)
    write_text_atomic(json_path, sim.truth.to_json(), overwrite=overwrite)
    logger.info("Wrote %s with %d discharges of truth", p, len(sim.truth.discharges))
    return p
