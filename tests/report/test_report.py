import json
import re
from html import unescape

import numpy as np
import pytest
from typer.testing import CliRunner

from fasciq.cli.app import app
from fasciq.errors import OutputExistsError
from fasciq.recording import ArrayRecording
from fasciq.report import DISCLAIMER, render_report
from fasciq.report.html import format_number
from tests.report.analysis_folder import UNITS, make_analysis
from tests.report.pagekeys import parse_report


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return make_analysis(tmp_path_factory.mktemp("report"))


@pytest.fixture(scope="module")
def page(synth):
    path = render_report(synth.outdir, synth.recording)
    return path, path.read_text(encoding="utf-8")


def test_report_is_self_contained(page):
    path, html = page
    parsed = parse_report(html)
    assert parsed.refs, "the report should hold figures"
    assert all(r.startswith("data:image/") or r.startswith("#") for r in parsed.refs)
    without_data = re.sub(r"data:[^\"']+", "", html)
    assert "http" not in without_data and "<script" not in html.lower()
    assert "<link" not in html.lower() and "@import" not in html and "url(" not in without_data
    assert path.stat().st_size < 3_000_000


def test_key_numbers_equal_summary(page, synth):
    parsed = parse_report(page[1])
    s = synth.summary
    for key in (
        "fp_per_min",
        "n_fp",
        "n_units",
        "doublets",
        "isolated",
        "continual",
        "analysed_s",
        "excluded_s",
        "fp_per_min_ci95",
        "line_freq_hz",
    ):
        assert parsed.keys[key]["value"] == s[key], key
    assert parsed.keys["fp_per_min"]["text"] == format_number(s["fp_per_min"])
    assert float(parsed.keys["fp_per_min"]["text"]) == pytest.approx(s["fp_per_min"], abs=0.05)
    assert parsed.keys["n_fp"]["text"] == str(s["n_fp"])
    lo, hi = s["fp_per_min_ci95"]
    assert f"{lo:.1f}" in parsed.keys["fp_per_min_ci95"]["text"]
    assert f"{hi:.1f}" in parsed.keys["fp_per_min_ci95"]["text"]
    assert parsed.keys["n_bad_channels"]["value"] == 1
    assert parsed.keys["fasciq_version"]["text"] == s["fasciq_version"]


def test_sections_and_figures(page):
    html = page[1]
    parsed = parse_report(html)
    expected = {"timeline", "raster", "amplitude", "intervals", "fp_map", "bad_channels", "noise"}
    assert expected <= set(parsed.figures)
    assert sorted(int(u) for u in parsed.units) == sorted(UNITS)
    assert {f"template-{u}" for u in UNITS} <= set(parsed.figures)
    assert {f"map-{u}" for u in UNITS} <= set(parsed.figures)
    assert sum(f.startswith("example-") for f in parsed.figures) == 4
    assert DISCLAIMER in html
    for text in (
        "sub-07",
        "biceps brachii",
        "GR08MM1305",
        "caffeine",
        "EMG11",
        "voluntary",
        "artefact",
        "Analysis parameters",
        '"threshold": 5.0',
    ):
        assert text in unescape(html), text


def test_without_recording_examples_are_skipped_with_note(synth, tmp_path):
    import shutil

    outdir = tmp_path / "copy"
    shutil.copytree(synth.outdir, outdir)
    html = render_report(outdir).read_text(encoding="utf-8")
    parsed = parse_report(html)
    assert not any(f.startswith("example-") for f in parsed.figures)
    assert 'id="no-recording"' in html and "not available" in html
    # a recording that is not the analysed one is refused politely
    other = ArrayRecording(np.zeros((2048, 4), np.float32), 2048.0)
    html = render_report(outdir, other).read_text(encoding="utf-8")
    assert "other channels than the analysed one" in html
    with pytest.raises(OutputExistsError):
        render_report(outdir, overwrite=False)


def test_unsorted_analysis_shows_na(tmp_path):
    synth = make_analysis(tmp_path, with_units=False, write_source=False, duration_s=60.0)
    html = render_report(synth.outdir).read_text(encoding="utf-8")
    parsed = parse_report(html)
    for key in ("n_units", "doublets", "isolated", "continual"):
        assert parsed.keys[key]["text"] == "n/a", key
        assert parsed.keys[key]["value"] is None
    assert "sorting has not run" in html
    assert not parsed.units
    assert parsed.keys["n_fp"]["value"] == len(synth.fasciculations)


def test_minimal_folder_renders(tmp_path):
    (tmp_path / "fasciculations.csv").write_text("time_s,amplitude_uv\n1.5,120\n7.25,80\n")
    (tmp_path / "summary.json").write_text(json.dumps({"fp_per_min": 12.0, "n_fp": 2}))
    html = render_report(tmp_path).read_text(encoding="utf-8")
    parsed = parse_report(html)
    assert parsed.keys["fp_per_min"]["value"] == 12.0
    assert parsed.keys["analysed_s"]["text"] == "n/a"
    assert "timeline" in parsed.figures and "amplitude" in parsed.figures


def test_cli_report_uses_saved_recording(synth, tmp_path):
    import shutil

    outdir = tmp_path / "cli"
    shutil.copytree(synth.outdir, outdir, ignore=shutil.ignore_patterns("report.html"))
    runner = CliRunner()
    res = runner.invoke(app, ["report", str(outdir)])
    assert res.exit_code == 0, res.output
    parsed = parse_report((outdir / "report.html").read_text(encoding="utf-8"))
    assert sum(f.startswith("example-") for f in parsed.figures) == 4
    res = runner.invoke(app, ["report", str(outdir)])
    assert res.exit_code == 2 and "--overwrite" in res.output
    res = runner.invoke(app, ["report", str(tmp_path / "missing")])
    assert res.exit_code == 2 and "analysis folder not found" in res.output
    # the saved source is gone: the report is still written, with a note
    summary = json.loads((outdir / "summary.json").read_text())
    summary["recording"]["source"] = str(tmp_path / "moved.npy")
    (outdir / "summary.json").write_text(json.dumps(summary))
    res = runner.invoke(app, ["report", str(outdir), "--overwrite"])
    assert res.exit_code == 0 and "not found" in res.output
    assert 'id="no-recording"' in (outdir / "report.html").read_text(encoding="utf-8")
    res = runner.invoke(
        app, ["report", str(outdir), "--overwrite", "--recording", str(synth.source)]
    )
    assert res.exit_code == 0, res.output
    parsed = parse_report((outdir / "report.html").read_text(encoding="utf-8"))
    assert sum(f.startswith("example-") for f in parsed.figures) == 4
