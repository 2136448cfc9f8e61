"""WFDB records (PhysioNet): a ``.hea`` text header and binary ``.dat`` signal files.

The header is parsed as the WFDB header specification (``header(5)`` of the
WFDB Applications Guide) describes it:

* the **record line** ``NAME N_SIGNALS [FS[/COUNTER_FREQ[(BASE_COUNTER)]]
  [N_SAMPLES [BASE_TIME [BASE_DATE]]]]`` (``FS`` defaults to 250 Hz);
  multi-segment records (``NAME/N_SEGMENTS``) are not supported;
* one **signal line** per signal, ``FILE FORMAT[xSAMPLES_PER_FRAME][:SKEW]
  [+BYTE_OFFSET] [GAIN[(BASELINE)][/UNITS] [ADC_RES [ADC_ZERO [INIT_VALUE
  [CHECKSUM [BLOCK_SIZE [DESCRIPTION]]]]]]]`` — a gain of 0 or none means
  200 adu per physical unit, the baseline defaults to ``ADC_ZERO``, units to
  ``mV``; unit spellings are matched case-insensitively (``10000/mv``);
* **comment lines** (``#``): ``<age>: 44 <sex>: M <diagnoses> ...`` tags are
  collected into ``metadata.extra`` (``age``, ``sex``, ``diagnosis``,
  ``medications``), indented comment lines continue the previous tag, and all
  comments are kept in ``metadata.extra["comments"]``.

Physical values are ``(raw - baseline) / gain`` in the signal's unit, then
converted to µV. Signals with non-voltage units are skipped and listed in
``metadata.extra["skipped_channels"]``. Signals stored in the same file are
interleaved frame by frame in header order; a record may spread its signals
over several files, each with its own byte offset.

Sample formats: 8 (8-bit first differences), 16 (16-bit little-endian),
61 (16-bit big-endian), 80 (8-bit offset binary), 212 (two 12-bit samples
packed in three bytes), 24 and 32 (little-endian two's complement). Formats
16, 61, 24, 32 and 80 are read lazily through a memory map; 212 decodes only
the byte span that holds the samples asked for; 8 is a running sum, so it is
decoded from the start of the file up to the last sample asked for. WFDB's
"invalid sample" codes (the most negative value of each format) become NaN.

Verified against: the three PhysioNet ``emgdb`` records (format 16, gains
``10000/mV`` and ``10000/mv``), whose decoded samples reproduce the 16-bit
checksums and initial values of their headers; and files written in the
tests byte by byte after the specification (formats 212, 16, 24, 32, 80,
61, 8, several signals per file, several files, byte offsets).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from fasciq._logging import logger
from fasciq.errors import FormatError
from fasciq.io._units import is_voltage_unit, normalise_unit, to_microvolt_factor
from fasciq.recording import Recording, RecordingMetadata

PathArg = str | os.PathLike[str]

_RECORD_FS = re.compile(
    r"^(?P<fs>[0-9.eE+-]+)(?:/(?P<counter>[0-9.eE+-]+)(?:\((?P<base>[0-9.eE+-]+)\))?)?$"
)
_FORMAT = re.compile(r"^(?P<fmt>\d+)(?:x(?P<spf>\d+))?(?::(?P<skew>-?\d+))?(?:\+(?P<offset>\d+))?$")
_GAIN = re.compile(r"^(?P<gain>[0-9.eE+-]+)(?:\((?P<baseline>-?\d+)\))?(?:/(?P<units>\S+))?$")
_TAG = re.compile(r"<(?P<key>[^<>]+)>:?\s*(?P<value>[^<]*)")

#: bytes per sample for the byte-aligned formats (212 and 8 handled apart)
_DTYPES = {16: "<i2", 61: ">i2", 32: "<i4", 80: "u1", 24: None, 212: None, 8: "i1"}
_INVALID = {16: -(2**15), 61: -(2**15), 24: -(2**23), 32: -(2**31), 80: -128, 212: -2048}
_DEFAULT_RES = {8: 8, 80: 8, 212: 12, 16: 16, 61: 16, 24: 24, 32: 32}
_TAG_NAMES = {
    "diagnoses": "diagnosis",
    "diagnosis": "diagnosis",
    "age": "age",
    "sex": "sex",
    "medications": "medications",
    "medication": "medications",
}


@dataclass
class SignalSpec:
    """One signal line of a WFDB header."""

    file_name: str
    fmt: int
    samples_per_frame: int = 1
    skew: int = 0
    byte_offset: int = 0
    gain: float = 200.0
    baseline: int = 0
    units: str = "mV"
    adc_res: int = 0
    adc_zero: int = 0
    init_value: int | None = None
    checksum: int | None = None
    block_size: int = 0
    description: str = ""


@dataclass
class RecordHeader:
    """A parsed WFDB header."""

    name: str
    n_signals: int
    fs: float
    n_samples: int | None
    counter_freq: float | None = None
    base_counter: float | None = None
    base_time: str | None = None
    base_date: str | None = None
    signals: list[SignalSpec] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)


def _err(path: Path, problem: str, fix: str) -> FormatError:
    return FormatError(problem, fix=fix, source=path)


def parse_header(text: str, path: Path) -> RecordHeader:
    """Parse the text of a ``.hea`` file.

    Raises
    ------
    FormatError
        On a malformed record or signal line, a multi-segment record, or an
        unsupported sample format.
    """
    fix = "check the header against the WFDB header specification"
    comments: list[str] = []
    lines: list[str] = []
    for raw in text.replace("\r", "\n").split("\n"):
        stripped = raw.strip()
        if stripped.startswith("#"):
            comments.append(stripped[1:])
        elif stripped:
            # a '#' later in a line starts a comment too
            body, _, rest = raw.partition("#")
            if rest:
                comments.append(rest)
            if body.strip():
                lines.append(body.strip())
    if not lines:
        raise _err(path, "the header has no record line", fix)
    fields = lines[0].split()
    if len(fields) < 2:
        raise _err(path, f"record line {lines[0]!r} needs at least a name and a signal count", fix)
    name = fields[0]
    if "/" in name:
        raise _err(
            path,
            "multi-segment WFDB records are not supported",
            "convert the record to a single segment (e.g. with wfdb's wrsamp) or read "
            "each segment's header",
        )
    try:
        n_signals = int(fields[1])
    except ValueError:
        raise _err(path, f"signal count {fields[1]!r} is not an integer", fix) from None
    fs, counter, base_counter = 250.0, None, None
    if len(fields) > 2:
        m = _RECORD_FS.match(fields[2])
        if not m:
            raise _err(path, f"cannot read the sampling frequency {fields[2]!r}", fix)
        fs = float(m.group("fs"))
        counter = float(m.group("counter")) if m.group("counter") else None
        base_counter = float(m.group("base")) if m.group("base") else None
    n_samples = None
    if len(fields) > 3:
        try:
            n_samples = int(fields[3])
        except ValueError:
            raise _err(path, f"sample count {fields[3]!r} is not an integer", fix) from None
    header = RecordHeader(
        name=name,
        n_signals=n_signals,
        fs=fs,
        n_samples=n_samples if n_samples else None,
        counter_freq=counter,
        base_counter=base_counter,
        base_time=fields[4] if len(fields) > 4 else None,
        base_date=fields[5] if len(fields) > 5 else None,
        comments=comments,
    )
    if len(lines) - 1 < n_signals:
        raise _err(
            path,
            f"the record line announces {n_signals} signals but the header "
            f"describes {len(lines) - 1}",
            fix,
        )
    for line in lines[1 : 1 + n_signals]:
        header.signals.append(_parse_signal(line, path))
    return header


def _parse_signal(line: str, path: Path) -> SignalSpec:
    fix = "check the signal line against the WFDB header specification"
    parts = line.split(None, 8)
    if len(parts) < 2:
        raise _err(path, f"signal line {line!r} needs a file name and a format", fix)
    m = _FORMAT.match(parts[1])
    if not m:
        raise _err(path, f"cannot read the format field {parts[1]!r}", fix)
    fmt = int(m.group("fmt"))
    if fmt not in _DTYPES:
        raise _err(
            path,
            f"WFDB sample format {fmt} is not supported",
            "convert the record to format 16 (e.g. wfdb's xform -f 16); fasciq reads "
            f"formats {', '.join(map(str, sorted(_DTYPES)))}",
        )
    spec = SignalSpec(
        file_name=parts[0],
        fmt=fmt,
        samples_per_frame=int(m.group("spf") or 1),
        skew=int(m.group("skew") or 0),
        byte_offset=int(m.group("offset") or 0),
        adc_res=_DEFAULT_RES[fmt],
    )
    baseline_given = False
    if len(parts) > 2:
        g = _GAIN.match(parts[2])
        if not g:
            raise _err(path, f"cannot read the gain field {parts[2]!r}", fix)
        spec.gain = float(g.group("gain")) or 200.0
        if g.group("baseline") is not None:
            spec.baseline = int(g.group("baseline"))
            baseline_given = True
        if g.group("units"):
            spec.units = g.group("units")
    try:
        if len(parts) > 3:
            spec.adc_res = int(parts[3]) or spec.adc_res
        if len(parts) > 4:
            spec.adc_zero = int(parts[4])
        if len(parts) > 5:
            spec.init_value = int(parts[5])
        if len(parts) > 6:
            spec.checksum = int(parts[6])
        if len(parts) > 7:
            spec.block_size = int(parts[7])
    except ValueError:
        raise _err(path, f"signal line {line!r} has a non-integer ADC field", fix) from None
    if not baseline_given:
        spec.baseline = spec.adc_zero
    if spec.init_value is None:
        spec.init_value = spec.adc_zero
    spec.description = parts[8].strip() if len(parts) > 8 else ""
    return spec


def _bytes_for(fmt: int, n_values: int) -> int:
    if fmt == 212:
        return 3 * (n_values // 2) + (2 if n_values % 2 else 0)
    if fmt == 24:
        return 3 * n_values
    return np.dtype(_DTYPES[fmt]).itemsize * n_values


@dataclass
class _DatFile:
    """One signal file: its path, format, byte offset and interleaved signals."""

    path: Path
    fmt: int
    offset: int
    n_signals: int
    init_values: list[int]
    raw: np.ndarray | None = None  # memory map (None for an empty file)

    def frames(self, start: int, stop: int) -> np.ndarray:
        """Raw integer samples of frames ``[start, stop)``, shape ``(n, n_signals)``."""
        ns = self.n_signals
        if self.fmt in (16, 61, 32):
            return np.asarray(self.raw[start:stop], dtype=np.int64)
        if self.fmt == 80:
            return np.asarray(self.raw[start:stop], dtype=np.int64) - 128
        if self.fmt == 24:
            b = np.asarray(self.raw[start:stop], dtype=np.int64)
            v = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
            return np.where(v >= 1 << 23, v - (1 << 24), v)
        if self.fmt == 212:
            first, last = start * ns, stop * ns  # value indices in the byte stream
            p0, p1 = first // 2, (last + 1) // 2  # pairs covering them
            b = np.zeros((p1 - p0) * 3, dtype=np.int64)
            chunk = np.asarray(self.raw[3 * p0 : 3 * p1], dtype=np.int64)
            b[: len(chunk)] = chunk
            b = b.reshape(-1, 3)
            a = b[:, 0] | ((b[:, 1] & 0x0F) << 8)
            c = b[:, 2] | ((b[:, 1] & 0xF0) << 4)
            v = np.column_stack([a, c]).reshape(-1)
            v = np.where(v >= 2048, v - 4096, v)
            return v[first - 2 * p0 : last - 2 * p0].reshape(-1, ns)
        # format 8: first differences from the initial values, summed from the file start
        d = np.asarray(self.raw[:stop], dtype=np.int64)
        x = np.cumsum(d, axis=0) + np.asarray(self.init_values, dtype=np.int64)
        return x[start:stop]


class WfdbRecording(Recording):
    """A lazily read WFDB record (see :func:`read_wfdb`)."""

    def __init__(
        self,
        files: list[_DatFile],
        picks: list[tuple[int, int]],
        gains: np.ndarray,
        baselines: np.ndarray,
        invalid: np.ndarray,
        **kwargs: Any,
    ) -> None:
        self._files = files
        self._picks = picks  # per kept channel: (file index, column in that file)
        self._scale = np.asarray(gains, dtype=np.float64)  # µV per adu
        self._baseline = np.asarray(baselines, dtype=np.float64)
        self._invalid = np.asarray(invalid, dtype=np.int64)
        super().__init__(**kwargs)

    def _read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        out = np.empty((stop - start, len(channels)), dtype=np.float32)
        by_file: dict[int, list[int]] = {}
        for j, ch in enumerate(channels):
            by_file.setdefault(self._picks[ch][0], []).append(j)
        for fi, js in by_file.items():
            cols = [self._picks[channels[j]][1] for j in js]
            chans = channels[js]
            raw = self._files[fi].frames(start, stop)[:, cols]
            values = (raw - self._baseline[chans]) * self._scale[chans]
            values[raw == self._invalid[chans]] = np.nan
            out[:, js] = values
        return out


def _header_path(path: Path) -> Path:
    if path.suffix.lower() == ".hea":
        return path
    hea = path.with_suffix(".hea")
    if not hea.is_file():
        raise FormatError(
            "no WFDB header beside this signal file",
            fix=f"keep {hea.name} next to {path.name} and open the header",
            source=path,
        )
    return hea


def _start_time(header: RecordHeader) -> str | None:
    if not header.base_time:
        return None
    time_text = header.base_time
    parts = time_text.split(":")
    try:
        numbers = [float(p) for p in parts]
    except ValueError:
        return None
    while len(numbers) < 3:
        numbers.insert(0, 0.0)
    h, m, s = numbers[-3:]
    if header.base_date:
        try:
            day = datetime.strptime(header.base_date, "%d/%m/%Y")
        except ValueError:
            return None
        stamp = day.replace(
            hour=int(h), minute=int(m), second=int(s), microsecond=round((s % 1) * 1e6)
        )
        return stamp.isoformat()
    return f"{int(h):02d}:{int(m):02d}:{s:06.3f}"


def _comment_metadata(comments: list[str]) -> dict[str, Any]:
    tags: dict[str, str] = {}
    last: str | None = None
    for line in comments:
        is_continuation = line.startswith("  ") or line.startswith("\t")
        found = list(_TAG.finditer(line))
        if found:
            for m in found:
                key = m.group("key").strip().lower()
                key = _TAG_NAMES.get(key, key.replace(" ", "_"))
                tags[key] = m.group("value").strip()
                last = key
        elif is_continuation and last is not None:
            tags[last] = f"{tags[last]} {line.strip()}".strip()
        else:
            last = None
    extra: dict[str, Any] = dict(tags)
    extra["comments"] = [c.strip() for c in comments if c.strip()]
    return extra


def _open_dat(
    path: Path, specs: list[SignalSpec], n_samples: int | None, hea: Path
) -> tuple[_DatFile, int]:
    """Memory-map one signal file; return it and the number of frames it holds."""
    fmt = specs[0].fmt
    offset = specs[0].byte_offset
    if any(s.fmt != fmt for s in specs) or any(s.byte_offset != offset for s in specs):
        raise _err(
            hea,
            f"signals stored in {path.name} disagree on format or byte offset",
            "give every signal of one file the same format and offset",
        )
    if not path.is_file():
        raise FormatError(
            f"signal file {path.name} named in {hea.name} is missing",
            fix=f"put {path.name} in the same folder as {hea.name}",
            source=path,
        )
    ns = len(specs)
    size = path.stat().st_size - offset
    if fmt == 212:
        available = (size // 3) * 2 + (1 if size % 3 == 2 else 0)
        have = available // ns
    else:
        have = size // _bytes_for(fmt, ns) if size > 0 else 0
    if n_samples is not None and have < n_samples:
        need = offset + _bytes_for(fmt, n_samples * ns)
        raise FormatError(
            f"holds {have} samples per signal but {hea.name} says {n_samples} (file has "
            f"{path.stat().st_size} bytes, {need} expected): the file is truncated",
            fix="download or copy the signal file again, or correct the sample count in the header",
            source=path,
        )
    frames = n_samples if n_samples is not None else have
    if n_samples is not None and have > n_samples:
        logger.warning(
            "%s holds %d samples per signal; the header says %d, the rest is ignored",
            path.name,
            have,
            n_samples,
        )
    raw = None
    if frames > 0:
        if fmt in (16, 61, 32, 80, 8):
            raw = np.memmap(path, dtype=_DTYPES[fmt], mode="r", offset=offset, shape=(frames, ns))
        elif fmt == 24:
            raw = np.memmap(path, dtype="u1", mode="r", offset=offset, shape=(frames, ns, 3))
        else:
            raw = np.memmap(
                path, dtype="u1", mode="r", offset=offset, shape=(_bytes_for(212, frames * ns),)
            )
    init = [s.init_value if s.init_value is not None else 0 for s in specs]
    return _DatFile(path, fmt, offset, ns, init, raw), frames


def read_wfdb(path: PathArg, *, verify_checksum: bool = False) -> Recording:
    """Open a WFDB record from its ``.hea`` header (or a ``.dat`` beside one).

    Parameters
    ----------
    path : path
        The ``.hea`` file, or a signal file with a sibling ``.hea``.
    verify_checksum : bool
        Read every signal once and compare the 16-bit sum of its samples
        and its first sample with the header's checksum and initial value
        (not lazy; for checking a download).

    Returns
    -------
    Recording
        Lazy: samples are read from memory maps when asked for.

    Raises
    ------
    FormatError
        Malformed header, missing or truncated signal file, unsupported
        format, or (with ``verify_checksum``) a checksum mismatch.
    """
    hea = _header_path(Path(path))
    try:
        text = hea.read_text(encoding="latin-1")
    except OSError as exc:
        raise FormatError(
            f"cannot read the header ({exc.strerror})", fix="check the file permissions", source=hea
        ) from None
    header = parse_header(text, hea)
    if not header.signals:
        raise _err(hea, "the record has no signals", "open a record that holds EMG signals")
    spf = {s.samples_per_frame for s in header.signals}
    if len(spf) > 1:
        raise _err(
            hea,
            "signals with different samples per frame are not supported",
            "resample the record to one rate per signal (e.g. wfdb's xform -M)",
        )
    fs = header.fs * spf.pop()
    if any(s.skew for s in header.signals):
        logger.warning("%s: signal skew is ignored", hea.name)
    if any(s.file_name == "~" for s in header.signals):
        raise _err(
            hea,
            "the record names no signal file ('~')",
            "fasciq reads records whose samples are stored in .dat files",
        )
    # group signals by file, keeping header order inside each file
    groups: dict[str, list[int]] = {}
    for i, s in enumerate(header.signals):
        groups.setdefault(s.file_name, []).append(i)
    files: list[_DatFile] = []
    where: dict[int, tuple[int, int]] = {}
    n_frames: list[int] = []
    for fname, idx in groups.items():
        dat, frames = _open_dat(
            hea.parent / fname, [header.signals[i] for i in idx], header.n_samples, hea
        )
        for col, i in enumerate(idx):
            where[i] = (len(files), col)
        files.append(dat)
        n_frames.append(frames)
    n_samples = header.n_samples if header.n_samples is not None else min(n_frames)
    kept, skipped = [], []
    for i, s in enumerate(header.signals):
        label = s.description or f"sig{i}"
        (kept if is_voltage_unit(s.units) else skipped).append(i)
        if not is_voltage_unit(s.units):
            logger.info("%s: skipping %s (unit %s is not a voltage)", hea.name, label, s.units)
    if not kept:
        units = ", ".join(sorted({header.signals[i].units for i in skipped}))
        raise FormatError(
            f"no signal is a voltage (units: {units})",
            fix="fasciq analyses EMG in V/mV/uV; check the header's units",
            source=hea,
        )
    specs = [header.signals[i] for i in kept]
    scale = np.array([to_microvolt_factor(s.units, hea) / s.gain for s in specs])
    unit_names = sorted({normalise_unit(s.units) for s in specs})
    file_unit = _canonical(specs[0].units) if len(unit_names) == 1 else "mixed"
    extra = _comment_metadata(header.comments)
    extra.update(
        {
            "record": header.name,
            "skipped_channels": [header.signals[i].description or f"sig{i}" for i in skipped],
            "adc_gain": [s.gain for s in specs],
            "adc_resolution_bits": [s.adc_res for s in specs],
        }
    )
    if header.counter_freq is not None:
        extra["counter_freq"] = header.counter_freq
    rec = WfdbRecording(
        files,
        [where[i] for i in kept],
        scale,
        np.array([s.baseline for s in specs]),
        np.array([_INVALID.get(s.fmt, np.iinfo(np.int64).min) for s in specs]),
        fs=fs,
        n_samples=n_samples,
        channel_labels=[s.description or f"sig{i}" for i, s in zip(kept, specs, strict=True)],
        metadata=RecordingMetadata(start_time=_start_time(header), extra=extra),
        source=hea,
        format_name=f"WFDB (format {'/'.join(sorted({str(s.fmt) for s in specs}))})",
        file_unit=file_unit,
    )
    if verify_checksum:
        _verify(rec, header, kept, hea)
    return rec


def _canonical(unit: str) -> str:
    key = normalise_unit(unit)
    return {"v": "V", "mv": "mV", "uv": "uV", "nv": "nV"}.get(key, unit)


def _verify(rec: WfdbRecording, header: RecordHeader, kept: list[int], hea: Path) -> None:
    for ch, i in enumerate(kept):
        spec = header.signals[i]
        fi, col = rec._picks[ch]
        raw = rec._files[fi].frames(0, rec.n_samples)[:, col]
        if spec.checksum is not None:
            got = int(raw.sum()) & 0xFFFF
            want = spec.checksum & 0xFFFF
            if got != want:
                raise FormatError(
                    f"signal {rec.channel_labels[ch]} has checksum {got - 65536 * (got > 32767)}"
                    f" but {hea.name} says {spec.checksum}: the signal file is damaged",
                    fix="download or copy the record again",
                    source=rec._files[fi].path,
                )
        if spec.init_value is not None and len(raw) and int(raw[0]) != spec.init_value:
            raise FormatError(
                f"signal {rec.channel_labels[ch]} starts at {int(raw[0])} but {hea.name} says "
                f"{spec.init_value}",
                fix="check that the header belongs to this signal file",
                source=rec._files[fi].path,
            )


__all__ = ["RecordHeader", "SignalSpec", "parse_header", "read_wfdb"]
