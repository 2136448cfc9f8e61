"""Artefacts that look like fasciculations and are not, and bad channels.

* ECG: regular beats (~1/s) with heart-rate variability (respiratory sinus
  arrhythmia plus random variation); a broad P-QRS-T wave that is smooth
  across the grid (a linear spatial gradient, the same waveform on every
  channel), because the heart is a distant source.
* Electrode pop: one channel, a step followed by an exponential decay
  (sudden change of the electrode-skin half-cell potential).
* Motion: all channels, slow (0.4-2 s), large, with a smooth spatial gain.
* Bad channels: ``flat`` (shorted: constant), ``saturated`` (pinned at the
  amplifier rail), ``disconnected`` (an open input: power line dominates,
  large noise and wander), ``noisy`` (poor contact: several times the noise).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fasciq.simulate import _streams as st
from fasciq.simulate.noise import NoiseModel
from fasciq.validate import check_in_range, check_positive


@dataclass(frozen=True)
class EcgParams:
    """ECG contamination (``amplitude_uv=0`` switches it off).

    Parameters
    ----------
    amplitude_uv : float
        R-wave amplitude at the grid centre (µV).
    heart_rate_bpm : float
        Mean heart rate.
    hrv : float
        Beat-to-beat variability as a fraction of the mean interval.
    gradient : float
        Largest relative change of ECG amplitude from the grid centre to an
        edge.
    """

    amplitude_uv: float = 20.0
    heart_rate_bpm: float = 68.0
    hrv: float = 0.04
    gradient: float = 0.5

    def __post_init__(self) -> None:
        check_positive(self.amplitude_uv, "amplitude_uv", allow_zero=True)
        check_in_range(self.heart_rate_bpm, "heart_rate_bpm", 30.0, 200.0)
        check_in_range(self.hrv, "hrv", 0.0, 0.3)
        check_in_range(self.gradient, "gradient", 0.0, 0.95)


@dataclass(frozen=True)
class PopParams:
    """Electrode pops (``rate_per_min=0`` switches them off)."""

    rate_per_min: float = 0.2
    amplitude_uv: tuple[float, float] = (200.0, 1500.0)
    decay_s: tuple[float, float] = (0.05, 0.5)

    def __post_init__(self) -> None:
        check_positive(self.rate_per_min, "rate_per_min", allow_zero=True)


@dataclass(frozen=True)
class MotionParams:
    """Motion artefacts (``rate_per_min=0`` switches them off)."""

    rate_per_min: float = 0.1
    amplitude_uv: tuple[float, float] = (300.0, 2000.0)
    duration_s: tuple[float, float] = (0.4, 2.0)

    def __post_init__(self) -> None:
        check_positive(self.rate_per_min, "rate_per_min", allow_zero=True)


@dataclass(frozen=True)
class BadChannelParams:
    """How many channels of each kind are bad, and the amplifier range.

    Parameters
    ----------
    n_flat, n_saturated, n_disconnected, n_noisy : int
        Counts of bad channels (drawn at random, distinct).
    noisy_factor : float
        Noise multiplier of a ``noisy`` channel.
    rail_uv : float
        Amplifier input range ±rail (µV); every channel is clipped there.
    """

    n_flat: int = 0
    n_saturated: int = 0
    n_disconnected: int = 0
    n_noisy: int = 0
    noisy_factor: float = 8.0
    rail_uv: float = 10000.0

    def __post_init__(self) -> None:
        for name in ("n_flat", "n_saturated", "n_disconnected", "n_noisy"):
            check_in_range(getattr(self, name), name, 0, 64)
        check_in_range(self.noisy_factor, "noisy_factor", 1.0, 100.0)
        check_in_range(self.rail_uv, "rail_uv", 100.0, 1e6)


@dataclass(frozen=True)
class ArtefactParams:
    """All artefacts of a simulation."""

    ecg: EcgParams = field(default_factory=EcgParams)
    pops: PopParams = field(default_factory=PopParams)
    motion: MotionParams = field(default_factory=MotionParams)
    bad: BadChannelParams = field(default_factory=BadChannelParams)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready parameters."""
        return asdict(self)

    @classmethod
    def off(cls) -> ArtefactParams:
        """No ECG, pops, motion or bad channels."""
        return cls(
            EcgParams(amplitude_uv=0.0),
            PopParams(rate_per_min=0.0),
            MotionParams(rate_per_min=0.0),
            BadChannelParams(),
        )


def ecg_waveform(fs: float) -> tuple[np.ndarray, int]:
    """One P-QRS-T complex (R peak = 1) sampled at ``fs``, and the R-peak index."""
    t = np.arange(-0.25, 0.45, 1.0 / fs)
    waves = (
        (0.12, -0.16, 0.025),
        (-0.12, -0.028, 0.008),
        (1.0, 0.0, 0.011),
        (-0.3, 0.03, 0.012),
        (0.3, 0.26, 0.045),
    )
    y = sum(a * np.exp(-0.5 * ((t - mu) / sd) ** 2) for a, mu, sd in waves)
    return y.astype(np.float32), int(np.argmin(np.abs(t)))


class ArtefactModel:
    """Draws artefact events for a recording and renders them block by block.

    Parameters
    ----------
    params : ArtefactParams
        What to simulate.
    positions_mm : ndarray, shape (n_channels, 2)
        Electrode positions (for smooth spatial gains).
    fs : float
        Sampling rate.
    n_samples : int
        Length of the recording.
    seed : int
        Simulation seed.
    """

    def __init__(
        self,
        params: ArtefactParams,
        positions_mm: np.ndarray,
        fs: float,
        n_samples: int,
        seed: int,
    ) -> None:
        self.params = params
        self.fs = fs
        self.n_samples = n_samples
        self.seed = seed
        duration = n_samples / fs
        n_ch = len(positions_mm)
        rng = st.block_rng(seed, st.ARTEFACTS)
        pos = np.asarray(positions_mm, dtype=np.float64)
        span = np.maximum(np.ptp(pos, axis=0), 1e-9)
        rel = (pos - pos.min(axis=0)) / span * 2 - 1  # [-1, 1] across the grid
        # ECG
        e = params.ecg
        self.ecg_r = np.zeros(0, dtype=np.int64)
        self.ecg_scale = np.zeros(0)
        if e.amplitude_uv > 0:
            rr0 = 60.0 / e.heart_rate_bpm
            n_beats = int(duration / rr0 * 1.3) + 3
            k = np.arange(n_beats)
            resp = np.sin(2 * np.pi * 0.25 * k * rr0 + rng.uniform(0, 2 * np.pi))
            rr = rr0 * (1 + e.hrv * (0.7 * resp + 0.7 * rng.standard_normal(n_beats)))
            beats = rng.uniform(0, rr0) + np.concatenate([[0.0], np.cumsum(rr[:-1])])
            beats = beats[beats < duration]
            self.ecg_r = np.round(beats * fs).astype(np.int64)
            self.ecg_scale = 1 + 0.08 * np.sin(2 * np.pi * 0.25 * beats)
            direction = rng.normal(size=2)
            direction /= np.linalg.norm(direction)
            self.ecg_gain = (e.amplitude_uv * (1 + e.gradient * rel @ direction)).astype(np.float32)
        self.ecg_wave, self.ecg_peak = ecg_waveform(fs)
        # pops
        p = params.pops
        n_pop = rng.poisson(p.rate_per_min * duration / 60.0)
        self.pop_start = np.sort(np.round(rng.uniform(0, duration, n_pop) * fs).astype(np.int64))
        self.pop_channel = rng.integers(0, n_ch, n_pop)
        self.pop_amp = rng.uniform(*p.amplitude_uv, n_pop) * rng.choice([-1.0, 1.0], n_pop)
        self.pop_tau = rng.uniform(*p.decay_s, n_pop)
        # motion
        m = params.motion
        n_mot = rng.poisson(m.rate_per_min * duration / 60.0)
        self.mot_start = np.sort(np.round(rng.uniform(0, duration, n_mot) * fs).astype(np.int64))
        self.mot_len = np.round(rng.uniform(*m.duration_s, n_mot) * fs).astype(np.int64)
        self.mot_amp = rng.uniform(*m.amplitude_uv, n_mot) * rng.choice([-1.0, 1.0], n_mot)
        self.mot_cycles = rng.uniform(0.5, 1.5, n_mot)
        self.mot_gain = 1 + 0.5 * (rel @ rng.normal(size=(2, n_mot)) / np.sqrt(2))  # (ch, n_mot)
        # bad channels
        b = params.bad
        counts = {
            "flat": b.n_flat,
            "saturated": b.n_saturated,
            "disconnected": b.n_disconnected,
            "noisy": b.n_noisy,
        }
        total = sum(counts.values())
        chosen = rng.choice(n_ch, size=min(total, n_ch), replace=False) if total else []
        self.bad: dict[int, str] = {}
        i = 0
        for reason, count in counts.items():
            for _ in range(count):
                if i < len(chosen):
                    self.bad[int(chosen[i])] = reason
                    i += 1
        self.rail_sign = {c: float(rng.choice([-1.0, 1.0])) for c in sorted(self.bad)}

    def events(self, labels: tuple[str, ...]) -> list[tuple[float, float, str, str]]:
        """``(start_s, end_s, kind, channel)`` of every artefact."""
        fs = self.fs
        out: list[tuple[float, float, str, str]] = []
        for r in self.ecg_r:
            out.append(
                (max(r / fs - 0.06, 0.0), min(r / fs + 0.06, self.n_samples / fs), "ecg", "")
            )
        for s, c, tau in zip(self.pop_start, self.pop_channel, self.pop_tau, strict=True):
            out.append(
                (s / fs, min((s + 5 * tau * fs) / fs, self.n_samples / fs), "pop", labels[int(c)])
            )
        for s, n in zip(self.mot_start, self.mot_len, strict=True):
            out.append((s / fs, min(s + n, self.n_samples) / fs, "motion", ""))
        for c, reason in sorted(self.bad.items()):
            if reason == "saturated":
                out.append((0.0, self.n_samples / fs, "saturation", labels[c]))
        out.sort(key=lambda e: (e[0], e[2], e[3]))
        return [(round(a, 6), round(b, 6), k, ch) for a, b, k, ch in out]

    def render(self, x: np.ndarray, n0: int, noise: NoiseModel, block_index: int) -> None:
        """Add artefacts to ``x`` (from sample ``n0``); apply bad channels and the rail."""
        n = x.shape[0]
        n1 = n0 + n
        if len(self.ecg_r):
            wave, peak = self.ecg_wave, self.ecg_peak
            lo = np.searchsorted(self.ecg_r, n0 - (len(wave) - peak))
            hi = np.searchsorted(self.ecg_r, n1 + peak)
            for r, sc in zip(self.ecg_r[lo:hi], self.ecg_scale[lo:hi], strict=True):
                a = r - peak
                s0, s1 = max(a, n0), min(a + len(wave), n1)
                if s1 > s0:
                    x[s0 - n0 : s1 - n0] += (wave[s0 - a : s1 - a] * sc)[:, None] * self.ecg_gain
        t_all = np.arange(n0, n1)
        for s, c, amp, tau in zip(
            self.pop_start, self.pop_channel, self.pop_amp, self.pop_tau, strict=True
        ):
            end = s + int(8 * tau * self.fs)
            if s < n1 and end > n0:
                s0, s1 = max(s, n0), min(end, n1)
                dt = (t_all[s0 - n0 : s1 - n0] - s) / self.fs
                x[s0 - n0 : s1 - n0, c] += (amp * np.exp(-dt / tau)).astype(np.float32)
        for s, ln, amp, cyc, g in zip(
            self.mot_start,
            self.mot_len,
            self.mot_amp,
            self.mot_cycles,
            self.mot_gain.T,
            strict=True,
        ):
            if s < n1 and s + ln > n0:
                s0, s1 = max(s, n0), min(s + ln, n1)
                u = (t_all[s0 - n0 : s1 - n0] - s) / ln
                shape = np.sin(np.pi * u) ** 2 * np.sin(2 * np.pi * cyc * u + 0.5)
                x[s0 - n0 : s1 - n0] += (amp * shape)[:, None].astype(np.float32) * g.astype(
                    np.float32
                )
        rail = self.params.bad.rail_uv
        for c, reason in self.bad.items():
            if reason == "flat":
                x[:, c] = 0.0
            elif reason == "saturated":
                x[:, c] = self.rail_sign[c] * rail
            elif reason == "disconnected":
                rng = st.block_rng(self.seed, st.DISCONNECTED, block_index * 1024 + c)
                if noise.params.line_uv > 0:
                    x[:, c] = 40.0 * noise.line(n0, n)[:, c]
                else:
                    arg = 2 * np.pi * noise.params.line_freq_hz * t_all / self.fs
                    x[:, c] = (150.0 * np.sin(arg)).astype(np.float32)
                x[:, c] += 30.0 * rng.standard_normal(n, dtype=np.float32)
            elif reason == "noisy":
                rng = st.block_rng(self.seed, st.NOISY, block_index * 1024 + c)
                level = self.params.bad.noisy_factor * max(noise.params.white_uv, 2.0)
                x[:, c] += level * rng.standard_normal(n, dtype=np.float32)
        np.clip(x, -rail, rail, out=x)
