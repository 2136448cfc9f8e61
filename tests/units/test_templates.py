"""Template matching: the one-product search finds the best template and shift."""

from __future__ import annotations

import numpy as np

from fasciq.grids.grid import Grid
from fasciq.units.features import take_windows
from fasciq.units.templates import match_templates
from tests.units import synth

FS = 2048.0
GRID = Grid.regular(8, 4, 8.0)


def _best_direct(snippets: np.ndarray, centre: int, templates: np.ndarray, max_shift: int):
    """Unit and shift minimising ‖x_s − t‖², FP by FP."""
    half = templates.shape[1] // 2
    units, shifts = [], []
    for x in snippets:
        best = (np.inf, 0, 0)
        for s in range(-max_shift, max_shift + 1):
            w = take_windows(x[None], centre, np.array([s]), half)[0]
            for u, t in enumerate(templates):
                best = min(best, (float(np.square(w - t).sum()), u, s))
        units.append(best[1])
        shifts.append(best[2])
    return np.array(units), np.array(shifts)


def test_match_templates_finds_the_direct_best_fit() -> None:
    rng = np.random.default_rng(11)
    templates = np.stack(
        [
            synth.template(GRID, FS, iz_mm=20.0, cv_m_s=4.0, x_mm=x, amp_uv=a, n_samples=21)
            for x, a in ((4.0, 60.0), (16.0, 40.0), (28.0, 30.0))
        ]
    ).astype(np.float32)
    centre, n_win = 20, 41
    snippets = rng.normal(0, 2.0, (60, n_win, GRID.n_channels)).astype(np.float32)
    true_unit = rng.integers(0, 3, len(snippets))
    true_shift = rng.integers(-3, 4, len(snippets))
    for i, (u, s) in enumerate(zip(true_unit, true_shift, strict=True)):
        snippets[i, centre + s - 10 : centre + s + 11] += templates[u]
    for max_shift in (3, 12):  # inside the snippets (one product), and past their ends
        m = match_templates(
            snippets, centre, templates, np.ones((3, GRID.n_channels), bool), max_shift, 0.5
        )
        unit, shift = _best_direct(snippets, centre, templates, max_shift)
        np.testing.assert_array_equal(m.best, unit)
        np.testing.assert_array_equal(m.shift, shift)
    np.testing.assert_array_equal(m.unit, true_unit)
