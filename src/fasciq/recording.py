"""The :class:`Recording`: the one data object every stage of fasciq reads.

Axis convention (used everywhere in fasciq): traces are 2-D arrays of shape
``(n_samples, n_channels)`` — time first, one column per channel — in
float32 microvolts (µV). Sample indices are 0-based from the start of the
recording; ``get_traces(start, stop)`` is half-open like a Python slice.

A recording is lazy: subclasses read only the samples asked for (memory map
or chunked file reads), so taking one second from the middle of a gigabyte
file touches only that second.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from fasciq.errors import DataError, ParameterError
from fasciq.grids.grid import Grid
from fasciq.validate import check_sampling_rate

ChannelSelector = Sequence[int] | Sequence[str] | np.ndarray | slice | None


@dataclass(frozen=True)
class Annotations:
    """Time-stamped marks carried by a recording.

    Parameters
    ----------
    onset : ndarray of float
        Start of each mark in seconds from the recording start.
    duration : ndarray of float
        Length in seconds (0 for instantaneous marks).
    description : tuple of str
        Text of each mark.
    """

    onset: np.ndarray = field(default_factory=lambda: np.zeros(0))
    duration: np.ndarray = field(default_factory=lambda: np.zeros(0))
    description: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        onset = np.asarray(self.onset, dtype=np.float64).reshape(-1)
        duration = np.asarray(self.duration, dtype=np.float64).reshape(-1)
        description = tuple(str(d) for d in self.description)
        if not (len(onset) == len(duration) == len(description)):
            raise ParameterError(
                "annotation onset, duration and description must have the same length",
                fix="give one duration and one description per onset",
                source="annotations",
            )
        order = np.argsort(onset, kind="stable")
        object.__setattr__(self, "onset", onset[order])
        object.__setattr__(self, "duration", duration[order])
        object.__setattr__(self, "description", tuple(description[i] for i in order))

    @classmethod
    def from_list(cls, items: Sequence[tuple[float, float, str]]) -> Annotations:
        """Build from ``(onset_s, duration_s, description)`` tuples."""
        if not items:
            return cls()
        onset, duration, desc = zip(*items, strict=True)
        return cls(np.array(onset), np.array(duration), tuple(desc))

    def __len__(self) -> int:
        return len(self.onset)

    def __iter__(self) -> Iterator[tuple[float, float, str]]:
        for o, d, t in zip(self.onset, self.duration, self.description, strict=True):
            yield float(o), float(d), t

    def __add__(self, other: Annotations) -> Annotations:
        return Annotations(
            np.concatenate([self.onset, other.onset]),
            np.concatenate([self.duration, other.duration]),
            self.description + other.description,
        )

    def to_list(self) -> list[dict[str, Any]]:
        """JSON-ready list of ``{"onset", "duration", "description"}``."""
        return [{"onset": o, "duration": d, "description": t} for o, d, t in self]


@dataclass(frozen=True)
class RecordingMetadata:
    """Who and what was recorded.

    Parameters
    ----------
    subject, session, muscle, side : str or None
        Identifiers as the lab uses them (``side`` e.g. ``"left"``).
    exposures : tuple of str
        Medications or substances that may change fasciculation
        (``"caffeine"``, ``"salbutamol"``...).
    start_time : str or None
        ISO 8601 start of the recording, if known.
    extra : dict
        Anything else (free-form, JSON-serialisable).
    """

    subject: str | None = None
    session: str | None = None
    muscle: str | None = None
    side: str | None = None
    exposures: tuple[str, ...] = ()
    start_time: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dictionary."""
        return {
            "subject": self.subject,
            "session": self.session,
            "muscle": self.muscle,
            "side": self.side,
            "exposures": list(self.exposures),
            "start_time": self.start_time,
            "extra": dict(self.extra),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> RecordingMetadata:
        """Inverse of :meth:`to_dict`; unknown keys go to ``extra``."""
        data = dict(data or {})
        known = {
            k: data.pop(k)
            for k in ("subject", "session", "muscle", "side", "start_time")
            if k in data
        }
        exposures = data.pop("exposures", ()) or ()
        if isinstance(exposures, str):
            exposures = tuple(e.strip() for e in exposures.split(",") if e.strip())
        extra = dict(data.pop("extra", {}) or {})
        extra.update(data)
        return cls(
            **{k: (None if v is None else str(v)) for k, v in known.items()},
            exposures=tuple(str(e) for e in exposures),
            extra=extra,
        )


@dataclass(frozen=True)
class Chunk:
    """One block of a chunked pass over a recording.

    ``traces`` covers samples ``[start - left, stop + right)``; the core
    ``[start, stop)`` is ``traces[left : len(traces) - right]``.
    """

    start: int
    stop: int
    left: int
    right: int
    traces: np.ndarray

    @property
    def core(self) -> np.ndarray:
        """The traces without margins."""
        return self.traces[self.left : self.traces.shape[0] - self.right]


class Recording:
    """A multichannel EMG recording with lazy access to its samples.

    Subclasses implement :meth:`_read` (and nothing else); everything else
    — channel selection, bounds checks, dtype — is handled here.

    Parameters
    ----------
    fs : float
        Sampling rate in Hz.
    n_samples : int
        Number of samples per channel.
    channel_labels : sequence of str
        One label per channel, unique.
    grid : Grid, optional
        Electrode grid (gives positions and neighbours).
    positions_mm : ndarray, shape (n_channels, 2), optional
        Electrode positions ``(x, y)`` in mm when known without a lattice
        (e.g. from a BIDS ``_electrodes.tsv``). Taken from ``grid`` if given.
    annotations : Annotations, optional
        Marks carried by the file.
    metadata : RecordingMetadata, optional
        Subject, session, muscle, side, exposures...
    source : path, optional
        File the recording was read from.
    format_name : str
        Human-readable format (``"BDF+"``, ``"OTB+"``...).
    file_unit : str
        Physical unit found in the file before conversion to µV.
    """

    unit = "uV"

    def __init__(
        self,
        *,
        fs: float,
        n_samples: int,
        channel_labels: Sequence[str],
        grid: Grid | None = None,
        positions_mm: np.ndarray | None = None,
        annotations: Annotations | None = None,
        metadata: RecordingMetadata | None = None,
        source: str | Path | None = None,
        format_name: str = "unknown",
        file_unit: str = "uV",
    ) -> None:
        self.source = None if source is None else Path(source)
        self.fs = check_sampling_rate(fs, self.source)
        self.n_samples = int(n_samples)
        labels = tuple(str(c) for c in channel_labels)
        if not labels:
            raise DataError(
                "the recording has no EMG channels",
                fix="check that the file holds EMG signals (fasciq info lists what was found)",
                source=self.source,
            )
        if len(set(labels)) != len(labels):
            seen: dict[str, int] = {}
            unique = []
            for lab in labels:
                seen[lab] = seen.get(lab, 0) + 1
                unique.append(lab if seen[lab] == 1 else f"{lab}-{seen[lab]}")
            labels = tuple(unique)
        if self.n_samples <= 0:
            raise DataError(
                "the recording holds no samples",
                fix="check that the file is complete and not truncated",
                source=self.source,
            )
        self.channel_labels = labels
        self.annotations = annotations if annotations is not None else Annotations()
        self.metadata = metadata if metadata is not None else RecordingMetadata()
        self.format_name = format_name
        self.file_unit = file_unit
        self._grid: Grid | None = None
        self._positions: np.ndarray | None = None
        if positions_mm is not None:
            self._set_positions(positions_mm)
        if grid is not None:
            self._set_grid(grid)

    # -- geometry --------------------------------------------------------------
    def _set_grid(self, grid: Grid) -> None:
        grid.check_channel_count(self.n_channels, self.source)
        self._grid = grid
        self._positions = np.array(grid.positions_mm)

    def _set_positions(self, positions_mm: np.ndarray) -> None:
        pos = np.asarray(positions_mm, dtype=np.float64)
        if pos.shape != (self.n_channels, 2):
            raise DataError(
                f"electrode positions have shape {pos.shape}, expected ({self.n_channels}, 2)",
                fix="give one (x, y) position in mm per EMG channel",
                source=self.source,
            )
        self._positions = pos
        if self._grid is None:
            self._grid = Grid.from_positions(pos, name="from electrode positions")

    @property
    def grid(self) -> Grid | None:
        """The electrode grid, or ``None`` when the geometry is unknown."""
        return self._grid

    @property
    def positions_mm(self) -> np.ndarray | None:
        """``(n_channels, 2)`` electrode positions in mm, or ``None``."""
        return self._positions

    def with_grid(self, grid: Grid | str | None) -> Recording:
        """A view of this recording with ``grid`` as its geometry.

        Raises :class:`~fasciq.errors.GridError` if the channel count differs.
        """
        from fasciq.grids.catalogue import get_grid

        resolved = get_grid(grid)
        view = self._view()
        if resolved is not None:
            view._set_grid(resolved)
        return view

    # -- shape -----------------------------------------------------------------
    @property
    def n_channels(self) -> int:
        """Number of EMG channels."""
        return len(self.channel_labels)

    @property
    def duration_s(self) -> float:
        """Length in seconds."""
        return self.n_samples / self.fs

    @property
    def dtype(self) -> np.dtype:
        """The dtype :meth:`get_traces` returns (float32)."""
        return np.dtype(np.float32)

    # -- data access -------------------------------------------------------------
    def channel_indices(self, channels: ChannelSelector) -> np.ndarray:
        """Resolve labels, indices, a slice or ``None`` to channel indices."""
        if channels is None:
            return np.arange(self.n_channels)
        if isinstance(channels, slice):
            return np.arange(self.n_channels)[channels]
        items = list(channels)
        if items and all(isinstance(c, str) for c in items):
            lookup = {lab: i for i, lab in enumerate(self.channel_labels)}
            missing = [c for c in items if c not in lookup]
            if missing:
                raise ParameterError(
                    f"unknown channel(s) {', '.join(missing)}",
                    fix=f"use labels from {', '.join(self.channel_labels[:8])}...",
                    source=self.source,
                )
            return np.array([lookup[c] for c in items], dtype=np.int64)
        idx = np.asarray(items, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < -self.n_channels or idx.max() >= self.n_channels):
            raise ParameterError(
                f"channel index out of range for {self.n_channels} channels",
                fix=f"use indices 0..{self.n_channels - 1}",
                source=self.source,
            )
        return idx % self.n_channels

    def get_traces(
        self, start: int = 0, stop: int | None = None, channels: ChannelSelector = None
    ) -> np.ndarray:
        """Samples ``[start, stop)`` as float32 µV of shape ``(n, n_channels)``.

        Parameters
        ----------
        start, stop : int
            Sample indices (half-open); ``stop=None`` means the end. Values
            are clipped to the recording.
        channels : sequence of int or str, slice, optional
            Channels to return, in the order given (all by default).
        """
        start = max(0, int(start))
        stop = self.n_samples if stop is None else min(int(stop), self.n_samples)
        idx = self.channel_indices(channels)
        if stop <= start:
            return np.zeros((0, len(idx)), dtype=np.float32)
        out = self._read(start, stop, idx)
        return np.ascontiguousarray(out, dtype=np.float32)

    def get_padded(self, start: int, stop: int, channels: ChannelSelector = None) -> np.ndarray:
        """Like :meth:`get_traces` but zero-padded where ``[start, stop)`` leaves the file."""
        idx = self.channel_indices(channels)
        out = np.zeros((stop - start, len(idx)), dtype=np.float32)
        lo, hi = max(start, 0), min(stop, self.n_samples)
        if hi > lo:
            out[lo - start : hi - start] = self.get_traces(lo, hi, idx)
        return out

    def iter_chunks(
        self,
        chunk_samples: int,
        margin: int = 0,
        channels: ChannelSelector = None,
        start: int = 0,
        stop: int | None = None,
    ) -> Iterator[Chunk]:
        """Walk the recording in blocks of ``chunk_samples`` with ``margin`` either side.

        Margins are clipped at the recording edges (``left``/``right`` say how
        much was added), so filters can run on a chunk without edge effects
        inside its core.
        """
        if chunk_samples <= 0:
            raise ParameterError(
                f"chunk length must be positive, got {chunk_samples}",
                fix="give a chunk length of at least one sample",
                source="chunk_samples",
            )
        stop = self.n_samples if stop is None else min(stop, self.n_samples)
        idx = self.channel_indices(channels)
        for a in range(start, stop, chunk_samples):
            b = min(a + chunk_samples, stop)
            lo, hi = max(0, a - margin), min(self.n_samples, b + margin)
            yield Chunk(a, b, a - lo, hi - b, self.get_traces(lo, hi, idx))

    def _read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        """Read samples ``[start, stop)`` of ``channels`` (already validated)."""
        raise NotImplementedError

    # -- views -----------------------------------------------------------------
    def _view(self) -> Recording:
        view = object.__new__(type(self))
        view.__dict__.update(self.__dict__)
        return view

    def select_channels(self, channels: ChannelSelector) -> Recording:
        """A lazy recording holding only ``channels`` (geometry kept)."""
        return ChannelSubsetRecording(self, self.channel_indices(channels))

    def with_metadata(self, **changes: Any) -> Recording:
        """A view with some metadata fields replaced."""
        view = self._view()
        view.metadata = replace(self.metadata, **changes)
        return view

    def load(self) -> ArrayRecording:
        """Read everything into memory (for small recordings and tests)."""
        return ArrayRecording(
            self.get_traces(),
            self.fs,
            channel_labels=self.channel_labels,
            grid=self.grid,
            positions_mm=None if self.grid is not None else self.positions_mm,
            annotations=self.annotations,
            metadata=self.metadata,
            source=self.source,
            format_name=self.format_name,
            file_unit=self.file_unit,
        )

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary (what ``fasciq info --json`` prints)."""
        return {
            "source": None if self.source is None else str(self.source),
            "format": self.format_name,
            "n_channels": self.n_channels,
            "fs": self.fs,
            "n_samples": self.n_samples,
            "duration_s": self.duration_s,
            "channels": list(self.channel_labels),
            "unit": self.unit,
            "file_unit": self.file_unit,
            "grid": None if self.grid is None else self.grid.describe(),
            "has_positions": self.positions_mm is not None,
            "annotations": self.annotations.to_list(),
            "metadata": self.metadata.to_dict(),
        }

    def __repr__(self) -> str:
        name = self.source.name if self.source else "in memory"
        return (
            f"<{type(self).__name__} {name}: {self.n_channels} ch, {self.fs:g} Hz, "
            f"{self.duration_s:.1f} s, {self.format_name}>"
        )


class ArrayRecording(Recording):
    """A recording held in memory as a ``(n_samples, n_channels)`` µV array."""

    def __init__(
        self,
        traces: np.ndarray,
        fs: float,
        channel_labels: Sequence[str] | None = None,
        **kwargs: Any,
    ) -> None:
        data = np.asarray(traces)
        if data.ndim == 1:
            data = data[:, None]
        if data.ndim != 2:
            raise DataError(
                f"traces must be 2-D (samples x channels), got shape {data.shape}",
                fix="pass an array of shape (n_samples, n_channels)",
                source=kwargs.get("source"),
            )
        if channel_labels is None:
            channel_labels = [f"ch{i + 1}" for i in range(data.shape[1])]
        if len(channel_labels) != data.shape[1]:
            raise DataError(
                f"{len(channel_labels)} labels for {data.shape[1]} channels",
                fix="give one label per column of the array",
                source=kwargs.get("source"),
            )
        kwargs.setdefault("format_name", "array")
        super().__init__(fs=fs, n_samples=data.shape[0], channel_labels=channel_labels, **kwargs)
        self._data = data

    def _read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        return self._data[start:stop, channels]


class ChannelSubsetRecording(Recording):
    """A lazy view of some channels of another recording."""

    def __init__(self, parent: Recording, channels: np.ndarray) -> None:
        channels = np.asarray(channels, dtype=np.int64)
        positions = None if parent.positions_mm is None else parent.positions_mm[channels]
        super().__init__(
            fs=parent.fs,
            n_samples=parent.n_samples,
            channel_labels=[parent.channel_labels[i] for i in channels],
            positions_mm=positions,
            annotations=parent.annotations,
            metadata=parent.metadata,
            source=parent.source,
            format_name=parent.format_name,
            file_unit=parent.file_unit,
        )
        self._parent = parent
        self._channels = channels

    def _read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        return self._parent.get_traces(start, stop, self._channels[channels])
