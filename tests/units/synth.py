"""Small analytic multichannel MUAPs with known propagation, for fast unit tests.

Each unit's monopolar potential on the grid is two waves leaving its
innervation zone at ``iz_mm`` with velocity ``cv_m_s`` along the fibre
direction (the grid's columns), extinguished ``half_length_mm`` away; across
the fibres it decays as a Gaussian of width ``spread_mm`` around ``x_mm``.
The wave shape is the second derivative of a Gaussian (a triphasic surface
potential). Delays between electrodes are exact, so velocity estimates can
be checked against the true value.
"""

from __future__ import annotations

import numpy as np

from fasciq.grids.grid import Grid
from fasciq.recording import ArrayRecording


def wave(t_s: np.ndarray, width_s: float = 0.0015) -> np.ndarray:
    """Triphasic wave (negative second derivative of a Gaussian), peak 1 at t=0."""
    u = t_s / width_s
    return (1 - u**2) * np.exp(-0.5 * u**2)


def template(
    grid: Grid,
    fs: float,
    iz_mm: float,
    cv_m_s: float,
    x_mm: float,
    amp_uv: float = 100.0,
    spread_mm: float = 6.0,
    half_length_mm: float = 60.0,
    n_samples: int = 81,
) -> np.ndarray:
    """``(n_samples, n_channels)`` template, the discharge at sample ``n_samples // 2``."""
    t = (np.arange(n_samples) - n_samples // 2) / fs
    pos = grid.positions_mm
    out = np.zeros((n_samples, grid.n_channels))
    for c in range(grid.n_channels):
        x, y = pos[c]
        dist = abs(y - iz_mm)
        if dist > half_length_mm:
            continue
        delay = dist * 1e-3 / cv_m_s
        gain = amp_uv * np.exp(-0.5 * ((x - x_mm) / spread_mm) ** 2)
        out[:, c] = gain * wave(t - delay)
    return out


def recording(
    templates: list[np.ndarray],
    trains: list[np.ndarray],
    fs: float,
    duration_s: float,
    grid: Grid,
    noise_uv: float = 2.0,
    seed: int = 0,
) -> ArrayRecording:
    """Sum of templates placed at the train times (sample ``n//2`` at each time) plus noise."""
    rng = np.random.default_rng(seed)
    n = int(duration_s * fs)
    x = rng.normal(0.0, noise_uv, (n, grid.n_channels))
    for tpl, times in zip(templates, trains, strict=True):
        half = tpl.shape[0] // 2
        for t in times:
            s = round(t * fs) - half
            a, b = max(s, 0), min(s + tpl.shape[0], n)
            x[a:b] += tpl[a - s : b - s]
    return ArrayRecording(x.astype(np.float32), fs, grid=grid)


def poisson_train(
    rate_hz: float, duration_s: float, rng: np.random.Generator, refractory_s: float = 0.2
) -> np.ndarray:
    """Poisson discharge times with a dead time, away from the recording ends."""
    times = []
    t = 0.1
    while True:
        t += refractory_s + rng.exponential(1.0 / rate_hz)
        if t > duration_s - 0.1:
            return np.array(times)
        times.append(t)
