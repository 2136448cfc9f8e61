"""The synthesis engine: draws units, templates and events once, renders any block.

Everything random is drawn up front from the scenario's seed except the
per-sample noise, which comes from generators addressed by block index
(:mod:`fasciq.simulate._streams`). A block is always synthesised the same
way, whatever span a reader asks for, so reading a recording in different
chunkings gives identical samples; memory is one block, however long the
recording.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from fasciq._logging import logger
from fasciq.grids.catalogue import get_grid
from fasciq.grids.grid import Grid
from fasciq.simulate import _streams as st
from fasciq.simulate.artefacts import ArtefactModel
from fasciq.simulate.conductor import surface_kernel
from fasciq.simulate.firing import (
    VoluntaryEpoch,
    fasciculation_train,
    voluntary_train,
)
from fasciq.simulate.geometry import GridFrame
from fasciq.simulate.muap import UnitTemplate, group_potentials, peak_info
from fasciq.simulate.noise import SLOW, NoiseModel
from fasciq.simulate.pool import MotorUnit, make_pool
from fasciq.simulate.scenario import Scenario

BLOCK = 8192  # samples synthesised together (a multiple of the slow decimation)
KIND_FASC, KIND_VOL = 0, 1
KIND_NAMES = ("fasciculation", "voluntary")
assert BLOCK % SLOW == 0


@dataclass(frozen=True)
class Events:
    """All discharges, sorted by first affected sample."""

    time_s: np.ndarray
    unit: np.ndarray
    kind: np.ndarray
    pair: np.ndarray
    first: np.ndarray  # first recording sample of the MUAP
    phase: np.ndarray  # sub-sample phase in template samples
    variant: np.ndarray  # row in the variant tables, -1 for stable units
    peak_sample: np.ndarray
    peak_channel: np.ndarray
    amplitude_uv: np.ndarray


class Engine:
    """Draws a scenario's random structure and synthesises its samples.

    Parameters
    ----------
    scenario : Scenario
        What to simulate.
    """

    def __init__(self, scenario: Scenario) -> None:
        # the matrix products here are small: threaded BLAS only adds contention
        with threadpool_limits(limits=1, user_api="blas"):
            self._setup(scenario)

    def _setup(self, scenario: Scenario) -> None:
        self.scenario = sc = scenario
        grid = get_grid(sc.grid)
        assert isinstance(grid, Grid)
        self.grid = grid
        self.frame = GridFrame(grid)
        self.fs = float(sc.fs)
        self.n_samples = round(sc.duration_s * self.fs)
        self.n_channels = grid.n_channels
        self.oversampling = max(1, int(np.ceil(8192.0 / self.fs)))
        self.fs_os = self.fs * self.oversampling
        self.n_pre = int(np.ceil(0.5e-3 * self.fs_os))
        seed = sc.seed
        cond = sc.conductor
        fasc = make_pool(
            sc.fasciculating, cond.muscle_top_mm, cond.muscle_mm, st.block_rng(seed, st.POOL_FASC)
        )
        vol = make_pool(
            sc.voluntary, cond.muscle_top_mm, cond.muscle_mm, st.block_rng(seed, st.POOL_VOL)
        )
        self.units: list[MotorUnit] = fasc + vol
        self.epochs: tuple[VoluntaryEpoch, ...] = sc.contraction.schedule(
            sc.duration_s, st.block_rng(seed, st.SCHEDULE)
        )
        kernel = surface_kernel(cond, self.frame.electrode_radius_mm)
        self.templates: list[UnitTemplate] = []
        for u in self.units:
            n_t = self.n_pre + int(np.ceil(u.groups.duration_s() * self.fs_os))
            gp = group_potentials(
                u.groups,
                kernel,
                self.frame.electrode_x_mm,
                self.frame.electrode_z_mm,
                self.fs_os,
                self.n_pre,
                n_t,
                cond,
            )
            self.templates.append(
                UnitTemplate(gp, self.oversampling, self.n_pre, keep_groups=not u.stable)
            )
        self.rates_per_min = np.full(len(self.units), np.nan)
        self._build_events()
        self.noise = NoiseModel(sc.noise, self.n_channels, self.fs, sc.duration_s, seed)
        self.artefacts = ArtefactModel(
            sc.artefacts, grid.positions_mm, self.fs, self.n_samples, seed
        )
        self._cache: dict[int, np.ndarray] = {}
        self._variants: OrderedDict[int, np.ndarray] = OrderedDict()
        logger.info(
            "Simulation %s: %d units, %d discharges, %d voluntary epochs",
            sc.preset,
            len(self.units),
            len(self.events.time_s),
            len(self.epochs),
        )

    # -- events ------------------------------------------------------------------
    def _build_events(self) -> None:
        sc = self.scenario
        rng = st.block_rng(sc.seed, st.FIRING)
        times, units, kinds, pairs = [], [], [], []
        lo, hi = sc.fasciculation.rate_range_per_min
        for i, u in enumerate(self.units):
            if u.unit_class == "fasciculating":
                rate = float(np.exp(rng.uniform(np.log(max(lo, 1e-6)), np.log(max(hi, 1e-6)))))
                rate = rate if hi > 0 else 0.0
                self.rates_per_min[i] = rate
                t, p = fasciculation_train(rate, sc.duration_s, sc.fasciculation, rng)
                kind = KIND_FASC
            else:
                t = voluntary_train(u.threshold, self.epochs, sc.contraction, rng)
                p = np.zeros(len(t), dtype=np.int64)
                self.rates_per_min[i] = len(t) / (sc.duration_s / 60.0)
                kind = KIND_VOL
            times.append(t)
            units.append(np.full(len(t), i))
            kinds.append(np.full(len(t), kind))
            pairs.append(p)

        def cat(a, dt):
            return np.concatenate(a).astype(dt) if a else np.zeros(0, dtype=dt)

        time_s = cat(times, np.float64)
        unit = cat(units, np.int64)
        kind = cat(kinds, np.int64)
        pair = cat(pairs, np.int64)
        r = self.oversampling
        k = np.round(time_s * self.fs_os).astype(np.int64)
        first = -((-(k - self.n_pre)) // r)  # ceil
        phase = first * r - k + self.n_pre
        order = np.lexsort((unit, first))
        time_s, unit, kind, pair = time_s[order], unit[order], kind[order], pair[order]
        first, phase = first[order], phase[order]
        # per-discharge variation of unstable units
        vrng = st.block_rng(sc.seed, st.VARIANTS)
        variant = np.full(len(time_s), -1, dtype=np.int64)
        self.var_active: list[np.ndarray] = []
        self.var_shift: list[np.ndarray] = []
        for e in range(len(time_s)):
            u = self.units[unit[e]]
            if u.stable:
                continue
            g = len(u.groups)
            active = vrng.uniform(0, 1, g) >= u.block_probability
            if not active.any():
                active[vrng.integers(0, g)] = True
            sd = u.jitter_us * 1e-6 * self.fs_os
            shift = np.clip(np.round(3 * sd + sd * vrng.standard_normal(g)), 0, 6 * sd)
            variant[e] = len(self.var_active)
            self.var_active.append(active)
            self.var_shift.append(shift.astype(np.int64))
        peak_sample = np.zeros(len(time_s), dtype=np.int64)
        peak_channel = np.zeros(len(time_s), dtype=np.int64)
        amplitude = np.zeros(len(time_s))
        for e in range(len(time_s)):
            if variant[e] < 0:
                info = self.templates[unit[e]].peak(int(phase[e]))
            else:
                info = peak_info(self._variant_waveform(e, unit[e], phase[e], variant[e]))
            peak_sample[e] = first[e] + info.offset
            peak_channel[e] = info.channel
            amplitude[e] = info.peak_to_peak
        self.events = Events(
            time_s, unit, kind, pair, first, phase, variant, peak_sample, peak_channel, amplitude
        )
        lengths = [t.mean.shape[0] // r + 2 for t in self.templates]
        shifts = [int(s.max(initial=0)) // r + 1 for s in self.var_shift]
        self.max_len = max([*lengths, 1]) + max([*shifts, 0])

    def _variant_waveform(self, e: int, unit: int, phase: int, variant: int) -> np.ndarray:
        tpl = self.templates[unit]
        wave = tpl.variant(self.var_active[variant], self.var_shift[variant])
        return tpl.decimate(wave, int(phase))

    def _event_waveform(self, e: int) -> np.ndarray:
        ev = self.events
        if ev.variant[e] < 0:
            return self.templates[ev.unit[e]].phase(int(ev.phase[e]))
        cached = self._variants.get(e)
        if cached is None:
            cached = self._variant_waveform(
                e, int(ev.unit[e]), int(ev.phase[e]), int(ev.variant[e])
            )
            self._variants[e] = cached
            if len(self._variants) > 512:
                self._variants.popitem(last=False)
        return cached

    # -- synthesis -----------------------------------------------------------------
    def render_muaps(self, x: np.ndarray, n0: int) -> None:
        """Add every MUAP that overlaps samples ``[n0, n0 + len(x))``."""
        n1 = n0 + x.shape[0]
        first = self.events.first
        lo = int(np.searchsorted(first, n0 - self.max_len, side="left"))
        hi = int(np.searchsorted(first, n1, side="left"))
        for e in range(lo, hi):
            a = int(first[e])
            w = self._event_waveform(e)
            s0, s1 = max(a, n0), min(a + w.shape[0], n1)
            if s1 > s0:
                x[s0 - n0 : s1 - n0] += w[s0 - a : s1 - a]

    def block(self, b: int, muaps_only: bool = False) -> np.ndarray:
        """Samples of block ``b`` (``BLOCK`` samples, fewer at the end), all channels."""
        if not muaps_only and b in self._cache:
            return self._cache[b]
        with threadpool_limits(limits=1, user_api="blas"):
            return self._block(b, muaps_only)

    def _block(self, b: int, muaps_only: bool) -> np.ndarray:
        n0 = b * BLOCK
        n = min(BLOCK, self.n_samples - n0)
        x = np.zeros((n, self.n_channels), dtype=np.float32)
        self.render_muaps(x, n0)
        if muaps_only:
            return x
        self.noise.render(x, n0, b)
        self.artefacts.render(x, n0, self.noise, b)
        if len(self._cache) >= 2:
            self._cache.pop(next(iter(self._cache)))
        self._cache[b] = x
        return x

    def read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        """Samples ``[start, stop)`` of ``channels``."""
        out = np.empty((stop - start, len(channels)), dtype=np.float32)
        for b in range(start // BLOCK, (stop - 1) // BLOCK + 1):
            data = self.block(b)
            n0 = b * BLOCK
            s0, s1 = max(start, n0), min(stop, n0 + data.shape[0])
            out[s0 - start : s1 - start] = data[s0 - n0 : s1 - n0][:, channels]
        return out
