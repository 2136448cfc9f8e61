"""The shared reader conformance suite: the same checks on every reader's cases."""

from __future__ import annotations

import importlib
import json
import pkgutil
import shutil

import numpy as np
import pytest

import tests.io.cases as cases_pkg
from fasciq.errors import FasciqError
from fasciq.io import detect_format, read_recording


def _all_builders():
    for info in sorted(pkgutil.iter_modules(cases_pkg.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{cases_pkg.__name__}.{info.name}")
        for build in getattr(module, "CASES", []):
            yield pytest.param(build, id=f"{info.name}.{build.__name__}")


BUILDERS = list(_all_builders())


@pytest.fixture(params=BUILDERS)
def case(request, tmp_path):
    return request.param(tmp_path)


def test_every_reader_has_cases():
    modules = {p.id.split(".")[0] for p in BUILDERS}
    expected = {"edf", "bids", "otb", "otb_mat", "poly5", "wfdb", "numpy_format", "csv_format"}
    missing = expected - modules
    assert not missing, f"readers without conformance cases: {sorted(missing)}"


def test_dispatcher_picks_format(case):
    assert detect_format(case.path).name == case.format


def test_header(case):
    rec = read_recording(case.path, **case.kwargs)
    assert rec.fs == pytest.approx(case.fs)
    assert rec.n_channels == len(case.labels)
    assert list(rec.channel_labels) == case.labels
    assert rec.n_samples == case.data_uv.shape[0]
    assert rec.duration_s == pytest.approx(case.data_uv.shape[0] / case.fs)
    if case.file_unit is not None:
        assert rec.file_unit == case.file_unit
    json.dumps(rec.describe(), default=str)


def test_full_traces(case):
    rec = read_recording(case.path, **case.kwargs)
    x = rec.get_traces()
    assert x.dtype == np.float32
    assert x.shape == case.data_uv.shape
    np.testing.assert_allclose(x, case.data_uv, atol=case.atol_uv, rtol=1e-6)


def test_slices_and_channel_selection(case):
    rec = read_recording(case.path, **case.kwargs)
    n = rec.n_samples
    a, b = n // 3, n // 3 + max(1, n // 5)
    chans = [rec.n_channels - 1, 0]
    x = rec.get_traces(a, b, channels=chans)
    assert x.shape == (b - a, 2)
    np.testing.assert_allclose(x, case.data_uv[a:b][:, chans], atol=case.atol_uv, rtol=1e-6)
    by_label = rec.get_traces(a, b, channels=[rec.channel_labels[i] for i in chans])
    np.testing.assert_array_equal(by_label, x)
    # chunks with margins reassemble the whole recording exactly
    cores = [c.core for c in rec.iter_chunks(max(1, n // 4), margin=7)]
    np.testing.assert_array_equal(np.concatenate(cores), rec.get_traces())


def test_annotations(case):
    if case.annotations is None:
        pytest.skip("format carries no annotations in this case")
    rec = read_recording(case.path, **case.kwargs)
    got = [(round(o, 3), round(d, 3), t) for o, d, t in rec.annotations]
    want = [(round(o, 3), round(d, 3), t) for o, d, t in case.annotations]
    assert got == want


def test_geometry(case):
    if case.grid_name is None and case.positions_mm is None:
        pytest.skip("no geometry in this case")
    rec = read_recording(case.path, **case.kwargs)
    if case.grid_name is not None:
        assert rec.grid is not None and rec.grid.name == case.grid_name
    if case.positions_mm is not None:
        np.testing.assert_allclose(rec.positions_mm, case.positions_mm, atol=1e-6)


def test_corrupt_file_gives_clear_error(case, tmp_path):
    if case.corrupt is None:
        pytest.skip("no corruption defined for this case")
    damaged = tmp_path / "damaged"
    damaged.mkdir()
    # copy the case's files (sidecars included) and damage the main one
    for f in case.path.parent.iterdir():
        if f.is_file():
            shutil.copy(f, damaged / f.name)
    target = damaged / case.path.name
    case.corrupt(target)
    with pytest.raises(FasciqError) as info:
        rec = read_recording(target, **case.kwargs)
        rec.get_traces()
    assert target.name in str(info.value)
