import json

import numpy as np
import pandas as pd
import pytest

from fasciq.errors import FasciqError, FormatError
from fasciq.grids import get_grid
from fasciq.report.outputs import grid_from_description, load_outputs
from tests.report.analysis_folder import GRID, UNITS, make_analysis


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return make_analysis(tmp_path_factory.mktemp("outputs"), write_source=False)


def test_load_outputs_reads_every_file(synth):
    out = load_outputs(synth.outdir)
    assert len(out.fasciculations) == synth.summary["n_fp"] == len(synth.fasciculations)
    np.testing.assert_allclose(out.fasciculations["time_s"], synth.fasciculations["time_s"])
    assert list(out.excluded["reason"]) == ["voluntary", "artefact"]
    assert sorted(out.templates) == sorted(UNITS)
    assert out.examples[0].shape == (5, 61, 64)
    assert out.templates_fs == 2048.0
    assert out.duration_s == 60.0
    assert out.has_units
    assert out.grid is not None
    np.testing.assert_array_equal(out.grid.layout, get_grid(GRID).layout)


def test_in_memory_result_is_accepted(synth):
    class Result:
        fasciculations = synth.fasciculations
        excluded = pd.DataFrame({"start_s": [1.0], "end_s": [2.0], "reason": ["noise"]})
        summary = synth.summary

    out = load_outputs(Result())
    assert len(out.fasciculations) == len(synth.fasciculations)
    assert out.excluded["reason"].tolist() == ["noise"]


def test_missing_folder_and_files_are_explained(tmp_path):
    with pytest.raises(FasciqError, match="analysis folder not found"):
        load_outputs(tmp_path / "nope")
    (tmp_path / "fasciculations.csv").write_text("time_s\n1.0\n")
    with pytest.raises(FasciqError, match=r"summary\.json is missing.*fasciq analyze"):
        load_outputs(tmp_path)
    (tmp_path / "summary.json").write_text("[1, 2]")
    with pytest.raises(FormatError, match="not a JSON object"):
        load_outputs(tmp_path)
    (tmp_path / "summary.json").write_text(json.dumps({"n_fp": 1}))
    (tmp_path / "excluded.csv").write_text("start,end\n1,2\n")
    with pytest.raises(FormatError, match="missing column"):
        load_outputs(tmp_path)


def test_minimal_folder_degrades(tmp_path):
    (tmp_path / "fasciculations.csv").write_text("time_s\n3.0\n1.0\n")
    (tmp_path / "summary.json").write_text(json.dumps({"fp_per_min": 1.0}))
    out = load_outputs(tmp_path)
    assert out.fasciculations["time_s"].tolist() == [1.0, 3.0]
    assert out.fasciculations["unit"].tolist() == [-1, -1]
    assert not out.has_units and out.grid is None and out.channels == []
    assert out.duration_s == 3.0


def test_grid_from_description_without_catalogue_name():
    desc = get_grid(GRID).describe()
    desc["name"] = "lab grid"
    grid = grid_from_description(desc, 64)
    assert (grid.rows, grid.cols, grid.n_channels) == (13, 5, 64)
    assert grid.layout[0, 0] == -1  # the missing corner stays missing
    assert grid.layout[0, 1] == 0 and grid.layout[12, 4] == 63
    assert grid_from_description(desc, 32) is None
    assert grid_from_description(None) is None
