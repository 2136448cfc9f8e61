"""The report as a neurophysiologist sees it: rendered by headless Chromium."""

from pathlib import Path

import pytest

from fasciq.report import render_report
from tests.report._browser import find_chromium, inspect_page
from tests.report.analysis_folder import make_analysis

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
KEYS = (
    "fp_per_min",
    "fp_per_min_ci95",
    "n_fp",
    "n_units",
    "doublets",
    "isolated",
    "continual",
    "analysed_s",
    "excluded_s",
    "line_freq_hz",
)


@pytest.fixture(scope="module")
def chromium():
    exe = find_chromium()
    if exe is None:
        pytest.skip(
            "no Chromium found (install the Debian package `chromium`, e.g. `make browser`, "
            "or set FASCIQ_CHROMIUM)"
        )
    return exe


def _check_page(result, summary):
    assert not result["errors"], result["errors"]
    assert not result["requests"], f"the report fetched {result['requests']}"
    assert not result["external"]
    assert result["images"], "no figure on the page"
    for img in result["images"]:
        assert img["complete"] and img["width"] > 0 and img["height"] > 0, img
    shown = {k["key"]: k for k in result["keys"]}
    import json

    for key in KEYS:
        if key in ("n_units", "doublets", "isolated", "continual") and shown[key]["text"] == "n/a":
            continue  # motor-unit sorting has not run
        if key in summary:
            assert json.loads(shown[key]["value"]) == summary[key], key
    assert shown["n_fp"]["text"] == str(summary["n_fp"])


def test_report_in_headless_chromium(chromium, tmp_path):
    synth = make_analysis(tmp_path)
    report = render_report(synth.outdir, synth.recording)
    shot = ARTIFACTS / "report-synthetic.png"
    result = inspect_page(chromium, report, screenshot=shot)
    _check_page(result, synth.summary)
    figures = {img["figure"] for img in result["images"]}
    assert {"timeline", "raster", "fp_map", "template-0", "example-1"} <= figures
    assert shot.stat().st_size > 10_000
    assert result["height"] > 1000


def test_pipeline_report_in_headless_chromium(chromium, tmp_path):
    """End to end: simulate, analyse, save, render, open in the browser."""
    try:
        from fasciq.analysis import analyze
        from fasciq.simulate import simulate
    except ImportError as exc:
        pytest.skip(f"analysis pipeline not available: {exc}")
    sim = simulate(preset="als", duration_s=30.0, grid="GR08MM1305", seed=3)
    result = analyze(sim.recording)
    outdir = tmp_path / "analysis"
    result.save(outdir)
    report = render_report(outdir, sim.recording)
    out = inspect_page(chromium, report, screenshot=ARTIFACTS / "report-pipeline.png")
    import json

    _check_page(out, json.loads((outdir / "summary.json").read_text()))
