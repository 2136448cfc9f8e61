"""Benchmark: reading a long BDF file with fasciq versus a plain NumPy decode.

Generates (once, cached under ``benchmarks/data/``, git-ignored) BDF+ files of
64 channels at 2048 Hz written with fasciq's streaming :class:`EdfWriter`,
then times

(a) a plain NumPy decode of the same bytes: memory map of the data area,
    24-bit assembly, scaling to float32 µV, in 10-s blocks;
(b) fasciq's reader streaming the whole file in 10-s chunks through
    ``Recording.iter_chunks``.

Each measurement runs in a fresh subprocess so that its peak RSS
(``resource.getrusage``) is its own; a short and a long file show whether
memory grows with length. Prints a table and writes
``benchmarks/results/bench_io.json``.

Usage: ``python benchmarks/bench_io.py [--minutes 30] [--short-minutes 10]
[--channels 64] [--repeat 2]``
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE / "data"
RESULTS = HERE / "results"
FS = 2048.0
CHUNK_S = 10.0


def make_file(minutes: float, channels: int) -> Path:
    """Write (once) a BDF+ of ``minutes`` x ``channels`` with the streaming writer."""
    from fasciq.io.edf_writer import EdfWriter
    from fasciq.recording import Annotations

    path = DATA / f"bench_{channels}ch_{minutes:g}min.bdf"
    if path.exists():
        return path
    DATA.mkdir(parents=True, exist_ok=True)
    (DATA / ".gitignore").write_text("*\n")
    n_total = int(minutes * 60 * FS)
    rng = np.random.default_rng(0)
    onsets = np.sort(rng.uniform(0, n_total / FS, int(minutes * 40)))
    ann = Annotations(onsets, np.zeros_like(onsets), tuple("FP" for _ in onsets))
    block = int(CHUNK_S * FS)
    t0 = time.perf_counter()
    with EdfWriter(
        path,
        fs=FS,
        labels=[f"ch{i + 1}" for i in range(channels)],
        fmt="bdf",
        physical_range_uv=(-5000.0, 5000.0),
        annotations=ann,
    ) as w:
        for a in range(0, n_total, block):
            n = min(block, n_total - a)
            w.write(rng.normal(0.0, 20.0, (n, channels)).astype(np.float32))
    print(
        f"  wrote {path.name} ({path.stat().st_size / 1e6:.0f} MB) in "
        f"{time.perf_counter() - t0:.1f} s"
    )
    return path


def _numpy_decode(path: Path) -> float:
    """Plain NumPy: memmap the data area, assemble 24-bit ints, scale to float32 µV."""
    from fasciq.io.edf import read_edf_header

    h = read_edf_header(path)
    emg = [s for s in h.signals if not s.is_annotation]
    spr, n_ch = emg[0].samples_per_record, len(emg)
    gain = np.array([s.gain for s in emg], dtype=np.float32)
    offset = np.array([s.offset for s in emg], dtype=np.float32)
    mm = np.memmap(
        path, dtype=np.uint8, mode="r", offset=h.header_bytes, shape=(h.n_records, h.record_bytes)
    )
    step = max(1, int(CHUNK_S * FS) // spr)
    total = 0.0
    for r in range(0, h.n_records, step):
        b = np.asarray(mm[r : r + step, : n_ch * spr * 3]).reshape(-1, n_ch, spr, 3)
        ints = (
            b[..., 0].astype(np.int32)
            | (b[..., 1].astype(np.int32) << 8)
            | (b[..., 2].astype(np.int8).astype(np.int32) << 16)
        )
        x = ints.transpose(0, 2, 1).astype(np.float32) * gain + offset
        x = x.reshape(-1, n_ch)
        total += float(x[0, 0])
    del mm
    return total


def _fasciq_read(path: Path) -> float:
    from fasciq.io import read_recording

    rec = read_recording(path)
    total = 0.0
    for chunk in rec.iter_chunks(int(CHUNK_S * rec.fs)):
        total += float(chunk.traces[0, 0])
    return total


def _measure(kind: str, path: str) -> None:
    """Subprocess entry: time one pass and print JSON with seconds and peak RSS."""
    p = Path(path)
    fn = _numpy_decode if kind == "numpy" else _fasciq_read
    t0 = time.perf_counter()
    fn(p)
    dt = time.perf_counter() - t0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print(json.dumps({"seconds": dt, "peak_rss_mb": rss_mb}))


def run(kind: str, path: Path, repeat: int) -> dict[str, float]:
    best: dict[str, float] | None = None
    for _ in range(repeat):
        out = subprocess.run(
            [sys.executable, __file__, "--measure", kind, str(path)],
            check=True,
            capture_output=True,
            text=True,
        )
        res = json.loads(out.stdout.strip().splitlines()[-1])
        if best is None or res["seconds"] < best["seconds"]:
            best = res
    assert best is not None
    size_mb = path.stat().st_size / 1e6
    best["mb_per_s"] = size_mb / best["seconds"]
    best["file_mb"] = size_mb
    return best


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0)
    ap.add_argument("--short-minutes", type=float, default=10.0)
    ap.add_argument("--channels", type=int, default=64)
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--measure", nargs=2, metavar=("KIND", "PATH"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.measure:
        _measure(*args.measure)
        return
    results: dict[str, object] = {
        "channels": args.channels,
        "fs": FS,
        "chunk_s": CHUNK_S,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "machine": platform.machine(),
        "files": {},
    }
    print(f"bench_io: {args.channels} ch at {FS:g} Hz, BDF 24-bit, {CHUNK_S:g}-s chunks")
    rows = []
    for minutes in sorted({args.short_minutes, args.minutes}):
        path = make_file(minutes, args.channels)
        numpy_res = run("numpy", path, args.repeat)
        fasciq_res = run("fasciq", path, args.repeat)
        ratio = fasciq_res["seconds"] / numpy_res["seconds"]
        results["files"][f"{minutes:g}min"] = {  # type: ignore[index]
            "minutes": minutes,
            "numpy": numpy_res,
            "fasciq": fasciq_res,
            "ratio": ratio,
            "goal_ratio": 1.5,
            "meets_goal": ratio <= 1.5,
        }
        rows.append((minutes, numpy_res, fasciq_res, ratio))
    print(
        f"{'file':>8} {'MB':>7} {'numpy s':>8} {'MB/s':>7} {'RSS MB':>7} "
        f"{'fasciq s':>9} {'MB/s':>7} {'RSS MB':>7} {'ratio':>6}"
    )
    for minutes, a, b, ratio in rows:
        print(
            f"{minutes:>6g}mn {a['file_mb']:>7.0f} {a['seconds']:>8.2f} {a['mb_per_s']:>7.0f} "
            f"{a['peak_rss_mb']:>7.0f} {b['seconds']:>9.2f} {b['mb_per_s']:>7.0f} "
            f"{b['peak_rss_mb']:>7.0f} {ratio:>6.2f}"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / "bench_io.json"
    out.write_text(json.dumps(results, indent=2))
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
