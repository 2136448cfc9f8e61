"""Reader for EDF, EDF+, BDF and BDF+ files.

The header (labels, physical and digital ranges, physical dimensions, samples
per data record, patient and recording fields) is parsed by :mod:`edfio`. The
samples are decoded here, lazily: each :meth:`EdfRecording.get_traces` call
maps only the data records that cover the requested samples
(:func:`numpy.memmap` of that window of the file) and gathers only the bytes of
the requested channels, then scales digital values to physical values and to
µV. EDF samples are little-endian int16, BDF samples 24-bit little-endian
two's complement, assembled vectorised into int32.

EDF+ annotations (time-stamped annotation lists, TALs) are parsed from the
``EDF Annotations``/``BDF Annotations`` signal of every data record. The
first TAL of each record is its time-keeping annotation; for EDF+D/BDF+D files
the reader checks these onsets and accepts the file only if the records are
in fact contiguous.

Verified against: round trips with files written by edfio (EDF+, BDF,
annotations identical to ``edfio.Edf.annotations``), files written byte for
byte by hand after the specification at https://www.edfplus.info/specs/edf.html
and https://www.edfplus.info/specs/edfplus.html (plain EDF, EDF+D,
mixed-rate), and fasciq's own :class:`~fasciq.io.edf_writer.EdfWriter`.
"""

from __future__ import annotations

import datetime
import re
import warnings
from collections import Counter
from dataclasses import dataclass, field
from decimal import InvalidOperation
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from fasciq._logging import logger
from fasciq.errors import DataError, FormatError
from fasciq.io._units import is_voltage_unit, to_microvolt_factor
from fasciq.recording import Annotations, Recording, RecordingMetadata
from fasciq.validate import check_file_exists

__all__ = [
    "EdfHeader",
    "EdfRecording",
    "EdfSignalHeader",
    "check_contiguous",
    "parse_tals",
    "pick_channels",
    "read_edf",
    "read_edf_annotations",
    "read_edf_header",
]

_FIX_REEXPORT = "re-export the recording from the acquisition software or copy it again"

# one TAL: onset, optional duration, texts separated by 0x14, closed by 0x14 0x00
_TAL = re.compile(rb"([+-]\d+(?:\.\d*)?)(?:\x15(\d+(?:\.\d*)?))?\x14(.*?)\x14\x00", re.DOTALL)

_MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")


@dataclass(frozen=True)
class EdfSignalHeader:
    """The header of one signal of an EDF/BDF file.

    Parameters
    ----------
    label, unit : str
        Signal label and physical dimension as written.
    physical_min, physical_max : float
        Physical range.
    digital_min, digital_max : int
        Digital range.
    samples_per_record : int
        Samples of this signal in each data record.
    fs : float
        Sampling rate in Hz (0 for annotation signals of a file without
        record duration).
    is_annotation : bool
        True for ``EDF Annotations``/``BDF Annotations`` signals.
    byte_offset : int
        Offset of this signal's samples inside a data record, in bytes.
    transducer, prefiltering : str
        Free text from the header.
    """

    label: str
    unit: str
    physical_min: float
    physical_max: float
    digital_min: int
    digital_max: int
    samples_per_record: int
    fs: float
    is_annotation: bool
    byte_offset: int
    transducer: str = ""
    prefiltering: str = ""

    @property
    def gain(self) -> float:
        """Physical units per digital step."""
        return (self.physical_max - self.physical_min) / (self.digital_max - self.digital_min)

    @property
    def offset(self) -> float:
        """Physical value of digital 0."""
        return self.physical_min - self.digital_min * self.gain


@dataclass(frozen=True)
class EdfHeader:
    """Everything the reader needs from an EDF/BDF header.

    Parameters
    ----------
    path : Path
        The file.
    kind : {"EDF", "BDF"}
        16-bit EDF or 24-bit BDF.
    reserved : str
        The reserved field (``"EDF+C"``, ``"BDF+D"``, empty...).
    header_bytes : int
        Size of the header (start of the first data record).
    n_records : int
        Number of data records (from the file size when the header says -1).
    record_duration : float
        Seconds per data record.
    signals : tuple of EdfSignalHeader
        All signals, annotation signals included, in file order.
    patient, recording : str
        Local patient and recording identification fields.
    startdate, starttime : str
        ``dd.mm.yy`` and ``hh.mm.ss`` fields.
    """

    path: Path
    kind: str
    reserved: str
    header_bytes: int
    n_records: int
    record_duration: float
    signals: tuple[EdfSignalHeader, ...]
    patient: str = ""
    recording: str = ""
    startdate: str = ""
    starttime: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def bytes_per_sample(self) -> int:
        """2 for EDF, 3 for BDF."""
        return 3 if self.kind == "BDF" else 2

    @property
    def record_bytes(self) -> int:
        """Size of one data record in bytes."""
        return sum(s.samples_per_record for s in self.signals) * self.bytes_per_sample

    @property
    def is_plus(self) -> bool:
        """True for EDF+/BDF+ files."""
        return self.reserved.upper().startswith(("EDF+", "BDF+"))

    @property
    def is_discontinuous(self) -> bool:
        """True when the reserved field declares EDF+D/BDF+D."""
        return self.reserved.upper().startswith(("EDF+D", "BDF+D"))

    @property
    def format_name(self) -> str:
        """``"EDF"``, ``"EDF+"``, ``"BDF"`` or ``"BDF+"``."""
        return self.kind + ("+" if self.is_plus else "")


def _decode_field(raw: bytes) -> str:
    return raw.decode("latin-1").strip()


def _parse_int_field(raw: bytes, what: str, path: Path) -> int:
    text = _decode_field(raw)
    try:
        return int(text)
    except ValueError:
        try:
            value = float(text)
        except ValueError:
            value = float("nan")
        if np.isfinite(value) and value == int(value):
            return int(value)
        raise FormatError(
            f"the header field '{what}' holds {text!r}, not a whole number",
            fix=f"the file is not a valid EDF/BDF file; {_FIX_REEXPORT}",
            source=path,
        ) from None


def read_edf_header(path: str | PathLike[str]) -> EdfHeader:
    """Parse the header of an EDF/BDF file (without touching its data).

    Parameters
    ----------
    path : path
        The ``.edf``/``.bdf`` file.

    Returns
    -------
    EdfHeader

    Raises
    ------
    FormatError
        If the header is malformed or the file size disagrees with it.
    """
    import edfio

    p = check_file_exists(path)
    size = p.stat().st_size
    with open(p, "rb") as f:
        fixed = f.read(256)
        if len(fixed) < 256:
            raise FormatError(
                f"the file holds {size} bytes, less than the 256-byte EDF header",
                fix=f"the file is truncated; {_FIX_REEXPORT}",
                source=p,
            )
        header_bytes = _parse_int_field(fixed[184:192], "number of bytes in header", p)
        f.seek(0)
        raw = f.read(header_bytes)
    if fixed[:8] == b"\xffBIOSEMI":
        kind = "BDF"
    elif fixed[:8] == b"0       ":
        kind = "EDF"
    else:
        raise FormatError(
            f"the file starts with {fixed[:8]!r}, not an EDF ('0') or BDF (0xFF 'BIOSEMI') "
            "version field",
            fix="check that this is an EDF or BDF file",
            source=p,
        )
    if len(raw) < header_bytes:
        raise FormatError(
            f"the header says it is {header_bytes} bytes long but the file holds only {size} bytes",
            fix=f"the file is truncated; {_FIX_REEXPORT}",
            source=p,
        )
    n_records_field = _parse_int_field(fixed[236:244], "number of data records", p)
    try:
        with warnings.catch_warnings():
            # the data area is left out on purpose: edfio parses the header only
            warnings.simplefilter("ignore")
            reader = edfio.read_bdf if kind == "BDF" else edfio.read_edf
            parsed = reader(raw, header_encoding="latin-1")
        record_duration = float(parsed.data_record_duration)
        # all signals, annotation signals included (``signals`` leaves those out)
        sig_raw = getattr(parsed, "_signals", ())
        n_signals = _parse_int_field(fixed[252:256], "number of signals", p)
        if len(sig_raw) != n_signals:
            raise ValueError(f"{len(sig_raw)} signal headers parsed, {n_signals} declared")
        bps = 3 if kind == "BDF" else 2
        signals = []
        offset = 0
        for s in sig_raw:
            spr = int(s.samples_per_data_record)
            is_ann = s.label.strip() in ("EDF Annotations", "BDF Annotations")
            signals.append(
                EdfSignalHeader(
                    label=s.label.strip(),
                    unit=s.physical_dimension.strip(),
                    physical_min=float(s.physical_min),
                    physical_max=float(s.physical_max),
                    digital_min=int(s.digital_min),
                    digital_max=int(s.digital_max),
                    samples_per_record=spr,
                    fs=spr / record_duration if record_duration > 0 else 0.0,
                    is_annotation=is_ann,
                    byte_offset=offset,
                    transducer=s.transducer_type.strip(),
                    prefiltering=s.prefiltering.strip(),
                )
            )
            offset += spr * bps
        reserved = parsed.reserved.strip()
        patient = parsed.local_patient_identification.strip()
        recording = parsed.local_recording_identification.strip()
    except (ValueError, IndexError, KeyError, InvalidOperation) as exc:
        raise FormatError(
            f"the EDF/BDF header cannot be parsed ({exc})",
            fix=f"check the header fields; {_FIX_REEXPORT}",
            source=p,
        ) from exc
    header = EdfHeader(
        path=p,
        kind=kind,
        reserved=reserved,
        header_bytes=header_bytes,
        n_records=n_records_field,
        record_duration=record_duration,
        signals=tuple(signals),
        patient=patient,
        recording=recording,
        startdate=_decode_field(fixed[168:176]),
        starttime=_decode_field(fixed[176:184]),
    )
    for s in header.signals:
        if not s.is_annotation and s.digital_max <= s.digital_min:
            raise FormatError(
                f"signal {s.label!r} has digital maximum {s.digital_max} not above its "
                f"digital minimum {s.digital_min}",
                fix=f"correct the signal header; {_FIX_REEXPORT}",
                source=p,
            )
    return _check_size(header, size)


def _check_size(header: EdfHeader, size: int) -> EdfHeader:
    rb = header.record_bytes
    data_bytes = size - header.header_bytes
    if rb <= 0:
        raise FormatError(
            "the header declares data records of 0 bytes",
            fix=f"check the samples-per-record fields; {_FIX_REEXPORT}",
            source=header.path,
        )
    if header.n_records == -1:
        if data_bytes % rb:
            raise FormatError(
                f"the header gives no record count (-1, still recording) and the "
                f"{data_bytes} data bytes are not a whole number of {rb}-byte records",
                fix=f"the file is truncated; {_FIX_REEXPORT}",
                source=header.path,
            )
        n = data_bytes // rb
        logger.info(
            "%s: record count -1 in the header; %d records from the file size", header.path.name, n
        )
        header = _replace_records(header, n)
    expected = header.n_records * rb
    if data_bytes < expected:
        raise FormatError(
            f"header says {header.n_records} data records of {rb} bytes but the file holds "
            f"{size} bytes ({header.header_bytes} header + {max(data_bytes, 0)} data); "
            "the file is truncated",
            fix="re-export or copy it again",
            source=header.path,
        )
    if data_bytes > expected:
        logger.warning(
            "%s: %d bytes after the last of the %d data records are ignored",
            header.path.name,
            data_bytes - expected,
            header.n_records,
        )
    if header.n_records <= 0:
        raise FormatError(
            "the file holds no data records",
            fix=f"the recording is empty; {_FIX_REEXPORT}",
            source=header.path,
        )
    return header


def _replace_records(header: EdfHeader, n_records: int) -> EdfHeader:
    from dataclasses import replace

    return replace(header, n_records=n_records)


def parse_tals(raw: bytes) -> list[tuple[float, float | None, list[str]]]:
    """Parse the time-stamped annotation lists of one data record.

    Parameters
    ----------
    raw : bytes
        The bytes of one record's annotation signal.

    Returns
    -------
    list of (onset, duration, texts)
        ``duration`` is ``None`` when the TAL gives none; ``texts`` holds
        the (UTF-8 decoded) annotation texts, empty strings included.
    """
    out = []
    for onset, duration, texts in _TAL.findall(raw):
        out.append(
            (
                float(onset),
                float(duration) if duration else None,
                [t.decode("utf-8", errors="replace") for t in texts.split(b"\x14")],
            )
        )
    return out


def _start_time(header: EdfHeader, subsecond: float) -> str | None:
    try:
        day, month, year = (int(x) for x in re.split(r"[.:\-/ ']", header.startdate)[:3])
        hh, mm, ss = (int(x) for x in re.split(r"[.:\-/ ']", header.starttime)[:3])
        year += 1900 if year >= 85 else 2000
        fields = header.recording.split()
        if header.is_plus and len(fields) > 1 and fields[0] == "Startdate":
            parts = fields[1].split("-")
            if len(parts) == 3 and parts[1].upper() in _MONTHS:
                year = int(parts[2])
        start = datetime.datetime(year, month, day, hh, mm, ss)
    except (ValueError, IndexError):
        return None
    start += datetime.timedelta(seconds=subsecond)
    return start.isoformat()


def _metadata(
    header: EdfHeader, subsecond: float, skipped: list[dict[str, str]]
) -> RecordingMetadata:
    subject = None
    extra: dict[str, Any] = {"edf_reserved": header.reserved}
    if header.is_plus:
        fields = header.patient.split()
        if fields and fields[0] != "X":
            subject = fields[0].replace("_", " ")
        if len(fields) > 1 and fields[1] in ("F", "M"):
            extra["sex"] = fields[1]
        rec_fields = header.recording.split()
        if len(rec_fields) > 4 and rec_fields[4] != "X":
            extra["equipment"] = rec_fields[4].replace("_", " ")
    if skipped:
        extra["skipped_channels"] = skipped
    return RecordingMetadata(
        subject=subject, start_time=_start_time(header, subsecond), extra=extra
    )


class EdfRecording(Recording):
    """A lazy EDF/EDF+/BDF/BDF+ recording (see :func:`read_edf`).

    Parameters
    ----------
    header : EdfHeader
        The parsed header.
    signal_indices : sequence of int
        Indices in ``header.signals`` of the EMG channels, all at one rate.
    units : list of str, optional
        Physical unit of each channel, overriding the header (e.g. from a
        BIDS ``_channels.tsv``).
    **kwargs
        Passed to :class:`~fasciq.recording.Recording`.
    """

    def __init__(
        self,
        header: EdfHeader,
        signal_indices: list[int],
        units: list[str] | None = None,
        **kwargs: Any,
    ) -> None:
        sigs = [header.signals[i] for i in signal_indices]
        spr = sigs[0].samples_per_record
        kwargs.setdefault("format_name", header.format_name)
        super().__init__(
            fs=sigs[0].fs,
            n_samples=header.n_records * spr,
            channel_labels=[s.label for s in sigs],
            source=header.path,
            **kwargs,
        )
        self._header = header
        self._spr = spr
        self._byte_offsets = np.array([s.byte_offset for s in sigs], dtype=np.int64)
        units = [s.unit for s in sigs] if units is None else list(units)
        factors = np.array([to_microvolt_factor(u, header.path) for u in units])
        self._gain = np.array([s.gain for s in sigs]) * factors
        self._offset = np.array([s.offset for s in sigs]) * factors

    @property
    def header(self) -> EdfHeader:
        """The parsed file header."""
        return self._header

    def _map_records(self, first: int, stop: int) -> np.ndarray:
        """Memory-map data records ``[first, stop)`` as ``(n, record_bytes)`` uint8."""
        h = self._header
        try:
            return np.memmap(
                h.path,
                dtype=np.uint8,
                mode="r",
                offset=h.header_bytes + first * h.record_bytes,
                shape=(stop - first, h.record_bytes),
            )
        except (OSError, ValueError) as exc:
            raise FormatError(
                f"cannot map data records {first}..{stop - 1} ({exc})",
                fix="check that the file is still present and complete",
                source=h.path,
            ) from exc

    def _read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        spr = self._spr
        first, last = start // spr, (stop - 1) // spr + 1
        block = self._map_records(first, last)
        out = decode_records(
            block,
            self._byte_offsets[channels],
            spr,
            self._header.bytes_per_sample,
            self._gain[channels],
            self._offset[channels],
        )
        del block
        lo = start - first * spr
        return out[lo : lo + (stop - start)]


def decode_records(
    block: np.ndarray,
    byte_offsets: np.ndarray,
    samples_per_record: int,
    bytes_per_sample: int,
    gain: np.ndarray,
    offset: np.ndarray,
) -> np.ndarray:
    """Decode whole data records to float32 physical values.

    Parameters
    ----------
    block : ndarray of uint8, shape (n_records, record_bytes)
        Raw data records.
    byte_offsets : ndarray of int, shape (n_channels,)
        Start of each wanted signal inside a record, in bytes.
    samples_per_record : int
        Samples of each wanted signal per record (all equal).
    bytes_per_sample : {2, 3}
        2 for EDF (int16), 3 for BDF (24-bit two's complement).
    gain, offset : ndarray, shape (n_channels,)
        ``value = digital * gain + offset`` for each channel.

    Returns
    -------
    ndarray of float32, shape (n_records * samples_per_record, n_channels)
    """
    n_rec = block.shape[0]
    n_ch = len(byte_offsets)
    span = samples_per_record * bytes_per_sample
    if n_ch and np.all(np.diff(byte_offsets) == span):
        a = int(byte_offsets[0])
        raw = block[:, a : a + n_ch * span].reshape(n_rec, n_ch, span)
    else:
        raw = block[:, byte_offsets[:, None] + np.arange(span)]
    if bytes_per_sample == 2:
        ints = np.ascontiguousarray(raw).view("<i2")
        scale = np.asarray(gain, dtype=np.float32)
    else:
        # place the 3 bytes in the upper bytes of an int32: the sign comes for free
        # and the value is 256 times the sample, folded into the gain
        wide = np.zeros((n_rec, n_ch, samples_per_record, 4), dtype=np.uint8)
        wide[..., 1:] = raw.reshape(n_rec, n_ch, samples_per_record, 3)
        ints = wide.view("<i4")[..., 0]
        scale = np.asarray(np.asarray(gain) / 256.0, dtype=np.float32)
    out = np.empty((n_rec, samples_per_record, n_ch), dtype=np.float32)
    np.multiply(ints.transpose(0, 2, 1), scale, out=out, casting="unsafe")
    out += np.asarray(offset, dtype=np.float32)
    return out.reshape(n_rec * samples_per_record, n_ch)


def read_edf_annotations(header: EdfHeader) -> tuple[Annotations, np.ndarray | None]:
    """User annotations and the time-keeping onset of every record.

    Parameters
    ----------
    header : EdfHeader
        The parsed header.

    Returns
    -------
    annotations : Annotations
        User annotations, onsets in s from the first sample.
    onsets : ndarray or None
        Time-keeping onset of each data record (``None`` without TALs).
    """
    ann_sigs = [s for s in header.signals if s.is_annotation]
    if not ann_sigs:
        return Annotations(), None
    bps = header.bytes_per_sample
    items: list[tuple[float, float, str]] = []
    record_onsets = np.zeros(header.n_records)
    rb = header.record_bytes
    step = max(1, (64 << 20) // rb)
    for first in range(0, header.n_records, step):
        stop = min(header.n_records, first + step)
        block = np.memmap(
            header.path,
            dtype=np.uint8,
            mode="r",
            offset=header.header_bytes + first * rb,
            shape=(stop - first, rb),
        )
        for k, sig in enumerate(ann_sigs):
            part = np.array(
                block[:, sig.byte_offset : sig.byte_offset + sig.samples_per_record * bps]
            )
            for r in range(part.shape[0]):
                tals = parse_tals(part[r].tobytes())
                if k == 0:
                    if not tals:
                        raise FormatError(
                            f"data record {first + r} has no time-keeping annotation",
                            fix=f"every EDF+ data record must start with one; {_FIX_REEXPORT}",
                            source=header.path,
                        )
                    record_onsets[first + r] = tals[0][0]
                    tals = [(*tals[0][:2], tals[0][2][1:]), *tals[1:]]
                for onset, duration, texts in tals:
                    items.extend((onset, duration or 0.0, t) for t in texts if t)
        del block
    offset = record_onsets[0]
    if offset:
        items = [(round(o - offset, 12), d, t) for o, d, t in items]
    return Annotations.from_list(items), record_onsets


def check_contiguous(header: EdfHeader, onsets: np.ndarray | None) -> None:
    """Raise :class:`FormatError` if an EDF+D/BDF+D file has gaps between records.

    Parameters
    ----------
    header : EdfHeader
        The parsed header.
    onsets : ndarray or None
        Time-keeping onsets from :func:`read_edf_annotations`.
    """
    if not header.is_discontinuous:
        return
    if onsets is None:
        raise FormatError(
            f"the file is {header.reserved[:5]} (discontinuous) but has no annotation "
            "signal to time its records",
            fix="export the recording as continuous EDF+C/BDF+C",
            source=header.path,
        )
    expected = onsets[0] + np.arange(len(onsets)) * header.record_duration
    gaps = np.flatnonzero(np.abs(onsets - expected) > 1e-6 * max(1.0, header.record_duration))
    if gaps.size:
        r = int(gaps[0])
        raise FormatError(
            f"the file is {header.reserved[:5]} (discontinuous): data record {r} starts at "
            f"{onsets[r]:g} s instead of {expected[r]:g} s",
            fix="fasciq analyses continuous recordings; export each continuous segment as "
            "its own EDF+C/BDF+C file",
            source=header.path,
        )
    logger.info(
        "%s: %s file whose records are contiguous; read as continuous",
        header.path.name,
        header.reserved[:5],
    )


def pick_channels(
    header: EdfHeader, units: dict[int, str] | None = None
) -> tuple[list[int], list[dict[str, str]]]:
    """Indices of the EMG channels and the skipped ones with the reason.

    Parameters
    ----------
    header : EdfHeader
        The parsed header.
    units : dict, optional
        Candidate signal index -> unit (overriding the header); signals not
        in it are not candidates. Default: every non-annotation signal with
        its header unit.

    Returns
    -------
    keep : list of int
        Voltage signals at the common rate (most frequent, ties -> highest).
    skipped : list of dict
        ``{"label", "reason"}`` of every other candidate.
    """
    skipped: list[dict[str, str]] = []
    voltage: list[int] = []
    if units is None:
        units = {i: s.unit for i, s in enumerate(header.signals) if not s.is_annotation}
    for i, s in enumerate(header.signals):
        if i not in units:
            continue
        if not is_voltage_unit(units[i]):
            unit = units[i] or "no unit"
            skipped.append({"label": s.label, "reason": f"not a voltage ({unit})"})
        else:
            voltage.append(i)
    if not voltage:
        found = ", ".join(f"{d['label']} ({d['reason']})" for d in skipped) or "none"
        raise DataError(
            f"no voltage (EMG) channels found; signals: {found}",
            fix="check that the file holds EMG signals with a voltage unit (V, mV, uV)",
            source=header.path,
        )
    counts = Counter(header.signals[i].fs for i in voltage)
    fs = max(counts, key=lambda f: (counts[f], f))
    keep = []
    for i in voltage:
        s = header.signals[i]
        if s.fs == fs:
            keep.append(i)
        else:
            skipped.append(
                {"label": s.label, "reason": f"sampled at {s.fs:g} Hz, not the EMG rate {fs:g} Hz"}
            )
    if skipped:
        logger.warning(
            "%s: skipped %d channel(s): %s",
            header.path.name,
            len(skipped),
            "; ".join(f"{d['label']}: {d['reason']}" for d in skipped),
        )
    return keep, skipped


def read_edf(path: str | PathLike[str], **kwargs: Any) -> EdfRecording:
    """Open an EDF, EDF+, BDF or BDF+ file lazily.

    EMG channels are the signals with a voltage unit at the common sampling
    rate (the most frequent rate among voltage signals, ties broken towards
    the higher rate). Other signals (force, temperature, triggers, other
    rates) are skipped, logged, and listed in
    ``metadata.extra["skipped_channels"]``; the annotation signal becomes
    :attr:`~fasciq.recording.Recording.annotations` (onsets from the first
    sample).

    Parameters
    ----------
    path : path
        The file.
    **kwargs
        ``annotations`` or ``metadata`` to use instead of the file's;
        ``positions_mm``/``grid`` are passed to the recording.

    Returns
    -------
    EdfRecording

    Raises
    ------
    FormatError
        Malformed or truncated file, or a discontinuous EDF+D/BDF+D whose
        records have gaps.
    DataError
        No voltage channels.
    """
    header = read_edf_header(path)
    annotations, onsets = read_edf_annotations(header)
    check_contiguous(header, onsets)
    keep, skipped = pick_channels(header)
    units = Counter(header.signals[i].unit for i in keep)
    subsecond = float(onsets[0]) if onsets is not None else 0.0
    kwargs.setdefault("annotations", annotations)
    kwargs.setdefault("metadata", _metadata(header, subsecond, skipped))
    kwargs.setdefault("file_unit", units.most_common(1)[0][0])
    return EdfRecording(header, keep, **kwargs)
