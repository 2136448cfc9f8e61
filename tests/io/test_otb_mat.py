"""The OTBioLab+ MATLAB export: the real recording in shared data, and edge cases."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from scipy.io import savemat
from scipy.signal import butter, sosfiltfilt

from fasciq.errors import FormatError
from fasciq.io import read_recording
from fasciq.io.otb_mat import parse_description, read_otb_mat
from tests.conftest import OTB_MAT as REAL
from tests.io.cases.otb_mat import build_v5, build_v73, columns, descriptions


@pytest.fixture(scope="module")
def real(shared_data):
    return read_recording(shared_data / REAL)


@pytest.fixture(scope="module")
def real_force(otb_force):
    return otb_force


def test_real_file_header(real):
    assert real.format_name == "OTBioLab+ MAT v5"
    assert real.n_channels == 64
    assert real.fs == 2048
    assert real.n_samples == 66_560
    assert real.grid is not None and real.grid.name == "GR08MM1305"
    assert real.channel_labels[0] == "GR08MM1305-1" and real.channel_labels[-1] == "GR08MM1305-64"
    assert real.metadata.extra["time_offset_s"] == pytest.approx(7.0)
    assert real.metadata.muscle == "Vastus Lateralis"
    assert real.file_unit == "uV"


def test_real_file_aux_columns_are_excluded(real):
    aux = real.metadata.extra["aux_channels"]
    assert len(aux) == 11  # 5 discharge trains, 5 sources, 1 force reference
    assert aux[-1] == "acquired data[ %(MVC)]"
    assert sum("Source for decomposition" in a for a in aux) == 5
    assert not any("[uV]" in a for a in aux)


def test_real_file_is_in_microvolts(real):
    x = real.get_traces()
    # quantised at one Quattrocento count: 5 V / 2**16 / gain 150 = 0.50863 µV
    steps = np.diff(np.unique(x[:, 0]))
    assert steps.min() == pytest.approx(5 / 2**16 / 150 * 1e6, rel=1e-3)
    rms = np.sqrt(np.mean(x.astype(np.float64) ** 2, axis=0))
    # measured: 114-217 µV per channel over the whole trapezoid (median 173 µV)
    assert rms.min() > 80 and rms.max() < 300
    assert 140 < np.median(rms) < 210


def test_real_file_amplitude_follows_the_force(real, real_force):
    x = real.get_traces().astype(np.float64)
    plateau = real_force > 0.9 * real_force.max()  # ~26 % MVC
    rest = real_force < 2.0
    assert 20 < real_force.max() < 30
    rms = lambda s: np.median(np.sqrt(np.mean(s**2, axis=0)))  # noqa: E731
    # measured: 194 µV on the plateau, 14 µV below 2 % MVC
    assert 150 < rms(x[plateau]) < 260
    assert rms(x[rest]) < 30
    assert rms(x[plateau]) > 6 * rms(x[rest])


def _neighbour_contrast(corr: np.ndarray, layout: np.ndarray) -> tuple[float, float]:
    n = corr.shape[0]
    rc = np.zeros((n, 2), dtype=int)
    rr, cc = np.nonzero(layout >= 0)
    rc[layout[rr, cc]] = np.column_stack([rr, cc])
    dist = np.abs(rc[:, None, :] - rc[None, :, :]).max(axis=-1)
    iu = np.triu_indices(n, 1)
    return float(corr[iu][dist[iu] == 1].mean()), float(corr[iu][dist[iu] >= 4].mean())


def test_catalogue_layout_makes_physical_sense_on_real_emg(real, real_force):
    x = real.get_traces().astype(np.float64)
    x = x[real_force > 0.5 * real_force.max()]
    sos = butter(4, [20, 500], btype="band", fs=real.fs, output="sos")
    corr = np.corrcoef(sosfiltfilt(sos, x, axis=0).T)
    grid = real.grid
    # along the fibres (down each column): correlation falls with distance
    along = {}
    for d in (1, 4, 8):
        along[d] = np.mean(
            [
                corr[line[i], line[i + d]]
                for line in grid.lines("fibre")
                for i in range(len(line) - d)
            ]
        )
    assert along[1] > along[4] + 0.1 > along[8] + 0.2
    near, far = _neighbour_contrast(corr, grid.layout)
    assert near - far > 0.2
    # the same channels placed column-major without the serpentine turns lose the contrast
    flat = np.full(grid.rows * grid.cols, -1)
    flat[1:] = np.arange(64)
    naive = flat.reshape(grid.cols, grid.rows).T  # down column 1 (corner empty), then column 2...
    naive_near, naive_far = _neighbour_contrast(corr, naive)
    assert (near - far) > (naive_near - naive_far) + 0.15


def test_parse_description():
    info = parse_description("Vastus Lateralis - AUX 3 (Channel 1->1) - GR08MM1305 (12)[uV]")
    assert (info.unit, info.number, info.grid.name, info.muscle) == (
        "uV",
        12,
        "GR08MM1305",
        "Vastus Lateralis",
    )
    assert info.is_emg and info.label() == "GR08MM1305-12"
    assert not parse_description("acquired data[ %(MVC)]").is_emg
    decomp = "1 - 4 - Decomposition of Vastus Lateralis - AUX 3 - GR08MM1305 (1)[a.u]"
    assert not parse_description(decomp).is_emg
    mv = parse_description("Biceps - IN 1 - HD10MM0808 (3)[mV]")
    assert mv.is_emg and mv.grid.name == "GR10MM0808"


def test_millivolt_columns_are_converted(tmp_path):
    data, emg = columns(200)
    desc = [d.replace("[uV]", "[mV]") for d in descriptions()]
    path = tmp_path / "mv.mat"
    savemat(
        path,
        {
            "Data": data.astype(np.float64) / 1000,
            "SamplingFrequency": 2048.0,
            "Description": np.array([[d] for d in desc], dtype=object),
        },
    )
    rec = read_otb_mat(path)
    assert rec.file_unit == "mV"
    np.testing.assert_allclose(rec.get_traces(), emg, atol=1e-3)
    assert "time_offset_s" not in rec.metadata.extra


def test_electrode_numbers_set_the_channel_order(tmp_path):
    data, emg = columns(100)
    desc = descriptions()
    order = np.r_[np.arange(63, -1, -1), 64, 65, 66]
    path = tmp_path / "reversed.mat"
    savemat(
        path,
        {
            "Data": data[:, order],
            "SamplingFrequency": 2048.0,
            "Description": np.array([[desc[i]] for i in order], dtype=object),
        },
    )
    rec = read_otb_mat(path)
    assert rec.channel_labels[0] == "GR04MM1305-1"
    np.testing.assert_allclose(rec.get_traces(), emg, atol=1e-3)


def test_description_count_mismatch_is_a_format_error(tmp_path):
    data, _ = columns(50)
    path = tmp_path / "short.mat"
    savemat(
        path,
        {
            "Data": data,
            "SamplingFrequency": 2048.0,
            "Description": np.array([[d] for d in descriptions()[:10]], dtype=object),
        },
    )
    with pytest.raises(FormatError, match="Description has 10 entries but Data has 67") as info:
        read_otb_mat(path)
    assert "short.mat" in str(info.value)


def test_mat_without_otbiolab_variables_is_a_format_error(tmp_path):
    path = tmp_path / "other.mat"
    savemat(path, {"emg": np.zeros((10, 2))})
    with pytest.raises(FormatError, match="Data and Description are missing"):
        read_recording(path)


def test_v73_is_read_lazily_through_h5py(tmp_path):
    case = build_v73(tmp_path)
    rec = read_otb_mat(case.path)
    assert rec.format_name == "OTBioLab+ MAT v7.3"
    assert rec._data is None  # nothing loaded at open
    assert rec.metadata.extra["time_offset_s"] == pytest.approx(7.0)
    assert rec.metadata.muscle == "Gastrocnemius Medialis"
    np.testing.assert_allclose(
        rec.get_traces(500, 510, [3, 1]), case.data_uv[500:510][:, [3, 1]], atol=1e-3
    )


def test_v73_without_h5py_gives_a_clear_error(tmp_path, monkeypatch):
    case = build_v73(tmp_path)
    monkeypatch.setitem(sys.modules, "h5py", None)
    with pytest.raises(FormatError, match="fasciq\\[hdf5\\]"):
        read_otb_mat(case.path)


def test_v5_case_time_offset(tmp_path):
    rec = read_otb_mat(build_v5(tmp_path).path)
    assert rec.metadata.extra["time_offset_s"] == pytest.approx(7.0)
    assert rec.metadata.muscle == "Tibialis Anterior"
