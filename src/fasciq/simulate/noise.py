"""Amplifier noise, power-line interference, baseline wander and DC offsets.

* Amplifier noise: white plus a 1/f component, per-channel levels spread
  around the nominal value, and a level that drifts over the session as a
  slow random walk (electrode-skin impedance changes as gel dries or sweat
  builds up).
* Power line: 50 or 60 Hz and harmonics (odd harmonics stronger, as from
  rectifier loads), per-channel gains and phases (unequal electrode
  impedances turn common-mode into differential interference), with a slowly
  varying amplitude.
* Baseline: per-channel DC offsets (electrode half-cell potentials) and a
  smooth wander below about 0.5 Hz.

Slow components (1/f noise, wander, offsets) are synthesised at 1/8 of the
sampling rate and interpolated linearly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy import signal as sps

from fasciq.simulate import _streams as st
from fasciq.validate import check_choice, check_in_range, check_positive

SLOW = 8  # decimation of the slow components


@dataclass(frozen=True)
class NoiseParams:
    """Noise and interference levels (0 switches a component off).

    Parameters
    ----------
    white_uv : float
        RMS of the white amplifier noise (µV).
    pink_uv : float
        RMS of the 1/f amplifier noise (µV).
    drift_per_sqrt_min : float
        Standard deviation of the log noise level after one minute of the
        random walk (0.1 ≈ 10 % per minute).
    channel_spread : float
        Standard deviation of per-channel log noise levels.
    line_uv : float
        Amplitude of the power-line fundamental (µV) on a typical channel.
    line_freq_hz : float
        Mains frequency, 50 or 60 Hz.
    line_harmonics : tuple of float
        Relative amplitudes of the fundamental and its harmonics.
    line_channel_spread : float
        Standard deviation of per-channel log line gains.
    line_drift_per_sqrt_min : float
        Random walk of the log line amplitude per √minute.
    wander_uv : float
        RMS of the baseline wander (µV).
    wander_knot_s : float
        Time scale of the wander (s).
    dc_uv : float
        Standard deviation of per-channel DC offsets (µV).
    """

    white_uv: float = 2.0
    pink_uv: float = 1.0
    drift_per_sqrt_min: float = 0.05
    channel_spread: float = 0.15
    line_uv: float = 4.0
    line_freq_hz: float = 50.0
    line_harmonics: tuple[float, ...] = (1.0, 0.25, 0.4, 0.08, 0.15)
    line_channel_spread: float = 0.5
    line_drift_per_sqrt_min: float = 0.1
    wander_uv: float = 10.0
    wander_knot_s: float = 1.5
    dc_uv: float = 150.0

    def __post_init__(self) -> None:
        for name in (
            "white_uv",
            "pink_uv",
            "drift_per_sqrt_min",
            "channel_spread",
            "line_uv",
            "line_channel_spread",
            "line_drift_per_sqrt_min",
            "wander_uv",
            "dc_uv",
        ):
            check_positive(getattr(self, name), name, allow_zero=True)
        check_choice(float(self.line_freq_hz), "line_freq_hz", (50.0, 60.0))
        check_in_range(self.wander_knot_s, "wander_knot_s", 0.1, 60.0)
        if not self.line_harmonics:
            object.__setattr__(self, "line_harmonics", (1.0,))

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return asdict(self)

    @classmethod
    def off(cls, line_freq_hz: float = 50.0) -> NoiseParams:
        """Everything switched off (a noise-free simulation)."""
        return cls(
            white_uv=0.0,
            pink_uv=0.0,
            drift_per_sqrt_min=0.0,
            line_uv=0.0,
            line_freq_hz=line_freq_hz,
            wander_uv=0.0,
            dc_uv=0.0,
        )


def _pink_filter(n_taps: int) -> np.ndarray:
    """FIR with a 1/√f amplitude response (1/f power), unit energy."""
    freqs = np.fft.rfftfreq(n_taps)
    mag = 1.0 / np.sqrt(np.maximum(freqs, 1.0 / n_taps))
    mag[0] = 0.0
    taps = np.fft.fftshift(np.fft.irfft(mag, n_taps)) * np.hanning(n_taps)
    return taps / np.sqrt(np.sum(taps**2))


class NoiseModel:
    """Renders noise and interference for any block of samples.

    Parameters
    ----------
    params : NoiseParams
        Levels.
    n_channels : int
        Number of channels.
    fs : float
        Sampling rate (Hz).
    duration_s : float
        Length of the recording (the slow random walks are drawn for it).
    seed : int
        Simulation seed.
    """

    def __init__(
        self, params: NoiseParams, n_channels: int, fs: float, duration_s: float, seed: int
    ) -> None:
        self.params = params
        self.n_channels = n_channels
        self.fs = fs
        self.seed = seed
        rng = st.block_rng(seed, st.NOISE_CONST)
        c = n_channels
        self.channel_level = np.exp(params.channel_spread * rng.standard_normal(c))
        self.dc = params.dc_uv * rng.standard_normal(c)
        h = len(params.line_harmonics)
        gain = np.exp(params.line_channel_spread * rng.standard_normal(c))
        phase = rng.uniform(0, 2 * np.pi, h)[:, None] + 0.3 * rng.standard_normal((h, c))
        amp = np.asarray(params.line_harmonics)[:, None] * gain[None, :] * params.line_uv
        self.line_coef = np.concatenate([amp * np.cos(phase), amp * np.sin(phase)], axis=0)
        self.harmonics = np.arange(1, h + 1)
        # slow random walks, one knot every `step` seconds
        self.walk_step_s = 10.0
        n_knots = int(np.ceil(duration_s / self.walk_step_s)) + 2
        scale = np.sqrt(self.walk_step_s / 60.0)
        drng = st.block_rng(seed, st.DRIFT)
        common = np.cumsum(drng.standard_normal(n_knots)) * params.drift_per_sqrt_min * scale
        own = np.cumsum(drng.standard_normal((n_knots, c)), axis=0)
        self.level_walk = common[:, None] + 0.3 * params.drift_per_sqrt_min * scale * own
        lrng = st.block_rng(seed, st.LINE_DRIFT)
        self.line_walk = np.cumsum(lrng.standard_normal(n_knots)) * (
            params.line_drift_per_sqrt_min * scale
        )
        self.pink_taps = _pink_filter(257)

    # -- slowly varying factors ---------------------------------------------
    def _walk(self, walk: np.ndarray, t_s: float) -> np.ndarray:
        u = t_s / self.walk_step_s
        i = min(int(u), len(walk) - 2)
        f = u - i
        return (1 - f) * walk[i] + f * walk[i + 1]

    def noise_level(self, t_s: float) -> np.ndarray:
        """Per-channel white-noise RMS (µV) at time ``t_s``."""
        return self.params.white_uv * self.channel_level * np.exp(self._walk(self.level_walk, t_s))

    # -- components -----------------------------------------------------------
    def line(self, n0: int, n: int) -> np.ndarray:
        """Power-line interference on all channels, samples ``[n0, n0 + n)``."""
        p = self.params
        idx = np.arange(n0, n0 + n, dtype=np.float64)
        period = (
            self.fs / np.gcd(round(self.fs), int(p.line_freq_hz))
            if float(self.fs).is_integer()
            else None
        )
        if period is not None:
            idx = np.mod(idx, period)  # exact phase for long recordings
        arg = 2 * np.pi * p.line_freq_hz / self.fs * idx[:, None] * self.harmonics[None, :]
        basis = np.concatenate([np.cos(arg), np.sin(arg)], axis=1)
        a0 = np.exp(self._walk(self.line_walk, n0 / self.fs))
        a1 = np.exp(self._walk(self.line_walk, (n0 + n) / self.fs))
        env = a0 + (a1 - a0) * (np.arange(n) / max(n, 1))
        return ((basis @ self.line_coef) * env[:, None]).astype(np.float32)

    def slow(self, n0: int, n: int) -> np.ndarray:
        """1/f noise, wander and DC at full rate for samples ``[n0, n0 + n)`` (``n0 % 8 == 0``)."""
        p = self.params
        c = self.n_channels
        a = n0 // SLOW
        m = -(-n // SLOW) + 1  # low-rate samples needed, one past the end
        low = np.zeros((m, c), dtype=np.float64)
        fs_low = self.fs / SLOW
        if p.pink_uv > 0:
            taps = self.pink_taps
            white = st.stream_normal(self.seed, st.PINK, a - len(taps) + 1, a + m, c, 4096)
            pink = sps.oaconvolve(white, taps[:, None], mode="valid", axes=0)
            # a 1/f process sampled at fs/8 and interpolated keeps ~all its power
            low += p.pink_uv * pink
        if p.wander_uv > 0:
            t_knots = (a + np.arange(m)) / fs_low / p.wander_knot_s
            k0 = int(np.floor(t_knots[0])) - 1
            k1 = int(np.floor(t_knots[-1])) + 3
            knots = st.stream_normal(self.seed, st.WANDER, k0, k1, c, 256)
            k = np.floor(t_knots).astype(np.int64)
            f = (t_knots - k)[:, None]
            w0 = (1 - f) ** 3 / 6
            w1 = (3 * f**3 - 6 * f**2 + 4) / 6
            w2 = (-3 * f**3 + 3 * f**2 + 3 * f + 1) / 6
            w3 = f**3 / 6
            j = k - k0
            spline = w0 * knots[j - 1] + w1 * knots[j] + w2 * knots[j + 1] + w3 * knots[j + 2]
            low += (p.wander_uv / np.sqrt(0.479)) * spline
        if p.dc_uv > 0:
            low += self.dc[None, :]
        frac = (np.arange(n) % SLOW / SLOW)[:, None]
        base = np.arange(n) // SLOW
        return ((1 - frac) * low[base] + frac * low[base + 1]).astype(np.float32)

    def render(self, x: np.ndarray, n0: int, block_index: int) -> None:
        """Add all noise and interference to ``x`` (samples ``[n0, n0 + len(x))``) in place."""
        p = self.params
        n = x.shape[0]
        if p.white_uv > 0:
            lvl0 = self.noise_level(n0 / self.fs)
            lvl1 = self.noise_level((n0 + n) / self.fs)
            ramp = (np.arange(n, dtype=np.float32) / max(n, 1))[:, None]
            level = lvl0.astype(np.float32) + ramp * (lvl1 - lvl0).astype(np.float32)
            rng = st.block_rng(self.seed, st.WHITE, block_index)
            x += rng.standard_normal(x.shape, dtype=np.float32) * level
        if p.line_uv > 0:
            x += self.line(n0, n)
        if p.pink_uv > 0 or p.wander_uv > 0 or p.dc_uv > 0:
            x += self.slow(n0, n)
