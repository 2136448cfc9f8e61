"""Build a realistic analysis folder with known contents for the report/export tests.

A seeded synthetic HD-sEMG recording (13x5 grid, 2048 Hz) holds motor-unit
potentials of known units at known times, a voluntary span and an artefact;
the folder holds exactly the tables ``fasciq analyze`` writes (output
contract), computed from that ground truth, so every number in the report is
known in advance.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy import stats

from fasciq.grids import get_grid
from fasciq.recording import ArrayRecording, RecordingMetadata

FS = 2048.0
GRID = "GR08MM1305"
TEMPLATE_SAMPLES = 61  # 30 ms
NOISE_UV = 4.0
VOLUNTARY = (20.0, 26.0)
ARTEFACT = (44.0, 44.5)
FLAT_CHANNEL = "EMG11"
# unit id -> (row, col of the centre electrode, peak-to-peak amplitude in µV, rate per min)
UNITS = {0: (3, 1, 260.0, 24.0), 1: (9, 3, 140.0, 14.0), 2: (6, 4, 90.0, 8.0)}
UNSORTED = (11, 0, 70.0)


@dataclass
class SyntheticAnalysis:
    """A synthetic recording and the analysis folder describing it."""

    recording: ArrayRecording
    outdir: Path
    source: Path
    fasciculations: pd.DataFrame
    summary: dict
    templates: dict[int, np.ndarray]


def muap_template(grid, centre: tuple[int, int], ptp_uv: float, fs: float = FS) -> np.ndarray:
    """A propagating biphasic MUAP on the grid, ``(TEMPLATE_SAMPLES, n_channels)`` µV."""
    rc = np.asarray(grid.rowcol, dtype=float)
    t = (np.arange(TEMPLATE_SAMPLES) - TEMPLATE_SAMPLES // 2) / fs
    sigma = 0.0022
    delay = np.abs(rc[:, 0] - centre[0]) * grid.ied_mm / 1000.0 / 4.0  # 4 m/s along rows
    d2 = (rc[:, 0] - centre[0]) ** 2 + (rc[:, 1] - centre[1]) ** 2
    gain = np.exp(-d2 / (2 * 1.6**2))
    tt = t[:, None] - delay[None, :]
    wave = -tt / sigma * np.exp(-(tt**2) / (2 * sigma**2))
    wave = wave * gain[None, :]
    return (wave / np.ptp(wave) * ptp_uv).astype(np.float32)


def _times(rng: np.random.Generator, rate_per_min: float, duration: float) -> np.ndarray:
    n = rng.poisson(rate_per_min * duration / 60.0)
    return np.sort(rng.uniform(0.2, duration - 0.2, n))


def _poisson_ci(n: int, minutes: float) -> list[float]:
    lo = 0.0 if n == 0 else stats.chi2.ppf(0.025, 2 * n) / 2
    hi = stats.chi2.ppf(0.975, 2 * n + 2) / 2
    return [float(lo / minutes), float(hi / minutes)]


def make_analysis(
    root: Path,
    *,
    duration_s: float = 60.0,
    seed: int = 7,
    with_units: bool = True,
    write_source: bool = True,
) -> SyntheticAnalysis:
    """Write ``root/recording.npy`` (+ sidecar) and ``root/analysis/`` for a known truth."""
    rng = np.random.default_rng(seed)
    grid = get_grid(GRID)
    n_ch = grid.n_channels
    n = int(duration_s * FS)
    labels = [f"EMG{i + 1}" for i in range(n_ch)]
    x = rng.normal(0.0, NOISE_UV, (n, n_ch)).astype(np.float32)
    flat = labels.index(FLAT_CHANNEL)
    x[:, flat] *= 0.01
    a, b = (int(v * FS) for v in VOLUNTARY)
    x[a:b] += rng.normal(0.0, 40.0, (b - a, n_ch)).astype(np.float32)
    a, b = (int(v * FS) for v in ARTEFACT)
    x[a:b] += np.linspace(900.0, 0.0, b - a, dtype=np.float32)[:, None]

    excluded_spans = [(*VOLUNTARY, "voluntary"), (*ARTEFACT, "artefact")]

    def usable(t: float) -> bool:
        return all(not (s - 0.05 <= t <= e + 0.05) for s, e, _ in excluded_spans)

    templates = {u: muap_template(grid, (r, c), amp) for u, (r, c, amp, _) in UNITS.items()}
    templates[-1] = muap_template(grid, UNSORTED[:2], UNSORTED[2])
    events: list[tuple[float, int]] = []
    for u, (_, _, _, rate) in UNITS.items():
        events += [(float(t), u) for t in _times(rng, rate, duration_s)]
    events += [(float(t), -1) for t in rng.uniform(1.0, duration_s - 1.0, 2)]
    events.append((float(events[0][0]) + 0.040, events[0][1]))  # one doublet
    events = sorted((t, u) for t, u in events if usable(t))
    # keep FPs apart from each other (other units), as a detector would resolve them
    kept: list[tuple[float, int]] = []
    for t, u in events:
        if kept and t - kept[-1][0] < 0.035 and kept[-1][1] != u:
            continue
        kept.append((t, u))

    half = TEMPLATE_SAMPLES // 2
    rows = []
    for t, u in kept:
        tpl = templates[u]
        start = round(t * FS) - half
        x[start : start + TEMPLATE_SAMPLES] += tpl
        ptp = np.ptp(tpl, axis=0)
        peak_ch = int(np.argmax(ptp))
        peak_sample = int(np.argmax(np.abs(tpl[:, peak_ch])))
        pos = np.asarray(grid.positions_mm)
        w = ptp / ptp.sum()
        rows.append(
            {
                "time_s": (start + peak_sample) / FS,
                "unit": u,
                "channel": labels[peak_ch],
                "amplitude_uv": float(ptp[peak_ch]),
                "duration_ms": 11.5,
                "phases": 2,
                "turns": 2,
                "area_uv_ms": float(np.abs(tpl[:, peak_ch]).sum() / FS * 1000),
                "n_channels": int((ptp > 5 * NOISE_UV).sum()),
                "centroid_x_mm": float(w @ pos[:, 0]),
                "centroid_y_mm": float(w @ pos[:, 1]),
            }
        )
    fp = pd.DataFrame(rows)
    if not with_units:
        fp["unit"] = -1

    rec = ArrayRecording(
        x,
        FS,
        channel_labels=labels,
        grid=grid,
        metadata=RecordingMetadata(
            subject="sub-07",
            session="ses-01",
            muscle="biceps brachii",
            side="right",
            exposures=("caffeine",),
        ),
        format_name="NumPy",
    )
    root.mkdir(parents=True, exist_ok=True)
    source = root / "recording.npy"
    if write_source:
        from fasciq.io.numpy_format import write_numpy

        write_numpy(rec, source, overwrite=True)
    outdir = root / "analysis"
    outdir.mkdir(exist_ok=True)
    fp.to_csv(outdir / "fasciculations.csv", index=False)
    pd.DataFrame(excluded_spans, columns=["start_s", "end_s", "reason"]).to_csv(
        outdir / "excluded.csv", index=False
    )
    excluded_s = sum(e - s for s, e, _ in excluded_spans)
    analysed_s = duration_s - excluded_s
    n_fp = len(fp)
    sorted_fp = fp[fp["unit"] >= 0]
    doublets = isolated = 0
    unit_rows = []
    for u in sorted(sorted_fp["unit"].unique()):
        t = np.sort(sorted_fp.loc[sorted_fp["unit"] == u, "time_s"].to_numpy())
        iv = np.diff(t)
        d = int(((iv >= 0.010) & (iv <= 0.110)).sum())
        before = np.r_[np.inf, iv]
        after = np.r_[iv, np.inf]
        iso = int(((before > 0.25) & (after > 0.25)).sum())
        doublets += d
        isolated += iso
        tpl = templates[int(u)]
        unit_rows.append(
            {
                "unit": int(u),
                "n_fp": len(t),
                "rate_per_min": len(t) / analysed_s * 60,
                "amplitude_uv": float(np.ptp(tpl, axis=0).max()),
                "duration_ms": 11.5,
                "phases": 2,
                "turns": 2,
                "polyphasic": False,
                "cv_m_s": 4.0,
                "iz_mm": float(UNITS[int(u)][0] * grid.ied_mm),
                "stability": 0.97,
                "stable": True,
                "doublets": d,
                "isolated": iso,
                "continual": len(t) - iso,
                "quality": 0.9,
            }
        )
    minutes = analysed_s / 60.0
    windows = np.arange(0.0, duration_s, 10.0)
    noise_values = [
        [float(v) for v in x[int(s * FS) : int((s + 10) * FS)].std(axis=0)] for s in windows
    ]
    summary = {
        "fp_per_min": n_fp / minutes,
        "fp_per_min_ci95": _poisson_ci(n_fp, minutes),
        "n_fp": n_fp,
        "analysed_s": analysed_s,
        "excluded_s": excluded_s,
        "n_units": len(unit_rows) if with_units else None,
        "bad_channels": {FLAT_CHANNEL: ["flat"]},
        "line_freq_hz": 50.0,
        "fasciq_version": "0.1.0",
        "params": {"detect": {"threshold": 5.0, "method": "template"}, "line_freq": "auto"},
        "recording": {
            "source": str(source) if write_source else None,
            "format": "NumPy",
            "fs": FS,
            "n_channels": n_ch,
            "channels": labels,
            "duration_s": duration_s,
            "grid": grid.describe(),
            "metadata": rec.metadata.to_dict(),
        },
        "rate_per_minute": [],
        "noise_uv": {
            "times_s": [float(s + 5.0) for s in windows],
            "channels": labels,
            "values": noise_values,
        },
    }
    if with_units:
        summary.update(doublets=doublets, isolated=isolated, continual=len(sorted_fp) - isolated)
        pd.DataFrame(unit_rows).to_csv(outdir / "units.csv", index=False)
        arrays = {f"unit_{u}": templates[u] for u in UNITS}
        for u in UNITS:
            arrays[f"unit_{u}_examples"] = (
                templates[u][None] + rng.normal(0, NOISE_UV, (5, *templates[u].shape))
            ).astype(np.float32)
        np.savez(outdir / "templates.npz", fs=np.array(FS), **arrays)
    (outdir / "summary.json").write_text(json.dumps(summary, indent=1))
    return SyntheticAnalysis(rec, outdir, source, fp, summary, templates)
