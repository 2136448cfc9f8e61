"""Benchmark of motor-unit sorting on simulated recordings.

FPs are the simulator's true fasciculation times (peak time) with ±1 ms
uniform jitter, outside voluntary epochs; each recording is sorted and
compared with the truth (adjusted Rand index, units found, conduction
velocity of units with ≥ 10 discharges, stable/unstable agreement).
The sorting time is compared with the analysis time of a 30-minute
recording (``fasciq.analysis.analyze``), sorting that recording's
detected FPs.

Run ``python benchmarks/bench_sorting.py [--quick]``; prints a table and
writes ``benchmarks/results/bench_sorting.json``.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from fasciq.evaluate.sorting import sorting_metrics
from fasciq.simulate import NoiseParams, simulate
from fasciq.units import sort_recording

CASES = [
    # preset, duration_s, seed, white noise (µV)
    ("healthy", 600, 11, 2.0),
    ("bfs", 300, 12, 2.0),
    ("bfs", 300, 13, 6.0),
    ("stimulant", 300, 14, 2.0),
    ("low-magnesium", 300, 15, 2.0),
    ("als", 300, 16, 2.0),
    ("als", 300, 17, 4.0),
    ("als", 600, 18, 2.0),
    ("als", 300, 19, 8.0),
    ("als-late", 300, 20, 2.0),
    ("als-late", 300, 21, 4.0),
    ("als-late", 600, 22, 2.0),
    ("post-exertion", 300, 23, 2.0),
]


def _truth_fps(sim, rng: np.random.Generator) -> tuple[np.ndarray, pd.DataFrame]:
    d = sim.truth.discharges
    d = d[d.kind == "fasciculation"]
    keep = np.ones(len(d), dtype=bool)
    for a, b in np.asarray(sim.truth.voluntary_epochs).reshape(-1, 2):
        keep &= ~((d.peak_time_s >= a - 0.5) & (d.peak_time_s <= b + 0.5)).to_numpy()
    d = d[keep]
    times = d.peak_time_s.to_numpy() + rng.uniform(-1e-3, 1e-3, len(d))
    return times, d


def run_case(preset: str, duration: float, seed: int, white: float) -> dict:
    sim = simulate(preset=preset, duration_s=duration, seed=seed, noise=NoiseParams(white_uv=white))
    times, d = _truth_fps(sim, np.random.default_rng(seed))
    res = sort_recording(sim.recording, times, seed=0)
    m = sorting_metrics(res.labels, d.unit.to_numpy())
    units = sim.truth.units.set_index("unit")
    counts = d.unit.value_counts()
    cv_err, stab = [], []
    for row in res.units.itertuples():
        members = d.unit.to_numpy()[res.labels == row.unit]
        true_unit = int(pd.Series(members).mode()[0])
        if row.n_fp >= 10 and np.isfinite(row.cv_m_s):
            cv_err.append(
                abs(row.cv_m_s - units.loc[true_unit, "cv_m_s"]) / units.loc[true_unit, "cv_m_s"]
            )
        stab.append((bool(row.stable), bool(units.loc[true_unit, "stable"]), float(row.stability)))
    n_true = int(m["n_units_true"])
    return {
        "preset": preset,
        "duration_s": duration,
        "seed": seed,
        "white_noise_uv": white,
        "n_fp": len(times),
        "n_units_true": n_true,
        "n_units_true_ge5": int((counts >= 5).sum()),
        "n_units_found": int(m["n_units_found"]),
        "ari": float(m["ari"]),
        "unassigned": float((res.labels < 0).mean()) if len(times) else 0.0,
        "cv_errors": cv_err,
        "stability": stab,
        "sort_s": res.elapsed_s,
    }


def timing(duration: float = 1800.0) -> dict:
    from fasciq.analysis import analyze

    sim = simulate(preset="bfs", duration_s=duration, seed=99)
    t0 = time.perf_counter()
    result = analyze(sim.recording)
    analyze_s = time.perf_counter() - t0
    times = result.fasciculations.time_s.to_numpy()
    t0 = time.perf_counter()
    res = sort_recording(sim.recording, times, seed=0, analysed_s=result.summary["analysed_s"])
    sort_total = time.perf_counter() - t0
    return {
        "recording_s": duration,
        "n_fp_detected": len(times),
        "analyze_s": analyze_s,
        "sort_total_s": sort_total,
        "sort_core_s": res.elapsed_s,
        "n_units": res.n_units,
        "added_fraction": sort_total / analyze_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 30-minute timing")
    args = parser.parse_args()
    rows = []
    print("FPs: simulator truth times with ±1 ms jitter (not yet detected FPs)")
    print(
        f"{'preset':14s} {'dur':>5s} {'noise':>5s} {'n_fp':>5s} {'true':>4s} "
        f"{'≥5':>3s} {'found':>5s} {'ARI':>6s} {'unass':>6s} {'sort_s':>6s}"
    )
    for case in CASES:
        r = run_case(*case)
        rows.append(r)
        print(
            f"{r['preset']:14s} {r['duration_s']:5.0f} {r['white_noise_uv']:5.1f} "
            f"{r['n_fp']:5d} {r['n_units_true']:4d} {r['n_units_true_ge5']:3d} "
            f"{r['n_units_found']:5d} {r['ari']:6.3f} {r['unassigned']:6.2f} {r['sort_s']:6.2f}"
        )
    aris = [r["ari"] for r in rows]
    within = [
        abs(r["n_units_found"] - r["n_units_true"]) <= 1 for r in rows if r["n_units_true"] <= 15
    ]
    within5 = [abs(r["n_units_found"] - r["n_units_true_ge5"]) <= 1 for r in rows]
    cv = np.array([e for r in rows for e in r["cv_errors"]])
    late = [s for r in rows if r["preset"] == "als-late" for s in r["stability"]]
    stab_acc = float(np.mean([a == b for a, b, _ in late])) if late else None
    unstable_called = [a for a, b, _ in late if not b]
    stable_called = [a for a, b, _ in late if b]
    summary = {
        "fp_source": "truth peak times + uniform ±1 ms jitter",
        "median_ari": float(np.median(aris)),
        "units_within_1_of_truth": float(np.mean(within)),
        "units_within_1_of_truth_ge5_discharges": float(np.mean(within5)),
        "cv_units": int(cv.size),
        "cv_within_15pct": float(np.mean(cv < 0.15)) if cv.size else None,
        "cv_median_abs_error": float(np.median(cv)) if cv.size else None,
        "als_late_stability_accuracy": stab_acc,
        "als_late_unstable_detected": float(np.mean([not a for a in unstable_called]))
        if unstable_called
        else None,
        "als_late_stable_kept": float(np.mean(stable_called)) if stable_called else None,
    }
    print(json.dumps(summary, indent=2))
    out = {"summary": summary, "cases": rows}
    if not args.quick:
        t = timing()
        out["timing_30min"] = t
        print(
            f"30-min bfs: analyze {t['analyze_s']:.1f} s, {t['n_fp_detected']} FPs detected, "
            f"sorting {t['sort_total_s']:.1f} s (+{100 * t['added_fraction']:.1f} %), "
            f"{t['n_units']} units"
        )
    path = Path(__file__).parent / "results" / "bench_sorting.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=float))
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
