"""Benchmark: batch throughput on Dask, scheduling overhead, catalogue query speed.

1. A simulated EMG-BIDS study (cached under ``benchmarks/data/cohort_study``)
   of ``--recordings`` short recordings is analysed
   (a) in a plain sequential loop (no Dask),
   (b) by ``run_batch`` on a 1-worker and (c) a 2-worker ``LocalCluster``.
   Throughput = recordings / wall time (cluster start included); scheduling
   overhead = wall − Σ(per-task compute) / workers, and the 1-worker wall
   time is compared with the plain loop.
2. A catalogue of ``--fps`` FPs (synthetic result folders) is built with
   ``update_catalogue`` and a grouped join query is timed through DuckDB.

Prints a table and writes ``benchmarks/results/bench_cohort.json``.

Usage: ``python benchmarks/bench_cohort.py [--recordings 50] [--duration 120]
[--fps 100000]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
DATA = HERE / "data"
RESULTS = HERE / "results"
GRID = "4x4@8"


def make_study(n: int, duration: float) -> Path:
    from tests.cohort.study import write_study

    root = DATA / f"cohort_study_{duration:g}s"
    marker = root / ".complete"
    if not marker.exists():
        shutil.rmtree(root, ignore_errors=True)
        per_group = max(1, -(-n // 15))  # 5 visits x 3 groups per subject and muscle
        write_study(
            root,
            n_per_group=per_group,
            visits=(0.0, 3.0, 6.0, 9.0, 12.0),
            muscles=("biceps",),
            duration_s=duration,
            seed=7,
        )
        marker.write_text("ok")
    return root


def bench_batch(entries, workers: int, scratch: Path) -> dict:
    from fasciq.analysis import AnalysisParams
    from fasciq.cohort.batch import BatchSettings, ProcessOptions, run_batch

    out = scratch / f"deriv-{workers}"
    shutil.rmtree(out, ignore_errors=True)
    opts = ProcessOptions(params=AnalysisParams().to_dict(), grid=GRID)
    t0 = time.perf_counter()
    rep = run_batch(entries, out, opts, BatchSettings(n_workers=workers), update_catalogue=False)
    wall = time.perf_counter() - t0
    assert rep.n_done == len(entries), rep.failures
    ideal = rep.compute_s / workers
    return {
        "workers": workers,
        "wall_s": wall,
        "batch_wall_s": rep.wall_s,
        "compute_s": rep.compute_s,
        "throughput_per_s": len(entries) / wall,
        "overhead_s": wall - ideal,
        "overhead_fraction": (wall - ideal) / wall,
    }


def bench_sequential(entries, scratch: Path) -> dict:
    from fasciq.analysis import AnalysisParams
    from fasciq.cohort.batch import ProcessOptions, analyze_to_folder

    opts = ProcessOptions(params=AnalysisParams().to_dict(), grid=GRID)
    out = scratch / "seq"
    shutil.rmtree(out, ignore_errors=True)
    t0 = time.perf_counter()
    for e in entries:
        analyze_to_folder(e.path, out / e.recording_id, opts)
    wall = time.perf_counter() - t0
    return {"workers": 0, "wall_s": wall, "throughput_per_s": len(entries) / wall}


def bench_query(n_fps: int, scratch: Path) -> dict:
    from fasciq.cohort.catalogue import query, update_catalogue
    from fasciq.cohort.inputs import RecordingEntry
    from fasciq.cohort.layout import MARKER, DerivativesLayout

    rng = np.random.default_rng(0)
    root = scratch / "catalogue-bench"
    shutil.rmtree(root, ignore_errors=True)
    layout = DerivativesLayout(root)
    n_rec = 200
    per = n_fps // n_rec
    entries = []
    for i in range(n_rec):
        e = RecordingEntry(
            Path(f"r{i}.bdf"),
            f"sub-{i // 8:02d}_ses-{i % 4:02d}_rec-{i}",
            f"{i // 8:02d}",
            f"{i % 4:02d}",
            ("biceps", "thenar")[i % 2],
            {"group": ("ALS", "BFS", "control")[i % 3]},
        )
        entries.append(e)
        d = layout.result_dir(e)
        d.mkdir(parents=True)
        t = np.sort(rng.uniform(0, 1800, per))
        import pandas as pd

        pd.DataFrame(
            {
                "time_s": t,
                "unit": rng.integers(-1, 12, per),
                "channel": [f"ch{c}" for c in rng.integers(1, 65, per)],
                "amplitude_uv": rng.lognormal(4, 0.6, per),
                "duration_ms": rng.uniform(5, 30, per),
                "phases": rng.integers(2, 7, per),
            }
        ).to_csv(d / "fasciculations.csv", index=False)
        pd.DataFrame({"start_s": [10.0], "end_s": [25.0], "reason": ["voluntary"]}).to_csv(
            d / "excluded.csv", index=False
        )
        (d / "summary.json").write_text(
            json.dumps(
                {"n_fp": per, "fp_per_min": per / 29.75, "analysed_s": 1785.0, "excluded_s": 15.0}
            )
        )
        (d / MARKER).write_text(
            json.dumps({"recording_id": e.recording_id, "params_hash": "x", "finished": "now"})
        )
    t0 = time.perf_counter()
    update_catalogue(root, entries)
    build = time.perf_counter() - t0
    sql = (
        'SELECT r."group", r.muscle, count(*) AS n, avg(f.amplitude_uv) AS amp, '
        "quantile_cont(f.duration_ms, 0.5) AS dur FROM fasciculations f "
        "JOIN recordings r USING (recording_id) WHERE f.phases >= 3 GROUP BY 1, 2"
    )
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        res = query(root, sql)
        times.append(time.perf_counter() - t0)
    total = query(root, "SELECT count(*) AS n FROM fasciculations").loc[0, "n"]
    assert total == per * n_rec
    return {
        "n_fps": int(total),
        "catalogue_build_s": build,
        "query_s_median": float(np.median(times)),
        "query_s_first": times[0],
        "rows": len(res),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--recordings", type=int, default=50)
    ap.add_argument("--duration", type=float, default=120.0)
    ap.add_argument("--fps", type=int, default=100_000)
    args = ap.parse_args()

    from fasciq.cohort.inputs import discover

    root = make_study(args.recordings, args.duration)
    entries = discover(root)[: args.recordings]
    scratch = Path(tempfile.mkdtemp(prefix="fasciq-bench-cohort-"))
    try:
        seq = bench_sequential(entries, scratch)
        one = bench_batch(entries, 1, scratch)
        two = bench_batch(entries, 2, scratch)
        q = bench_query(args.fps, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    speedup = two["throughput_per_s"] / one["throughput_per_s"]
    loop_overhead = (one["wall_s"] - seq["wall_s"]) / one["wall_s"]
    print(
        f"{len(entries)} recordings of {args.duration:g} s ({GRID}, 1024 Hz), "
        f"{os.cpu_count()} CPU cores"
    )
    print(f"{'run':<22}{'wall s':>9}{'rec/s':>9}{'overhead':>10}")
    print(f"{'sequential loop':<22}{seq['wall_s']:>9.2f}{seq['throughput_per_s']:>9.2f}{'':>10}")
    for r in (one, two):
        print(
            f"{'dask ' + str(r['workers']) + ' worker(s)':<22}{r['wall_s']:>9.2f}"
            f"{r['throughput_per_s']:>9.2f}{100 * r['overhead_fraction']:>9.1f}%"
        )
    print(f"speed-up 2 vs 1 worker: {speedup:.2f}x (target ≥ 1.7)")
    print(f"1-worker batch vs plain loop: {100 * loop_overhead:+.1f} % (target ≤ 5 %)")
    print(
        f"catalogue of {q['n_fps']} FPs: built in {q['catalogue_build_s']:.2f} s, "
        f"grouped join query {1000 * q['query_s_median']:.0f} ms (target < 1000 ms)"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    result = {
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "python": platform.python_version(),
        },
        "recordings": len(entries),
        "duration_s": args.duration,
        "grid": GRID,
        "sequential": seq,
        "dask_1": one,
        "dask_2": two,
        "speedup_2_vs_1": speedup,
        "overhead_vs_loop_fraction": loop_overhead,
        "query": q,
        "targets_met": {
            "speedup": speedup >= 1.7,
            "overhead": one["overhead_fraction"] <= 0.05 or loop_overhead <= 0.05,
            "query": q["query_s_median"] < 1.0,
        },
    }
    (RESULTS / "bench_cohort.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
