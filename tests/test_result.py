import json
import os

import numpy as np
import pandas as pd
import pytest

from fasciq.errors import FormatError, OutputExistsError
from fasciq.result import Result


def _result(n=3):
    fps = pd.DataFrame(
        {
            "time_s": np.arange(n) * 1.5,
            "unit": -1,
            "channel": [f"ch{i}" for i in range(n)],
            "amplitude_uv": 100.0 + np.arange(n),
            "duration_ms": 12.0,
            "phases": 3,
            "turns": 4,
            "area_uv_ms": 250.0,
            "n_channels": 9,
            "centroid_x_mm": 8.0,
            "centroid_y_mm": 16.0,
        }
    )
    excluded = pd.DataFrame({"start_s": [5.0], "end_s": [7.5], "reason": ["voluntary"]})
    summary = {
        "n_fp": n,
        "fp_per_min": n / 1.0,
        "fp_per_min_ci95": [0.6, 8.8],
        "analysed_s": 60.0,
        "excluded_s": 2.5,
        "bad_channels": {"ch9": ["flat"]},
        "per_minute": [
            {
                "start_s": 0.0,
                "end_s": 60.0,
                "analysed_s": 57.5,
                "n_fp": n,
                "fp_per_min": float("nan"),
            }
        ],
        "params": {"detect": {"k_high": np.float64(5.0)}},
    }
    return Result(fps, excluded, summary)


def test_round_trip(tmp_path):
    res = _result()
    out = res.save(tmp_path / "out")
    assert sorted(os.listdir(out)) == [
        "excluded.csv",
        "fasciculations.csv",
        "report.html",
        "summary.json",
    ]
    bare = res.save(tmp_path / "bare", report=False)
    assert sorted(os.listdir(bare)) == ["excluded.csv", "fasciculations.csv", "summary.json"]
    back = Result.load(out)
    pd.testing.assert_frame_equal(back.fasciculations, res.fasciculations, check_dtype=False)
    pd.testing.assert_frame_equal(back.excluded, res.excluded, check_dtype=False)
    assert back.summary["bad_channels"] == {"ch9": ["flat"]}
    assert back.summary["per_minute"][0]["fp_per_min"] is None  # NaN written as null
    assert json.loads((out / "summary.json").read_text())["params"]["detect"]["k_high"] == 5.0
    assert back.per_minute["n_fp"].tolist() == [3]


def test_refuses_to_overwrite_and_overwrites_when_asked(tmp_path):
    out = _result(3).save(tmp_path / "out")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        _result(5).save(out)
    assert len(Result.load(out).fasciculations) == 3
    _result(5).save(out, overwrite=True)
    assert len(Result.load(out).fasciculations) == 5
    assert [p.name for p in tmp_path.iterdir()] == ["out"]  # no temporary left behind


def test_interrupted_save_leaves_nothing_that_looks_complete(tmp_path, monkeypatch):
    res = _result()

    def boom(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(pd.DataFrame, "to_csv", boom)
    with pytest.raises(KeyboardInterrupt):
        res.save(tmp_path / "out")
    assert list(tmp_path.iterdir()) == []


def test_load_incomplete_folder(tmp_path):
    (tmp_path / "fasciculations.csv").write_text("time_s\n")
    with pytest.raises(FormatError, match=r"summary\.json"):
        Result.load(tmp_path)
