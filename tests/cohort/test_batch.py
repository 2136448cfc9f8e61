from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from fasciq.analysis import AnalysisParams
from fasciq.cli.app import app
from fasciq.cohort.batch import BatchSettings, ProcessOptions, run_batch
from fasciq.cohort.catalogue import load_table, query
from fasciq.cohort.inputs import discover
from fasciq.cohort.layout import MARKER, DerivativesLayout
from tests.cohort.conftest import GRID

FASCIQ = str(Path(sys.executable).with_name("fasciq"))
OPTIONS = ProcessOptions(params=AnalysisParams().to_dict(), grid=GRID)


def _tables(derivatives: Path) -> dict[str, pd.DataFrame]:
    out = {}
    for table in ("recordings", "fasciculations", "excluded"):
        frame = load_table(derivatives, table)
        frame = frame.drop(columns=[c for c in ("path",) if c in frame])
        out[table] = frame.sort_values(
            list(frame.columns[:1]) + (["time_s"] if "time_s" in frame else [])
        ).reset_index(drop=True)
    return out


def _assert_same(a: dict[str, pd.DataFrame], b: dict[str, pd.DataFrame]) -> None:
    for name in a:
        pd.testing.assert_frame_equal(a[name], b[name], check_dtype=False, obj=name)


def _no_half_results(derivatives: Path) -> None:
    for folder in derivatives.rglob("*_fasciq"):
        assert (folder / MARKER).is_file(), f"{folder} has no completion marker"
        for name in ("fasciculations.csv", "excluded.csv", "summary.json"):
            assert (folder / name).is_file()


def test_batch_results_and_catalogue(batch_derivatives: Path, study_root: Path) -> None:
    layout = DerivativesLayout(batch_derivatives)
    entries = discover(study_root)
    assert len(layout.markers()) == len(entries) == 96
    desc = json.loads((batch_derivatives / "dataset_description.json").read_text())
    assert desc["DatasetType"] == "derivative"
    e = entries[5]
    folder = layout.result_dir(e)
    assert folder.relative_to(batch_derivatives).parts[:3] == (
        f"sub-{e.subject}",
        f"ses-{e.session}",
        "emg",
    )
    _no_half_results(batch_derivatives)
    assert json.loads((batch_derivatives / "failures.json").read_text()) == []

    counts = query(
        batch_derivatives,
        "SELECT (SELECT sum(n_fp) FROM recordings) AS total,"
        " (SELECT count(*) FROM fasciculations) AS rows,"
        " (SELECT count(*) FROM recordings WHERE status = 'done') AS done",
    )
    assert counts.loc[0, "total"] == counts.loc[0, "rows"] > 0
    assert counts.loc[0, "done"] == 96
    # per recording, the catalogue holds exactly the rows of its CSV
    fps = pd.read_csv(folder / "fasciculations.csv")
    per = query(
        batch_derivatives,
        f"SELECT count(*) AS n FROM fasciculations WHERE recording_id = '{e.recording_id}'",
    )
    assert per.loc[0, "n"] == len(fps)
    rec = load_table(batch_derivatives, "recordings").set_index("recording_id")
    assert rec.loc[e.recording_id, "group"] == e.metadata["group"]
    assert rec.loc[e.recording_id, "n_fp"] == len(fps)
    months = rec.groupby("session")["months_since_first"].median()
    assert months.round(1).tolist() == [0.0, 3.0, 6.0, 9.0]

    # a second run finds every result finished and unchanged
    report = run_batch(entries, batch_derivatives, OPTIONS, BatchSettings(n_workers=1))
    assert (report.n_skipped, report.n_done, report.n_failed) == (96, 0, 0)


def test_corrupt_recording_is_recorded_and_batch_goes_on(small_study: Path, tmp_path: Path) -> None:
    bad = next(small_study.rglob("*ses-02*acq-biceps_emg.bdf"))
    data = bad.read_bytes()
    bad.write_bytes(data[:300])  # a truncated header
    out = tmp_path / "deriv"
    result = CliRunner().invoke(
        app, ["batch", str(small_study), "-o", str(out), "--grid", GRID, "--workers", "2", "-q"]
    )
    assert result.exit_code == 1, result.output
    failures = json.loads((out / "failures.json").read_text())
    assert [f["recording_id"] for f in failures] == [bad.name[: -len("_emg.bdf")]]
    assert failures[0]["message"]
    assert len(DerivativesLayout(out).markers()) == 15
    rec = load_table(out, "recordings")
    assert (rec["status"] == "done").sum() == 15
    assert rec.loc[rec["status"] == "failed", "error"].str.len().gt(0).all()

    # fixed file: only it is analysed on the next run
    bad.write_bytes(data)
    entries = discover(small_study)
    report = run_batch(entries, out, OPTIONS, BatchSettings(n_workers=1))
    assert (report.n_done, report.n_skipped, report.n_failed) == (1, 15, 0)
    assert json.loads((out / "failures.json").read_text()) == []
    assert (load_table(out, "recordings")["status"] == "done").all()


def test_changed_input_is_analysed_again(small_study: Path, tmp_path: Path) -> None:
    entries = discover(small_study)[:4]
    out = tmp_path / "deriv"
    first = run_batch(entries, out, OPTIONS, BatchSettings(n_workers=1))
    assert first.n_done == 4
    st = os.stat(entries[2].path)
    os.utime(entries[2].path, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))
    again = run_batch(entries, out, OPTIONS, BatchSettings(n_workers=1))
    assert (again.n_done, again.n_skipped) == (1, 3)
    other = ProcessOptions(params={"detect": {"k_high": 7.0}}, grid=GRID)
    changed = run_batch(entries, out, other, BatchSettings(n_workers=1))
    assert changed.n_done == 4


def test_killed_batch_resumes_with_identical_results(small_study: Path, tmp_path: Path) -> None:
    reference = tmp_path / "reference"
    run_batch(discover(small_study), reference, OPTIONS, BatchSettings(n_workers=2))
    out = tmp_path / "deriv"
    proc = subprocess.Popen(
        [FASCIQ, "batch", str(small_study), "-o", str(out), "--grid", GRID, "--workers", "1", "-q"],
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and proc.poll() is None:
            if out.is_dir() and len(DerivativesLayout(out).markers()) >= 3:
                break
            time.sleep(0.05)
        assert proc.poll() is None, "the batch ended before it could be killed"
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    done_before = len(DerivativesLayout(out).markers())
    assert 3 <= done_before < 16
    _no_half_results(out)
    result = CliRunner().invoke(
        app, ["batch", str(small_study), "-o", str(out), "--grid", GRID, "--workers", "2", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert "already finished" in result.output
    assert len(DerivativesLayout(out).markers()) == 16
    assert not (out / ".staging").exists()
    _no_half_results(out)
    _assert_same(_tables(reference), _tables(out))


@pytest.fixture
def dask_cluster(tmp_path: Path):
    """A real `dask scheduler` and `dask worker` as separate processes on 127.0.0.1."""
    dask = str(Path(sys.executable).with_name("dask"))
    sched_file = tmp_path / "scheduler.json"
    procs = []
    try:
        procs.append(
            subprocess.Popen(
                [
                    dask,
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--scheduler-file",
                    str(sched_file),
                ],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        deadline = time.monotonic() + 60
        while not sched_file.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sched_file.is_file(), "the dask scheduler did not start"
        procs.append(
            subprocess.Popen(
                [
                    dask,
                    "worker",
                    "--scheduler-file",
                    str(sched_file),
                    "--nworkers",
                    "2",
                    "--nthreads",
                    "1",
                    "--host",
                    "127.0.0.1",
                    "--no-dashboard",
                ],
                cwd=tmp_path,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
        )
        yield sched_file
    finally:
        for p in reversed(procs):
            p.terminate()
        for p in reversed(procs):
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


def test_batch_on_an_external_dask_cluster(
    dask_cluster: Path, small_study: Path, tmp_path: Path
) -> None:
    address = json.loads(dask_cluster.read_text())["address"]
    assert address.startswith("tcp://127.0.0.1:")
    out = tmp_path / "deriv"
    result = CliRunner().invoke(
        app,
        ["batch", str(small_study), "-o", str(out), "--grid", GRID, "--scheduler", address, "-q"],
    )
    assert result.exit_code == 0, result.output
    assert "16" in result.output
    reference = tmp_path / "reference"
    run_batch(discover(small_study), reference, OPTIONS, BatchSettings(n_workers=1))
    _assert_same(_tables(reference), _tables(out))
    # the scheduler file works as well, and everything is already finished
    report = run_batch(
        discover(small_study), out, OPTIONS, BatchSettings(scheduler=str(dask_cluster))
    )
    assert report.n_skipped == 16


def test_lock_refuses_a_second_batch(tmp_path: Path) -> None:
    import fcntl

    from fasciq.errors import FasciqError

    out = tmp_path / "deriv"
    out.mkdir()
    with open(out / ".fasciq.lock", "a+") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        with pytest.raises(FasciqError, match="another batch"):
            run_batch([], out)
