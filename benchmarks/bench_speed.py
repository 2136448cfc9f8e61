"""Speed and memory of ``fasciq analyze`` on a 30-minute, 64-channel, 2048 Hz BDF.

Measures, each in a fresh process (so peak memory is that of the task alone):

* the time to merely read and band-pass the file (chunked, same filter);
* the full analysis with one thread and with two;
* the full analysis of a 10-minute file, to show memory does not grow with
  recording length.

Prints wall time, real-time factor and peak memory, and writes
``benchmarks/results/speed.json``. The BDF files are simulated once and kept
in a cache folder (``--cache``, default ``$TMPDIR/fasciq-bench``).

Usage::

    python benchmarks/bench_speed.py [--minutes 30] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

READ_AND_FILTER = """
import resource, sys, time
from fasciq.io import read_recording
from fasciq.signal.filters import bandpass_sos, filter_margin, zero_phase
t0 = time.perf_counter()
rec = read_recording(sys.argv[1])
sos = bandpass_sos(rec.fs)
margin = filter_margin(sos, rec.fs)
chunk = int(30 * rec.fs)
for c in rec.iter_chunks(chunk, margin):
    y = zero_phase(c.traces, sos, margin)
wall = time.perf_counter() - t0
print(wall, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""

ANALYZE = """
import resource, sys, time
from fasciq.analysis import ExecutionSettings, analyze
from fasciq.io import read_recording
t0 = time.perf_counter()
rec = read_recording(sys.argv[1], grid="GR08MM1305")
res = analyze(rec, execution=ExecutionSettings(n_jobs=int(sys.argv[2])))
wall = time.perf_counter() - t0
print(wall, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, res.summary["n_fp"])
"""


def make_file(cache: Path, minutes: float) -> Path:
    from fasciq.simulate import simulate, write_simulation

    path = cache / f"als_{minutes:g}min_64ch.bdf"
    if not path.exists():
        t0 = time.perf_counter()
        sim = simulate(
            preset="als", duration_s=60.0 * minutes, grid="GR08MM1305", fs=2048.0, seed=7
        )
        write_simulation(sim, path, overwrite=True)
        print(f"  simulated {path.name} in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
    return path


def run(code: str, *args: str) -> list[float]:
    out = subprocess.run(
        [sys.executable, "-c", code, *args], check=True, capture_output=True, text=True
    )
    return [float(v) for v in out.stdout.split()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "fasciq-bench")
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    long_file = make_file(args.cache, args.minutes)
    short_file = make_file(args.cache, args.minutes / 3)
    duration = 60.0 * args.minutes
    read_wall, read_mem = run(READ_AND_FILTER, str(long_file))
    one = run(ANALYZE, str(long_file), "1")
    two = run(ANALYZE, str(long_file), "2")
    short = run(ANALYZE, str(short_file), "1")
    best = min(one[0], two[0])
    rows = [
        ("read + band-pass only", read_wall, read_mem),
        ("fasciq analyze, 1 thread", one[0], one[1]),
        ("fasciq analyze, 2 threads", two[0], two[1]),
        (f"fasciq analyze, {args.minutes / 3:g} min file", short[0], short[1]),
    ]
    print(
        f"{args.minutes:g}-minute 64-channel 2048 Hz BDF ({long_file.stat().st_size / 2**20:.0f} "
        f"MiB), {os.cpu_count()} CPU(s)"
    )
    print(f"{'task':34s} {'wall s':>8s} {'x real time':>12s} {'peak MiB':>9s}")
    for name, wall, mem in rows:
        length = duration / 3 if "min file" in name else duration
        print(f"{name:34s} {wall:8.1f} {length / wall:12.0f} {mem:9.0f}")
    ratio = best / read_wall
    print(
        f"analysis / (read + band-pass) = {ratio:.2f} (target ≤ 2.5); peak memory "
        f"{max(one[1], two[1]):.0f} MiB (target ≤ 1536), {short[1]:.0f} MiB on a file a third "
        f"as long (flat in length); {int(one[2])} FPs found"
    )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "speed.json"
    out.write_text(
        json.dumps(
            {
                "minutes": args.minutes,
                "file_mib": long_file.stat().st_size / 2**20,
                "read_bandpass_s": read_wall,
                "read_bandpass_peak_mib": read_mem,
                "analyze_1_thread_s": one[0],
                "analyze_1_thread_peak_mib": one[1],
                "analyze_2_threads_s": two[0],
                "analyze_2_threads_peak_mib": two[1],
                "analyze_short_file_s": short[0],
                "analyze_short_file_peak_mib": short[1],
                "ratio_to_read_bandpass": ratio,
                "realtime_factor": duration / best,
                "n_fp": one[2],
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
            },
            indent=2,
        )
    )
    print(f"written {out}")


if __name__ == "__main__":
    main()
