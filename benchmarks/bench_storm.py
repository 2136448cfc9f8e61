"""Where the hardest recording loses F1: noise, interference, or decoding.

The succinylcholine burst of ``bench_accuracy.py`` (30 stable units, about
90 overlapping MUAPs per second) is the recording furthest from the F1
target. This benchmark separates the causes, on the same simulation:

1. **The analysis** as shipped: F1 and recall per unit size.
2. **Noise and interference in the burst**: the robust σ of the band-passed
   noise alone (the simulation minus its MUAPs) beside that of the recorded
   traces, and each unit's peak-to-peak in noise σ.
3. **Decoding with the exact templates**: :func:`fasciq.detect.peeling.peel`
   and :func:`~fasciq.detect.peeling.prune` given the simulator's own MUAPs
   (band-passed, peak at the window centre) instead of learnt ones, on the
   noise-free MUAP traces and on the recorded traces of each dense stretch.
   No template learning and no noise in the first case: what is lost there
   is lost by the decoding. There the objective the decoder minimises
   (residual energy in noise σ², plus ``k_fit²`` per discharge) is also
   given for its own fits and for the simulated discharges fitted exactly
   with the same templates: the ratio of the two is how far the search
   stops from the solution it is looking for. Both traces are also decoded
   with the search started at the simulated discharges themselves
   (``initial``): what is lost from there is lost by the objective (the
   noise, the threshold, the pruning), not by the search.

Prints one table and writes ``benchmarks/results/storm.json``.

Usage::

    python benchmarks/bench_storm.py [--duration 90]
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import numpy as np

from bench_accuracy import analysis_band, scenarios
from fasciq.analysis import analyze
from fasciq.detect.peeling import PeelParams, dense_stretches, peel, prune
from fasciq.evaluate import Truth, evaluate_result
from fasciq.evaluate.matching import match_events
from fasciq.signal.filters import bandpass_sos, filter_margin, zero_phase
from fasciq.signal.noise import MAD_TO_SIGMA
from fasciq.simulate import simulate
from fasciq.simulate.engine import BLOCK, KIND_FASC

RESULTS = Path(__file__).resolve().parent / "results"
#: Peak-to-peak bands (µV) for recall by unit size.
BANDS = ((0.0, 15.0), (15.0, 40.0), (40.0, 100.0), (100.0, np.inf))
#: Matching tolerance (s), as ``fasciq evaluate`` uses against the simulator.
TOLERANCE_S = 0.010
#: Seed of the succinylcholine recording in ``bench_accuracy.py`` (100 + its row).
SEED = 100 + next(i for i, s in enumerate(scenarios(90.0)) if s["preset"] == "succinylcholine")


def robust_sigma(x: np.ndarray) -> np.ndarray:
    """Robust σ of each column."""
    return np.median(np.abs(x - np.median(x, axis=0)), axis=0) * MAD_TO_SIGMA


def band_recall(hit: np.ndarray, ptp: np.ndarray) -> dict[str, float | None]:
    """Share of reference FPs found, per unit peak-to-peak band."""
    out: dict[str, float | None] = {}
    for lo, hi in BANDS:
        sel = (ptp >= lo) & (ptp < hi)
        out[f"{lo:g}-{hi:g} uV"] = float(hit[sel].mean()) if sel.any() else None
    return out


def exact_templates(engine, sos: np.ndarray, length: int, centre: int) -> np.ndarray:
    """Each unit's MUAP (sub-sample phase 0), band-passed, largest peak at ``centre``."""
    out = np.zeros((len(engine.templates), length, engine.n_channels), dtype=np.float32)
    pad = 2 * length
    for u, tpl in enumerate(engine.templates):
        w = tpl.phase(0).astype(np.float64)
        x = np.zeros((w.shape[0] + 2 * pad, w.shape[1]))
        x[pad : pad + w.shape[0]] = w
        f = zero_phase(x, sos, 0)
        s0 = pad + tpl.peak(0).offset - centre
        out[u] = f[s0 : s0 + length]
    return out


def reference_fits(
    engine, i0: int, i1: int, length: int, centre: int, subsample: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Start, fraction index and unit of each simulated discharge whose window lies in ``[i0, i1)``.

    Where :func:`exact_templates` puts each unit's window, delayed as the
    decoder delays a template (``k / subsample`` of a sample): a waveform
    sampled at oversampled phase ``p`` is the phase-0 waveform advanced by
    ``p / R`` of a sample.
    """
    ev = engine.events
    ratio = engine.templates[0].oversampling
    offset = np.array([t.peak(0).offset for t in engine.templates])
    phase = ev.phase.astype(np.int64)
    delay = np.rint((ratio - phase) % ratio * subsample / ratio).astype(np.int64)
    start = ev.first + offset[ev.unit] - centre - (phase > 0) + delay // subsample
    sub = delay % subsample
    keep = (ev.kind == KIND_FASC) & (start >= i0) & (start + length <= i1)
    return start[keep] - i0, sub[keep], ev.unit[keep]


def objective(residual: np.ndarray, sigma: np.ndarray, n_fits: int, k_fit: float) -> float:
    """What the decoder minimises: residual energy in noise σ², plus ``k_fit²`` per discharge."""
    return float(np.sum((residual.astype(np.float64) / sigma) ** 2)) + k_fit**2 * n_fits


def score(times: np.ndarray, fit_units: np.ndarray, truth_t: np.ndarray, truth_u: np.ndarray):
    """Hits, false FPs and the share of hits given the right unit."""
    m = match_events(times, truth_t, TOLERANCE_S)
    hit = np.zeros(truth_t.size, dtype=bool)
    hit[m.truth_index] = True
    right = fit_units[m.detected_index] == truth_u[m.truth_index]
    return hit, int(m.false_positives), float(right.mean()) if right.size else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--duration", type=float, default=90.0)
    args = parser.parse_args()

    sim = simulate(preset="succinylcholine", duration_s=args.duration, seed=SEED)
    rec = sim.recording.load()
    engine = sim.engine
    fs = rec.fs
    truth = Truth.from_simulation(sim.truth)
    unit_ptp = sim.truth.units.set_index("unit")["ptp_uv"]
    truth_ptp = unit_ptp.reindex(truth.units).to_numpy(dtype=np.float64)

    # 1. the analysis
    t0 = time.perf_counter()
    res = analyze(rec)
    wall = time.perf_counter() - t0
    ev = evaluate_result(res, truth)
    det = res.fasciculations["time_s"].to_numpy(dtype=np.float64)
    m = match_events(det, truth.times_s, TOLERANCE_S)
    hit = np.zeros(truth.times_s.size, dtype=bool)
    hit[m.truth_index] = True
    analysis = {
        "f1": ev["f1"],
        "sensitivity": ev["sensitivity"],
        "precision": ev["precision"],
        "false_fps": int(m.false_positives),
        "recall_by_size": band_recall(hit, truth_ptp),
        "wall_s": wall,
    }

    # 2. noise and interference, filtered as the analysis filters
    sos = bandpass_sos(fs)
    margin = filter_margin(sos, fs)
    traces = rec.get_traces().astype(np.float64)
    n_blocks = -(-engine.n_samples // BLOCK)
    muaps = np.concatenate([engine.block(b, muaps_only=True) for b in range(n_blocks)])
    muaps = muaps[: traces.shape[0]].astype(np.float64)
    recorded = analysis_band(traces, fs)
    noise_only = analysis_band(traces - muaps, fs)
    noise_free = zero_phase(muaps, sos, margin)
    del traces, muaps
    a, b = (round(v * fs) for v in (truth.times_s.min(), truth.times_s.max()))
    sigma = robust_sigma(noise_only).astype(np.float32)
    burst = {
        "noise_sigma_uv": float(np.median(robust_sigma(noise_only[a:b]))),
        "recorded_sigma_uv": float(np.median(robust_sigma(recorded[a:b]))),
        "unit_ptp_in_noise_sigma": {
            int(u): round(float(p) / float(np.median(sigma)), 1) for u, p in unit_ptp.items()
        },
    }

    # 3. decoding with the exact templates
    pp = PeelParams()
    length = 2 * round(pp.template_ms * fs / 2000) + 1
    centre = length // 2
    templates = exact_templates(engine, sos, length, centre)
    stretches = dense_stretches(truth.times_s, rec.duration_s, pp)
    decoding = {}
    variants = (
        ("noise-free", noise_free, False),
        ("recorded", recorded, False),
        # the search started at the answer: what the objective itself allows
        ("noise-free, from the simulated discharges", noise_free, True),
        ("recorded, from the simulated discharges", recorded, True),
    )
    for name, x, seeded in variants:
        t_fit, u_fit, t_pruned, u_pruned, resid, total = [], [], [], [], 0.0, 0.0
        found_obj = truth_obj = 0.0
        left = None
        t1 = time.perf_counter()
        for s_a, s_b in stretches:
            i0, i1 = round(s_a * fs), round(s_b * fs)
            initial = None
            if seeded:
                st, sb, un = reference_fits(engine, i0, i1, length, centre, pp.subsample)
                initial = (st + centre, sb / pp.subsample, un)
            found = peel(x[i0:i1], sigma, templates, pp, centre, initial)
            kept = prune(found, pp.min_share)
            t_fit.append((i0 + found.sample + found.offset) / fs)
            u_fit.append(found.unit)
            t_pruned.append((i0 + kept.sample + kept.offset) / fs)
            u_pruned.append(kept.unit)
            if name == "noise-free":
                resid += float(np.sum(found.residual.astype(np.float64) ** 2))
                total += float(np.sum(x[i0:i1] ** 2))
                # the same objective for the simulated discharges fitted exactly
                # with the same (masked, delayed) templates, away from the ends
                # of the stretch, where discharges cut off are fitted by neither
                if left is None:
                    left = x.astype(np.float64)
                    starts, subs, units = reference_fits(
                        engine, 0, x.shape[0], length, centre, pp.subsample
                    )
                    for st, sb, u in zip(starts, subs, units, strict=True):
                        left[st : st + length] -= found.fitted[u, sb]
                inner = slice(length, i1 - i0 - length)
                n_ref = np.count_nonzero((starts >= i0) & (starts + length <= i1))
                found_obj += objective(found.residual[inner], sigma, len(found), pp.k_fit)
                truth_obj += objective(left[i0:i1][inner], sigma, n_ref, pp.k_fit)
        row = {"wall_s": time.perf_counter() - t1}
        for label, t, u in (("greedy", t_fit, u_fit), ("pruned", t_pruned, u_pruned)):
            h, false, right = score(
                np.concatenate(t), np.concatenate(u), truth.times_s, truth.units
            )
            row[label] = {
                "recall": float(h.mean()),
                "false_fps": false,
                "f1": 2 * h.sum() / (2 * h.sum() + false + (~h).sum()),
                "right_unit": right,
                "recall_by_size": band_recall(h, truth_ptp),
            }
        if total:
            row["residual_energy_share"] = resid / total
            row["objective"] = found_obj
            row["objective_of_simulated_discharges"] = truth_obj
        decoding[name] = row

    print(f"succinylcholine burst, {args.duration:g} s, {truth.times_s.size} reference FPs")
    print(
        f"  band-passed noise σ in the burst {burst['noise_sigma_uv']:.2f} µV; "
        f"recorded traces σ there {burst['recorded_sigma_uv']:.2f} µV"
    )
    bands = list(analysis["recall_by_size"])
    head = f"{'':66s} {'F1':>6s} {'recall':>6s} {'false':>6s} {'unit ok':>7s} | recall " + " ".join(
        f"{b:>12s}" for b in bands
    )
    print(head)

    def line_of(name: str, r: dict) -> str:
        ok = r.get("right_unit")
        by = " ".join(
            f"{'-' if v is None else f'{v:.2f}':>12s}" for v in r["recall_by_size"].values()
        )
        return (
            f"{name:66s} {r['f1']:6.3f} {r.get('recall', r.get('sensitivity', 0)):6.3f} "
            f"{r['false_fps']:6d} {'-' if ok is None else f'{ok:.2f}':>7s} |        {by}"
        )

    print(line_of("analysis", analysis))
    for name, row in decoding.items():
        for label in ("greedy", "pruned"):
            print(line_of(f"exact templates, {name}, {label}", row[label]))
    if "residual_energy_share" in decoding["noise-free"]:
        share = decoding["noise-free"]["residual_energy_share"]
        print(f"  noise-free residual after greedy peeling: {100 * share:.1f} % of the energy")
        nf = decoding["noise-free"]
        print(
            f"  noise-free objective (residual σ² + k_fit² per discharge): decoded "
            f"{nf['objective']:.3g}, simulated discharges fitted exactly "
            f"{nf['objective_of_simulated_discharges']:.3g} "
            f"({nf['objective'] / nf['objective_of_simulated_discharges']:.1f}×)"
        )
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = {
        "benchmark": "storm",
        "duration_s": args.duration,
        "seed": SEED,
        "n_reference": int(truth.times_s.size),
        "analysis": analysis,
        "burst": burst,
        "exact_template_decoding": decoding,
        "machine": platform.platform(),
    }
    path = RESULTS / "storm.json"
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(out, indent=2, default=float))
    tmp.replace(path)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
