"""Small synthetic HD-sEMG for detector tests: known FP times on a grid, in noise."""

from __future__ import annotations

import numpy as np

from fasciq.grids import Grid
from fasciq.recording import ArrayRecording


def muap(t_ms: np.ndarray, width_ms: float = 2.5) -> np.ndarray:
    """A triphasic MUAP shape (second derivative of a Gaussian), peak |value| 1 at t=0."""
    u = t_ms / width_ms
    return -(1 - u**2) * np.exp(-(u**2) / 2)


def synth(
    duration_s: float = 20.0,
    fs: float = 2048.0,
    rows: int = 8,
    cols: int = 8,
    rate_per_min: float = 120.0,
    n_units: int = 4,
    amp_uv: float = 80.0,
    noise_uv: float = 5.0,
    seed: int = 0,
    line_uv: float = 0.0,
    line_hz: float = 50.0,
    min_gap_s: float = 0.04,
):
    """Recording with FPs of ``n_units`` units at random places, Poisson times.

    Returns the recording and the true peak times (s).
    """
    rng = np.random.default_rng(seed)
    n = int(duration_s * fs)
    grid = Grid.regular(rows, cols, 8.0)
    pos = np.asarray(grid.positions_mm)
    x = rng.normal(0, noise_uv, (n, rows * cols))
    centres = np.column_stack(
        [rng.uniform(0, (cols - 1) * 8, n_units), rng.uniform(0, (rows - 1) * 8, n_units)]
    )
    widths = rng.uniform(2.0, 3.5, n_units)
    amps = amp_uv * rng.uniform(0.6, 1.6, n_units)
    n_fp = rng.poisson(rate_per_min * duration_s / 60)
    times = np.sort(rng.uniform(0.2, duration_s - 0.2, n_fp))
    keep = np.concatenate([[True], np.diff(times) > min_gap_s])[: len(times)]
    times = times[keep]
    units = rng.integers(0, n_units, len(times))
    half = int(0.02 * fs)
    tt = np.arange(-half, half + 1) / fs * 1000
    for t, u in zip(times, units, strict=True):
        d = np.sqrt(((pos - centres[u]) ** 2).sum(axis=1))
        gain = amps[u] / (1 + (d / 10.0) ** 2)
        delay = np.abs(pos[:, 1] - centres[u][1]) / 4.0  # ms, 4 m/s along y
        i0 = round(t * fs)
        wave = muap(tt[:, None] - delay[None, :], widths[u]) * gain[None, :]
        x[i0 - half : i0 + half + 1] += wave
    if line_uv:
        tline = np.arange(n) / fs
        x += line_uv * np.sin(2 * np.pi * line_hz * tline)[:, None]
    rec = ArrayRecording(x.astype(np.float32), fs, grid=grid)
    return rec, times


def add_train(
    rec: ArrayRecording,
    start_s: float,
    stop_s: float,
    n_units: int = 1,
    rate_hz: float = 10.0,
    amp_uv: float = 60.0,
    seed: int = 1,
) -> ArrayRecording:
    """Add regular discharge trains (voluntary activity) of ``n_units`` units."""
    rng = np.random.default_rng(seed)
    x = rec.get_traces().astype(np.float64)
    fs = rec.fs
    pos = np.asarray(rec.grid.positions_mm)
    half = int(0.02 * fs)
    tt = np.arange(-half, half + 1) / fs * 1000
    span = pos.max(axis=0)
    for _ in range(n_units):
        centre = rng.uniform([0, 0], span)
        amp = amp_uv * rng.uniform(0.5, 1.5)
        rate = rate_hz * rng.uniform(0.8, 1.2)
        t = start_s + rng.uniform(0, 1 / rate)
        d = np.sqrt(((pos - centre) ** 2).sum(axis=1))
        gain = amp / (1 + (d / 10.0) ** 2)
        while t < stop_s:
            i0 = round(t * fs)
            if half <= i0 < x.shape[0] - half:
                x[i0 - half : i0 + half + 1] += muap(tt, 2.5)[:, None] * gain[None, :]
            t += rng.normal(1 / rate, 0.08 / rate)
    return ArrayRecording(x.astype(np.float32), fs, grid=rec.grid)


def add_pops(
    rec: ArrayRecording, times_s: np.ndarray, channel: int = 5, amp_uv: float = 400.0
) -> ArrayRecording:
    """Add electrode pops (step + exponential decay) on one channel."""
    x = rec.get_traces().astype(np.float64)
    fs = rec.fs
    n = int(0.2 * fs)
    shape = np.exp(-np.arange(n) / (0.03 * fs))
    for t in times_s:
        i0 = int(t * fs)
        m = min(n, x.shape[0] - i0)
        x[i0 : i0 + m, channel] += amp_uv * shape[:m]
    return ArrayRecording(x.astype(np.float32), fs, grid=rec.grid)
