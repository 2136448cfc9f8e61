"""Central validators, error messages, atomic output, and the CLI's one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from fasciq._atomic import atomic_path, write_text_atomic
from fasciq.errors import (
    DataError,
    FasciqError,
    FormatError,
    GridError,
    OutputExistsError,
    ParameterError,
)
from fasciq.validate import (
    check_choice,
    check_file_exists,
    check_finite,
    check_in_range,
    check_output_free,
    check_positive,
    check_sampling_rate,
)

FASCIQ = Path(sys.executable).parent / "fasciq"


def test_error_message_names_source_problem_fix() -> None:
    err = DataError("3 samples are NaN.", fix="interpolate them.", source="rec.npy")
    assert str(err) == "rec.npy: 3 samples are NaN. Fix: interpolate them."
    assert str(FormatError("bad header")) == "bad header."
    for cls in (FormatError, DataError, GridError, ParameterError, OutputExistsError):
        assert issubclass(cls, FasciqError)


def test_check_positive_and_range() -> None:
    assert check_positive("2.5", "threshold") == 2.5
    assert check_positive(0, "margin", allow_zero=True) == 0.0
    for bad in (0, -1, float("nan"), float("inf")):
        with pytest.raises(ParameterError, match="threshold must be finite and > 0"):
            check_positive(bad, "threshold")
    with pytest.raises(ParameterError, match="must be a number, got 'abc'"):
        check_positive("abc", "threshold")
    assert check_in_range(0.3, "fraction", 0, 1) == 0.3
    with pytest.raises(ParameterError, match=r"fraction must lie in \[0, 1\], got 1.5"):
        check_in_range(1.5, "fraction", 0, 1)
    assert check_choice("ward", "linkage", ["ward", "single"]) == "ward"
    with pytest.raises(ParameterError) as info:
        check_choice("avg", "linkage", ["ward", "single"])
    assert "'ward'" in str(info.value) and "avg" in str(info.value)


def test_sampling_rate_finite_and_files(tmp_path: Path) -> None:
    assert check_sampling_rate("2048") == 2048.0
    for bad in (0, -5, "fast", None, float("nan")):
        with pytest.raises(DataError) as info:
            check_sampling_rate(bad, tmp_path / "r.edf")
        assert "r.edf" in str(info.value)
    with pytest.raises(FasciqError, match="file not found"):
        check_file_exists(tmp_path / "missing.edf")
    (tmp_path / "out.csv").write_text("x")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        check_output_free(tmp_path / "out.csv", overwrite=False)
    assert check_output_free(tmp_path / "out.csv", overwrite=True).name == "out.csv"


def test_check_finite_names_channels() -> None:
    x = np.zeros((10, 8))
    check_finite(x)
    x[3, 2] = np.nan
    x[4, 6] = np.inf
    with pytest.raises(DataError) as info:
        check_finite(x, "r.npy", [f"E{i}" for i in range(8)])
    msg = str(info.value)
    assert msg.startswith("r.npy: 2 samples are NaN or infinite (channels E2, E6)")


def test_atomic_path_leaves_nothing_on_failure(tmp_path: Path) -> None:
    target = tmp_path / "summary.json"
    with pytest.raises(RuntimeError), atomic_path(target) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert list(tmp_path.iterdir()) == []
    write_text_atomic(target, "{}")
    with pytest.raises(OutputExistsError):
        write_text_atomic(target, "{1}", overwrite=False)
    assert target.read_text() == "{}"


def _npy(path: Path, data: np.ndarray, **sidecar) -> Path:
    np.save(path, data.astype(np.float32))
    path.with_suffix(".json").write_text(json.dumps({"fs": 2048, **sidecar}))
    return path


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(FASCIQ), *args], capture_output=True, text=True, timeout=120)


def _assert_one_line_error(proc: subprocess.CompletedProcess, name: str, needle: str) -> None:
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert name in lines[0] and needle in lines[0] and "Fix:" in lines[0]


@pytest.mark.skipif(not FASCIQ.exists(), reason="console script not installed")
def test_cli_user_errors_are_one_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    data = rng.normal(0, 20, (4096, 4))
    data[100, 1] = np.nan
    _assert_one_line_error(_run("info", str(_npy(tmp_path / "nan.npy", data))), "nan.npy", "NaN")
    odd = tmp_path / "rec.xyz"
    odd.write_bytes(b"\x01\x02 no known format")
    _assert_one_line_error(_run("info", str(odd)), "rec.xyz", "unknown recording format")
    good = _npy(tmp_path / "good.npy", rng.normal(0, 20, (4096, 4)))
    _assert_one_line_error(_run("info", str(good), "--grid", "8x8@"), "--grid", "8x8@")
    _assert_one_line_error(_run("info", str(good), "--grid", "8x8@4"), "good.npy", "64 electrodes")
    missing = _run("info", str(tmp_path / "nothere.edf"))
    _assert_one_line_error(missing, "nothere.edf", "file not found")


@pytest.mark.skipif(not FASCIQ.exists(), reason="console script not installed")
def test_cli_info_json_with_quality_flags(tmp_path: Path) -> None:
    fs, n = 2048, 2048 * 8
    rng = np.random.default_rng(1)
    data = rng.normal(0, 20, (n, 6))
    data[:, 1] = 3.0  # flat: disconnected amplifier input
    data[:, 3] = np.clip(rng.normal(0, 400, n), -500, 500)  # saturated at ±500 µV
    t = np.arange(n) / fs
    data[:, 5] = 300 * np.sin(2 * np.pi * 50 * t) + rng.normal(0, 5, n)  # mains pick-up
    labels = ["a", "flat", "b", "sat", "c", "line"]
    path = _npy(tmp_path / "q.npy", data, channels=labels, unit="uV", metadata={"subject": "P9"})
    proc = _run("info", str(path), "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["format"] == "NumPy .npy"
    assert out["n_channels"] == 6 and out["fs"] == 2048.0
    assert out["duration_s"] == pytest.approx(8.0)
    assert out["channels"] == labels and out["unit"] == "uV"
    assert out["metadata"]["subject"] == "P9"
    quality = out["quality"]
    assert set(quality) == {"flat", "sat", "line"}
    assert quality["flat"] == ["flat"]
    assert "saturated" in quality["sat"]
    assert "line-dominated" in quality["line"]


@pytest.mark.parametrize("bad", [0, 1.5, "three", None])
def test_check_int_rejects_non_whole_or_small(bad):
    from fasciq.validate import check_int

    with pytest.raises(ParameterError, match="min_channels must be an integer ≥ 1"):
        check_int(bad, "min_channels", 1)
    assert check_int(3.0, "min_channels", 1) == 3
