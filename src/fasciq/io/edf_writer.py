"""Streaming writer for EDF+ (16-bit) and BDF+ (24-bit) files with annotations.

:class:`EdfWriter` takes blocks of samples of any length and writes whole
data records as they fill, so memory does not grow with the length of the
recording. The output is EDF+C/BDF+C: every data record carries an
``EDF Annotations``/``BDF Annotations`` signal whose first TAL is the
record's time-keeping annotation, followed by the user annotations whose
onset falls in that record. The record count is patched into the header on
:meth:`EdfWriter.close`, and the file is renamed onto its target only then,
so an interrupted write never leaves a file that looks complete.

Header fields follow https://www.edfplus.info/specs/edf.html and
https://www.edfplus.info/specs/edfplus.html byte for byte (ASCII,
space-padded; BDF: first byte 0xFF, ``BIOSEMI``, version ``24BIT``). The
files are read back by edfio with identical annotations (see the tests).
"""

from __future__ import annotations

import contextlib
import datetime
import math
import os
import tempfile
from collections.abc import Sequence
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from fractions import Fraction
from os import PathLike
from pathlib import Path
from types import TracebackType

import numpy as np

from fasciq._logging import logger
from fasciq.errors import DataError, ParameterError
from fasciq.io._units import to_microvolt_factor
from fasciq.recording import Annotations, Recording, RecordingMetadata
from fasciq.validate import check_choice, check_output_free, check_positive

__all__ = ["EdfWriter", "write_edf"]

_DIGITAL = {"edf": (-32768, 32767), "bdf": (-8388608, 8388607)}
_BYTES = {"edf": 2, "bdf": 3}
_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
# room kept for the time-keeping TAL of any record ("+123456789.123456" 0x14 0x14 0x00)
_TIMEKEEPING_BYTES = 24


def _ascii_field(text: str, length: int) -> bytes:
    """Printable ASCII, space-padded to ``length`` (longer text is cut)."""
    clean = "".join(c if 32 <= ord(c) < 127 else "_" for c in text)
    return clean[:length].ljust(length).encode("ascii")


def _subfield(text: str | None) -> str:
    """An EDF+ subfield: no spaces, printable ASCII, ``X`` when unknown."""
    if not text:
        return "X"
    clean = "".join(c if 33 <= ord(c) < 127 else "_" for c in str(text).replace(" ", "_"))
    return clean or "X"


def _number_field(value: float, rounding: str | None = None) -> str:
    """``value`` as at most 8 characters, rounded outward by ``rounding`` if needed."""
    if float(value).is_integer() and len(str(int(value))) <= 8:
        return str(int(value))
    dec = Decimal(repr(float(value)))
    for places in range(7, -1, -1):
        q = dec.quantize(Decimal(1).scaleb(-places), rounding=rounding or ROUND_FLOOR)
        text = format(q, "f")
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if text in ("-0", ""):
            text = "0"
        if len(text) <= 8:
            if rounding is None and Decimal(text) != dec:
                break
            return text
    raise ParameterError(
        f"{value!r} cannot be written in the 8 characters an EDF header field allows",
        fix="use a physical range and record duration with fewer digits",
        source="edf header",
    )


def _tal(onset: float, duration: float, text: str) -> bytes:
    timing = np.format_float_positional(onset, unique=True, trim="-", sign=True)
    if duration > 0:
        timing += "\x15" + np.format_float_positional(duration, unique=True, trim="-")
    clean = text.replace("\x14", " ").replace("\x15", " ").replace("\x00", " ")
    return timing.encode("ascii") + b"\x14" + clean.encode("utf-8") + b"\x14\x00"


def _record_onset(record: int, duration: Decimal) -> bytes:
    onset = format(duration * record, "f")
    if "." in onset:
        onset = onset.rstrip("0").rstrip(".")
    return b"+" + onset.encode("ascii") + b"\x14\x14\x00"


class EdfWriter:
    """Write an EDF+/BDF+ file block by block.

    Parameters
    ----------
    path : path
        Output file.
    fs : float
        Sampling rate in Hz (the same for all channels).
    labels : sequence of str
        Channel labels (at most 16 ASCII characters each).
    fmt : {"bdf", "edf"}
        24-bit BDF+ (default) or 16-bit EDF+.
    physical_range_uv : (lo, hi) or ndarray of shape (n_channels, 2)
        Physical range in µV, global or per channel. Values outside are
        clipped (counted in :attr:`n_clipped`, warned about once).
    annotations : Annotations, optional
        Annotations to store (onsets in s from the first sample).
    metadata : RecordingMetadata, optional
        Subject (patient code), sex (``extra["sex"]``) and start time.
    record_duration_s : float
        Duration of a data record; ``fs * record_duration_s`` must be whole.
    overwrite : bool
        Replace an existing file at ``path``.
    physical_dimension : str
        Unit written in the header (``"uV"``, ``"mV"``...); samples are
        always given in µV and converted.

    Examples
    --------
    >>> with EdfWriter("out.bdf", fs=2048, labels=["ch1", "ch2"]) as w:  # doctest: +SKIP
    ...     for block in blocks:
    ...         w.write(block)
    """

    def __init__(
        self,
        path: str | PathLike[str],
        *,
        fs: float,
        labels: Sequence[str],
        fmt: str = "bdf",
        physical_range_uv: tuple[float, float] | np.ndarray = (-10000.0, 10000.0),
        annotations: Annotations | None = None,
        metadata: RecordingMetadata | None = None,
        record_duration_s: float = 1.0,
        overwrite: bool = False,
        physical_dimension: str = "uV",
    ) -> None:
        self.path = Path(path)
        self.fmt = check_choice(str(fmt).lower(), "fmt", ("bdf", "edf"))
        self.fs = check_positive(fs, "fs")
        self.labels = [str(lab) for lab in labels]
        if not self.labels:
            raise DataError(
                "no channels to write", fix="give at least one channel label", source=self.path
            )
        for lab in self.labels:
            if len(lab) > 16 or not all(32 <= ord(c) < 127 for c in lab):
                raise ParameterError(
                    f"channel label {lab!r} is not at most 16 printable ASCII characters",
                    fix="shorten or transliterate the channel labels",
                    source=self.path,
                )
        duration = check_positive(record_duration_s, "record_duration_s")
        self._duration_text = _number_field(duration)
        spr = Fraction(self._duration_text) * Fraction(repr(self.fs))
        if spr.denominator != 1 or spr < 1:
            raise ParameterError(
                f"a record of {self._duration_text} s at {self.fs:g} Hz is not a whole number "
                "of samples",
                fix="choose record_duration_s so that fs * record_duration_s is a whole number",
                source="record_duration_s",
            )
        self.samples_per_record = int(spr)
        self.record_duration = Decimal(self._duration_text)
        n_ch = len(self.labels)
        rng = np.asarray(physical_range_uv, dtype=np.float64)
        if rng.shape == (2,):
            rng = np.tile(rng, (n_ch, 1))
        if rng.shape != (n_ch, 2) or not np.isfinite(rng).all() or np.any(rng[:, 1] <= rng[:, 0]):
            raise ParameterError(
                f"physical_range_uv must be (lo, hi) with lo < hi, globally or one row per "
                f"channel ({n_ch}, 2); got shape {rng.shape}",
                fix="give finite ranges with lo < hi",
                source="physical_range_uv",
            )
        self.physical_dimension = physical_dimension
        unit_factor = to_microvolt_factor(physical_dimension, "physical_dimension")
        self._phys_text = [
            (
                _number_field(lo / unit_factor, ROUND_FLOOR),
                _number_field(hi / unit_factor, ROUND_CEILING),
            )
            for lo, hi in rng
        ]
        phys = np.array([[float(a), float(b)] for a, b in self._phys_text]) * unit_factor
        dmin, dmax = _DIGITAL[self.fmt]
        self._dmin, self._dmax = dmin, dmax
        self._phys_uv = phys
        self._gain = (phys[:, 1] - phys[:, 0]) / (dmax - dmin)  # µV per digital step
        self._lo = phys[:, 0]
        self.metadata = metadata or RecordingMetadata()
        self._annotation_tals, ann_bytes = self._plan_annotations(annotations or Annotations())
        bps = _BYTES[self.fmt]
        self._ann_spr = math.ceil((_TIMEKEEPING_BYTES + ann_bytes) / bps)
        self._data_bytes = n_ch * self.samples_per_record * bps
        self.record_bytes = self._data_bytes + self._ann_spr * bps
        self.n_records = 0
        self.n_clipped = 0
        self._pending = np.zeros((0, n_ch), dtype=np.float64)
        self._closed = False
        check_output_free(self.path, overwrite)
        self._overwrite = overwrite
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(
            prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent
        )
        self._tmp = Path(tmp)
        self._file = os.fdopen(fd, "w+b")
        try:
            self._file.write(self._header(-1))
        except BaseException:
            self.abort()
            raise

    # -- annotations -------------------------------------------------------------
    def _plan_annotations(self, annotations: Annotations) -> tuple[dict[int, list[bytes]], int]:
        """TALs per record index (by onset) and the bytes the busiest record needs."""
        per_record: dict[int, list[bytes]] = {}
        duration = float(self.record_duration)
        for onset, dur, text in annotations:
            if not (np.isfinite(onset) and np.isfinite(dur)) or dur < 0:
                raise ParameterError(
                    f"annotation {text!r} has onset {onset} and duration {dur}",
                    fix="give finite onsets and durations ≥ 0",
                    source="annotations",
                )
            record = max(0, int(onset // duration))
            per_record.setdefault(record, []).append(_tal(onset, dur, text))
        busiest = max((sum(len(t) for t in tals) for tals in per_record.values()), default=0)
        return per_record, busiest

    # -- header ----------------------------------------------------------------
    def _start(self) -> datetime.datetime | None:
        if not self.metadata.start_time:
            return None
        try:
            start = datetime.datetime.fromisoformat(str(self.metadata.start_time))
        except ValueError:
            logger.warning(
                "start time %r is not ISO 8601; written as unknown", self.metadata.start_time
            )
            return None
        if not 1985 <= start.year <= 2084:
            logger.warning(
                "start year %d is outside 1985-2084 (EDF); written as unknown", start.year
            )
            return None
        return start

    def _header(self, n_records: int) -> bytes:
        n_sig = len(self.labels) + 1
        start = self._start()
        sex = str(self.metadata.extra.get("sex", "X")).upper()
        patient = " ".join(
            [_subfield(self.metadata.subject), sex if sex in ("F", "M") else "X", "X", "X"]
        )
        if start is None:
            recording = "Startdate X X X X"
            date_field, time_field = "01.01.85", "00.00.00"
        else:
            recording = f"Startdate {start.day:02d}-{_MONTHS[start.month - 1]}-{start.year} X X X"
            date_field = start.strftime("%d.%m.%y")
            time_field = start.strftime("%H.%M.%S")
        if self.fmt == "bdf":
            version = b"\xffBIOSEMI"
            reserved = "BDF+C"
            ann_label = "BDF Annotations"
        else:
            version = b"0       "
            reserved = "EDF+C"
            ann_label = "EDF Annotations"
        out = [
            version,
            _ascii_field(patient, 80),
            _ascii_field(recording, 80),
            _ascii_field(date_field, 8),
            _ascii_field(time_field, 8),
            _ascii_field(str(256 * (n_sig + 1)), 8),
            _ascii_field(reserved, 44),
            _ascii_field(str(n_records), 8),
            _ascii_field(self._duration_text, 8),
            _ascii_field(str(n_sig), 4),
        ]
        n_ch = len(self.labels)
        ann_dmin, ann_dmax = _DIGITAL[self.fmt]

        def per_signal(values: list[str], width: int) -> bytes:
            return b"".join(_ascii_field(v, width) for v in values)

        out += [
            per_signal([*self.labels, ann_label], 16),
            per_signal(["AgAgCl electrode"] * n_ch + [""], 80),
            per_signal([self.physical_dimension] * n_ch + [""], 8),
            per_signal([lo for lo, _ in self._phys_text] + ["-1"], 8),
            per_signal([hi for _, hi in self._phys_text] + ["1"], 8),
            per_signal([str(self._dmin)] * n_ch + [str(ann_dmin)], 8),
            per_signal([str(self._dmax)] * n_ch + [str(ann_dmax)], 8),
            per_signal([""] * n_sig, 80),
            per_signal([str(self.samples_per_record)] * n_ch + [str(self._ann_spr)], 8),
            per_signal([""] * n_sig, 32),
        ]
        header = b"".join(out)
        if len(header) != 256 * (n_sig + 1):  # pragma: no cover - layout invariant
            raise RuntimeError(f"EDF header is {len(header)} bytes, not {256 * (n_sig + 1)}")
        return header

    # -- data ------------------------------------------------------------------
    def write(self, block: np.ndarray) -> None:
        """Append samples.

        Parameters
        ----------
        block : ndarray, shape (n_samples, n_channels)
            Samples in µV, any number of rows. Partial records are kept
            until more samples (or :meth:`close`) complete them.
        """
        if self._closed:
            raise ParameterError(
                "the writer is closed", fix="open a new EdfWriter", source=self.path
            )
        x = np.asarray(block, dtype=np.float64)
        if x.ndim == 1 and len(self.labels) == 1:
            x = x[:, None]
        if x.ndim != 2 or x.shape[1] != len(self.labels):
            raise DataError(
                f"block of shape {x.shape} does not have {len(self.labels)} channels",
                fix="pass an array of shape (n_samples, n_channels)",
                source=self.path,
            )
        if not np.isfinite(x).all():
            raise DataError(
                "the samples hold NaN or infinite values",
                fix="remove or interpolate non-finite samples before writing",
                source=self.path,
            )
        if len(self._pending):
            x = np.concatenate([self._pending, x])
        spr = self.samples_per_record
        n_full = len(x) // spr
        if n_full:
            self._write_records(x[: n_full * spr])
        self._pending = x[n_full * spr :].copy()

    def _digitise(self, x: np.ndarray) -> np.ndarray:
        d = np.rint((x - self._lo) / self._gain) + self._dmin
        outside = (d < self._dmin) | (d > self._dmax)
        n_out = int(outside.sum())
        if n_out:
            if self.n_clipped == 0:
                logger.warning(
                    "%s: samples outside the physical range are clipped (first block: %d samples)",
                    self.path.name,
                    n_out,
                )
            self.n_clipped += n_out
            np.clip(d, self._dmin, self._dmax, out=d)
        return d.astype(np.int32)

    def _write_records(self, x: np.ndarray) -> None:
        spr, n_ch = self.samples_per_record, len(self.labels)
        n_rec = len(x) // spr
        digital = self._digitise(x).reshape(n_rec, spr, n_ch).transpose(0, 2, 1)
        buf = np.zeros((n_rec, self.record_bytes), dtype=np.uint8)
        if self.fmt == "edf":
            data = np.ascontiguousarray(digital, dtype="<i2").view(np.uint8)
        else:
            data = np.ascontiguousarray(digital, dtype="<i4").view(np.uint8)
            data = data.reshape(n_rec, n_ch, spr, 4)[..., :3]
        buf[:, : self._data_bytes] = data.reshape(n_rec, -1)
        for r in range(n_rec):
            tal = self._annotation_bytes(self.n_records + r)
            buf[r, self._data_bytes : self._data_bytes + len(tal)] = np.frombuffer(tal, np.uint8)
        self._file.write(buf.tobytes())
        self.n_records += n_rec

    def _annotation_bytes(self, record: int) -> bytes:
        tals = [_record_onset(record, self.record_duration), *self._annotation_tals.pop(record, ())]
        return b"".join(tals)

    # -- closing ---------------------------------------------------------------
    def close(self) -> Path:
        """Finish the file: pad the last record, patch the header, rename onto ``path``.

        Returns
        -------
        Path
            The written file.
        """
        if self._closed:
            return self.path
        try:
            if len(self._pending):
                n_pad = self.samples_per_record - len(self._pending)
                zero = np.clip(0.0, self._phys_uv[:, 0], self._phys_uv[:, 1])
                pad = np.broadcast_to(zero, (n_pad, len(self.labels)))
                self._write_records(np.concatenate([self._pending, pad]))
                self._pending = self._pending[:0]
            elif self.n_records == 0:
                raise DataError(
                    "no samples were written",
                    source=self.path,
                    fix="write at least one block of samples before closing",
                )
            if self._annotation_tals:
                leftovers = [
                    t for r in sorted(self._annotation_tals) for t in self._annotation_tals[r]
                ]
                self._annotation_tals.clear()
                self._patch_last_record(leftovers)
            self._file.seek(236)
            self._file.write(_ascii_field(str(self.n_records), 8))
            self._file.close()
            os.replace(self._tmp, self.path)
        except BaseException:
            self.abort()
            raise
        self._closed = True
        logger.info(
            "Wrote %s: %d records of %s s, %d channels",
            self.path.name,
            self.n_records,
            self._duration_text,
            len(self.labels),
        )
        return self.path

    def _patch_last_record(self, leftovers: list[bytes]) -> None:
        """Append TALs of annotations after the data end to the last record, if room."""
        bps = _BYTES[self.fmt]
        room = self._ann_spr * bps
        pos = self._file.tell()
        start = pos - self.record_bytes + self._data_bytes
        self._file.seek(start)
        current = self._file.read(room)
        used = current.rstrip(b"\x00")
        used += b"\x00" if used.endswith(b"\x14") else b""
        kept, dropped = [], 0
        for tal in leftovers:
            if len(used) + sum(len(t) for t in kept) + len(tal) <= room:
                kept.append(tal)
            else:
                dropped += 1
        if dropped:
            logger.warning(
                "%s: %d annotation(s) after the end of the data did not fit in the "
                "last record and were not written",
                self.path.name,
                dropped,
            )
        self._file.seek(start)
        self._file.write((used + b"".join(kept)).ljust(room, b"\x00"))
        self._file.seek(pos)

    def abort(self) -> None:
        """Discard the file being written (nothing appears at ``path``)."""
        self._closed = True
        with contextlib.suppress(Exception):
            self._file.close()
        with contextlib.suppress(FileNotFoundError):
            self._tmp.unlink()

    def __enter__(self) -> EdfWriter:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc_type is not None:
            self.abort()
        else:
            self.close()


def _record_layout(n_samples: int, fs: float) -> tuple[float, int]:
    """Record duration and samples per record so that records are whole where possible.

    Takes the largest divisor of ``n_samples`` that gives a record of at most
    1 s with a duration writable in 8 characters; falls back to 1 s (or the
    shortest writable duration) with the last record padded.
    """
    fs_frac = Fraction(repr(float(fs)))

    def writable(spr: int) -> float | None:
        dur = Fraction(spr) / fs_frac
        try:
            text = _number_field(float(dur))
        except ParameterError:
            return None
        return float(text) if Fraction(text) == dur else None

    limit = min(n_samples, math.floor(fs))
    min_spr = max(1, math.ceil(0.1 * fs))
    for spr in range(limit, min_spr - 1, -1):
        if n_samples % spr == 0:
            dur = writable(spr)
            if dur is not None:
                return dur, spr
    for dur_text in ("1", "0.5", "0.25", "0.2", "0.1", "2", "5", "10"):
        spr_frac = Fraction(dur_text) * fs_frac
        if spr_frac.denominator == 1:
            return float(dur_text), int(spr_frac)
    raise ParameterError(
        f"no EDF record duration fits the sampling rate {fs:g} Hz",
        fix="resample to a rate with at most a few decimals",
        source="fs",
    )


def write_edf(
    recording: Recording,
    path: str | PathLike[str],
    *,
    fmt: str | None = None,
    annotations: Annotations | None = None,
    overwrite: bool = False,
    chunk_s: float = 10.0,
) -> Path:
    """Write a recording as EDF+ or BDF+, streaming it in chunks.

    A first pass finds each channel's minimum and maximum so that the
    physical range is tight and the round-trip error is at most half a
    digital step; the second pass writes. Records are chosen to hold whole
    samples of the recording where possible (otherwise the last record is
    zero-padded).

    Parameters
    ----------
    recording : Recording
        What to write.
    path : path
        Output ``.edf`` or ``.bdf`` file.
    fmt : {"edf", "bdf"}, optional
        Format; from the suffix of ``path`` by default.
    annotations : Annotations, optional
        Defaults to ``recording.annotations``.
    overwrite : bool
        Replace an existing file.
    chunk_s : float
        Seconds read per chunk.

    Returns
    -------
    Path
        The written file.
    """
    p = Path(path)
    if fmt is None:
        suffix = p.suffix.lower().lstrip(".")
        if suffix not in ("edf", "bdf"):
            raise ParameterError(
                f"cannot tell EDF from BDF by the suffix {p.suffix!r}",
                fix="name the file .edf or .bdf, or pass fmt='edf'/'bdf'",
                source=p,
            )
        fmt = suffix
    check_output_free(p, overwrite)
    if recording.n_channels == 0:
        raise DataError(
            "the recording has no channels to write", source=p, fix="select at least one channel"
        )
    chunk = max(1, round(check_positive(chunk_s, "chunk_s") * recording.fs))
    lo = np.full(recording.n_channels, np.inf)
    hi = np.full(recording.n_channels, -np.inf)
    for c in recording.iter_chunks(chunk):
        x = c.core
        if not np.isfinite(x).all():
            bad = np.flatnonzero(~np.isfinite(x).all(axis=0))
            names = ", ".join(recording.channel_labels[i] for i in bad[:5])
            raise DataError(
                f"channel(s) {names} hold NaN or infinite values near sample {c.start}",
                fix="remove or interpolate non-finite samples before writing",
                source=p,
            )
        lo = np.minimum(lo, x.min(axis=0))
        hi = np.maximum(hi, x.max(axis=0))
    flat = hi - lo < 1e-3
    lo[flat] -= 1.0
    hi[flat] += 1.0
    duration, _ = _record_layout(recording.n_samples, recording.fs)
    labels = [lab[:16] for lab in recording.channel_labels]
    with EdfWriter(
        p,
        fs=recording.fs,
        labels=labels,
        fmt=fmt,
        physical_range_uv=np.column_stack([lo, hi]),
        annotations=recording.annotations if annotations is None else annotations,
        metadata=recording.metadata,
        record_duration_s=duration,
        overwrite=overwrite,
    ) as writer:
        for c in recording.iter_chunks(chunk):
            writer.write(c.core)
    return p
