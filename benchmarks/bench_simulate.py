"""Simulator throughput and memory: an ``als`` recording streamed to BDF.

Generates 64-channel, 2048 Hz ``als`` recordings of 5 and 30 minutes, each in
a fresh process, and reports wall time and peak resident memory (memory must
not grow with duration). Writes ``benchmarks/results/bench_simulate.json``.

    python benchmarks/bench_simulate.py [--minutes 5 30]
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TARGET_S = 60.0


def run_one(minutes: float, out_dir: str) -> dict:
    from fasciq.simulate import simulate, write_simulation

    t0 = time.perf_counter()
    sim = simulate(preset="als", duration_s=60.0 * minutes, grid="GR08MM1305", fs=2048.0, seed=0)
    t1 = time.perf_counter()
    path = write_simulation(sim, Path(out_dir) / f"als_{minutes:g}min.bdf", overwrite=True)
    t2 = time.perf_counter()
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {
        "minutes": minutes,
        "channels": sim.recording.n_channels,
        "fs": sim.recording.fs,
        "discharges": len(sim.truth.discharges),
        "fasciculations": int((sim.truth.discharges["kind"] == "fasciculation").sum()),
        "setup_s": round(t1 - t0, 2),
        "stream_s": round(t2 - t1, 2),
        "total_s": round(t2 - t0, 2),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "peak_rss_mb": round(peak_kib / 1024, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, nargs="+", default=[5.0, 30.0])
    parser.add_argument("--child", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--out-dir", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child is not None:
        print(json.dumps(run_one(args.child, args.out_dir)))
        return
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for minutes in args.minutes:
            res = subprocess.run(
                [sys.executable, __file__, "--child", str(minutes), "--out-dir", tmp],
                check=True,
                capture_output=True,
                text=True,
            )
            rows.append(json.loads(res.stdout.strip().splitlines()[-1]))
    print(
        f"{'min':>5} {'ch':>4} {'FPs':>6} {'setup s':>8} {'stream s':>9} {'total s':>8} "
        f"{'MB':>7} {'peak RSS MB':>12}"
    )
    for r in rows:
        print(
            f"{r['minutes']:>5g} {r['channels']:>4} {r['fasciculations']:>6} {r['setup_s']:>8} "
            f"{r['stream_s']:>9} {r['total_s']:>8} {r['file_mb']:>7} {r['peak_rss_mb']:>12}"
        )
    longest = max(rows, key=lambda r: r["minutes"])
    shortest = min(rows, key=lambda r: r["minutes"])
    summary = {
        "benchmark": "simulate als, GR08MM1305 (64 ch), 2048 Hz, streamed to BDF",
        "target_total_s_for_30_min": TARGET_S,
        "meets_time_target": longest["minutes"] < 30 or longest["total_s"] <= TARGET_S,
        "rss_growth_mb": round(longest["peak_rss_mb"] - shortest["peak_rss_mb"], 1),
        "machine": {
            "python": platform.python_version(),
            "cpus": __import__("os").cpu_count(),
            "platform": platform.platform(),
        },
        "runs": rows,
    }
    out = Path(__file__).parent / "results" / "bench_simulate.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(summary, indent=1) + "\n")
    print(
        f"time target met: {summary['meets_time_target']}; "
        f"peak RSS growth 5 -> 30 min: {summary['rss_growth_mb']} MB; wrote {out}"
    )


if __name__ == "__main__":
    main()
