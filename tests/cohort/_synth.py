"""A synthetic recordings table with planted effects (Poisson counts)."""

from __future__ import annotations

import numpy as np
import pandas as pd

# planted effects on the log(FP/min) scale
BASE = {"control": np.log(8.0), "BFS": np.log(20.0), "ALS": np.log(40.0)}
SLOPE = {"control": 0.0, "BFS": 0.0, "ALS": np.log(1.06)}  # per month
MUSCLE = {"biceps": 0.0, "gastrocnemius": np.log(1.5)}
SUBJECT_SD = 0.3


def cohort_table(
    n_per_group: int = 10,
    visits: tuple[float, ...] = (0, 3, 6, 9, 12),
    minutes: float = 30.0,
    seed: int = 0,
) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for group in BASE:
        for i in range(n_per_group):
            sub = f"{group}{i:02d}"
            u = rng.normal(0, SUBJECT_SD)
            caffeine = rng.choice(["yes", "no"])
            for v, t in enumerate(visits):
                for muscle, m in MUSCLE.items():
                    rate = np.exp(BASE[group] + SLOPE[group] * t + m + u)
                    n = rng.poisson(rate * minutes)
                    rows.append(
                        {
                            "recording_id": f"sub-{sub}_ses-{v}_{muscle}",
                            "subject": sub,
                            "session": f"{v:02d}",
                            "muscle": muscle,
                            "group": group,
                            "months_since_first": float(t),
                            "status": "done",
                            "n_fp": n,
                            "analysed_s": minutes * 60,
                            "fp_per_min": n / minutes,
                            "caffeine": caffeine,
                        }
                    )
    return pd.DataFrame(rows)
