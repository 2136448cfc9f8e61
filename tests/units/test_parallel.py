"""Threads in sorting: ordered results, reads in the calling thread, same units for any count."""

from __future__ import annotations

import threading
import time

import numpy as np
import pandas as pd

from fasciq.grids.grid import Grid
from fasciq.units import sort_recording
from fasciq.units.parallel import ordered_map, sorting_threads
from tests.units import synth

FS = 2048.0
GRID = Grid.regular(8, 4, 8.0)


def test_ordered_map_runs_serially_without_a_pool() -> None:
    seen: list[int] = []
    out = ordered_map(lambda x: seen.append(threading.get_ident()) or x * x, range(5))
    assert out == [0, 1, 4, 9, 16]
    assert set(seen) == {threading.get_ident()}


def test_ordered_map_keeps_order_and_prepares_in_the_calling_thread() -> None:
    caller = threading.get_ident()
    prepared_in: list[int] = []
    workers: set[int] = set()
    held = {"now": 0, "most": 0}
    lock = threading.Lock()

    def prepare(x: int) -> int:
        prepared_in.append(threading.get_ident())
        with lock:
            held["now"] += 1
            held["most"] = max(held["most"], held["now"])
        return x

    def work(x: int) -> int:
        workers.add(threading.get_ident())
        # later items finish first: the order must come from the items
        time.sleep(0.002 * (20 - x))
        with lock:
            held["now"] -= 1
        return 10 * x

    with sorting_threads(2):
        out = ordered_map(work, range(20), prepare=prepare)
        # a nested block shares the open pool
        with sorting_threads(4):
            nested = ordered_map(lambda x: threading.get_ident(), range(8))
    assert out == [10 * x for x in range(20)]
    assert set(prepared_in) == {caller}
    assert caller not in workers and len(workers) <= 2
    assert len(set(nested)) <= 2
    # prepared items held at once: at most the threads plus one
    assert held["most"] <= 3


def test_sorting_is_the_same_with_two_threads() -> None:
    rng = np.random.default_rng(5)
    templates = [
        synth.template(GRID, FS, iz_mm=20.0, cv_m_s=4.0, x_mm=4.0, amp_uv=90.0),
        synth.template(GRID, FS, iz_mm=36.0, cv_m_s=3.5, x_mm=20.0, amp_uv=60.0),
        synth.template(GRID, FS, iz_mm=28.0, cv_m_s=4.5, x_mm=12.0, amp_uv=40.0),
    ]
    trains = [synth.poisson_train(1.5, 40.0, rng) for _ in templates]
    rec = synth.recording(templates, trains, FS, 40.0, GRID, noise_uv=2.0, seed=5)
    times = np.concatenate(trains)
    truth = np.concatenate([np.full(len(t), u) for u, t in enumerate(trains)])
    order = np.argsort(times)
    times, truth = times[order], truth[order]
    one = sort_recording(rec, times, seed=0, n_jobs=1)
    two = sort_recording(rec, times, seed=0, n_jobs=2)
    np.testing.assert_array_equal(one.labels, two.labels)
    pd.testing.assert_frame_equal(one.units, two.units)
    assert one.n_units == 3
    for u in range(3):
        np.testing.assert_array_equal(one.templates[u], two.templates[u])
    # and the units are the true ones
    for true_unit in np.unique(truth):
        found = one.labels[truth == true_unit]
        assert (found == np.bincount(found[found >= 0]).argmax()).mean() > 0.95
