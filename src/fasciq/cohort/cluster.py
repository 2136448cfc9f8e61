"""The Dask cluster a batch runs on, sized so that it uses the machine as a plain loop does.

A local cluster gets one single-threaded worker process per usable core
(never more workers than recordings) and each recording's analysis may use
``cores // workers`` threads: its chunk prefetch thread
(:class:`~fasciq.analysis.ExecutionSettings` ``n_jobs``) and its BLAS and
OpenMP pools. Two Dask defaults that slow this kind of task down are
turned off for the local workers:

- the statistical profiler, which samples every worker thread's Python
  stack every 10 ms while holding the GIL (about a tenth of the CPU time of
  a recording whose report is drawn by Matplotlib, plus the waits for the
  GIL);
- ``MALLOC_TRIM_THRESHOLD_=65536`` in the worker's environment, which makes
  every array above 128 KiB a fresh ``mmap`` whose pages are faulted in
  and zeroed again (five to fifteen times the page faults of the same
  analysis in a plain process).

Dask also sets ``OMP_NUM_THREADS``, ``MKL_NUM_THREADS`` and
``OPENBLAS_NUM_THREADS`` to 1 in its workers; here they are set to the
threads per worker instead, and every task applies the same limit with
:mod:`threadpoolctl`, so an external cluster behaves the same way.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fasciq.errors import FasciqError, ParameterError

#: Environment variables that size the BLAS and OpenMP thread pools.
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
#: Set by Dask's nanny in its workers by default; left out of ours.
MALLOC_TRIM_ENV = "MALLOC_TRIM_THRESHOLD_"


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask, else the CPU count)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except (AttributeError, OSError):  # not Linux
        return max(1, os.cpu_count() or 1)


def _check_count(value: int | None, name: str, flag: str) -> None:
    if value is not None and (int(value) != value or value < 1):
        raise ParameterError(
            f"the number of {name} must be ≥ 1, got {value!r}",
            fix=f"give {flag} 1 or more",
            source=name,
        )


@dataclass(frozen=True)
class WorkerPlan:
    """How many local workers, and how many threads each recording may use.

    Parameters
    ----------
    n_workers : int
        Worker processes (one task at a time each).
    threads : int
        Threads of one recording's analysis (chunk prefetch, BLAS, OpenMP).
    """

    n_workers: int
    threads: int

    def __post_init__(self) -> None:
        _check_count(self.n_workers, "workers", "--workers")
        _check_count(self.threads, "threads", "--threads")


def plan_workers(
    n_tasks: int,
    n_workers: int | None = None,
    threads: int | None = None,
    cores: int | None = None,
) -> WorkerPlan:
    """Size a local cluster for ``n_tasks`` recordings.

    Parameters
    ----------
    n_tasks : int
        Recordings to analyse.
    n_workers : int, optional
        Worker processes; default one per core, at most one per recording.
    threads : int, optional
        Threads per recording; default the cores shared out between the
        workers (at least 1).
    cores : int, optional
        Cores to plan for (default :func:`usable_cores`).

    Returns
    -------
    WorkerPlan
    """
    _check_count(n_workers, "workers", "--workers")
    _check_count(threads, "threads", "--threads")
    cores = usable_cores() if cores is None else max(1, int(cores))
    workers = int(n_workers) if n_workers else max(1, min(cores, int(n_tasks)))
    per_worker = int(threads) if threads else max(1, cores // workers)
    return WorkerPlan(workers, per_worker)


@contextlib.contextmanager
def _worker_environment(threads: int) -> Iterator[None]:
    """Thread variables for the spawned workers; this process's environment is restored after."""
    keys = (*THREAD_ENV, MALLOC_TRIM_ENV)
    saved = {k: os.environ.get(k) for k in keys}
    try:
        for key in THREAD_ENV:
            os.environ[key] = str(threads)
        os.environ.pop(MALLOC_TRIM_ENV, None)
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def local_worker_config(threads: int) -> dict[str, Any]:
    """Dask configuration of the local workers (see the module notes)."""
    return {
        "distributed.worker.profile.enabled": False,
        "distributed.nanny.pre-spawn-environ": {
            **{key: threads for key in THREAD_ENV},
            MALLOC_TRIM_ENV: None,  # None: not set at all
        },
    }


@contextlib.contextmanager
def dask_client(
    scheduler: str | None = None,
    plan: WorkerPlan | None = None,
    memory_limit: str = "auto",
) -> Iterator[Any]:
    """A connected :class:`distributed.Client`: to ``scheduler`` or to a new local cluster.

    Parameters
    ----------
    scheduler : str, optional
        Address (``tcp://host:8786``) or scheduler JSON file of a running
        cluster; None starts a local cluster following ``plan``.
    plan : WorkerPlan, optional
        Local workers and threads (default :func:`plan_workers` for one task
        per core).
    memory_limit : str
        Memory per local worker (Dask syntax).

    Yields
    ------
    distributed.Client

    Raises
    ------
    FasciqError
        If Dask distributed is missing or the scheduler cannot be reached.
    """
    try:
        import dask
        from distributed import Client, LocalCluster
    except ImportError as exc:  # pragma: no cover - depends on the installation
        raise FasciqError(
            "Dask distributed is not installed", fix='pip install "fasciq[cohort]"', source="batch"
        ) from exc
    if scheduler:
        try:
            if scheduler.endswith(".json") and Path(scheduler).is_file():
                client = Client(scheduler_file=scheduler, timeout="20s")
            else:
                client = Client(scheduler, timeout="20s")
        except (OSError, TimeoutError) as exc:
            raise FasciqError(
                f"cannot connect to the Dask scheduler: {exc}",
                fix="check the address (tcp://HOST:PORT) and that the scheduler is running",
                source=scheduler,
            ) from exc
        try:
            yield client
        finally:
            client.close()
        return
    plan = plan or plan_workers(usable_cores())
    with _worker_environment(plan.threads), dask.config.set(local_worker_config(plan.threads)):
        cluster = LocalCluster(
            n_workers=plan.n_workers,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address="127.0.0.1:0",  # never a fixed port, local only
            memory_limit=memory_limit,
            silence_logs=logging.ERROR,
        )
        client = Client(cluster)
        try:
            yield client
        finally:
            client.close()
            cluster.close()


__all__ = [
    "WorkerPlan",
    "dask_client",
    "local_worker_config",
    "plan_workers",
    "usable_cores",
]
