r"""TMSi Poly5 files (Polybench / TMSi Python interface, SAGA, Refa, Porti).

Layout (all little-endian, no padding), for version 2.03; version 2.04 has a
32-byte identifier and everything after it moves one byte on:

``File header`` (217 bytes)
    identifier ``b"POLY SAMPLE FILEversion 2.03\r\n\x1a"`` (31), uint16
    version (203), Pascal string measurement name (81: length byte + text),
    int16 sampling frequency, int16 storage rate, uint8 storage type, int16
    number of signal descriptions, int32 number of sample periods, 4 reserved,
    start time as 7 × int16 (year, month, day, day of week, hour, minute,
    second), int32 number of sample blocks, uint16 sample periods per block,
    uint16 bytes of sample data per block, int16 delta-compression flag, 64
    reserved.
``Signal descriptions`` (136 bytes each)
    Pascal string name (41), 4 reserved, Pascal string unit name (11),
    float32 unit low, unit high, ADC low, ADC high, int16 index in the signal
    list, int16 cache offset, 60 reserved.
``Sample blocks``
    86-byte block header (int32 index of the first sample period, 4 reserved,
    7 × int16 time, 64 reserved) then ``periods per block`` sample periods,
    each holding one value per stored signal.

32-bit files (everything TMSi has written for years) describe each channel
twice, as a ``(Lo) NAME`` / ``(Hi) NAME`` pair, and store one float32 per
channel per period. Files whose descriptions are not paired this way store
one int16 per description. Values become physical units as
``(v - ADC low) / (ADC high - ADC low) * (unit high - unit low) + unit low``
(the identity for 32-bit files, where both ranges are 0..1000), then µV
following each channel's unit (``µVolt``, ``uVolt``, ``mVolt``, ``Volt``...).
EMG channels (``UNI``, ``BIP``, ``ExG``, textile ``RxCy`` grids, anything
else in a voltage unit) are kept; channels whose unit is not a voltage
(``STATUS``, ``COUNTER``, saw-tooth, ``-``), the ``CREF`` common reference and
``AUX`` inputs (unless ``include_aux=True``) are skipped and listed in
``metadata.extra["skipped_channels"]``. A final block shorter than the
others is accepted (the TMSi writer may leave one); a file holding fewer
samples than its header announces raises :class:`~fasciq.errors.FormatError`.

Verified against: the published byte layout as used by TMSi's own Python
reader and writer (``TMSiFileFormats``; header ``struct`` ``=31sH81phhBHi4x
HHHHHHHiHHH64x``, descriptions ``=41p4x11pffffH62x``, 86-byte block
headers) and FieldTrip's ``read_tmsi_poly5.m`` (block offsets, scaling,
version 2.04); fixtures written from that layout in the tests (32-bit and
16-bit files, partial last block, truncation). No file recorded by a TMSi
amplifier was at hand.
"""

from __future__ import annotations

import os
import re
import struct
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np

from fasciq._logging import logger
from fasciq.errors import FormatError
from fasciq.io._units import is_voltage_unit, normalise_unit, to_microvolt_factor
from fasciq.recording import Recording, RecordingMetadata

PathArg = str | os.PathLike[str]

MAGIC_203 = b"POLY SAMPLE FILEversion 2.03\r\n\x1a"
MAGIC_204 = b"POLY SAMPLE FILE version 2.04\r\n\x1a"
HEADER_AFTER_MAGIC = struct.Struct("<H81phhBhi4x7hiHHh64x")
SIGNAL = struct.Struct("<41p4x11pffffhh60x")
BLOCK_HEADER_BYTES = 86

_PAIR = re.compile(r"^\((lo|hi)\)\s*", re.IGNORECASE)
_SKIP_NAMES = re.compile(r"^(status|counter|saw|trig|cref|-)", re.IGNORECASE)


@dataclass(frozen=True)
class Poly5Header:
    """The file header of a Poly5 file."""

    version: int
    name: str
    fs: float
    n_descriptions: int
    n_periods: int
    start: tuple[int, ...]
    n_blocks: int
    periods_per_block: int
    block_data_bytes: int
    compression: int
    data_offset: int


@dataclass(frozen=True)
class Poly5Signal:
    """One channel as stored (a Lo/Hi pair counts once)."""

    name: str
    unit: str
    unit_low: float
    unit_high: float
    adc_low: float
    adc_high: float


def _text(raw: bytes) -> str:
    try:
        return raw.decode("utf-8").strip("\x00 ")
    except UnicodeDecodeError:
        return raw.decode("latin-1").strip("\x00 ")


def _unit_name(unit: str) -> str:
    """``µVolt`` → ``uV``: TMSi spells units as a prefix plus ``Volt``."""
    text = normalise_unit(unit)
    if text.endswith("volt") and text[:-4] in ("", "m", "u", "n"):
        return {"": "V", "m": "mV", "u": "uV", "n": "nV"}[text[:-4]]
    return unit.strip()


def _bad(
    path: Path, problem: str, fix: str = "check that the file is a complete Poly5 file"
) -> FormatError:
    return FormatError(problem, fix=fix, source=path)


def _truncated(path: Path, have: int, want: int) -> FormatError:
    return _bad(
        path,
        f"holds {have} samples per channel but its header announces {want} (the file is truncated)",
        "copy the file again from the recording computer; a recording that stopped abnormally "
        "may need TMSi's tools to repair its header",
    )


def parse_header(head: bytes, path: Path) -> Poly5Header:
    """Decode the file header from the first bytes of the file."""
    if head.startswith(MAGIC_203):
        magic_len = len(MAGIC_203)
    elif head.startswith(MAGIC_204):
        magic_len = len(MAGIC_204)
    else:
        raise _bad(
            path,
            "not a Poly5 file (identifier 'POLY SAMPLE FILE' missing)",
            "open a TMSi .Poly5 file or pass the right format",
        )
    end = magic_len + HEADER_AFTER_MAGIC.size
    if len(head) < end:
        raise _bad(path, f"the file ends inside its {end}-byte header (truncated)")
    fields = HEADER_AFTER_MAGIC.unpack(head[magic_len:end])
    version, name, fs, _storage_rate, _storage_type, n_desc, n_periods = fields[:7]
    start = tuple(fields[7:14])
    n_blocks, per_block, block_bytes, compression = fields[14:18]
    if compression:
        raise _bad(
            path,
            "delta-compressed Poly5 files are not supported",
            "export the measurement again without compression",
        )
    return Poly5Header(
        version=version,
        name=_text(name),
        fs=float(fs),
        n_descriptions=n_desc,
        n_periods=n_periods,
        start=start,
        n_blocks=n_blocks,
        periods_per_block=per_block,
        block_data_bytes=block_bytes,
        compression=compression,
        data_offset=end + n_desc * SIGNAL.size,
    )


def _signals(raw: bytes, n: int) -> tuple[list[Poly5Signal], bool]:
    """Decode the descriptions; return the channels and whether they are 32-bit pairs."""
    desc = []
    for i in range(n):
        name, unit, ul, uh, al, ah, _index, _cache = SIGNAL.unpack_from(raw, i * SIGNAL.size)
        desc.append((_text(name), _text(unit), ul, uh, al, ah))
    paired = (
        n % 2 == 0
        and n > 0
        and all(
            (m := _PAIR.match(desc[i][0])) and m.group(1).lower() == ("lo" if i % 2 == 0 else "hi")
            for i in range(n)
        )
    )
    chosen = desc[::2] if paired else desc
    out = [
        Poly5Signal(_PAIR.sub("", name).strip(), unit, ul, uh, al, ah)
        for name, unit, ul, uh, al, ah in chosen
    ]
    return out, paired


def _start_time(start: tuple[int, ...]) -> str | None:
    year, month, day, _dow, hour, minute, second = start
    try:
        return datetime(year, month, day, hour, minute, second).isoformat()
    except ValueError:
        return None


class Poly5Recording(Recording):
    """A lazily read Poly5 file (see :func:`read_poly5`)."""

    def __init__(
        self,
        blocks: np.ndarray,
        tail: np.ndarray,
        columns: np.ndarray,
        slope: np.ndarray,
        intercept: np.ndarray,
        per_block: int,
        **kwargs: Any,
    ) -> None:
        self._blocks = blocks  # structured memmap of complete blocks
        self._tail = tail  # samples of a final short block, (n, n_stored)
        self._columns = columns  # stored column of each kept channel
        self._slope = slope  # µV per stored value
        self._intercept = intercept  # µV at stored value 0
        self._per = int(per_block)
        super().__init__(**kwargs)

    def _read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        cols = self._columns[channels]
        per = self._per
        n_full = self._blocks.shape[0] * per
        parts = []
        if start < n_full:
            b0, b1 = start // per, (min(stop, n_full) - 1) // per + 1
            data = self._blocks["data"][b0:b1]  # (blocks, per, stored)
            flat = data.reshape(-1, data.shape[-1])
            parts.append(flat[start - b0 * per : min(stop, n_full) - b0 * per][:, cols])
        if stop > n_full:
            parts.append(self._tail[max(start, n_full) - n_full : stop - n_full][:, cols])
        raw = np.concatenate(parts) if len(parts) > 1 else parts[0]
        values = raw.astype(np.float64) * self._slope[channels] + self._intercept[channels]
        return values.astype(np.float32)


def read_poly5(path: PathArg, *, include_aux: bool = False) -> Recording:
    """Open a TMSi Poly5 file lazily (memory map of its sample blocks).

    Parameters
    ----------
    path : path
        The ``.Poly5`` file.
    include_aux : bool
        Keep ``AUX`` channels that are recorded in a voltage unit.

    Returns
    -------
    Recording
        EMG channels in µV; skipped channels are named in
        ``metadata.extra["skipped_channels"]``.

    Raises
    ------
    FormatError
        Not a Poly5 file, compressed, inconsistent sizes, or truncated.
    """
    p = Path(path)
    with open(p, "rb") as f:
        head = f.read(len(MAGIC_204) + HEADER_AFTER_MAGIC.size)
        header = parse_header(head, p)
        f.seek(header.data_offset - header.n_descriptions * SIGNAL.size)
        raw_desc = f.read(header.n_descriptions * SIGNAL.size)
    if len(raw_desc) < header.n_descriptions * SIGNAL.size:
        raise _bad(p, "the file ends inside its signal descriptions (truncated)")
    signals, paired = _signals(raw_desc, header.n_descriptions)
    dtype = np.dtype("<f4") if paired else np.dtype("<i2")
    n_stored = len(signals)
    per = header.periods_per_block
    if per <= 0 or header.block_data_bytes != per * n_stored * dtype.itemsize:
        raise _bad(
            p,
            f"sample blocks of {header.block_data_bytes} bytes do not hold {per} "
            f"periods of {n_stored} {'float32' if paired else 'int16'} values",
        )
    if header.n_periods > header.n_blocks * per:
        raise _bad(
            p,
            f"the header announces {header.n_periods} samples but only "
            f"{header.n_blocks} blocks of {per}",
        )
    block = np.dtype([("header", "V86"), ("data", dtype, (per, n_stored))])
    size = p.stat().st_size - header.data_offset
    n_full = min(max(size, 0) // block.itemsize, header.n_periods // per)
    rest = header.n_periods - n_full * per
    if rest >= per:
        raise _truncated(p, n_full * per, header.n_periods)
    blocks = (
        np.memmap(p, dtype=block, mode="r", offset=header.data_offset, shape=(n_full,))
        if n_full
        else np.zeros(0, dtype=block)
    )
    tail = np.zeros((0, n_stored), dtype=dtype)
    if rest:
        tail_offset = header.data_offset + n_full * block.itemsize + BLOCK_HEADER_BYTES
        tail_bytes = rest * n_stored * dtype.itemsize
        with open(p, "rb") as f:
            f.seek(tail_offset)
            buf = f.read(tail_bytes)
        if len(buf) < tail_bytes:
            have = n_full * per + len(buf) // (n_stored * dtype.itemsize)
            raise _truncated(p, have, header.n_periods)
        tail = np.frombuffer(buf, dtype=dtype).reshape(rest, n_stored)
    kept, skipped = [], []
    for i, s in enumerate(signals):
        unit = _unit_name(s.unit)
        upper = s.name.upper()
        if (
            not is_voltage_unit(unit)
            or _SKIP_NAMES.match(s.name)
            or (upper.startswith("AUX") and not include_aux)
        ):
            skipped.append(s.name)
        else:
            kept.append(i)
    if skipped:
        logger.info("%s: skipped non-EMG channels %s", p.name, ", ".join(skipped))
    slope, intercept = [], []
    for i in kept:
        s = signals[i]
        factor = to_microvolt_factor(_unit_name(s.unit), p)
        if s.adc_high != s.adc_low and (s.adc_low, s.adc_high) != (s.unit_low, s.unit_high):
            gain = (s.unit_high - s.unit_low) / (s.adc_high - s.adc_low)
            slope.append(gain * factor)
            intercept.append((s.unit_low - s.adc_low * gain) * factor)
        else:
            slope.append(factor)
            intercept.append(0.0)
    units = sorted({_unit_name(signals[i].unit) for i in kept})
    return Poly5Recording(
        blocks,
        tail,
        np.asarray(kept, dtype=np.int64),
        np.asarray(slope),
        np.asarray(intercept),
        per,
        fs=header.fs,
        n_samples=header.n_periods,
        channel_labels=[signals[i].name for i in kept],
        metadata=RecordingMetadata(
            start_time=_start_time(header.start),
            extra={
                "measurement": header.name,
                "poly5_version": header.version,
                "skipped_channels": skipped,
                "sample_type": str(dtype),
            },
        ),
        source=p,
        format_name=f"TMSi Poly5 ({'32' if paired else '16'}-bit)",
        file_unit=units[0] if len(units) == 1 else "mixed",
    )


__all__ = ["Poly5Header", "Poly5Signal", "parse_header", "read_poly5"]
