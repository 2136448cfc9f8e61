"""Shape variability of small units (leave-one-out against a few discharges)."""

import numpy as np

from fasciq.units.morphology import shape_variability, unit_shape_variability


def _unit(n: int, variability: float, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` discharges of a template whose shape varies by ``variability`` of its energy."""
    rng = np.random.default_rng(seed)
    t = np.arange(64)
    template = np.stack(
        [
            np.sin(2 * np.pi * (t - 32) / 24) * np.exp(-(((t - 32) / 10.0) ** 2)) * (20 + 5 * c)
            for c in range(8)
        ],
        axis=1,
    )
    energy = np.square(template).sum()
    changes = rng.standard_normal((n, *template.shape)) * np.exp(-(((t - 32) / 10.0) ** 2))[:, None]
    changes *= np.sqrt(variability * energy / np.square(changes).sum(axis=(1, 2)))[:, None, None]
    windows = template + changes + noise * rng.standard_normal((n, *template.shape))
    return windows, np.full(8, noise)


def test_few_discharges_of_an_unstable_unit_read_unstable() -> None:
    v = 0.04
    ratios_loo, ratios_common = [], []
    for seed in range(20):
        windows, noise = _unit(4, v, 1.0, seed)
        template = np.median(windows, axis=0)
        mask = np.ones(8, dtype=bool)
        ratios_loo.append(np.median(unit_shape_variability(windows, template, mask, noise)) / v)
        ratios_common.append(np.median(shape_variability(windows, template, mask, noise)) / v)
    # against their own median four discharges look a quarter less variable
    # (the (n − 1) / n of a mean); each against the others reads true
    assert np.median(ratios_common) < 0.8
    assert 0.9 < np.median(ratios_loo) < 1.25


def test_few_discharges_of_a_stable_unit_read_stable() -> None:
    values = []
    for seed in range(20):
        windows, noise = _unit(4, 0.0, 1.0, seed)
        template = np.median(windows, axis=0)
        values.append(
            np.median(unit_shape_variability(windows, template, np.ones(8, dtype=bool), noise))
        )
    # noise alone (corrected for the estimated template) stays near zero
    assert np.median(values) < 0.004


def test_large_units_use_the_common_template() -> None:
    windows, noise = _unit(40, 0.02, 1.0, 3)
    template = np.median(windows, axis=0)
    mask = np.ones(8, dtype=bool)
    np.testing.assert_array_equal(
        unit_shape_variability(windows, template, mask, noise),
        shape_variability(windows, template, mask, noise),
    )
