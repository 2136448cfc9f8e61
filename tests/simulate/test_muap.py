import itertools

import numpy as np
import pytest

from fasciq.grids import get_grid
from fasciq.simulate.conductor import ConductorParams, surface_kernel
from fasciq.simulate.geometry import GridFrame
from fasciq.simulate.muap import FibreGroups, UnitTemplate, group_potentials, rosenfalck
from fasciq.simulate.pool import PoolParams, make_pool

FS_OS = 8192.0


def _unit(depth_mm=5.0, cv=4.0, n_groups=24, endplate=-20.0, x=0.0, seed=0, n_fibres=400):
    rng = np.random.default_rng(seed)
    r = 3.0 * np.sqrt(rng.uniform(0, 1, n_groups))
    th = rng.uniform(0, 2 * np.pi, n_groups)
    return FibreGroups(
        x_mm=x + r * np.cos(th),
        depth_mm=depth_mm + r * np.sin(th),
        endplate_mm=endplate + rng.normal(0, 1.0, n_groups),
        left_end_mm=np.full(n_groups, -75.0),
        right_end_mm=np.full(n_groups, 75.0),
        cv_m_s=np.full(n_groups, cv),
        n_fibres=np.full(n_groups, n_fibres / n_groups),
    )


def _template(groups, grid="GR08MM1305", conductor=None):
    cond = conductor or ConductorParams()
    frame = GridFrame(get_grid(grid))
    kernel = surface_kernel(cond, frame.electrode_radius_mm)
    n_pre = 4
    n_t = n_pre + int(np.ceil(groups.duration_s() * FS_OS))
    gp = group_potentials(
        groups, kernel, frame.electrode_x_mm, frame.electrode_z_mm, FS_OS, n_pre, n_t, cond
    )
    return UnitTemplate(gp, 4, n_pre, keep_groups=True), frame


def test_rosenfalck_shape():
    z = np.linspace(0, 20, 2001)
    v = rosenfalck(z) - 90.0
    assert v[0] == pytest.approx(-90.0)
    assert z[np.argmax(v)] == pytest.approx(3.0, abs=0.01)  # peak 3 mm behind the front
    assert v.max() == pytest.approx(96 * 27 * np.exp(-3) - 90, rel=1e-6)


@pytest.mark.parametrize("cv", [3.0, 4.5])
def test_conduction_velocity_recovered_from_grid_signals(cv):
    tpl, frame = _template(_unit(cv=cv, endplate=-30.0))
    wave = tpl.mean  # oversampled, noise-free
    grid = frame.grid
    # the fibre line (grid column) with the largest signal
    lines = grid.lines("fibre")
    line = max(lines, key=lambda ch: np.ptp(wave[:, ch]))
    z = frame.electrode_z_mm[line]
    order = np.argsort(z)
    line, z = line[order], z[order]
    # propagating part: electrodes >= 12 mm past the end-plate and >= 20 mm before the tendon
    keep = (z > -30.0 + 12.0) & (z < 75.0 - 20.0)
    chans = line[keep]
    delays = []
    for a, b in itertools.pairwise(chans):
        xa, xb = wave[:, a] - wave[:, a].mean(), wave[:, b] - wave[:, b].mean()
        cc = np.correlate(xb, xa, mode="full")
        k = int(np.argmax(cc))
        y0, y1, y2 = cc[k - 1], cc[k], cc[k + 1]
        frac = 0.5 * (y0 - y2) / (y0 - 2 * y1 + y2)
        delays.append((k - (len(xa) - 1) + frac) / FS_OS)
    ied = grid.ied_mm * 1e-3
    estimate = ied / np.median(delays)
    assert len(delays) >= 3
    assert estimate == pytest.approx(cv, rel=0.10)


def test_muap_duration_and_amplitude_in_physiological_range():
    tpl, _ = _template(_unit(depth_mm=6.0, n_fibres=400))
    w = tpl.phase(0)  # 2048 Hz
    env = np.abs(w).max(axis=1)
    above = np.flatnonzero(env > 0.05 * env.max())
    duration_ms = (above[-1] - above[0]) / 2048 * 1e3
    assert 10.0 <= duration_ms <= 30.0
    assert 20.0 <= tpl.peak_to_peak() <= 800.0


def test_amplitude_falls_with_depth():
    amps = [_template(_unit(depth_mm=d, seed=1))[0].peak_to_peak() for d in (4.0, 8.0, 14.0)]
    assert amps[0] > 1.5 * amps[1] > 0
    assert amps[1] > 1.5 * amps[2] > 0


def test_innervation_zone_and_end_of_fibre_components():
    tpl, frame = _template(_unit(endplate=0.0))
    w = tpl.mean
    line = frame.grid.lines("fibre")[2]
    z = frame.electrode_z_mm[line]
    t_peak = np.argmax(np.abs(w[:, line]), axis=0)
    # waves leave the end-plate both ways: latency grows with distance from it
    near = line[np.argmin(np.abs(z))]
    far = line[np.argmax(np.abs(z))]
    assert t_peak[list(line).index(far)] > t_peak[list(line).index(near)] + 0.006 * FS_OS
    # after both waves reached the tendons, a non-propagating component appears at the same
    # time on every electrode of the line (extinction)
    t_ext = int((75.0 - 0.0) / 4.0 * 1e-3 * FS_OS) + 4
    seg = w[t_ext - 20 : t_ext + 40][:, line]
    lags = np.argmax(np.abs(seg), axis=0)
    assert np.ptp(lags) <= 0.0015 * FS_OS


def test_reinnervated_units_are_bigger_and_polyphasic():
    cond = ConductorParams()
    normal = make_pool(
        PoolParams(n_units=6, reinnervated_fraction=0.0),
        cond.muscle_top_mm,
        cond.muscle_mm,
        np.random.default_rng(4),
    )
    reinn = make_pool(
        PoolParams(n_units=6, reinnervated_fraction=1.0),
        cond.muscle_top_mm,
        cond.muscle_mm,
        np.random.default_rng(4),
    )
    assert all(b.n_fibres >= 2.5 * a.n_fibres for a, b in zip(normal, reinn, strict=True))
    assert all(b.radius_mm > a.radius_mm for a, b in zip(normal, reinn, strict=True))
    assert all(not u.stable for u in reinn) and all(u.stable for u in normal)
    sizes = [u.n_fibres for u in normal]
    assert sizes == sorted(sizes) and 20 <= sizes[-1] / sizes[0] <= 45
