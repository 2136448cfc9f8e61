"""Analyse every recording of a study on Dask, without ever losing finished work.

One Dask task per recording. By default a :class:`~distributed.LocalCluster`
sized to the machine runs them (one single-threaded worker process per
core, each recording's analysis using the cores left to its worker, see
:mod:`fasciq.cohort.cluster`); give ``scheduler`` to send them to an
existing cluster instead — the code path is the same on a laptop and on a
cluster. Tasks are submitted at once, largest input first (so the last
tasks to finish are short ones), and return only a small status: the
results are written by the workers.

Each task writes its result into ``DERIVATIVES/.staging``, adds the
completion marker ``fasciq_done.json`` last and renames the folder into
place. The marker records the input's size and modification time and a
hash of the parameters, so a re-run skips exactly the recordings that are
finished and unchanged. A recording that fails is recorded (with its
message) in ``failures.json`` and the batch goes on.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import shutil
import time
import traceback
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from fasciq._atomic import write_text_atomic
from fasciq._logging import logger
from fasciq._version import __version__
from fasciq.cohort.cluster import WorkerPlan, dask_client, plan_workers
from fasciq.cohort.inputs import RecordingEntry
from fasciq.cohort.layout import MARKER, DerivativesLayout, read_marker
from fasciq.errors import FasciqError, ParameterError


@dataclass(frozen=True)
class ProcessOptions:
    """What the per-recording function needs besides the file (picklable).

    Parameters
    ----------
    params : dict or None
        Method parameters as a nested dictionary (``AnalysisParams.to_dict``
        or a subset of it); None for the defaults.
    grid : str or None
        Grid spec applied to every recording (None: geometry from the file).
    threads : int
        Threads one recording's analysis may use (chunk prefetch, BLAS,
        OpenMP). How fast, never what is found: not part of
        :func:`params_hash`. :func:`run_batch` sets it from its
        :class:`BatchSettings`.
    """

    params: dict[str, Any] | None = None
    grid: str | None = None
    threads: int = 1

    def __post_init__(self) -> None:
        if int(self.threads) != self.threads or self.threads < 1:
            raise ParameterError(
                f"the number of threads must be ≥ 1, got {self.threads!r}",
                fix="give --threads 1 or more",
                source="threads",
            )


#: ``process(recording_path, outdir, options)`` writes a result folder ``outdir``
#: and returns a JSON-ready dictionary of extra facts (may be empty).
ProcessFn = Callable[[Path, Path, ProcessOptions], dict[str, Any]]


def analyze_to_folder(path: Path, outdir: Path, options: ProcessOptions) -> dict[str, Any]:
    """The default per-recording function: read, :func:`fasciq.analyze`, save.

    Parameters
    ----------
    path : Path
        Recording file.
    outdir : Path
        Folder to create with the result files.
    options : ProcessOptions
        Parameters, grid and threads (``ExecutionSettings.n_jobs``).

    Returns
    -------
    dict
        ``{"n_fp": ...}``.
    """
    from fasciq.analysis import AnalysisParams, ExecutionSettings, analyze
    from fasciq.io import read_recording

    params = AnalysisParams.from_dict(options.params or {}, source="batch parameters")
    recording = read_recording(path, grid=options.grid)
    result = analyze(recording, params, execution=ExecutionSettings(n_jobs=options.threads))
    result.save(outdir, overwrite=True)
    return {"n_fp": int(result.summary.get("n_fp", len(result.fasciculations)))}


@dataclass(frozen=True)
class BatchSettings:
    """How a batch runs (never what it finds).

    Parameters
    ----------
    n_workers : int or None
        Worker processes of the local cluster (default: one per usable CPU
        core, at most one per recording). Ignored with ``scheduler``.
    threads : int or None
        Threads of one recording's analysis (chunk prefetch, BLAS, OpenMP).
        Default: on a local cluster the cores shared out between its
        workers; on an external cluster 1 (one core per Dask thread).
    scheduler : str or None
        Address (``tcp://host:8786``) or scheduler JSON file of an existing
        Dask cluster.
    memory_limit : str
        Memory per local worker (Dask syntax, ``"auto"`` shares the machine).
    overwrite : bool
        Recompute every recording even if a finished, up-to-date result exists.
    progress : bool
        Show a progress bar on the terminal.
    """

    n_workers: int | None = None
    scheduler: str | None = None
    memory_limit: str = "auto"
    overwrite: bool = False
    progress: bool = False
    threads: int | None = None

    def __post_init__(self) -> None:
        # validates both counts
        WorkerPlan(
            1 if self.n_workers is None else self.n_workers,
            1 if self.threads is None else self.threads,
        )

    def plan(self, n_tasks: int) -> WorkerPlan:
        """Local workers and threads per recording for ``n_tasks`` recordings.

        With ``scheduler`` the worker count is the cluster's business; the
        threads per recording default to 1 there.
        """
        if self.scheduler:
            return WorkerPlan(1, int(self.threads or 1))
        return plan_workers(n_tasks, self.n_workers, self.threads)


@dataclass
class BatchReport:
    """What a batch did.

    Attributes
    ----------
    n_total, n_done, n_skipped, n_failed : int
        Recordings found, analysed now, already finished, failed.
    failures : list of dict
        ``recording_id``, ``path``, ``error``, ``message`` of each failure.
    wall_s : float
        Wall-clock time of the batch (cluster start and scheduling included,
        catalogue excluded).
    compute_s : float
        Sum of the per-recording processing times (measured in the workers).
    n_workers : int
        Workers that ran the tasks.
    threads : int
        Threads each recording's analysis could use.
    """

    n_total: int = 0
    n_done: int = 0
    n_skipped: int = 0
    n_failed: int = 0
    failures: list[dict[str, Any]] = field(default_factory=list)
    wall_s: float = 0.0
    compute_s: float = 0.0
    n_workers: int = 0
    threads: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return asdict(self)


# ---------------------------------------------------------------- fingerprints


def input_fingerprint(path: str | os.PathLike[str]) -> dict[str, int]:
    """Size and modification time (ns) of an input file (and its sidecars' mtimes)."""
    st = os.stat(path)
    return {"size": int(st.st_size), "mtime_ns": int(st.st_mtime_ns)}


def params_hash(options: ProcessOptions, process: ProcessFn) -> str:
    """SHA-256 of the parameters, grid and per-recording function name."""
    payload = {
        "params": options.params or {},
        "grid": options.grid,
        "process": f"{getattr(process, '__module__', '')}.{getattr(process, '__qualname__', '')}",
    }
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def is_finished(layout: DerivativesLayout, entry: RecordingEntry, phash: str) -> bool:
    """True if ``entry`` has a completion marker matching its input and parameters."""
    marker = read_marker(layout.marker(entry))
    if marker is None:
        return False
    try:
        current = input_fingerprint(entry.path)
    except OSError:
        return False
    if marker.get("params_hash") != phash:
        logger.info("%s: parameters changed since its result: analysing again", entry.recording_id)
        return False
    if marker.get("input") != current:
        logger.info(
            "%s: input changed (%s -> %s): analysing again",
            entry.recording_id,
            marker.get("input"),
            current,
        )
        return False
    return True


# ---------------------------------------------------------------- one task


@dataclass(frozen=True)
class Task:
    """Everything a worker needs to analyse one recording (picklable)."""

    recording_id: str
    path: str
    final_dir: str
    staging: str
    options: ProcessOptions
    params_hash: str
    metadata: dict[str, Any]


def _replace_dir(new: Path, final: Path, staging: Path) -> None:
    """Rename ``new`` onto ``final``; an existing ``final`` is moved aside first."""
    final.parent.mkdir(parents=True, exist_ok=True)
    old = None
    if final.exists():
        old = staging / f"old-{final.name}-{uuid.uuid4().hex[:8]}"
        os.replace(final, old)
    os.replace(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def run_task(task: Task, process: ProcessFn = analyze_to_folder) -> dict[str, Any]:
    """Analyse one recording into its final folder; never raises.

    Parameters
    ----------
    task : Task
        The recording and where its result goes.
    process : callable
        The per-recording function.

    Returns
    -------
    dict
        ``recording_id``, ``status`` (``"done"`` or ``"failed"``),
        ``compute_s`` and, on failure, ``error`` and ``message``.

    Notes
    -----
    The BLAS and OpenMP pools of the process are limited to
    ``task.options.threads`` while the recording is processed, whatever the
    worker's environment says.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=task.options.threads):
        return _run_task(task, process)


def _run_task(task: Task, process: ProcessFn) -> dict[str, Any]:
    t0 = time.perf_counter()
    staging = Path(task.staging)
    work = staging / f"{task.recording_id}-{uuid.uuid4().hex[:12]}"
    out = work / Path(task.final_dir).name
    try:
        fingerprint = input_fingerprint(task.path)
        work.mkdir(parents=True, exist_ok=False)
        extra = process(Path(task.path), out, task.options) or {}
        if not out.is_dir():
            raise FasciqError(
                "the per-recording function wrote no result folder",
                fix="make it write the folder it is given",
                source=task.path,
            )
        compute_s = time.perf_counter() - t0
        marker = {
            "recording_id": task.recording_id,
            "input_path": task.path,
            "input": fingerprint,
            "params_hash": task.params_hash,
            "grid": task.options.grid,
            "metadata": task.metadata,
            "fasciq_version": __version__,
            "compute_s": compute_s,
            "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "extra": extra,
        }
        # the marker is the last file of a finished result
        write_text_atomic(out / MARKER, json.dumps(marker, indent=2, default=str))
        _replace_dir(out, Path(task.final_dir), staging)
        return {"recording_id": task.recording_id, "status": "done", "compute_s": compute_s}
    except Exception as exc:  # one bad recording must not stop the batch
        message = str(exc) if isinstance(exc, FasciqError) else f"{type(exc).__name__}: {exc}"
        logger.debug("recording %s failed:\n%s", task.recording_id, traceback.format_exc())
        return {
            "recording_id": task.recording_id,
            "status": "failed",
            "compute_s": time.perf_counter() - t0,
            "error": type(exc).__name__,
            "message": message,
            "path": task.path,
        }
    finally:
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- execution


@contextlib.contextmanager
def _lock(layout: DerivativesLayout) -> Iterator[None]:
    """Hold an exclusive lock on the derivatives folder (released even on SIGKILL)."""
    layout.root.mkdir(parents=True, exist_ok=True)
    path = layout.root / ".fasciq.lock"
    handle = open(path, "a+")  # noqa: SIM115 - held for the whole batch
    try:
        try:
            import fcntl
        except ImportError:  # Windows: no advisory lock
            yield
            return
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise FasciqError(
                "another batch is writing to this derivatives folder",
                fix="wait for it to finish, or choose another -o DERIVATIVES",
                source=layout.root,
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)
    finally:
        handle.close()


def _progress_bar(enabled: bool, total: int) -> Any:
    from rich.console import Console
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    return Progress(
        TextColumn("[bold]analysing"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[failed]} failed"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        disable=not enabled or total == 0,
        transient=False,
    )


def _write_failures(layout: DerivativesLayout, failures: list[dict[str, Any]]) -> None:
    write_text_atomic(layout.failures, json.dumps(failures, indent=2, default=str))


def run_batch(
    entries: Sequence[RecordingEntry],
    derivatives: str | os.PathLike[str],
    options: ProcessOptions | None = None,
    settings: BatchSettings | None = None,
    *,
    process: ProcessFn = analyze_to_folder,
    update_catalogue: bool = True,
    source: str | None = None,
) -> BatchReport:
    """Analyse every recording not yet finished, one Dask task each.

    Parameters
    ----------
    entries : sequence of RecordingEntry
        The study (see :func:`fasciq.cohort.inputs.discover`).
    derivatives : path
        Output root (BIDS derivatives layout).
    options : ProcessOptions, optional
        Method parameters and grid, the same for every recording.
    settings : BatchSettings, optional
        Workers, scheduler, overwrite, progress bar.
    process : callable, optional
        Per-recording function (default :func:`analyze_to_folder`).
    update_catalogue : bool
        Bring the Parquet catalogue up to date afterwards.
    source : str, optional
        The input as given (recorded in ``dataset_description.json``).

    Returns
    -------
    BatchReport
    """
    options = options or ProcessOptions()
    settings = settings or BatchSettings()
    layout = DerivativesLayout(derivatives)
    phash = params_hash(options, process)
    report = BatchReport(n_total=len(entries))
    ids = [e.recording_id for e in entries]
    if len(set(ids)) != len(ids):
        raise ParameterError(
            "two recordings share one identifier",
            fix="give the files distinct names",
            source=str(derivatives),
        )
    with _lock(layout):
        layout.write_description(source)
        shutil.rmtree(layout.staging, ignore_errors=True)  # leftovers of a killed batch
        layout.staging.mkdir(parents=True, exist_ok=True)
        todo = [e for e in entries if settings.overwrite or not is_finished(layout, e, phash)]
        report.n_skipped = len(entries) - len(todo)
        if report.n_skipped:
            logger.info(
                "%d of %d recordings are finished and unchanged: skipped",
                report.n_skipped,
                len(entries),
            )
        plan = settings.plan(len(todo))
        task_options = dataclasses.replace(options, threads=plan.threads)
        tasks = [
            Task(
                e.recording_id,
                str(e.path),
                str(layout.result_dir(e)),
                str(layout.staging),
                task_options,
                phash,
                _jsonable(e.row()),
            )
            for e in _largest_first(todo)
        ]
        report.threads = plan.threads
        t0 = time.perf_counter()
        if tasks:
            _execute(tasks, process, settings, plan, report, layout)
        report.wall_s = time.perf_counter() - t0
        _write_failures(layout, report.failures)
        shutil.rmtree(layout.staging, ignore_errors=True)
        if update_catalogue:
            from fasciq.cohort.catalogue import update_catalogue as _update

            _update(layout.root, entries, failures=report.failures)
    logger.info(
        "batch: %d analysed, %d skipped, %d failed in %.1f s",
        report.n_done,
        report.n_skipped,
        report.n_failed,
        report.wall_s,
    )
    return report


def _largest_first(entries: Sequence[RecordingEntry]) -> list[RecordingEntry]:
    """Entries by decreasing input size (stable), so the last tasks are short ones."""

    def size(entry: RecordingEntry) -> int:
        try:
            return os.stat(entry.path).st_size
        except OSError:
            return 0

    return sorted(entries, key=size, reverse=True)


def _execute(
    tasks: list[Task],
    process: ProcessFn,
    settings: BatchSettings,
    plan: WorkerPlan,
    report: BatchReport,
    layout: DerivativesLayout,
) -> None:
    from distributed import as_completed

    with dask_client(settings.scheduler, plan, settings.memory_limit) as client:
        n_workers = len(client.scheduler_info().get("workers", {}))
        if n_workers == 0:
            with contextlib.suppress(Exception):
                client.wait_for_workers(1, timeout=30)
            n_workers = len(client.scheduler_info().get("workers", {}))
        report.n_workers = n_workers
        token = uuid.uuid4().hex[:8]
        # all at once; independent tasks start in the order they are given
        futures = client.map(
            run_task,
            tasks,
            process=process,
            pure=False,
            key=[f"fasciq-{t.recording_id}-{token}" for t in tasks],
        )
        by_key = {f.key: t for f, t in zip(futures, tasks, strict=True)}
        with _progress_bar(settings.progress, len(tasks)) as bar:
            job = bar.add_task("batch", total=len(tasks), failed=0)
            for future in as_completed(futures):
                task = by_key[future.key]
                try:
                    outcome = future.result()
                except Exception as exc:  # worker died, task lost
                    outcome = {
                        "recording_id": task.recording_id,
                        "status": "failed",
                        "compute_s": 0.0,
                        "error": type(exc).__name__,
                        "message": f"the worker running it was lost: {exc}",
                        "path": task.path,
                    }
                future.release()
                report.compute_s += float(outcome.get("compute_s", 0.0))
                if outcome["status"] == "done":
                    report.n_done += 1
                else:
                    report.n_failed += 1
                    report.failures.append(
                        {k: outcome.get(k) for k in ("recording_id", "path", "error", "message")}
                    )
                    logger.warning("%s failed: %s", task.recording_id, outcome.get("message"))
                    _write_failures(layout, report.failures)
                bar.update(job, advance=1, failed=report.n_failed)


def _jsonable(row: dict[str, Any]) -> dict[str, Any]:
    return json.loads(json.dumps(row, default=str))


__all__ = [
    "BatchReport",
    "BatchSettings",
    "ProcessFn",
    "ProcessOptions",
    "Task",
    "analyze_to_folder",
    "input_fingerprint",
    "is_finished",
    "params_hash",
    "run_batch",
    "run_task",
]
