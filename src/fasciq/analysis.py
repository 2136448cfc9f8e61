"""The ``analyze`` pipeline: a recording in, every FP and every unanalysed span out.

One streaming pass over the recording, in chunks with filter margins, so
memory does not grow with its length::

    prescan (quality, mains, neighbourhoods)
      -> per chunk: line regression + band-pass -> window noise, saturation, motion
      -> (once the noise is known a minute ahead) detect FPs, reject ECG-like
         events, measure features
    -> exclusion spans (voluntary, artefact, noise) -> rates -> Result

Method parameters (:class:`AnalysisParams`) are kept apart from execution
settings (:class:`ExecutionSettings`): the latter change how fast, never
what is found.
"""

from __future__ import annotations

import dataclasses
import json
import os
import tempfile
import threading
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from fasciq._logging import logger
from fasciq.detect.activity import (
    dense_spans,
    filled_fraction,
    regular_dense,
    runs,
    train_spans,
    window_coherence,
    window_kurtosis,
)
from fasciq.detect.artefacts import grid_wide, window_lowband, window_saturation
from fasciq.detect.detector import Neighbourhood, data_neighbourhood
from fasciq.detect.features import FEATURE_COLUMNS, empty_fp_table, event_features
from fasciq.detect.params import ActivityParams, ArtefactParams, DetectParams, FeatureParams
from fasciq.detect.peeling import PeelParams
from fasciq.detect.rates import intervals, per_minute, poisson_ci, poisson_upper_bound
from fasciq.detect.registry import get_detector
from fasciq.errors import DataError, ParameterError
from fasciq.intervals import inside, merge_spans
from fasciq.recording import Recording
from fasciq.result import Result
from fasciq.signal.filters import (
    BandpassParams,
    bandpass_sos,
    common_mode,
    common_mode_basis,
    common_mode_projector,
    filter_margin,
    zero_phase,
)
from fasciq.signal.line import detect_line_frequency, line_harmonics, subtract_line
from fasciq.signal.noise import (
    NoiseParams,
    noise_per_sample,
    quantile_bias,
    rolling_quantile_rows,
    window_noise,
)
from fasciq.signal.quality import QualityParams, channel_quality
from fasciq.units.params import SnippetParams, SortingParams
from fasciq.units.timing import UnitTimingParams
from fasciq.validate import check_finite, check_positive

Progress = Callable[[float, float], None]

#: A last window holding less than this share of a window takes the
#: measures of the window before it.
SHORT_TAIL = 0.25

#: Order in which overlapping exclusion reasons claim time.
REASON_PRIORITY = ("artefact", "noise", "voluntary")


@dataclass(frozen=True)
class AnalysisParams:
    """Every method parameter of :func:`analyze` (all are recorded in ``summary.json``).

    Parameters
    ----------
    line_freq : float or None
        Mains frequency in Hz (50 or 60); detected from the data when None.
    line_window_s : float
        Window over which the amplitude of each line harmonic is fitted
        (a whole number of mains periods: 0.5 s suits 50 and 60 Hz).
    exclude_voluntary : bool
        Find and exclude voluntary activity (turn off only for recordings
        known to be entirely at rest).
    sort_units : bool
        Group the FPs into putative motor units (``unit`` column,
        ``units.csv``); off, every FP keeps ``unit = -1``.
    sorting_seed : int
        Seed of the randomised steps of sorting (same seed, same units).
    bandpass, noise, detect, features, activity, artefacts, quality, sorting, peel, timing
        Parameters of each stage (``peel``: overlapping FPs separated by
        the unit templates where FPs are dense; ``timing``: sorted FPs timed
        on their unit's wide-band template).
    """

    line_freq: float | None = None
    line_window_s: float = 0.5
    exclude_voluntary: bool = True
    bandpass: BandpassParams = field(default_factory=BandpassParams)
    noise: NoiseParams = field(default_factory=NoiseParams)
    detect: DetectParams = field(default_factory=DetectParams)
    features: FeatureParams = field(default_factory=FeatureParams)
    activity: ActivityParams = field(default_factory=ActivityParams)
    artefacts: ArtefactParams = field(default_factory=ArtefactParams)
    quality: QualityParams = field(default_factory=QualityParams)
    sort_units: bool = True
    sorting_seed: int = 0
    sorting: SortingParams = field(default_factory=SortingParams)
    peel: PeelParams = field(default_factory=PeelParams)
    timing: UnitTimingParams = field(default_factory=UnitTimingParams)

    def __post_init__(self) -> None:
        if self.line_freq is not None:
            check_positive(self.line_freq, "line_freq")
        check_positive(self.line_window_s, "line_window_s")
        get_detector(self.detect.method)  # unknown method -> ParameterError

    def to_dict(self) -> dict[str, Any]:
        """All parameters as a nested JSON-ready dictionary."""
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any], source: str = "parameters") -> AnalysisParams:
        """Build from a (nested) dictionary; unknown keys are an error.

        Parameters
        ----------
        data : dict
            e.g. ``{"line_freq": 50, "detect": {"k_high": 5.5}}``.
        source : str
            Where the dictionary came from (named in error messages).
        """
        sections = {f.name: f for f in dataclasses.fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in dict(data).items():
            if key not in sections:
                raise ParameterError(
                    f"unknown parameter {key!r}",
                    fix=f"use one of {', '.join(sections)}",
                    source=source,
                )
            default = (
                sections[key].default_factory if callable(sections[key].default_factory) else None
            )
            if default is not None:
                if not isinstance(value, dict):
                    raise ParameterError(
                        f"parameter section {key!r} must be a table of values",
                        fix=f"write [{key}] followed by its parameters",
                        source=source,
                    )
                sub_cls = type(default())
                if sub_cls is SortingParams:
                    kwargs[key] = SortingParams.from_dict(value)
                    continue
                names = {f.name for f in dataclasses.fields(sub_cls)}
                unknown = sorted(set(value) - names)
                if unknown:
                    raise ParameterError(
                        f"unknown parameter(s) {', '.join(unknown)} in section [{key}]",
                        fix=f"use {', '.join(sorted(names))}",
                        source=source,
                    )
                kwargs[key] = sub_cls(**value)
            else:
                kwargs[key] = value
        return cls(**kwargs)

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> AnalysisParams:
        """Read parameters from a TOML or JSON file."""
        from fasciq.validate import check_file_exists

        p = check_file_exists(path)
        text = p.read_text(encoding="utf-8")
        try:
            if p.suffix.lower() == ".json":
                data = json.loads(text)
            else:
                try:
                    import tomllib
                except ModuleNotFoundError:  # Python 3.10
                    import tomli as tomllib
                data = tomllib.loads(text)
        except ValueError as exc:
            raise ParameterError(
                f"cannot parse the parameter file: {exc}",
                fix="write valid TOML (or JSON for a .json file)",
                source=p,
            ) from exc
        if not isinstance(data, dict):
            raise ParameterError(
                "the parameter file must hold a table of parameters",
                fix="write key = value pairs",
                source=p,
            )
        return cls.from_dict(data, source=str(p))


@dataclass(frozen=True)
class ExecutionSettings:
    """How the analysis runs (never what it finds).

    Parameters
    ----------
    chunk_s : float
        Seconds of signal processed at once (memory ≈ a few chunks).
    n_jobs : int
        Threads: with 2 or more, the next chunk is read and filtered while
        the current one is analysed, and sorting shares its independent
        comparisons out over them.
    prescan_s : float
        Seconds of signal (spread over the recording) used to judge channel
        quality and the mains frequency before the pass.
    """

    chunk_s: float = 30.0
    n_jobs: int = 1
    prescan_s: float = 30.0

    def __post_init__(self) -> None:
        check_positive(self.chunk_s, "chunk_s")
        check_positive(self.prescan_s, "prescan_s")
        if int(self.n_jobs) != self.n_jobs or self.n_jobs < 1:
            raise ParameterError(
                f"n_jobs must be an integer ≥ 1, got {self.n_jobs!r}",
                fix="give n_jobs=1 or more",
                source="n_jobs",
            )


def _prescan(recording: Recording, seconds: float, n_windows: int = 12) -> np.ndarray:
    """Up to ``seconds`` of raw traces taken in windows spread over the recording."""
    n = recording.n_samples
    want = int(min(n, seconds * recording.fs))
    if want >= n:
        return recording.get_traces()
    win = max(1, want // n_windows)
    starts = np.linspace(0, n - win, n_windows).astype(int)
    return np.concatenate([recording.get_traces(s, s + win) for s in starts], axis=0)


@dataclass
class _Setup:
    """What the prescan decides before the streaming pass."""

    good: np.ndarray
    bad_channels: dict[str, list[str]]
    line_freq: float | None
    harmonics: list[float]
    sos: np.ndarray
    margin: int
    line_window: int
    neighbourhood: Neighbourhood
    geometry: str
    projector: np.ndarray | None
    #: band-pass margin (``margin`` adds the line fit's windows to it)
    band_margin: int = 0
    #: orthonormal basis of the common field (``projector = I - B Bᵀ``)
    common_basis: np.ndarray | None = None


def _setup(recording: Recording, params: AnalysisParams, execution: ExecutionSettings) -> _Setup:
    fs = recording.fs
    sample = _prescan(recording, execution.prescan_s)
    check_finite(sample, recording.source, recording.channel_labels)
    line_freq = params.line_freq or detect_line_frequency(sample, fs)
    grid = recording.grid
    adjacency = grid.adjacency() if grid is not None else None
    flags = channel_quality(
        sample,
        fs,
        adjacency=adjacency,
        line_freq=line_freq,
        params=params.quality,
        n_jobs=execution.n_jobs,
    )
    good = np.array([not f for f in flags], dtype=bool)
    bad = {lab: f for lab, f in zip(recording.channel_labels, flags, strict=True) if f}
    if not good.any():
        # every reason with (some of) its channels, so a mixed failure is clear
        by_flag: dict[str, list[str]] = {}
        for label, reasons in bad.items():
            by_flag.setdefault(reasons[0], []).append(label)
        detail = "; ".join(
            f"{len(labels)} {flag}: {', '.join(labels[:4])}{', ...' if len(labels) > 4 else ''}"
            for flag, labels in by_flag.items()
        )
        raise DataError(
            f"no channel is usable for detection ({detail})",
            fix="check the electrode contact and cabling, or loosen the [quality] thresholds "
            "in a --config file",
            source=recording.source,
        )
    bp = params.bandpass
    sos = bandpass_sos(fs, bp.low_hz, bp.high_hz, bp.order, bp.highpass_order)
    harmonics: list[float] = []
    if line_freq:
        high = min(bp.high_hz, 0.45 * fs) + 5.0
        harmonics = line_harmonics(sample[:, good], fs, line_freq, max_freq=high)
    line_window = max(1, round(params.line_window_s * fs))
    # line-fit windows beyond the band-pass margin keep every fit window that
    # reaches the core complete, with its neighbours for the median over
    # windows (so chunks match a whole-array pass)
    band_margin = filter_margin(sos, fs)
    margin = band_margin + (3 * line_window if harmonics else 0)
    good_idx = np.flatnonzero(good)
    if grid is not None:
        hood = Neighbourhood(grid.adjacency(diagonal=True), np.asarray(grid.positions_mm))
        hood = hood.subset(good_idx)
        geometry = f"grid {grid.name}"
    elif recording.positions_mm is not None:
        pos = np.asarray(recording.positions_mm)[good_idx]
        d = np.sqrt(((pos[:, None] - pos[None]) ** 2).sum(-1))
        np.fill_diagonal(d, np.inf)
        near = d <= 1.5 * np.median(d.min(axis=1))
        hood = Neighbourhood(near, pos)
        geometry = "electrode positions"
    else:
        clean = subtract_line(sample[:, good], fs, 0, harmonics, line_window)
        filt = zero_phase(clean, sos, margin)
        hood = data_neighbourhood(filt)
        geometry = "estimated from channel correlation" if good.sum() > 1 else "single channel"
    logger.info(
        "line %s Hz (harmonics removed: %s), %d/%d good channels, neighbourhoods: %s",
        line_freq,
        harmonics,
        good.sum(),
        len(good),
        geometry,
    )
    basis, projector = None, None
    if params.detect.remove_common:
        basis = common_mode_basis(hood.positions_mm, int(good.sum()))
        projector = common_mode_projector(hood.positions_mm, int(good.sum()))
    return _Setup(
        good,
        bad,
        line_freq,
        harmonics,
        sos,
        margin,
        line_window,
        hood,
        geometry,
        projector,
        band_margin,
        basis,
    )


def _resolve_spans(by_reason: dict[str, np.ndarray]) -> pd.DataFrame:
    """Non-overlapping labelled spans; where reasons overlap the first in priority wins."""
    rows: list[tuple[float, float, str]] = []
    taken = np.zeros((0, 2))
    for reason in REASON_PRIORITY:
        spans = merge_spans(by_reason.get(reason, np.zeros((0, 2))))
        for a, b in spans:
            pieces = [(a, b)]
            for ta, tb in taken:
                nxt = []
                for pa, pb in pieces:
                    if tb <= pa or ta >= pb:
                        nxt.append((pa, pb))
                        continue
                    if pa < ta:
                        nxt.append((pa, ta))
                    if tb < pb:
                        nxt.append((tb, pb))
                pieces = nxt
            rows.extend((pa, pb, reason) for pa, pb in pieces if pb - pa > 1e-9)
        taken = merge_spans(np.concatenate([taken, spans])) if len(spans) else taken
    rows.sort()
    return pd.DataFrame(rows, columns=["start_s", "end_s", "reason"]).astype(
        {"start_s": float, "end_s": float, "reason": str}
    )


class _Stream:
    """Chunked pass: filtering, window statistics, and detection a minute behind."""

    def __init__(
        self,
        recording: Recording,
        params: AnalysisParams,
        setup: _Setup,
        execution: ExecutionSettings,
        progress: Progress | None,
    ) -> None:
        self.rec = recording
        self.params = params
        self.setup = setup
        self.fs = recording.fs
        self.progress = progress
        self.win = max(16, round(params.noise.window_s * self.fs))
        self.chunk = max(1, round(execution.chunk_s * self.fs / self.win)) * self.win
        self.n_windows = -(-recording.n_samples // self.win)
        self.half = max(1, round(params.noise.track_s / params.noise.window_s))
        self.n_good = int(setup.good.sum())
        # per-window levels of each channel are the only arrays that grow with
        # the recording: single precision halves them (they hold 4 digits at most)
        shape = (self.n_windows, self.n_good)
        self.sigma_w = np.full(shape, np.nan, dtype=np.float32)
        self.low_w = np.full(shape, np.nan, dtype=np.float32)
        self.sat_w = np.zeros(shape, dtype=np.float32)
        self.coh_w = np.full(self.n_windows, np.nan)
        self.kurt_w = np.full(self.n_windows, np.nan)
        self.tracked = np.full(shape, np.nan, dtype=np.float32)
        self.low_tracked = np.full(shape, np.nan, dtype=np.float32)
        self.measured = 0  # windows measured so far
        period = self.fs / setup.line_freq if setup.line_freq else self.fs / 50.0
        self.period = max(1, round(period))
        self.detect = get_detector(params.detect.method)
        self.detect_margin = (
            round((params.detect.max_window_ms + params.features.window_ms) * self.fs / 1000) + 2
        )
        self.rows: list[dict[str, np.ndarray]] = []
        self.n_ecg = 0
        # multichannel snippets for sorting, cut from the filtered blocks as the
        # pass goes and spilled to a temporary file, so memory stays flat
        self.snippet_params = SnippetParams()
        self.snippets = _SnippetStore(self.fs, self.n_good, self.snippet_params)
        if params.sort_units:
            self.detect_margin = max(self.detect_margin, self.snippets.half_width + 2)
        # wide-band snippets (mains removed, no band-pass) on which sorted FPs are
        # timed: as long as the template plus the sorting's alignments (twice
        # its largest lag: a unit joined to another as its alias moves by more)
        self.wide: _SnippetStore | None = None
        if params.sort_units and params.timing.enabled:
            reach = params.timing.window_ms + 2 * params.sorting.cluster.max_lag_ms + 1.0
            self.wide = _SnippetStore(
                self.fs, self.n_good, SnippetParams(before_ms=reach, after_ms=reach)
            )
            # an FP's peak may lie up to the features' search before its detection
            search = round(params.features.search_ms * self.fs / 1000)
            self.detect_margin = max(self.detect_margin, self.wide.half_width + search + 2)

    # -- statistics ------------------------------------------------------------
    # the window statistics are shared between the threads: the low band is
    # measured in the reading thread, the rest in the detecting one, so that
    # with n_jobs > 1 the two carry about equal work
    def _reader_stats(self, raw: np.ndarray) -> dict[str, np.ndarray]:
        """Per-window statistics taken while reading (a pure function of the raw traces)."""
        return {"low_w": window_lowband(raw, self.win, self.period)}

    def _detector_stats(self, raw: np.ndarray, filt: np.ndarray) -> dict[str, np.ndarray]:
        """Per-window statistics taken while detecting (a pure function of the traces)."""
        basis = self.setup.common_basis
        local = filt if basis is None else filt - common_mode(filt, basis)
        return {
            "sat_w": window_saturation(raw, self.win),
            "sigma_w": window_noise(filt, self.win),
            "coh_w": window_coherence(local, self.win, self.setup.neighbourhood.adjacency),
            "kurt_w": window_kurtosis(filt, self.win),
        }

    def _measure(self, start: int, stats: dict[str, np.ndarray]) -> None:
        w0 = start // self.win
        n = stats["sigma_w"].shape[0]
        for name, values in stats.items():
            getattr(self, name)[w0 : w0 + n] = values
        self.measured = w0 + n
        tail = self.rec.n_samples - (self.n_windows - 1) * self.win
        if self.measured == self.n_windows >= 2 and tail < SHORT_TAIL * self.win:
            # a last window of a few samples measures nothing reliably (two
            # samples of seven near the rails read as saturation): it takes
            # the measures of the window before it
            for name in stats:
                values = getattr(self, name)
                values[-1] = values[-2]

    def _track(self, w0: int, w1: int) -> None:
        """Tracked noise and low-band level of windows ``[w0, w1)``."""
        todo = np.flatnonzero(np.isnan(self.tracked[w0:w1, 0])) + w0
        if todo.size == 0:
            return
        w0, w1 = int(todo[0]), int(todo[-1]) + 1
        q = self.params.noise.quantile
        bias = quantile_bias(q, self.win // 4)  # window_noise uses every 4th sample
        self.tracked[w0:w1] = np.maximum(
            rolling_quantile_rows(self.sigma_w, w0, w1, self.half, q, 2) / bias, 1e-3
        )
        self.low_tracked[w0:w1] = np.maximum(
            rolling_quantile_rows(self.low_w, w0, w1, self.half, 0.5, 4), 1e-3
        )

    # -- detection ---------------------------------------------------------------
    def _detect(
        self,
        start: int,
        stop: int,
        block: np.ndarray,
        block_start: int,
        wide: np.ndarray | None = None,
    ) -> None:
        fs = self.fs
        # the block's margins reach into the neighbouring windows, and samples
        # interpolate between window centres: track one window more on each side
        w0 = max(0, block_start // self.win - 1)
        w1 = min(self.n_windows, -(-(block_start + block.shape[0]) // self.win) + 1)
        self._track(w0, w1)
        sigma = noise_per_sample(self.tracked, self.win, block_start, block_start + block.shape[0])
        basis = self.setup.common_basis
        if basis is None:
            detect_on = block
        else:
            # the common field is fitted to traces clipped at a few σ, so that a
            # pop or a large MUAP on a few channels is not spread over the grid
            limit = (4 * self.params.detect.k_high) * sigma
            common = common_mode(np.clip(block, -limit, limit, out=limit), basis)
            del limit
            detect_on = np.subtract(block, common, out=common)
        events = self.detect(detect_on, sigma, self.setup.neighbourhood, fs, self.params.detect)
        # a MUAP cut by the recording's ends cannot be measured (and the filter's
        # edge response lives there): peaks closer than one phase window are dropped
        edge = round(self.params.detect.phase_ms * fs / 1000)
        lo, hi = max(start, edge), min(stop, self.rec.n_samples - edge)
        core = (events.sample + block_start >= lo) & (events.sample + block_start < hi)
        events = events.take(core)
        if len(events) == 0:
            return
        feats = event_features(
            block,
            sigma,
            events,
            fs,
            self.setup.neighbourhood.positions_mm,
            self.params.features,
            self.params.detect.max_window_ms,
        )
        # ECG-like: grid-wide and uniform
        half = max(1, round(self.params.features.window_ms * fs / 1000))
        idx = np.clip(
            feats["peak_sample"][:, None] + np.arange(-half, half + 1), 0, block.shape[0] - 1
        )
        wins = block[idx]
        p2p = wins.max(axis=1) - wins.min(axis=1)
        sig_ev = sigma[feats["peak_sample"]]
        ecg = grid_wide(p2p, sig_ev, np.ones(self.n_good, dtype=bool), self.params.artefacts)
        self.n_ecg += int(ecg.sum())
        keep = ~ecg
        feats = {k: v[keep] for k, v in feats.items()}
        feats["sample"] = feats["peak_sample"] + block_start
        if self.params.sort_units:
            self.snippets.add(block, block_start, feats["sample"], self.rec.n_samples)
        if self.wide is not None and wide is not None:
            self.wide.add(wide, block_start, feats["sample"], self.rec.n_samples)
        self.rows.append(feats)

    # -- the pass ------------------------------------------------------------------
    def _chunks(self):
        rec, setup = self.rec, self.setup
        good_idx = np.flatnonzero(setup.good)
        for chunk in rec.iter_chunks(self.chunk, setup.margin, channels=good_idx):
            raw = chunk.traces
            check_finite(raw, rec.source, [rec.channel_labels[i] for i in good_idx])
            clean = subtract_line(
                raw, self.fs, chunk.start - chunk.left, setup.harmonics, setup.line_window
            )
            # the line fit needed its wider margin; the band-pass needs only its own
            bm = setup.band_margin
            lo, hi = max(0, chunk.left - bm), min(raw.shape[0], raw.shape[0] - chunk.right + bm)
            filt = zero_phase(clean[lo:hi], setup.sos, bm)
            # single precision: the wide-band traces are only cut into snippets
            wide = (
                clean[chunk.left : raw.shape[0] - chunk.right].astype(np.float32)
                if self.wide is not None
                else None
            )
            del clean
            core = filt[chunk.left - lo : filt.shape[0] - (hi - raw.shape[0] + chunk.right)]
            raw_core = raw[chunk.left : raw.shape[0] - chunk.right]
            stats = self._reader_stats(raw_core)
            yield chunk.start, chunk.stop, stats, raw_core, np.ascontiguousarray(core), wide

    def run(self, n_jobs: int = 1) -> None:
        """Stream the recording once."""
        buffer: deque[tuple[int, int, np.ndarray]] = deque()
        total = self.rec.n_samples
        source = self._chunks()
        if n_jobs > 1:
            source = _prefetch(source)
        for start, stop, stats, raw_core, core, wide in source:
            self._measure(start, {**stats, **self._detector_stats(raw_core, core)})
            del raw_core
            buffer.append((start, stop, core, wide))
            # a chunk is ready once the noise a tracking half-width beyond it is measured
            while buffer and (
                self.measured >= min(self.n_windows, -(-buffer[0][1] // self.win) + self.half + 2)
            ):
                self._flush(buffer)
            if self.progress is not None:
                self.progress(stop / self.fs * 0.95, total / self.fs)
        while buffer:
            self._flush(buffer)
        self._prev = None  # the last chunk is not needed after the pass

    def _flush(self, buffer: deque) -> None:
        start, stop = buffer[0][:2]
        if len(buffer) == 1 and stop < self.rec.n_samples:
            return  # the next chunk is needed as right margin
        m = self.detect_margin
        prev = getattr(self, "_prev", None)
        joined = prev is not None and prev[1] == start
        block_start = start - min(m, prev[2].shape[0]) if joined else start

        def with_margins(k: int) -> np.ndarray | None:
            # array ``k`` of the chunk (band-passed or wide-band) between the
            # neighbouring chunks' margins
            core = buffer[0][k]
            if core is None:
                return None
            parts = [prev[k][-m:]] if joined else []
            parts.append(core)
            if len(buffer) > 1:
                parts.append(buffer[1][k][:m])
            return np.concatenate(parts, axis=0) if len(parts) > 1 else core

        self._detect(start, stop, with_margins(2), block_start, with_margins(3))
        self._prev = buffer.popleft()


class _SnippetStore:
    """Append-only store of ``(n_t, n_channels)`` float32 snippets in a temporary file."""

    def __init__(self, fs: float, n_channels: int, params: SnippetParams) -> None:
        from fasciq.units.snippets import window_samples

        self.fs = fs
        self.params = params
        self.before, self.after = window_samples(fs, params)
        self.half_width = max(self.before, self.after)
        self.shape = (self.before + self.after + 1, n_channels)
        self.count = 0
        self._file: Any = None

    def add(self, block: np.ndarray, block_start: int, samples: np.ndarray, n_total: int) -> None:
        """Cut and store the snippets of ``samples`` from a filtered ``block``."""
        from fasciq.units.snippets import snippets_from_chunk

        if len(samples) == 0:
            return
        cut = snippets_from_chunk(
            block, block_start, samples, self.fs, self.params, n_samples=n_total
        )
        if self._file is None:
            self._file = tempfile.TemporaryFile(prefix="fasciq-snippets-")  # noqa: SIM115 - closed in close()
        self._file.write(np.ascontiguousarray(cut, dtype=np.float32).tobytes())
        self.count += len(samples)

    def take(
        self, index: np.ndarray, columns: np.ndarray | None = None, n_columns: int | None = None
    ) -> np.ndarray:
        """Snippets number ``index`` (in the order they were added).

        With ``columns``/``n_columns`` the stored channels are placed into
        those columns of a wider, zero-filled array, read in batches straight
        from the file so only the output is held in memory.
        """
        width = self.shape[1] if n_columns is None else int(n_columns)
        cols = np.arange(self.shape[1]) if columns is None else np.asarray(columns)
        out = np.zeros((len(index), self.shape[0], width), dtype=np.float32)
        if self._file is None or len(index) == 0:
            return out
        self._file.flush()
        # plain reads rather than a memory map: mapped pages would count in the
        # process's memory until unmapped, doubling the peak of this step
        index = np.asarray(index, dtype=np.int64)
        row_bytes = int(np.prod(self.shape)) * 4
        batch = np.empty((256, *self.shape), dtype=np.float32)
        # every channel in its own column: a plain copy, no scatter
        whole = width == self.shape[1] and np.array_equal(cols, np.arange(width))
        i = 0
        while i < len(index):
            # a run of consecutive snippets (the usual case: kept FPs in time order)
            j = i + 1
            while j < len(index) and j - i < len(batch) and index[j] == index[j - 1] + 1:
                j += 1
            view = memoryview(batch[: j - i]).cast("B")
            self._file.seek(int(index[i]) * row_bytes)
            got = self._file.readinto(view)
            if got != (j - i) * row_bytes:
                raise OSError(f"short read of the snippet file ({got} bytes)")
            if whole:
                out[i:j] = batch[: j - i]
            else:
                out[i:j, :, cols] = batch[: j - i]
            i = j
        return out

    def close(self) -> None:
        """Delete the temporary file."""
        if self._file is not None:
            self._file.close()
            self._file = None


def _glibc() -> Any:
    """The C library when it is glibc (its allocator is tuned here), else None."""
    import ctypes
    import sys

    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.malloc_trim, libc.mallopt  # noqa: B018 - both exist in glibc only
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return None
    return libc


def _release_free_memory() -> None:
    """Hand memory freed by the streaming pass back to the system (glibc only).

    The pass allocates and frees chunk-sized arrays; glibc keeps much of that
    freed memory in its heaps, where sorting's larger arrays cannot reuse
    it, so it would add to the peak. Elsewhere this does nothing.
    """
    libc = _glibc()
    if libc is not None:
        libc.malloc_trim(0)


#: glibc's mallopt parameters and defaults (malloc.h).
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3
_DEFAULT_TRIM, _DEFAULT_MMAP = 128 * 1024, 128 * 1024


@contextmanager
def _reused_heap(limit_mb: int = 256) -> Iterator[None]:
    """Let sorting's large temporary arrays reuse freed memory (glibc only).

    glibc maps every array above 32 MiB afresh and unmaps it when freed, so
    each of sorting's many large temporaries (windows of every FP, template
    products) is faulted in and zeroed page by page (about 0.3 s of a
    30-minute recording's 2 s of sorting). Inside this block such arrays
    come from the heap and are reused;
    on leaving, the defaults are set back and the heap is trimmed, so the
    memory returns to the system. The peak is that of sorting's largest set
    of live arrays, as before.
    """
    libc = _glibc()
    if libc is None:
        yield
        return
    big = int(limit_mb) * 2**20
    libc.mallopt(_M_MMAP_THRESHOLD, big)
    libc.mallopt(_M_TRIM_THRESHOLD, 2 * big)
    try:
        yield
    finally:
        libc.mallopt(_M_MMAP_THRESHOLD, _DEFAULT_MMAP)
        libc.mallopt(_M_TRIM_THRESHOLD, _DEFAULT_TRIM)
        libc.malloc_trim(0)


def _sort(
    recording: Recording,
    params: AnalysisParams,
    setup: _Setup,
    stream: _Stream,
    fps: pd.DataFrame,
    snippet_index: np.ndarray,
    analysed_s: float,
    n_jobs: int = 1,
) -> Any:
    """Sort the kept FPs into units from the snippets cut during the pass.

    The snippets stay in the store's file: sorting reads what its memory
    budget holds (all of them for a recording of ordinary length) and
    matches the rest block by block.
    """
    from fasciq.units.snippets import SnippetRows
    from fasciq.units.sorting import sort_units

    _release_free_memory()
    good_idx = np.flatnonzero(setup.good)
    store = stream.snippets
    index = np.asarray(snippet_index, dtype=np.int64)

    def read(rows: np.ndarray) -> np.ndarray:
        # bad channels are left out of detection; their columns stay zero so
        # the snippets keep the grid's channel order
        return store.take(index[rows], good_idx, recording.n_channels)

    snippets = SnippetRows(read, (len(index), store.shape[0], recording.n_channels))
    noise = np.full(recording.n_channels, np.nan)
    tracked = np.nanmedian(stream.tracked, axis=0) if stream.n_windows else np.ones(len(good_idx))
    noise[good_idx] = tracked
    noise[~setup.good] = np.nanmedian(tracked)
    with _reused_heap():
        return sort_units(
            snippets,
            fps["time_s"].to_numpy(dtype=np.float64),
            recording.fs,
            grid=recording.grid,
            params=params.sorting,
            seed=params.sorting_seed,
            centre=stream.snippets.before,
            analysed_s=analysed_s,
            noise_uv=noise,
            channel_labels=recording.channel_labels,
            n_jobs=n_jobs,
        )


def _unit_time_offsets(
    recording: Recording,
    params: AnalysisParams,
    stream: _Stream,
    snippet_index: np.ndarray,
    sorting: Any,
) -> tuple[np.ndarray, np.ndarray]:
    """Seconds that put each FP on its unit's reference time (NaN: keep its time), and units.

    Each unit's wide-band template is the median of up to ``max_discharges``
    of its FPs' wide-band snippets, each aligned as the sorting aligned it;
    an FP is then at its alignment plus the template's largest peak
    (:func:`~fasciq.units.timing.largest_peak`). A unit whose largest peak
    is ambiguous, or that has too few FPs, keeps the first pass's times, as
    does a discharge that does not look like its unit at that peak.

    An unsorted FP that one unit's template fits, at a lag sorting does not
    reach, as well as it fits the unit's own discharges
    (:func:`~fasciq.units.timing.best_unit`) joins that unit, timed as its
    discharges are: on the template's largest peak, or where the first pass
    typically times the unit when that peak is ambiguous.

    Returns
    -------
    offsets : ndarray, shape (n,)
        Seconds to add to each FP's time (NaN: none).
    labels : ndarray of int, shape (n,)
        The sorting's labels, with the unsorted FPs that joined a unit.
    """
    from fasciq.units.timing import (
        agrees,
        aligned_windows,
        best_unit,
        fit_at_lags,
        largest_peak,
        median_template,
        spread_sample,
    )

    tp = params.timing
    store = stream.wide
    labels = np.asarray(sorting.labels, dtype=np.int64)
    shifts = np.asarray(sorting.shifts, dtype=np.int64)
    out = np.full(len(snippet_index), np.nan)
    if store is None or store.count == 0 or len(labels) != len(out) or len(shifts) != len(out):
        return out, labels
    fs = recording.fs
    half = max(1, round(tp.window_ms * fs / 1000))
    spread = round(tp.max_spread_ms * fs / 1000)
    index = np.asarray(snippet_index, dtype=np.int64)
    leftovers = np.flatnonzero(labels < 0) if tp.leftover_lag_ms > 0 else np.zeros(0, np.int64)
    fit_half = max(1, round(tp.leftover_fit_ms * fs / 1000))
    fit_lag = round(tp.leftover_lag_ms * fs / 1000)
    # what each unit's template needs to be fitted to the unsorted FPs: (unit,
    # the fit's arguments, the unit's reference time in template samples)
    fitted: list[tuple[int, tuple, float]] = []
    typical: list[float] = []

    def windows_of(snippets: np.ndarray, rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return aligned_windows(snippets, shifts[rows], store.before, half)

    n_timed = 0
    units = np.unique(labels[labels >= 0])
    for unit in units:
        members = np.flatnonzero(labels == unit)
        if len(members) < tp.min_discharges:
            continue
        used = spread_sample(members, tp.max_discharges)
        used_snippets = store.take(index[used])
        windows, fits_used = windows_of(used_snippets, used)
        if len(windows) < tp.min_discharges:
            continue
        template, p2p_error = median_template(windows)
        peak = largest_peak(template, tp.tie_fraction, spread, tp.tie_z * p2p_error)
        if len(leftovers):
            p2p = np.ptp(template, axis=0)
            anchor = int(np.abs(template[:, p2p.argmax()]).argmax())
            channels = np.flatnonzero(p2p >= tp.leftover_channels * p2p.max())
            # the unit's time in template samples: its largest peak, or where the
            # first pass typically timed its discharges
            ref = peak[0] if peak is not None else half - float(np.median(shifts[members]))
            args = (store.before, template, anchor, channels, fit_half, fit_lag)
            fitted.append((int(unit), args, ref - anchor))
            typical.append(float(np.median(fit_at_lags(used_snippets, *args)[2])))
        if peak is None:
            continue
        # each discharge must look like its unit at the peak: the template's own
        # discharges are already read; a larger unit's are read a batch at a time
        if len(used) == len(members):
            parts = [(used, windows, fits_used)]
        else:
            parts = (
                (batch, *windows_of(store.take(index[batch]), batch))
                for batch in np.array_split(members, -(-len(members) // 256))
            )
        for batch, batch_windows, batch_fits in parts:
            moved = batch[batch_fits][agrees(batch_windows, template, peak, tp.agreement)]
            out[moved] = (shifts[moved] + peak[0] - half) / fs
        n_timed += 1
    labels = labels.copy()
    n_joined = 0
    for batch in np.array_split(leftovers, -(-len(leftovers) // 256)) if fitted else []:
        snippets = store.take(index[batch])
        explained, scale, to_unit = [], [], []
        for _, args, to_ref in fitted:
            lag, size, share = fit_at_lags(snippets, *args)
            # an FP joins a unit only where the unit's time lies within the lag
            explained.append(np.where(np.abs(lag + to_ref) <= fit_lag, share, 0.0))
            scale.append(size)
            to_unit.append(lag + to_ref)
        joined = best_unit(np.stack(explained), np.stack(scale), np.array(typical), tp)
        for row in np.flatnonzero(joined >= 0):
            labels[batch[row]] = fitted[joined[row]][0]
            out[batch[row]] = np.rint(to_unit[joined[row]][row]) / fs
        n_joined += int((joined >= 0).sum())
    logger.info(
        "timing: %d of %d units timed on their template's largest peak; "
        "%d of %d unsorted FPs joined a unit",
        n_timed,
        len(units),
        n_joined,
        len(leftovers),
    )
    return out, labels


#: Held while the sorting's libraries are imported in the background: two
#: threads importing scikit-learn's interdependent modules at once can each
#: see the other's half-initialised module.
_SORTING_IMPORT = threading.Lock()


def _preload_sorting() -> threading.Thread:
    """Import the sorting's libraries in the background while the pass runs.

    scikit-learn takes most of a second to import (and a tenth more on its
    first fit); the chunked pass leaves time for it, and sorting then starts
    at once. The caller joins the returned thread before sorting, so nothing
    of scikit-learn is imported by two threads at once. An import that fails
    here fails again, with its message, where sorting imports it.
    """

    def load() -> None:
        with _SORTING_IMPORT:
            _load_sorting()

    thread = threading.Thread(target=load, name="fasciq-preload", daemon=True)
    thread.start()
    return thread


def _load_sorting() -> None:
    """Body of :func:`_preload_sorting` (run with the import lock held)."""
    try:
        import scipy.cluster.hierarchy  # noqa: F401
        import sklearn.cluster
        import sklearn.utils.extmath

        import fasciq.units.sorting  # noqa: F401

        # scikit-learn inspects an estimator's signature on its first fit
        sklearn.cluster.HDBSCAN(min_cluster_size=2, copy=True).fit(np.arange(8.0).reshape(4, 2))
    except Exception:
        logger.debug("background import of the sorting's libraries failed", exc_info=True)


def _peel(
    recording: Recording,
    params: AnalysisParams,
    setup: _Setup,
    stream: _Stream,
    fps: pd.DataFrame,
    excl_arr: np.ndarray,
    sorting: Any,
    first_s: np.ndarray | None = None,
) -> pd.DataFrame:
    """FPs where dense, separated by peeling the unit templates off the traces.

    Dense stretches are re-read and filtered exactly as the stream filters a
    chunk (line regression, band-pass with margins), and the templates of
    the units that vary little are peeled off; the templates are then
    fitted again, longer, on the stretch itself from the discharges peeled
    (``learn_rounds``), and the stretch peeled again. Each discharge is
    reported at its fitted start plus its unit's reference sample, read on
    the unit's template learnt on the stretch with only the baseline removed
    (``reference_hz``; the band-pass may make the other of two near-equal
    phases the larger). A first-pass FP that a peeled discharge matches keeps
    its row, at the fitted time of the discharge and with its unit when it
    had none; one left unmatched whose
    peak the subtracted templates explain (less than ``k_high`` σ left) is a
    part of a peeled discharge and is dropped; peeled discharges that match
    no first-pass FP are added, with their unit.

    ``first_s`` are the FPs' times as the first pass detected them, the
    convention the peeled discharges are matched on, when ``fps`` already
    holds other times (those of sorted FPs read on their unit's template):
    FPs that no peeled discharge matches keep the times of ``fps``.
    """
    from functools import partial

    from scipy import signal as sps

    from fasciq.detect.peeling import (
        dense_stretches,
        followers,
        learn_templates,
        match_times,
        peak_left,
        peel,
        peeled_features,
        prune,
        reference_samples,
    )
    from fasciq.detect.storm import grow_templates, split_units, weak_templates

    pp = params.peel
    if not pp.enabled or sorting is None or not sorting.templates or len(fps) == 0:
        return fps
    fs = recording.fs
    first = fps["time_s"].to_numpy(dtype=np.float64) if first_s is None else np.asarray(first_s)
    stretches = dense_stretches(first, recording.duration_s, pp)
    ids = np.array(sorted(sorting.templates))
    variability = sorting.units.set_index("unit")["stability"].reindex(ids).to_numpy(dtype=float)
    units = ids[variability <= pp.max_variability]
    if len(stretches) == 0 or units.size == 0:
        return fps
    good_idx = np.flatnonzero(setup.good)
    templates = np.stack([sorting.templates[u][:, good_idx] for u in units]).astype(np.float32)
    centre = templates.shape[1] // 2
    noise = np.nanmedian(stream.tracked, axis=0)
    noise = np.where(np.isfinite(noise), noise, np.nanmedian(noise)).astype(np.float32)
    column = {recording.channel_labels[j]: i for i, j in enumerate(good_idx)}
    first_col = np.array([column.get(c, -1) for c in fps["channel"]], dtype=np.int64)
    times_out = fps["time_s"].to_numpy(dtype=np.float64).copy()
    labels = fps["unit"].to_numpy(dtype=np.int64).copy()
    keep = np.ones(len(fps), dtype=bool)
    claimed = np.zeros(len(fps), dtype=bool)  # matched in an earlier stretch
    rows: list[pd.DataFrame] = []
    # the learnt templates are longer than the sorting's
    long = max(templates.shape[1], 2 * round(pp.template_ms * fs / 2000) + 1)
    reach = long + 4 * round(params.features.window_ms * fs / 1000)
    detector = get_detector(params.detect.method)
    # baseline wander only: the shape of a MUAP is kept
    wide_sos = sps.butter(1, pp.reference_hz / (fs / 2), "highpass", output="sos")

    def find_events(residual: np.ndarray) -> np.ndarray:
        sigma = np.broadcast_to(noise, residual.shape)
        events = detector(residual, sigma, setup.neighbourhood, fs, params.detect)
        if len(events) == 0:
            return np.zeros(0, dtype=np.int64)
        feats = event_features(
            residual,
            sigma,
            events,
            fs,
            setup.neighbourhood.positions_mm,
            params.features,
            params.detect.max_window_ms,
        )
        return np.asarray(feats["peak_sample"], dtype=np.int64)

    def sort_snippets(
        snippets: np.ndarray, times_s: np.ndarray, at: int
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        from fasciq.units.sorting import sort_units
        from fasciq.units.templates import place_template

        # sorted on the sorting's own window (a longer one holds more of the
        # overlapping discharges, and every unit would look variable); the
        # templates are then placed in the snippets' window
        lead = at - centre
        short = templates.shape[1]
        found_units = sort_units(
            snippets[:, lead : lead + short],
            times_s,
            fs,
            params=params.sorting,
            seed=params.sorting_seed,
            centre=centre,
            noise_uv=noise,
        )
        ids = found_units.units["unit"].to_numpy()
        out = np.zeros((len(ids), *snippets.shape[1:]), dtype=np.float32)
        for i, u in enumerate(ids):
            # the sorting's templates are centred in their own (shorter) windows
            out[i, lead : lead + short] = place_template(
                found_units.templates[int(u)], short, centre, 0
            )
        stats = found_units.units
        return out, stats["stability"].to_numpy(float), stats["n_fp"].to_numpy(float)

    carried: tuple[np.ndarray, int, float] | None = None
    for a_s, b_s in stretches:
        a, b = round(a_s * fs), round(b_s * fs)
        lo = max(0, a - reach - setup.margin)
        hi = min(recording.n_samples, b + reach + setup.margin)
        raw = recording.get_traces(lo, hi, channels=good_idx)
        clean = subtract_line(raw, fs, lo, setup.harmonics, setup.line_window)
        filt = zero_phase(clean, setup.sos, setup.margin)
        # drop the filter margins (kept only at the recording's own ends)
        c0 = max(0, a - reach) - lo
        c1 = filt.shape[0] - (hi - min(recording.n_samples, b + reach))
        block, start = filt[c0:c1], lo + c0
        # a storm cut into pieces goes on with the templates of the piece before
        used, at = templates, centre
        if pp.carry_templates and carried is not None and abs(carried[2] - a_s) < 1e-6:
            used, at = carried[0], carried[1]
        found = peel(block, noise, used, pp, at)
        for r in range(max(pp.learn_rounds, pp.discover_rounds, pp.split_rounds)):
            if r < pp.learn_rounds and len(found):
                # the first round also lengthens the templates to template_ms
                extend = max(0, round(pp.template_ms * fs / 2000) - at) if r == 0 else 0
                used = learn_templates(block, found, used, at, extend, pp.template_prior)
                at += extend
                # a unit found in the residual must stay above the noise once learnt
                used = used[~weak_templates(used, len(units), noise, pp.min_new_snr)]
                found = peel(block, noise, used, pp, at)
            if r < pp.split_rounds and len(found):
                split, _ = split_units(found, used, noise, pp, fs, partial(sort_snippets, at=at))
                if len(split) > len(used):
                    used = split
                    found = peel(block, noise, used, pp, at)
            if r < pp.discover_rounds:
                found, used = grow_templates(
                    block,
                    noise,
                    used,
                    dataclasses.replace(pp, discover_rounds=1),
                    at,
                    fs,
                    find_events,
                    partial(sort_snippets, at=at),
                    found,
                )
        found = prune(found, pp.min_share)
        # the next piece starts from these templates: the sorting's, and the new
        # ones that kept enough discharges here
        kept = np.bincount(found.unit, minlength=len(used)) >= pp.min_new_discharges
        kept[: len(units)] = True
        carried = (used[kept], at, b_s)
        if len(found) == 0:
            continue
        # an FP's time is its largest peak on the unfiltered MUAP: the band-pass
        # can make the other of two near-equal phases the larger, so each
        # unit's reference sample is read on its template learnt, over the
        # same discharges, on the traces with only the baseline removed
        wide = zero_phase(clean - np.median(clean, axis=0), wide_sos, setup.margin)[c0:c1]
        reference = reference_samples(
            learn_templates(wide, found, used, at, 0, pp.template_prior), pp.subsample
        )
        # units found in the residual are not the sorting's: their discharges are unsorted
        unit_ids = np.concatenate([units, np.full(len(used) - len(units), -1, dtype=np.int64)])
        feats = peeled_features(
            found,
            noise,
            fs,
            at,
            setup.neighbourhood.positions_mm,
            params.features,
            params.detect.max_window_ms,
            pp.channel_k,
            reference,
        )
        # a template's fits that follow a larger unit's at a fixed lag are a part
        # of its MUAP: they stay subtracted, and are not discharges
        follow = followers(
            found, pp.follow_ms * fs / 1000, pp.min_follow_share, pp.min_new_discharges
        )
        # matched on the first pass's time convention, reported at the fitted peak
        core = (feats["peak_sample"] + start >= a) & (feats["peak_sample"] + start < b)
        core &= ~follow[feats["index"]]
        feats = {k: v[core] for k, v in feats.items()}
        time_s = (feats["fit_sample"] + start) / fs
        unit = unit_ids[found.unit[feats["index"]]]
        near = np.flatnonzero((first >= a_s - 0.1) & (first < b_s + 0.1) & ~claimed)
        pair = match_times((feats["peak_sample"] + start) / fs, first[near], pp.match_ms / 1000)
        hit = pair >= 0
        matched = near[pair[hit]]
        claimed[matched] = True
        unset = labels[matched] < 0
        labels[matched[unset]] = unit[hit][unset]
        times_out[matched] = time_s[hit]
        new = np.flatnonzero(~hit)
        new = new[~inside(time_s[new], excl_arr)]
        rows.append(
            pd.DataFrame(
                {
                    "time_s": time_s[new],
                    "unit": unit[new],
                    "channel": [
                        recording.channel_labels[good_idx[c]] for c in feats["channel"][new]
                    ],
                    **{k: feats[k][new] for k in FEATURE_COLUMNS[3:]},
                }
            )
        )
        rest = np.setdiff1d(near, matched)
        rest = rest[(first[rest] >= a_s) & (first[rest] < b_s) & (first_col[rest] >= 0)]
        left = peak_left(
            found.residual / noise,
            np.rint(first[rest] * fs).astype(np.int64) - start,
            first_col[rest],
            max(1, round(pp.match_ms * fs / 2000)),
        )
        keep[rest[left < params.detect.k_high]] = False
    fps = fps.assign(unit=labels, time_s=times_out)[keep]
    added = pd.concat(rows, ignore_index=True) if rows else fps.iloc[:0]
    logger.info(
        "peeling %d dense stretches: %d overlapping FPs added, %d first-pass FPs were parts of "
        "peeled ones",
        len(stretches),
        len(added),
        int((~keep).sum()),
    )
    out = pd.concat([fps, added.astype(fps.dtypes.to_dict())], ignore_index=True)
    return out.sort_values("time_s", kind="stable").reset_index(drop=True)


def _prefetch(source, depth: int = 2):
    """Run a generator up to ``depth`` items ahead in a worker thread.

    More than one item ahead lets the worker keep going through a chunk
    that takes the consumer long (a dense stretch) instead of waiting.
    """
    from concurrent.futures import ThreadPoolExecutor

    it = iter(source)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # one worker: the queued calls advance the generator one after another
        pending = deque(pool.submit(next, it, None) for _ in range(max(1, depth)))
        try:
            while True:
                item = pending.popleft().result()
                if item is None:
                    return
                pending.append(pool.submit(next, it, None))
                yield item
        finally:
            for fut in pending:
                fut.cancel()


def analyze(
    recording: Recording,
    params: AnalysisParams | None = None,
    *,
    execution: ExecutionSettings | None = None,
    progress: Progress | None = None,
) -> Result:
    """Find every FP of a recording and the time that could not be analysed.

    Parameters
    ----------
    recording : Recording
        Any recording (read lazily, in chunks).
    params : AnalysisParams, optional
        Method parameters (defaults suit 2 kHz HD-sEMG).
    execution : ExecutionSettings, optional
        Chunk length and threads.
    progress : callable, optional
        ``progress(done_s, total_s)`` called after each chunk.

    Returns
    -------
    Result
        ``fasciculations`` (one row per FP), ``excluded`` (``start_s,
        end_s, reason``) and ``summary``.

    Raises
    ------
    DataError
        If the recording is too short to measure its noise, holds NaN, or
        no channel is usable.
    """
    from threadpoolctl import threadpool_limits

    # the pass runs many small matrix products per chunk (and its own reading
    # thread): one BLAS thread is faster than a team woken for each product,
    # and far faster when the other cores are busy
    with threadpool_limits(limits=1, user_api="blas"):
        return _analyze(recording, params, execution, progress)


def _analyze(
    recording: Recording,
    params: AnalysisParams | None,
    execution: ExecutionSettings | None,
    progress: Progress | None,
) -> Result:
    """Body of :func:`analyze`."""
    params = params or AnalysisParams()
    execution = execution or ExecutionSettings()
    fs = recording.fs
    min_s = 2 * params.noise.window_s
    if recording.duration_s < min_s:
        raise DataError(
            f"the recording lasts {recording.duration_s:.3f} s, shorter than the {min_s:g} s "
            "needed to measure its noise",
            fix="analyse a longer recording (FP rates need minutes)",
            source=recording.source,
        )
    setup = _setup(recording, params, execution)
    preload = _preload_sorting() if params.sort_units else None
    stream = _Stream(recording, params, setup, execution, progress)
    stream.run(execution.n_jobs)
    duration = recording.duration_s
    win_s = stream.win / fs

    # window-level exclusions
    ratio = stream.sigma_w / stream.tracked
    level = np.nanmedian(ratio, axis=1)
    by_reason: dict[str, list] = {"voluntary": [], "artefact": [], "noise": []}
    art = params.artefacts
    sat = (stream.sat_w >= art.saturation_fraction).mean(axis=1) >= art.saturated_channels
    motion = np.nanmedian(stream.low_w / stream.low_tracked, axis=1) >= art.motion_ratio
    elevated = (ratio >= art.noise_ratio).sum(axis=1)
    noise = (elevated >= max(3, 0.05 * stream.n_good)) & (level < params.activity.level_ratio)
    if stream.n_good < 3:
        noise = (ratio >= art.noise_ratio).any(axis=1) & (level < params.activity.level_ratio)
    for mask, reason in ((sat | motion, "artefact"), (noise, "noise")):
        for a, b in runs(mask):
            by_reason[reason].append(np.array([[a * win_s, min(b * win_s, duration)]]))

    # FP table before exclusion
    if stream.rows:
        cat = {k: np.concatenate([r[k] for r in stream.rows]) for k in stream.rows[0]}
    else:
        cat = {}
    good_idx = np.flatnonzero(setup.good)
    if cat and len(cat["sample"]):
        cat["snippet_index"] = np.arange(len(cat["sample"]))
        order = np.argsort(cat["sample"], kind="stable")
        cat = {k: v[order] for k, v in cat.items()}
        times = cat["sample"] / fs
        pre = merge_spans(
            np.concatenate(
                [s for r in ("artefact", "noise") for s in by_reason[r]] or [np.zeros((0, 2))]
            )
        )
        ok = ~inside(times, pre)
        if params.exclude_voluntary:
            by_reason["voluntary"].append(
                train_spans(
                    times[ok],
                    cat["channel"][ok],
                    cat["amplitude_uv"][ok],
                    setup.neighbourhood.adjacency,
                    params.activity,
                )
            )
    if params.exclude_voluntary:  # dense and regular (or not sparse) activity is voluntary
        dense = np.maximum(
            level / params.activity.level_ratio,
            np.nan_to_num(stream.coh_w) / params.activity.coherence,
        )
        if not np.isfinite(stream.coh_w).any() and cat and len(cat["sample"]):
            # no neighbouring channels to agree in sign (a single channel):
            # MUAPs that fill the window stand in for the coherence
            filled = filled_fraction(
                cat["sample"] / fs, cat["duration_ms"] / 1000.0, win_s, stream.n_windows
            )
            dense = np.maximum(dense, filled / params.activity.filled_fraction)
        dense_sp = dense_spans(dense, win_s, params.activity, duration)
        by_reason["voluntary"].append(
            regular_dense(dense_sp, by_reason["voluntary"], params.activity, stream.kurt_w, win_s)
        )
    spans = {r: np.concatenate(v) if v else np.zeros((0, 2)) for r, v in by_reason.items()}
    excluded = _resolve_spans(spans)
    excl_arr = merge_spans(excluded[["start_s", "end_s"]].to_numpy())

    if cat and len(cat["sample"]):
        times = cat["sample"] / fs
        keep = ~inside(times, excl_arr)
        fps = pd.DataFrame(
            {
                "time_s": times[keep],
                "unit": np.full(int(keep.sum()), -1, dtype=np.int64),
                "channel": [recording.channel_labels[good_idx[c]] for c in cat["channel"][keep]],
                **{k: cat[k][keep] for k in FEATURE_COLUMNS[3:]},
            }
        )
        snippet_index = cat["snippet_index"][keep]
    else:
        fps = empty_fp_table()
        snippet_index = np.zeros(0, dtype=np.int64)

    excluded_s = float((excl_arr[:, 1] - excl_arr[:, 0]).sum()) if len(excl_arr) else 0.0
    analysed_s = max(0.0, duration - excluded_s)
    sorting = None
    if preload is not None:
        preload.join()
    try:
        if params.sort_units:
            sorting = _sort(
                recording, params, setup, stream, fps, snippet_index, analysed_s, execution.n_jobs
            )
            fps["unit"] = np.asarray(sorting.labels, dtype=np.int64)
            first_s = fps["time_s"].to_numpy(dtype=np.float64)
            offsets, joined = _unit_time_offsets(recording, params, stream, snippet_index, sorting)
            moved = first_s + np.nan_to_num(offsets)
            # a time moved out of the recording or into excluded time stays put
            # (and an unsorted FP that would move there stays unsorted)
            retimed = (
                np.isfinite(offsets) & (moved >= 0) & (moved < duration) & ~inside(moved, excl_arr)
            )
            any_retimed = bool(retimed.any())
            if any_retimed:
                fps["time_s"] = np.where(retimed, moved, first_s)
                fps["unit"] = np.where(retimed, joined, fps["unit"].to_numpy())
            peeled = _peel(recording, params, setup, stream, fps, excl_arr, sorting, first_s)
            if any_retimed:
                peeled = peeled.sort_values("time_s", kind="stable").reset_index(drop=True)
            if peeled is not fps or any_retimed:
                # timing and peeling moved (peeling also relabelled, dropped and
                # added) FPs: the units' counts, rates, intervals and patterns
                # describe the final table
                from fasciq.units.sorting import update_unit_statistics

                sorting = update_unit_statistics(
                    sorting,
                    peeled["time_s"].to_numpy(dtype=np.float64),
                    peeled["unit"].to_numpy(dtype=np.int64),
                )
            fps = peeled
    finally:
        stream.snippets.close()
        if stream.wide is not None:
            stream.wide.close()
    summary = _summary(
        recording, params, execution, setup, fps, excluded, excl_arr, analysed_s, excluded_s, stream
    )
    if sorting is not None:
        summary.update(sorting.to_summary())
        summary["n_units"] = int(sorting.n_units)
        for key in ("doublets", "isolated", "continual", "time_locked_pairs"):
            summary[key] = summary["patterns"].get(key)
    if progress is not None:
        progress(duration, duration)
    return Result(
        fps,
        excluded,
        summary,
        units=None if sorting is None else sorting.units,
        sorting=sorting,
    )


def _analysed_between(excl: np.ndarray, a: float, b: float) -> float:
    if len(excl) == 0:
        return b - a
    lo = np.clip(excl[:, 0], a, b)
    hi = np.clip(excl[:, 1], a, b)
    return float((b - a) - np.maximum(hi - lo, 0).sum())


def _summary(
    recording: Recording,
    params: AnalysisParams,
    execution: ExecutionSettings,
    setup: _Setup,
    fps: pd.DataFrame,
    excluded: pd.DataFrame,
    excl_arr: np.ndarray,
    analysed_s: float,
    excluded_s: float,
    stream: _Stream,
) -> dict[str, Any]:
    from fasciq._version import __version__

    n_fp = len(fps)
    minutes = analysed_s / 60.0
    if minutes > 0:
        rate = n_fp / minutes
        low, high = poisson_ci(n_fp, minutes)
        ci: list[float] | None = [low, high]
        upper = poisson_upper_bound(n_fp, minutes)
    else:
        rate, ci, upper = None, None, None
        logger.warning(
            "nothing was analysed (all %.1f s excluded): no FP rate", recording.duration_s
        )
    times = fps["time_s"].to_numpy(dtype=np.float64)
    gaps = intervals(times, excl_arr)
    bins = per_minute(times, lambda a, b: _analysed_between(excl_arr, a, b), recording.duration_s)
    by_reason = (
        excluded.assign(length=excluded["end_s"] - excluded["start_s"])
        .groupby("reason")["length"]
        .sum()
    )
    grid = recording.grid
    return {
        "fasciq_version": __version__,
        "n_fp": n_fp,
        "fp_per_min": rate,
        "fp_per_min_ci95": ci,
        "fp_per_min_upper95": upper,
        "analysed_s": analysed_s,
        "excluded_s": excluded_s,
        "excluded_by_reason_s": {str(k): float(v) for k, v in by_reason.items()},
        "n_units": 0,
        "bad_channels": setup.bad_channels,
        "line_freq_hz": setup.line_freq,
        "line_harmonics_hz": setup.harmonics,
        "neighbourhoods": setup.geometry,
        "n_ecg_like_rejected": stream.n_ecg,
        "intervals_s": {
            "n": len(gaps),
            "median": float(np.median(gaps)) if len(gaps) else None,
            "double_discharges": int(np.count_nonzero((gaps >= 0.010) & (gaps <= 0.110))),
        },
        "per_minute": [
            {
                k: (None if isinstance(v, float) and not np.isfinite(v) else v)
                for k, v in row.items()
            }
            for row in bins.to_dict(orient="records")
        ],
        "recording": {
            "source": None if recording.source is None else str(recording.source),
            "format": recording.format_name,
            "fs": recording.fs,
            "channels": list(recording.channel_labels),
            "n_channels": recording.n_channels,
            "duration_s": recording.duration_s,
            "grid": None if grid is None else grid.name,
        },
        "params": params.to_dict(),
        "execution": dataclasses.asdict(execution),
    }


__all__ = ["AnalysisParams", "ExecutionSettings", "analyze"]
