"""Size and speed of the HTML report for a 30-minute, 64-channel analysis.

Builds the output folder of a 30-min recording (≈40 FP/min, 15 sorted
units with templates and example discharges, per-channel noise every 30 s),
renders ``report.html`` with a lazy recording for the example traces, and,
if Chromium is installed, times loading it in the headless browser.
Writes benchmarks/results/report_size.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.report.analysis_folder import muap_template  # noqa: E402

from fasciq.grids import get_grid  # noqa: E402
from fasciq.recording import Recording  # noqa: E402
from fasciq.report import render_report  # noqa: E402

FS, DURATION, N_UNITS = 2048.0, 1800.0, 15


class NoiseRecording(Recording):
    """A lazy 30-min recording: seeded noise computed on demand."""

    def _read(self, start, stop, channels):
        rng = np.random.default_rng(start)
        return rng.normal(0, 5.0, (stop - start, len(channels))).astype(np.float32)


def build(outdir: Path) -> NoiseRecording:
    rng = np.random.default_rng(0)
    grid = get_grid("GR08MM1305")
    labels = [f"EMG{i + 1}" for i in range(64)]
    rows, units, templates = [], [], {}
    for u in range(N_UNITS):
        centre = (int(rng.integers(0, 13)), int(rng.integers(0, 5)))
        tpl = muap_template(grid, centre, float(rng.uniform(60, 600)))
        templates[f"unit_{u}"] = tpl
        templates[f"unit_{u}_examples"] = (tpl[None] + rng.normal(0, 5, (5, *tpl.shape))).astype(
            np.float32
        )
        times = np.sort(rng.uniform(0, DURATION, int(rng.integers(20, 160))))
        peak = int(np.argmax(np.ptp(tpl, axis=0)))
        for t in times:
            rows.append(
                {
                    "time_s": t,
                    "unit": u,
                    "channel": labels[peak],
                    "amplitude_uv": float(np.ptp(tpl[:, peak])),
                    "duration_ms": 12.0,
                    "phases": 2,
                    "turns": 3,
                    "area_uv_ms": 300.0,
                    "n_channels": 20,
                    "centroid_x_mm": 16.0,
                    "centroid_y_mm": 40.0,
                }
            )
        units.append(
            {
                "unit": u,
                "n_fp": len(times),
                "rate_per_min": len(times) / 30,
                "amplitude_uv": float(np.ptp(tpl[:, peak])),
                "duration_ms": 12.0,
                "phases": 2,
                "turns": 3,
                "polyphasic": False,
                "cv_m_s": 4.0,
                "iz_mm": 40.0,
                "stability": 0.95,
                "stable": True,
                "doublets": 1,
                "isolated": len(times) - 3,
                "continual": 3,
                "quality": 0.9,
            }
        )
    fp = pd.DataFrame(rows).sort_values("time_s")
    outdir.mkdir(parents=True)
    fp.to_csv(outdir / "fasciculations.csv", index=False)
    ex = pd.DataFrame({"start_s": np.arange(60, DURATION, 240.0)})
    ex["end_s"] = ex["start_s"] + 20
    ex["reason"] = np.where(np.arange(len(ex)) % 2, "artefact", "voluntary")
    ex.to_csv(outdir / "excluded.csv", index=False)
    pd.DataFrame(units).to_csv(outdir / "units.csv", index=False)
    np.savez(outdir / "templates.npz", fs=np.array(FS), **templates)
    excluded_s = float((ex["end_s"] - ex["start_s"]).sum())
    analysed = DURATION - excluded_s
    t_noise = np.arange(15.0, DURATION, 30.0)
    summary = {
        "fp_per_min": len(fp) / analysed * 60,
        "fp_per_min_ci95": [30.0, 45.0],
        "n_fp": len(fp),
        "analysed_s": analysed,
        "excluded_s": excluded_s,
        "n_units": N_UNITS,
        "bad_channels": {"EMG11": ["flat"]},
        "line_freq_hz": 50.0,
        "fasciq_version": "bench",
        "params": {},
        "doublets": N_UNITS,
        "isolated": 100,
        "continual": 20,
        "recording": {
            "source": None,
            "format": "bench",
            "fs": FS,
            "n_channels": 64,
            "channels": labels,
            "duration_s": DURATION,
            "grid": grid.describe(),
            "metadata": {"subject": "bench"},
        },
        "noise_uv": {
            "times_s": t_noise.tolist(),
            "channels": labels,
            "values": rng.uniform(3, 6, (len(t_noise), 64)).tolist(),
        },
    }
    (outdir / "summary.json").write_text(json.dumps(summary))
    return NoiseRecording(fs=FS, n_samples=int(DURATION * FS), channel_labels=labels, grid=grid)


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        outdir = Path(tmp) / "analysis"
        rec = build(outdir)
        n_fp = len(pd.read_csv(outdir / "fasciculations.csv"))
        tic = time.perf_counter()
        path = render_report(outdir, rec)
        render_s = time.perf_counter() - tic
        size_mb = path.stat().st_size / 1e6
        result = {
            "duration_s": DURATION,
            "n_fp": n_fp,
            "n_units": N_UNITS,
            "render_s": round(render_s, 3),
            "report_mb": round(size_mb, 3),
        }
        from tests.report._browser import find_chromium, inspect_page

        exe = find_chromium()
        if exe:
            page = inspect_page(exe, path)
            result["browser_load_s"] = round(page["load_s"], 3)
            result["browser_errors"] = len(page["errors"])
            result["images"] = len(page["images"])
    print(json.dumps(result, indent=1))
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "report_size.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
