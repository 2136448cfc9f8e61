"""A simulated longitudinal EMG-BIDS study with planted group and time effects.

Total FP rate of a recording (all fasciculating units together)::

    rate = BASE_RATE[group] * TREND[group] ** months

The same for both muscles (no muscle effect is planted).
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np

GROUPS = ("control", "BFS", "ALS")
BASE_RATE = {"control": 20.0, "BFS": 45.0, "ALS": 90.0}  # FP/min at the first visit
TREND = {"control": 1.0, "BFS": 1.0, "ALS": 1.15}  # factor per month
VISIT_MONTHS = (0.0, 3.0, 6.0, 9.0)
MUSCLES = ("biceps", "gastrocnemius")
N_UNITS = 6
SUBJECT_SD = 0.25  # between-subject SD of log rate


def planted_rate(group: str, months: float) -> float:
    return BASE_RATE[group] * TREND[group] ** months


def _scenario(rate: float, seed: int, duration_s: float, fs: float, grid: str):
    from fasciq.simulate import ArtefactParams, FasciculationParams, PoolParams, Scenario

    per_unit = rate / N_UNITS
    return Scenario(
        duration_s=duration_s,
        fs=fs,
        grid=grid,
        seed=seed,
        fasciculating=PoolParams(
            n_units=N_UNITS, fibres_min=150, size_ratio=8.0, n_groups=8, depth_range_mm=(2.0, 8.0)
        ),
        fasciculation=FasciculationParams(
            rate_range_per_min=(per_unit, per_unit), double_probability=0.0
        ),
        artefacts=ArtefactParams.off(),
    )


def write_study(
    root: Path,
    n_per_group: int = 4,
    visits: tuple[float, ...] = VISIT_MONTHS,
    muscles: tuple[str, ...] = MUSCLES,
    duration_s: float = 8.0,
    fs: float = 1024.0,
    grid: str = "4x4@8",
    seed: int = 0,
) -> list[Path]:
    """Write the study in EMG-BIDS layout; returns the recording files."""
    from fasciq.simulate import simulate, write_simulation

    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(
        json.dumps({"Name": "simulated cohort", "BIDSVersion": "1.11.0"})
    )
    rng = np.random.default_rng(seed)
    subject_effect = {}
    participants = ["participant_id\tgroup\tage\tcaffeine"]
    files = []
    k = 0
    for group in GROUPS:
        for i in range(n_per_group):
            sub = f"{group[:3].lower()}{i + 1:02d}"
            participants.append(
                f"sub-{sub}\t{group}\t{int(rng.integers(30, 75))}\t"
                f"{'yes' if rng.random() < 0.5 else 'no'}"
            )
            subject_effect[sub] = float(np.exp(rng.normal(0.0, SUBJECT_SD)))
            sessions = ["session_id\tacq_time"]
            for v, months in enumerate(visits):
                ses = f"{v + 1:02d}"
                day = np.datetime64("2023-01-10") + round(months * 365.25 / 12)
                sessions.append(f"ses-{ses}\t{day}T10:00:00")
                folder = root / f"sub-{sub}" / f"ses-{ses}" / "emg"
                folder.mkdir(parents=True, exist_ok=True)
                for muscle in muscles:
                    k += 1
                    stem = f"sub-{sub}_ses-{ses}_task-rest_acq-{muscle}"
                    rate = planted_rate(group, months) * subject_effect[sub]
                    sim = simulate(
                        scenario=_scenario(rate, seed * 100003 + k, duration_s, fs, grid)
                    )
                    path = folder / f"{stem}_emg.bdf"
                    write_simulation(sim, path)
                    (folder / f"{stem}_emg.json").write_text(
                        json.dumps(
                            {
                                "SamplingFrequency": fs,
                                "PowerLineFrequency": 50,
                                "EMGReference": "monopolar",
                                "TargetMuscle": muscle,
                                "TaskName": "rest",
                            }
                        )
                    )
                    files.append(path)
            (root / f"sub-{sub}" / f"sub-{sub}_sessions.tsv").write_text("\n".join(sessions) + "\n")
    (root / "participants.tsv").write_text("\n".join(participants) + "\n")
    return files


def log_trend(group: str) -> float:
    return math.log(TREND[group])
