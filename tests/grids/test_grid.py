"""Electrode grids: catalogue data, spec strings, neighbours, lines and fitted lattices."""

from __future__ import annotations

import numpy as np
import pytest

from fasciq.errors import GridError
from fasciq.grids import Grid, catalogue_grid, catalogue_names, get_grid, parse_grid_spec
from fasciq.grids.catalogue import find_catalogue_grid


def test_gr08mm1305_layout() -> None:
    g = catalogue_grid("GR08MM1305")
    assert (g.rows, g.cols, g.n_channels, g.ied_mm) == (13, 5, 64, 8.0)
    assert g.missing == [(0, 0)]  # top-left corner is empty
    assert tuple(g.rowcol[0]) == (1, 0)  # channel 1 sits below the empty corner
    assert tuple(g.rowcol[12]) == (12, 1)  # channel 13 at the bottom of the second column
    assert tuple(g.rowcol[24]) == (0, 1)  # ... channel 25 at its top (snake order)
    assert tuple(g.rowcol[63]) == (12, 4)
    np.testing.assert_array_equal(g.positions_mm[0], [0.0, 8.0])
    np.testing.assert_array_equal(g.positions_mm[63], [32.0, 96.0])
    # every channel appears exactly once
    assert sorted(g.layout[g.layout >= 0].tolist()) == list(range(64))


def test_gr08mm1305_neighbours_and_lines() -> None:
    g = catalogue_grid("GR08MM1305")
    np.testing.assert_array_equal(g.neighbours(0), [1, 22, 23, 24])
    np.testing.assert_array_equal(g.neighbours(0, diagonal=False), [1, 23])
    interior = g.layout[6, 2]
    assert len(g.neighbours(int(interior))) == 8
    adj = g.adjacency()
    assert adj.shape == (64, 64) and np.array_equal(adj, adj.T) and not adj.diagonal().any()
    fibre = g.lines("fibre")  # fibres run down the columns for fibre_axis="rows"
    assert len(fibre) == 5
    np.testing.assert_array_equal(fibre[0], np.arange(12))
    np.testing.assert_array_equal(fibre[1], np.arange(24, 11, -1))
    across = g.lines("across")
    assert len(across) == 13 and len(across[0]) == 4 and len(across[1]) == 5
    assert [len(line) for line in g.lines("cols")] == [12, 13, 13, 13, 13]
    with pytest.raises(GridError, match="diagonal"):
        g.lines("diagonal")


@pytest.mark.parametrize("spec", ["8x8@4", "8X8@4.0", " 8 x 8 @ 4 mm ", "8×8@4mm"])
def test_spec_parsing(spec: str) -> None:
    g = parse_grid_spec(spec)
    assert (g.rows, g.cols, g.ied_mm, g.n_channels) == (8, 8, 4.0, 64)
    assert g.name == "8x8@4"
    assert tuple(g.rowcol[9]) == (1, 1)  # row-major from the top-left electrode
    np.testing.assert_array_equal(g.positions_mm[9], [4.0, 4.0])


@pytest.mark.parametrize("spec", ["8x8", "8x8@", "eight by eight", "0x8@4", "8x8@0", "8x8@-4"])
def test_bad_specs_explain_the_fix(spec: str) -> None:
    with pytest.raises(GridError) as info:
        get_grid(spec)
    msg = str(info.value)
    assert "8x8@4" in msg  # the message shows a valid example


def test_get_grid_names_case_insensitive_and_aliases() -> None:
    assert get_grid("gr08mm1305").name == "GR08MM1305"
    assert get_grid(" Gr08Mm1305 ").name == "GR08MM1305"
    assert get_grid("hd10mm0808").name == "GR10MM0808"
    assert get_grid(None) is None
    g = get_grid("13x5@8")
    assert get_grid(g) is g
    assert set(catalogue_names()) >= {"GR08MM1305", "GR04MM1305", "GR10MM0808"}
    with pytest.raises(GridError, match="unknown grid"):
        catalogue_grid("GR99")
    with pytest.raises(GridError):
        get_grid("")


def test_find_catalogue_grid_in_free_text() -> None:
    g = find_catalogue_grid("VL - MULTIPLE IN 1 (Channel 1->64) - GR08MM1305 (12)[uV]")
    assert g is not None and g.name == "GR08MM1305"
    assert find_catalogue_grid("no grid here") is None


def test_from_positions_round_trip() -> None:
    g = catalogue_grid("GR08MM1305")
    fitted = Grid.from_positions(g.positions_mm + np.array([3.0, -2.0]))
    assert fitted is not None
    assert fitted.ied_mm == pytest.approx(8.0)
    np.testing.assert_array_equal(fitted.layout, g.layout)
    rng = np.random.default_rng(0)
    assert Grid.from_positions(rng.uniform(0, 50, (10, 2))) is None  # not a lattice
    assert Grid.from_positions(np.zeros((1, 2))) is None


def test_channel_count_check_and_bad_layouts() -> None:
    g = parse_grid_spec("4x4@5")
    g.check_channel_count(16)
    with pytest.raises(GridError) as info:
        g.check_channel_count(12, "rec.edf")
    assert "rec.edf" in str(info.value) and "16 electrodes" in str(info.value)
    with pytest.raises(GridError, match="exactly once"):
        Grid("bad", np.array([[0, 0], [1, 2]]), 5.0)
    with pytest.raises(GridError, match="fibre_axis"):
        Grid("bad", np.array([[0, 1]]), 5.0, fibre_axis="up")
    desc = g.describe()
    assert desc["rows"] == 4 and desc["n_channels"] == 16 and desc["missing"] == []


def test_from_positions_tolerates_measurement_jitter() -> None:
    g = catalogue_grid("GR08MM1305")
    rng = np.random.default_rng(0)
    jitter = g.positions_mm + rng.uniform(-0.2, 0.2, g.positions_mm.shape)  # ±0.2 mm
    fitted = Grid.from_positions(jitter)
    assert fitted is not None and np.array_equal(fitted.layout, g.layout)
