"""Worker sizing: how many local workers, and the threads that reach each recording's analysis."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fasciq.cohort.batch import BatchSettings, ProcessOptions, analyze_to_folder, run_batch
from fasciq.cohort.cluster import WorkerPlan, local_worker_config, plan_workers
from fasciq.cohort.inputs import RecordingEntry, discover
from fasciq.cohort.layout import DerivativesLayout
from fasciq.errors import ParameterError
from tests.cohort._probe import probe_environment
from tests.cohort.conftest import GRID


@pytest.mark.parametrize(
    ("n_tasks", "n_workers", "threads", "cores", "expected"),
    [
        (50, None, None, 2, (2, 1)),  # one worker per core
        (50, 1, None, 2, (1, 2)),  # one worker gets both cores
        (1, None, None, 2, (1, 2)),  # never more workers than recordings
        (3, None, None, 16, (3, 5)),
        (50, 3, None, 16, (3, 5)),
        (50, 4, 2, 2, (4, 2)),  # explicit values are kept
        (0, None, None, 4, (1, 4)),
    ],
)
def test_plan_workers(n_tasks, n_workers, threads, cores, expected) -> None:
    plan = plan_workers(n_tasks, n_workers, threads, cores=cores)
    assert (plan.n_workers, plan.threads) == expected


@pytest.mark.parametrize("bad", [{"n_workers": 0}, {"threads": 0}, {"threads": 1.5}])
def test_bad_counts_are_refused(bad: dict) -> None:
    with pytest.raises(ParameterError, match="must be ≥ 1"):
        BatchSettings(**bad)
    with pytest.raises(ParameterError, match="must be ≥ 1"):
        plan_workers(10, bad.get("n_workers"), bad.get("threads"), cores=2)


def test_external_cluster_plan_and_worker_config() -> None:
    assert BatchSettings(scheduler="tcp://127.0.0.1:1").plan(40) == WorkerPlan(1, 1)
    assert BatchSettings(scheduler="tcp://127.0.0.1:1", threads=3).plan(40).threads == 3
    config = local_worker_config(2)
    assert config["distributed.worker.profile.enabled"] is False
    env = config["distributed.nanny.pre-spawn-environ"]
    assert env["OMP_NUM_THREADS"] == env["OPENBLAS_NUM_THREADS"] == 2
    assert env["MALLOC_TRIM_THRESHOLD_"] is None


def _dummy_entries(root: Path, sizes: list[int]) -> list[RecordingEntry]:
    root.mkdir(parents=True)
    entries = []
    for i, size in enumerate(sizes):
        path = root / f"sub-{i:02d}_emg.bin"
        path.write_bytes(b"\0" * size)
        entries.append(RecordingEntry(path, f"sub-{i:02d}", f"{i:02d}", "01", "biceps"))
    return entries


def _probes(out: Path, entries: list[RecordingEntry]) -> list[dict]:
    layout = DerivativesLayout(out)
    return [json.loads((layout.result_dir(e) / "probe.json").read_text()) for e in entries]


@pytest.mark.parametrize(("n_workers", "threads"), [(1, 2), (2, 1)])
def test_threads_reach_the_workers(tmp_path: Path, n_workers: int, threads: int) -> None:
    entries = _dummy_entries(tmp_path / "in", [100, 400, 300, 200])
    before = {k: os.environ.get(k) for k in ("OMP_NUM_THREADS", "MALLOC_TRIM_THRESHOLD_")}
    report = run_batch(
        entries,
        tmp_path / "out",
        settings=BatchSettings(n_workers=n_workers, threads=threads),
        process=probe_environment,
        update_catalogue=False,
    )
    assert (report.n_done, report.n_workers, report.threads) == (4, n_workers, threads)
    probes = _probes(tmp_path / "out", entries)
    for p in probes:
        assert p["options_threads"] == threads
        assert p["blas_threads"] == [threads]
        assert set(p["openmp_threads"]) <= {threads}
        assert p["env"]["OMP_NUM_THREADS"] == p["env"]["OPENBLAS_NUM_THREADS"] == str(threads)
        assert p["env"]["MALLOC_TRIM_THRESHOLD_"] is None
        assert p["profile"] is False
        assert p["pid"] != os.getpid()
    assert len({p["pid"] for p in probes}) == n_workers
    if n_workers == 1:  # one worker runs them largest input first
        assert [p["size"] for p in sorted(probes, key=lambda p: p["start"])] == [400, 300, 200, 100]
    # this process's environment is left as it was
    assert {k: os.environ.get(k) for k in before} == before


def test_threads_reach_the_analysis(small_study: Path, tmp_path: Path, monkeypatch) -> None:
    import fasciq.analysis

    seen = []
    real = fasciq.analysis.analyze

    def spy(recording, params=None, *, execution=None, progress=None):
        seen.append(execution.n_jobs)
        return real(recording, params, execution=execution, progress=progress)

    monkeypatch.setattr(fasciq.analysis, "analyze", spy)
    entry = discover(small_study)[0]
    out = tmp_path / "one"
    extra = analyze_to_folder(entry.path, out, ProcessOptions(grid=GRID, threads=2))
    assert seen == [2]
    summary = json.loads((out / "summary.json").read_text())
    assert extra["n_fp"] == summary["n_fp"]
