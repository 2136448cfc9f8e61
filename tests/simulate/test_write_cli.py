import json

import edfio
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fasciq.cli.app import app
from fasciq.errors import OutputExistsError
from fasciq.io import read_recording
from fasciq.simulate import PRESETS, simulate, write_simulation

runner = CliRunner()


def test_same_seed_same_bytes_and_read_back(tmp_path):
    paths = []
    for name in ("a", "b"):
        sim = simulate(preset="als-late", duration_s=4.0, grid="4x4@8", seed=11)
        paths.append(write_simulation(sim, tmp_path / f"{name}.bdf"))
    for suffix in (".bdf", ".truth.csv", ".truth.json"):
        a = (tmp_path / f"a{suffix}").read_bytes()
        b = (tmp_path / f"b{suffix}").read_bytes()
        assert a == b, suffix
    other = simulate(preset="als-late", duration_s=4.0, grid="4x4@8", seed=12)
    write_simulation(other, tmp_path / "c.bdf")
    assert (tmp_path / "c.bdf").read_bytes() != (tmp_path / "a.bdf").read_bytes()
    # the file holds the simulated samples (24-bit: ~0.001 µV steps)
    rec = read_recording(paths[0])
    sim = simulate(preset="als-late", duration_s=4.0, grid="4x4@8", seed=11)
    np.testing.assert_allclose(rec.get_traces(), sim.recording.get_traces(), atol=0.01)
    truth = pd.read_csv(tmp_path / "a.truth.csv", keep_default_na=False)
    assert {"time_s", "unit", "kind", "peak_time_s", "peak_channel", "amplitude_uv", "pair"} <= set(
        truth.columns
    )
    meta = json.loads((tmp_path / "a.truth.json").read_text())
    for key in (
        "voluntary_epochs",
        "bad_channels",
        "units",
        "artefacts",
        "line_freq_hz",
        "fs",
        "duration_s",
        "grid",
        "preset",
        "seed",
        "fasciq_version",
        "params",
    ):
        assert key in meta
    assert meta["params"]["fasciculating"]["reinnervated_fraction"] == 0.8
    with pytest.raises(OutputExistsError):
        write_simulation(sim, paths[0])


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_cli_writes_every_preset_readable_by_info_and_edfio(tmp_path, preset):
    out = tmp_path / f"{preset}.edf"
    res = runner.invoke(
        app,
        [
            "simulate",
            "--preset",
            preset,
            "--duration",
            "2",
            "--grid",
            "4x4@8",
            "--seed",
            "3",
            "--line-freq",
            "60",
            "-o",
            str(out),
        ],
    )
    assert res.exit_code == 0, res.output
    info = runner.invoke(app, ["info", "--json", str(out)])
    assert info.exit_code == 0, info.output
    desc = json.loads(info.output)
    assert desc["n_channels"] == 16 and desc["fs"] == 2048.0 and desc["duration_s"] == 2.0
    edf = edfio.read_edf(out)
    assert len(edf.signals) == 16
    meta = json.loads((tmp_path / f"{preset}.truth.json").read_text())
    assert meta["preset"] == preset and meta["line_freq_hz"] == 60.0


def test_cli_lists_presets_and_reports_errors(tmp_path):
    res = runner.invoke(app, ["simulate", "--list-presets"])
    assert res.exit_code == 0 and "succinylcholine" in res.output
    res = runner.invoke(app, ["simulate", "--preset", "nope", "-o", str(tmp_path / "x.bdf")])
    assert res.exit_code == 2 and "preset" in res.output
    res = runner.invoke(app, ["simulate", "--duration", "1", "-o", str(tmp_path / "x.wav")])
    assert res.exit_code == 2 and ".bdf" in res.output
