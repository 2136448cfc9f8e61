"""Benchmark of motor-unit sorting on simulated recordings.

Each recording is sorted twice:

* ``truth`` — FPs at the simulator's true fasciculation times (largest
  peak) with ±1 ms uniform jitter, outside voluntary epochs: the sorter
  alone, with perfect detection.
* ``detected`` — the FPs found by ``fasciq.analyze``; each is matched to a
  true discharge (``fasciq.evaluate.match_events``, 10 ms) and the
  agreement is measured on the matched FPs (the unmatched, false
  detections, are sorted too but have no true unit).

Scored against the targets: median adjusted Rand index ≥ 0.90; number of
units within ±1 of the truth for ≥ 80 % of recordings with ≤ 15 active
units; conduction velocity within 15 % for units with ≥ 10 discharges;
stable/unstable agreement on ``als-late``. The **true unit count** is the
number of units with at least 3 discharges among the sorted FPs (at rest,
and, in the detected mode, detected): a unit seen once or twice cannot be
told from noise or from a variant of another unit by any sorter, so it is
not counted as "missed" (the table also lists all units and those with ≥ 5).

The sorting time is measured on a 30-minute recording (read from a BDF
file, two threads) from its detected FPs' already-cut snippets
(``sort_units``, as when snippets are cut inside the analysis's chunk
pass) and compared with the analysis time without
sorting; the time of cutting the snippets in a second pass over the
recording is listed apart, and, where the analysis sorts, the time of the
analysis with sorting (and peeling) on. Each time is the best of
``--repeat`` runs (3), the analyses with and without sorting taking turns.
Run it on a quiet machine.

Run ``python benchmarks/bench_sorting.py [--quick] [--only TEXT] [--repeat N]``; prints
the tables and writes ``benchmarks/results/bench_sorting.json``
(``bench_sorting_subset.json`` for a subset, e.g. ``--only "als-late 300 s 4"``).
"""

from __future__ import annotations

import argparse
import json
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

import fasciq
from fasciq.evaluate.matching import match_events
from fasciq.evaluate.sorting import sorting_metrics
from fasciq.simulate import NoiseParams, simulate
from fasciq.units import SnippetParams, sort_units
from fasciq.units.snippets import estimate_noise, extract_snippets, snippet_filter, window_samples

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
    # a longer high-rate benign recording (slow shape drift, amplitude-scaled copies)
    ("bfs", 600, 99, 2.0),
]

#: Fewest discharges (among the sorted FPs) of a unit that counts as present.
MIN_TRUE_FP = 3


def case_name(preset: str, duration: float, seed: int, white: float) -> str:
    """Name of a benchmark recording, as ``--only`` matches it."""
    return f"{preset} {duration:g} s {white:g} uV"


def _truth_fps(sim, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    d = sim.truth.discharges
    d = d[d.kind == "fasciculation"]
    keep = np.ones(len(d), dtype=bool)
    for a, b in np.asarray(sim.truth.voluntary_epochs).reshape(-1, 2):
        keep &= ~((d.peak_time_s >= a - 0.5) & (d.peak_time_s <= b + 0.5)).to_numpy()
    d = d[keep]
    times = d.peak_time_s.to_numpy() + rng.uniform(-1e-3, 1e-3, len(d))
    return times, d.unit.to_numpy()


def _detection_only() -> fasciq.AnalysisParams | None:
    """Analysis parameters with sorting off, where the analysis can sort."""
    fields = getattr(fasciq.AnalysisParams, "__dataclass_fields__", {})
    return fasciq.AnalysisParams(sort_units=False) if "sort_units" in fields else None


def _detected_fps(sim) -> tuple[np.ndarray, np.ndarray, float, float]:
    t0 = time.perf_counter()
    result = fasciq.analyze(sim.recording, _detection_only())
    analyse_s = time.perf_counter() - t0
    times = result.fasciculations.time_s.to_numpy()
    d = sim.truth.discharges
    d = d[d.kind == "fasciculation"]
    m = match_events(times, d.peak_time_s.to_numpy())
    truth = np.full(len(times), -1, dtype=np.int64)
    truth[m.detected_index] = d.unit.to_numpy()[m.truth_index]
    return times, truth, float(result.summary["analysed_s"]), analyse_s


def _score(res, truth: np.ndarray, units: pd.DataFrame) -> dict:
    ok = truth >= 0
    m = sorting_metrics(res.labels[ok], truth[ok])
    counts = pd.Series(truth[ok]).value_counts()
    cv_err, stab = [], []
    for row in res.units.itertuples():
        members = truth[(res.labels == row.unit) & ok]
        if members.size == 0:
            continue
        true_unit = int(pd.Series(members).mode()[0])
        if row.n_fp >= 10 and np.isfinite(row.cv_m_s):
            true_cv = units.loc[true_unit, "cv_m_s"]
            cv_err.append(abs(row.cv_m_s - true_cv) / true_cv)
        stab.append((bool(row.stable), bool(units.loc[true_unit, "stable"]), float(row.stability)))
    n_true = int((counts >= MIN_TRUE_FP).sum())
    return {
        "n_fp": len(truth),
        "n_fp_matched": int(ok.sum()),
        "n_units_true": n_true,
        "n_units_true_all": int(m["n_units_true"]),
        "n_units_true_ge5": int((counts >= 5).sum()),
        "n_units_found": int(res.n_units),
        "within_1": bool(abs(res.n_units - n_true) <= 1),
        "ari": float(m["ari"]),
        "unassigned": float((res.labels < 0).mean()) if len(truth) else 0.0,
        "cv_errors": cv_err,
        "stability": stab,
        "sort_s": res.elapsed_s,
        # true unit -> {sorted unit (-1: none) -> matched FPs}: which way a count misses
        "contingency": {
            str(t): {str(k): int(v) for k, v in row.items() if v}
            for t, row in pd.crosstab(truth[ok], res.labels[ok]).iterrows()
        },
    }


def _cut_and_sort(
    rec, times: np.ndarray, analysed_s: float, n_jobs: int = 1, repeat: int = 1
) -> tuple[object, float, list[float], float]:
    """Sort FPs at ``times`` from snippets cut as the analysis cuts them.

    Returns the last sorting, the seconds spent cutting the snippets, the
    sorting's time on each of ``repeat`` runs, and the snippets' size (MiB).
    """
    sp = SnippetParams()
    t0 = time.perf_counter()
    sos = snippet_filter(rec, sp)
    noise = estimate_noise(rec, sos, sp.prescan_s)
    snippets = extract_snippets(rec, times, sp, sos=sos)
    cut_s = time.perf_counter() - t0
    before, _ = window_samples(rec.fs, sp)
    runs = []
    for _ in range(repeat):
        res = sort_units(
            snippets,
            times,
            rec.fs,
            grid=rec.grid,
            seed=0,
            centre=before,
            analysed_s=analysed_s,
            noise_uv=noise,
            n_jobs=n_jobs,
        )
        runs.append(res.elapsed_s)
    return res, cut_s, runs, snippets.nbytes / 2**20


def run_case(preset: str, duration: float, seed: int, white: float) -> dict:
    sim = simulate(preset=preset, duration_s=duration, seed=seed, noise=NoiseParams(white_uv=white))
    rec = sim.recording
    units = sim.truth.units.set_index("unit")
    out = {"preset": preset, "duration_s": duration, "seed": seed, "white_noise_uv": white}
    truth_times, truth_units = _truth_fps(sim, np.random.default_rng(seed))
    det_times, det_units, analysed_s, analyse_s = _detected_fps(sim)
    for mode, times, labels, analysed in (
        ("truth", truth_times, truth_units, rec.duration_s),
        ("detected", det_times, det_units, analysed_s),
    ):
        res, _, _, _ = _cut_and_sort(rec, times, analysed)
        out[mode] = _score(res, labels, units)
    out["detected"]["analyse_s"] = analyse_s
    return out


def summarise(rows: list[dict], mode: str) -> dict:
    r = [row[mode] for row in rows]
    aris = [x["ari"] for x in r]
    within = [x["within_1"] for x in r if x["n_units_true"] <= 15]
    within_all = [abs(x["n_units_found"] - x["n_units_true_all"]) <= 1 for x in r]
    within5 = [abs(x["n_units_found"] - x["n_units_true_ge5"]) <= 1 for x in r]
    cv = np.array([e for x in r for e in x["cv_errors"]])
    late = [s for row in rows if row["preset"] == "als-late" for s in row[mode]["stability"]]
    unstable_called = [a for a, b, _ in late if not b]
    stable_called = [a for a, b, _ in late if b]
    return {
        "median_ari": float(np.median(aris)),
        "min_ari": float(np.min(aris)),
        "units_within_1_of_truth": float(np.mean(within)),
        "units_within_1_counting_all_true_units": float(np.mean(within_all)),
        "units_within_1_of_units_with_ge5": float(np.mean(within5)),
        "cv_units": int(cv.size),
        "cv_within_15pct": float(np.mean(cv < 0.15)) if cv.size else None,
        "cv_median_abs_error": float(np.median(cv)) if cv.size else None,
        "als_late_stability_accuracy": float(np.mean([a == b for a, b, _ in late]))
        if late
        else None,
        "als_late_unstable_detected": float(np.mean([not a for a in unstable_called]))
        if unstable_called
        else None,
        "als_late_stable_kept": float(np.mean(stable_called)) if stable_called else None,
    }


def _cached_bdf(duration: float) -> Path:
    """The 30-minute bfs recording written once as BDF (reading it is then cheap)."""
    from fasciq.simulate import write_simulation

    cache = Path(tempfile.gettempdir()) / "fasciq-bench"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"bfs_{duration / 60:g}min_64ch_seed99.bdf"
    if not path.exists():
        write_simulation(simulate(preset="bfs", duration_s=duration, seed=99), path)
    return path


def _analyse_file(path: Path, params: fasciq.AnalysisParams | None, n_jobs: int):
    from fasciq.analysis import ExecutionSettings
    from fasciq.io import read_recording

    rec = read_recording(path, grid="GR08MM1305")
    t0 = time.perf_counter()
    result = fasciq.analyze(rec, params, execution=ExecutionSettings(n_jobs=n_jobs))
    return result, time.perf_counter() - t0, rec


def timing(duration: float = 1800.0, n_jobs: int = 2, repeat: int = 3) -> dict:
    """Sorting's share of a 30-minute analysis, read from a BDF file.

    The analysis is timed from a file on disk rather than from the lazy
    simulation, whose synthesis would otherwise count as analysis time.
    Each figure is the best of ``repeat`` runs, the analyses with and
    without sorting taking turns, so a passing load on the machine does not
    land on one side only.
    """
    path = _cached_bdf(duration)
    without, with_sorting = [], []
    for _ in range(repeat):
        result, analyse_s, rec = _analyse_file(path, _detection_only(), n_jobs)
        without.append(analyse_s)
        if _detection_only() is not None:
            # the analysis cutting snippets in its own chunk pass, sorting and peeling
            full, with_s, _ = _analyse_file(path, None, n_jobs)
            with_sorting.append(with_s)
    analyse_s = min(without)
    times = result.fasciculations.time_s.to_numpy()
    res, cut_s, sort_s, snippet_mb = _cut_and_sort(
        rec, times, result.summary["analysed_s"], n_jobs=n_jobs, repeat=repeat
    )
    out = {
        "recording_s": duration,
        "file": path.name,
        "threads": n_jobs,
        "repeat": repeat,
        "n_fp_detected": len(times),
        "analyse_without_sorting_s": analyse_s,
        "analyse_without_sorting_runs_s": without,
        "cut_snippets_second_pass_s": cut_s,
        "sort_from_snippets_s": min(sort_s),
        "sort_from_snippets_runs_s": sort_s,
        "n_units": res.n_units,
        "sort_fraction_of_analysis": min(sort_s) / analyse_s,
        "snippet_mb": snippet_mb,
    }
    if with_sorting:
        out["analyse_with_sorting_s"] = min(with_sorting)
        out["analyse_with_sorting_runs_s"] = with_sorting
        out["analyse_with_sorting_n_units"] = int(full.summary.get("n_units", -1))
        out["added_fraction_in_analysis"] = min(with_sorting) / analyse_s - 1.0
    return out


def _print_contingency(row: dict) -> None:
    """True unit x sorted unit counts of one recording, both modes."""
    for mode in ("truth", "detected"):
        print(f"  [{mode}] true unit: sorted unit x FPs (-1: unassigned)")
        for true_unit, cells in row[mode]["contingency"].items():
            parts = ", ".join(f"{k}x{v}" for k, v in sorted(cells.items(), key=lambda c: -c[1]))
            print(f"    {true_unit:>3s}: {parts}")


def _print_table(rows: list[dict], mode: str) -> None:
    print(
        f"\n[{mode}] {'preset':14s} {'dur':>5s} {'noise':>5s} {'n_fp':>5s} {'true':>4s} "
        f"{'all':>3s} {'≥5':>3s} {'found':>5s} {'ARI':>6s} {'unass':>6s} {'sort_s':>6s}"
    )
    for row in rows:
        r = row[mode]
        print(
            f"{'':{len(mode) + 3}s}{row['preset']:14s} {row['duration_s']:5.0f} "
            f"{row['white_noise_uv']:5.1f} {r['n_fp']:5d} {r['n_units_true']:4d} "
            f"{r['n_units_true_all']:3d} {r['n_units_true_ge5']:3d} {r['n_units_found']:5d} "
            f"{r['ari']:6.3f} {r['unassigned']:6.2f} {r['sort_s']:6.2f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="skip the 30-minute timing")
    parser.add_argument(
        "--only",
        default="",
        help="run only the recordings whose name (e.g. 'als-late 300 s 4 uV') contains this "
        "text; writes bench_sorting_subset.json and skips the timing",
    )
    parser.add_argument(
        "--contingency",
        action="store_true",
        help="print, per recording, how the FPs of each true unit spread over the sorted units",
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs of each timed step (the best is kept)"
    )
    args = parser.parse_args()
    t_start = time.perf_counter()
    cases = [c for c in CASES if args.only.lower() in case_name(*c).lower()]
    if not cases:
        parser.error(f"no recording matches --only {args.only!r}")
    rows = []
    for case in cases:
        rows.append(run_case(*case))
        print(f"done {case_name(*case)}", flush=True)
        if args.contingency:
            _print_contingency(rows[-1])
    summary = {}
    for mode in ("truth", "detected"):
        _print_table(rows, mode)
        summary[mode] = summarise(rows, mode)
        print(json.dumps(summary[mode], indent=2))
    out = {
        "true_unit_rule": f"units with ≥ {MIN_TRUE_FP} FPs among the sorted FPs",
        "summary": summary,
        "cases": rows,
        "machine": {"python": platform.python_version(), "platform": platform.platform()},
    }
    if not (args.quick or args.only):
        t = timing(repeat=args.repeat)
        out["timing_30min"] = t
        print(
            f"\n30-min bfs (BDF, {t['threads']} threads): "
            f"analysis {t['analyse_without_sorting_s']:.1f} s, "
            f"{t['n_fp_detected']} FPs; "
            f"sorting from cut snippets {t['sort_from_snippets_s']:.1f} s "
            f"(+{100 * t['sort_fraction_of_analysis']:.1f} % of the analysis); cutting "
            f"snippets in a second pass {t['cut_snippets_second_pass_s']:.1f} s; "
            f"{t['n_units']} units"
        )
        if "analyse_with_sorting_s" in t:
            print(
                f"analysis with sorting in its chunk pass {t['analyse_with_sorting_s']:.1f} s "
                f"(+{100 * t['added_fraction_in_analysis']:.1f} %)"
            )
    out["benchmark_s"] = time.perf_counter() - t_start
    name = "bench_sorting_subset.json" if args.only else "bench_sorting.json"
    path = Path(__file__).parent / "results" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(out, indent=2, default=float))
    print(f"wrote {path} ({out['benchmark_s']:.0f} s)")


if __name__ == "__main__":
    main()
