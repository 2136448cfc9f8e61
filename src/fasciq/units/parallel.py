"""Threads for the independent parts of sorting.

Sorting spends its time in NumPy work on pairs of clusters, blocks of FPs
and units, each independent of the others; NumPy releases the interpreter
lock inside that work, so threads share it out over the cores. The pool is
opened by :func:`sorting_threads` around one sorting and found by
:func:`ordered_map` wherever sorting maps work; results come back in the
order of the items, so the outcome does not depend on the number of threads.
"""

from __future__ import annotations

import contextvars
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, TypeVar

T = TypeVar("T")
R = TypeVar("R")

_POOL: contextvars.ContextVar[tuple[ThreadPoolExecutor, int] | None] = contextvars.ContextVar(
    "fasciq_sorting_pool", default=None
)


@contextmanager
def sorting_threads(n_jobs: int) -> Iterator[None]:
    """Let :func:`ordered_map` use ``n_jobs`` threads inside this block (1: none).

    Parameters
    ----------
    n_jobs : int
        Threads; at most 1 runs everything in the calling thread.
    """
    if n_jobs <= 1 or _POOL.get() is not None:
        # nested sortings (template discovery) share the pool already open
        yield
        return
    with ThreadPoolExecutor(max_workers=int(n_jobs), thread_name_prefix="fasciq-sort") as pool:
        token = _POOL.set((pool, int(n_jobs)))
        try:
            yield
        finally:
            _POOL.reset(token)


def ordered_map(
    fn: Callable[[Any], R],
    items: Iterable[T],
    prepare: Callable[[T], Any] | None = None,
) -> list[R]:
    """``[fn(prepare(item)) for item in items]``, in threads when a pool is open.

    ``prepare`` runs in the calling thread, one item ahead of the workers
    at most: it is where data is read from a source that is not safe to
    share between threads (a file), and it bounds how many prepared items
    are held at once to the number of threads plus one.

    Parameters
    ----------
    fn : callable
        Work on one (prepared) item; must not change shared state.
    items : iterable
        Items, in the order of the results.
    prepare : callable, optional
        Run on each item in the calling thread before ``fn``.

    Returns
    -------
    list
        ``fn``'s results, in the order of ``items``.
    """
    current = _POOL.get()
    if current is None:
        return [fn(prepare(x) if prepare else x) for x in items]
    pool, n_jobs = current
    limit = n_jobs + 1
    pending: deque[Future] = deque()
    out: list[R] = []
    for x in items:
        pending.append(pool.submit(fn, prepare(x) if prepare else x))
        if len(pending) >= limit:
            out.append(pending.popleft().result())
    out.extend(f.result() for f in pending)
    return out


def in_background(fn: Callable[..., R], *args: Any) -> Callable[[], R]:
    """Start ``fn(*args)`` in a thread when a pool is open; the returned call gives its result.

    Without a pool, ``fn`` runs when its result is asked for.

    Parameters
    ----------
    fn : callable
        Work independent of what the calling thread does meanwhile.
    *args
        Its arguments.

    Returns
    -------
    callable
        Without arguments: waits for, and returns, ``fn``'s result.
    """
    current = _POOL.get()
    if current is None:
        return lambda: fn(*args)
    return current[0].submit(fn, *args).result
