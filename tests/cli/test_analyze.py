import json

import pandas as pd
from typer.testing import CliRunner

from fasciq.cli.app import app
from fasciq.evaluate import evaluate_outdir
from fasciq.io import write_recording

from ..detect.synth import synth

runner = CliRunner()


def _write(tmp_path, name="rec.bdf", **kw):
    rec, times = synth(duration_s=20.0, rate_per_min=180, seed=21, line_uv=10.0, **kw)
    path = write_recording(rec, tmp_path / name)
    return path, times


def test_analyze_writes_the_output_contract(tmp_path):
    path, times = _write(tmp_path)
    out = tmp_path / "res"
    r = runner.invoke(app, ["analyze", str(path), "--grid", "8x8@8", "-o", str(out), "-q"])
    assert r.exit_code == 0, r.output
    fps = pd.read_csv(out / "fasciculations.csv")
    excluded = pd.read_csv(out / "excluded.csv")
    summary = json.loads((out / "summary.json").read_text())
    assert list(fps.columns[:6]) == [
        "time_s",
        "unit",
        "channel",
        "amplitude_uv",
        "duration_ms",
        "phases",
    ]
    assert list(excluded.columns) == ["start_s", "end_s", "reason"]
    for key in (
        "fp_per_min",
        "fp_per_min_ci95",
        "n_fp",
        "analysed_s",
        "excluded_s",
        "n_units",
        "bad_channels",
        "line_freq_hz",
        "fasciq_version",
        "recording",
        "params",
    ):
        assert key in summary
    assert summary["recording"]["grid"] == "8x8@8" and summary["line_freq_hz"] == 50.0
    # the FPs are the right ones (BDF round trip included)
    truth = tmp_path / "truth.csv"
    pd.DataFrame({"time_s": times}).to_csv(truth, index=False)
    assert abs(len(fps) - len(times)) <= 0.05 * len(times)
    assert evaluate_outdir(out, truth, None)["sensitivity"] >= 0.95


def test_refuses_existing_output_and_reads_config(tmp_path):
    path, _ = _write(tmp_path)
    out = tmp_path / "res"
    out.mkdir()
    (out / "keep.txt").write_text("x")
    r = runner.invoke(app, ["analyze", str(path), "-o", str(out), "-q"])
    assert r.exit_code == 2 and "--overwrite" in r.output
    cfg = tmp_path / "p.toml"
    cfg.write_text("[detect]\nk_high = 8.0\n")
    r = runner.invoke(
        app,
        [
            "analyze",
            str(path),
            "-o",
            str(out),
            "--overwrite",
            "-q",
            "--config",
            str(cfg),
            "--line-freq",
            "50",
        ],
    )
    assert r.exit_code == 0, r.output
    summary = json.loads((out / "summary.json").read_text())
    assert summary["params"]["detect"]["k_high"] == 8.0
    assert not (out / "keep.txt").exists()
    cfg.write_text("[detect]\nthreshold = 8.0\n")
    r = runner.invoke(
        app, ["analyze", str(path), "-o", str(tmp_path / "r2"), "-q", "--config", str(cfg)]
    )
    assert r.exit_code == 2 and "threshold" in r.output and "Traceback" not in r.output


def test_wrong_grid_is_a_clear_error(tmp_path):
    path, _ = _write(tmp_path)
    r = runner.invoke(
        app, ["analyze", str(path), "--grid", "13x5@8", "-o", str(tmp_path / "o"), "-q"]
    )
    assert r.exit_code == 2
    assert "64 EMG channels" in r.output and "Traceback" not in r.output
