import json

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from fasciq.cli.app import app
from fasciq.errors import DataError, OutputExistsError, ParameterError
from fasciq.export import (
    bids_events_path,
    events_table,
    export_annotated,
    result_annotations,
    write_bids_events,
)
from fasciq.recording import ArrayRecording
from tests.report.analysis_folder import FS, make_analysis


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return make_analysis(tmp_path_factory.mktemp("export"))


def test_result_annotations(synth):
    ann = result_annotations(synth.outdir)
    fp = synth.fasciculations.sort_values("time_s")
    assert len(ann) == len(fp) + 2
    texts = list(ann.description)
    assert texts.count("excluded: voluntary") == 1 and texts.count("excluded: artefact") == 1
    assert texts.count("FP") == int((fp["unit"] < 0).sum())
    assert texts.count("FP unit 0") == int((fp["unit"] == 0).sum())


@pytest.mark.parametrize("suffix", [".bdf", ".edf"])
def test_edf_round_trip(synth, tmp_path, suffix):
    import edfio

    path = export_annotated(synth.recording, synth.outdir, tmp_path / f"marked{suffix}")
    edf = edfio.read_bdf(path) if suffix == ".bdf" else edfio.read_edf(path)
    marks = [(a.onset, a.duration, a.text) for a in edf.annotations]
    fps = [(o, t) for o, d, t in marks if t.startswith("FP")]
    fp = synth.fasciculations.sort_values("time_s", kind="stable")
    expected_text = ["FP" if u < 0 else f"FP unit {u}" for u in fp["unit"]]
    assert [t for _, t in fps] == expected_text
    np.testing.assert_allclose([o for o, _ in fps], fp["time_s"], atol=1.0 / FS)
    spans = sorted((o, d, t) for o, d, t in marks if t.startswith("excluded"))
    assert spans[0][2] == "excluded: voluntary" and spans[0][0] == pytest.approx(20.0)
    assert spans[0][1] == pytest.approx(6.0)
    assert spans[1][2] == "excluded: artefact" and spans[1][1] == pytest.approx(0.5)
    # the signal itself survives (within the format's resolution)
    from fasciq.io import read_recording

    back = read_recording(path)
    assert back.channel_labels == synth.recording.channel_labels
    a = back.get_traces(0, 4096)
    b = synth.recording.get_traces(0, 4096)
    step = (b.max(axis=0) - b.min(axis=0) + 1100) / (2**16 if suffix == ".edf" else 2**24)
    assert np.all(np.abs(a - b).max(axis=0) <= step + 0.05)
    with pytest.raises(OutputExistsError):
        export_annotated(synth.recording, synth.outdir, path)


def test_export_refuses_another_recording(synth, tmp_path):
    other = ArrayRecording(np.zeros((4096, 64), np.float32), FS)
    with pytest.raises(DataError, match="other channels"):
        export_annotated(other, synth.outdir, tmp_path / "x.edf")
    short = synth.recording.select_channels(slice(None)).load()
    short = ArrayRecording(
        short.get_traces(0, 4096), FS, channel_labels=synth.recording.channel_labels
    )
    with pytest.raises(DataError, match="beyond the end"):
        export_annotated(short, synth.outdir, tmp_path / "y.edf")


def test_bids_events(synth, tmp_path):
    tsv, sidecar = write_bids_events(synth.outdir, tmp_path / "sub-07_task-rest_events.tsv")
    table = pd.read_csv(tsv, sep="\t", na_values="n/a", keep_default_na=False)
    assert list(table.columns[:4]) == ["onset", "duration", "trial_type", "unit"]
    for col in (
        "channel",
        "amplitude_uv",
        "duration_ms",
        "phases",
        "turns",
        "area_uv_ms",
        "n_channels",
        "centroid_x_mm",
        "centroid_y_mm",
        "reason",
    ):
        assert col in table.columns, col
    fp = synth.fasciculations.sort_values("time_s")
    rows = table[table["trial_type"] == "fasciculation"]
    np.testing.assert_allclose(rows["onset"], fp["time_s"], atol=1e-6)
    assert (rows["duration"] == 0).all()
    assert rows["unit"].isna().sum() == (fp["unit"] < 0).sum()
    np.testing.assert_allclose(rows["amplitude_uv"], fp["amplitude_uv"], rtol=1e-5)
    spans = table[table["trial_type"] == "excluded"]
    assert spans["reason"].tolist() == ["voluntary", "artefact"]
    np.testing.assert_allclose(spans["duration"], [6.0, 0.5])
    assert spans["unit"].isna().all() and spans["amplitude_uv"].isna().all()
    assert (np.diff(table["onset"]) >= 0).all()
    meta = json.loads(sidecar.read_text())
    for col in table.columns:
        assert meta[col]["LongName"] and meta[col]["Description"], col
    assert meta["onset"]["Units"] == "s" and meta["amplitude_uv"]["Units"] == "uV"
    assert set(meta["trial_type"]["Levels"]) == {"fasciculation", "excluded"}
    assert set(meta["reason"]["Levels"]) == {"voluntary", "artefact"}
    with pytest.raises(OutputExistsError):
        write_bids_events(synth.outdir, tsv)
    with pytest.raises(ParameterError):
        write_bids_events(synth.outdir, tmp_path / "events.csv")


def test_events_table_keeps_extra_features(synth):
    class Result:
        fasciculations = synth.fasciculations.assign(snr_db=12.5)
        excluded = None
        summary = synth.summary

    table = events_table(Result())
    assert "snr_db" in table and (table["snr_db"] == 12.5).all()


def test_bids_events_path():
    assert bids_events_path("a/sub-1_task-rest_emg.bdf").name == "sub-1_task-rest_events.tsv"
    assert bids_events_path("marked.edf").name == "marked_events.tsv"


def test_cli_export(synth, tmp_path):
    out = tmp_path / "sub-07_task-rest_emg.bdf"
    runner = CliRunner()
    args = ["export", str(synth.source), str(synth.outdir), "-o", str(out), "--bids-events"]
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    assert out.exists()
    assert (tmp_path / "sub-07_task-rest_events.tsv").exists()
    assert (tmp_path / "sub-07_task-rest_events.json").exists()
    res = runner.invoke(app, args)
    assert res.exit_code == 2 and "--overwrite" in res.output
    assert runner.invoke(app, [*args, "--overwrite"]).exit_code == 0
    res = runner.invoke(app, ["export", str(synth.source), str(synth.outdir), "-o", "x.txt"])
    assert res.exit_code == 2 and ".edf or .bdf" in res.output
