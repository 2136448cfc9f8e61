"""OT Bioelettronica archives: ``.otb+`` / ``.otb`` (OTBioLab+) and ``.otb4`` (OTBioLab+ v4).

Both are uncompressed tar archives. Layouts, as established from OT
Bioelettronica's own MATLAB import scripts (``OpenOTBfilesConvFact.m``,
``OpenOTB4_v2.m`` in the public OTB-Matlab repository), the XML writer of
their OTComm acquisition library, and the OTB readers of MNE-Python and
openhdemg:

``.otb+`` / ``.otb``
    One ``NAME.sig`` per acquisition: interleaved little-endian signed
    integers (``ad_bits`` / 8 bytes each) for all ``DeviceTotalChannels``
    channels, frame after frame. Beside it ``NAME.xml``, whose root element
    ``<Device Name=... SampleFrequency=... DeviceTotalChannels=... ad_bits=...>``
    holds ``<Channels>`` with one ``<Adapter ID= Description= Gain=
    ChannelStartIndex= ...>`` per connector and, inside it, one ``<Channel
    ID= Prefix= Description= Gain= Index= Muscle= Side=>`` per input. The
    channel's column in the ``.sig`` file is ``ChannelStartIndex + Index``.
    ``.sip``/``.pro`` pairs are processed tracks and are ignored;
    ``patient.xml`` and ``abstract.xml`` hold session details.

    Scaling (verified): ``µV = raw * PowerSupply / 2**ad_bits / Gain * 1e6``,
    with the adapter's ``Gain`` and the device's ADC supply ``PowerSupply``
    (5 V for QUATTROCENTO, QUATTRO, DUE and EMG-USB; 3.3 V for DUE+ and
    QUATTRO+; 4.8 V otherwise), exactly the conversion factors of
    ``OpenOTBfilesConvFact.m`` (e.g. 0.00050863 mV per bit for a
    Quattrocento at gain 150). The real OTBioLab+ MATLAB export in the
    project's shared data is quantised in steps of 0.50863 µV, the same
    Quattrocento factor, which confirms it independently.

``.otb4``
    ``Tracks_NNN.xml`` files with an ``<ArrayOfTrackInfo>`` of
    ``<TrackInfo>`` elements (child elements, not attributes): a track is a
    block of ``NumberOfChannels`` columns starting at ``AcquisitionChannel``
    of the stream ``SignalStreamPath`` that has ``TotalChannelsInFile``
    interleaved columns of ``SampleSize`` bytes (2, 3 or 4: signed integers;
    8: float64 already in physical units). Scaling is ``ADC_Range /
    2**ADC_Nbits / Gain * UnitOfMeasurementFactor`` in
    ``UnitOfMeasurement``. ``TrapezoidalTracks_*.xml`` (force feedback) and
    ``IsControl`` tracks are not EMG.

Only the sample frames asked for are read: the ``.sig`` members are stored
uncompressed, so they are memory-mapped at their offset inside the archive.
"""

from __future__ import annotations

import re
import tarfile
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass, field
from os import PathLike
from pathlib import Path
from typing import Any

import numpy as np

from fasciq._logging import logger
from fasciq.errors import FormatError, ParameterError
from fasciq.grids.catalogue import find_catalogue_grid
from fasciq.grids.grid import Grid
from fasciq.io._units import is_voltage_unit, to_microvolt_factor
from fasciq.recording import Recording, RecordingMetadata

#: ADC full-scale range in volts by device name (``OpenOTBfilesConvFact.m``).
POWER_SUPPLY_V = {
    "QUATTROCENTO": 5.0,
    "QUATTRO": 5.0,
    "EMG-USB": 5.0,
    "EMG-USB2": 5.0,
    "EMG-USB2+": 5.0,
    "DUE": 5.0,
    "DUE+": 3.3,
    "QUATTRO+": 3.3,
}
#: Used for other devices (Sessantaquattro, Muovi, SyncStation...), as OT's script does.
DEFAULT_POWER_SUPPLY_V = 4.8

# adapter IDs and channel IDs / descriptions that never carry EMG
_NON_EMG_ADAPTERS = (
    "adaptercontrol",
    "adapterquaternions",
    "auxiliary input",
    "iso-aux",
    "adapterloadcell",
    "syncstation input",
)
_NON_EMG_WORDS = (
    "aux",
    "quaternion",
    "buffer",
    "ramp",
    "loadcell",
    "load cell",
    "control",
    "trigger",
    "force",
    "torque",
    "acceleration",
    "accelerometer",
    "counter",
    "path",
    "target",
)
_FIX_ARCHIVE = "check that the file was copied completely; re-export it from OTBioLab+"


def _words(text: str) -> str:
    return re.sub(r"\s+", " ", text.lower())


def _looks_non_emg(*texts: str) -> bool:
    text = _words(" ".join(t for t in texts if t))
    return any(re.search(rf"(^|[^a-z]){re.escape(w)}", text) for w in _NON_EMG_WORDS)


def power_supply_for(device_name: str) -> float:
    """ADC range in volts for an OT device name such as ``"QUATTROCENTO;..."``."""
    key = device_name.split(";")[0].strip().upper()
    return POWER_SUPPLY_V.get(key, DEFAULT_POWER_SUPPLY_V)


@dataclass(frozen=True)
class _Stream:
    """One interleaved sample stream stored in the archive."""

    member: str
    offset: int
    n_frames: int
    n_columns: int
    sample_bytes: int
    is_float: bool = False


@dataclass
class _Layout:
    """What a header says: the streams and, per EMG channel, where and how to scale it."""

    fs: float
    streams: list[_Stream]
    labels: list[str]
    stream_of: list[int]
    column_of: list[int]
    scale_uv: list[float]
    groups: list[dict[str, Any]] = field(default_factory=list)
    aux: list[str] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    muscle: str | None = None
    side: str | None = None
    start_time: str | None = None


# -- archive helpers ------------------------------------------------------------------


def _open_archive(path: Path) -> tuple[tarfile.TarFile, dict[str, tarfile.TarInfo]]:
    tar: tarfile.TarFile | None = None
    try:
        tar = tarfile.open(path, "r:")  # noqa: SIM115 - closed by the caller
        members = {Path(m.name).name: m for m in tar.getmembers() if m.isfile()}
    except (tarfile.TarError, EOFError, OSError) as exc:
        if tar is not None:
            tar.close()
        raise FormatError(
            f"not a readable OT Bioelettronica archive (broken tar: {exc})",
            fix=_FIX_ARCHIVE,
            source=path,
        ) from None
    return tar, members


def _xml(tar: tarfile.TarFile, member: tarfile.TarInfo, path: Path) -> ET.Element:
    try:
        handle = tar.extractfile(member)
        if handle is None:
            raise OSError("not a regular file")
        return ET.fromstring(handle.read())
    except (ET.ParseError, OSError, tarfile.TarError) as exc:
        raise FormatError(
            f"header {member.name} inside the archive is not valid XML ({exc})",
            fix=_FIX_ARCHIVE,
            source=path,
        ) from None


def _stream(
    path: Path, member: tarfile.TarInfo, n_columns: int, sample_bytes: int, is_float: bool = False
) -> _Stream:
    if n_columns <= 0:
        raise FormatError(
            f"header gives {n_columns} channels for {member.name}",
            fix=_FIX_ARCHIVE,
            source=path,
        )
    frame = n_columns * sample_bytes
    n_frames, rest = divmod(member.size, frame)
    if rest:
        raise FormatError(
            f"{member.name} holds {member.size} bytes, not a whole number of "
            f"{n_columns}-channel frames of {frame} bytes (truncated or wrong header)",
            fix=_FIX_ARCHIVE,
            source=path,
        )
    end = member.offset_data + member.size
    if path.stat().st_size < end:
        raise FormatError(
            f"the archive ends before the data of {member.name} does (truncated file)",
            fix=_FIX_ARCHIVE,
            source=path,
        )
    if member.sparse:
        raise FormatError(
            f"{member.name} is stored as a sparse tar member, which cannot be mapped",
            fix="re-create the archive with a plain tar writer",
            source=path,
        )
    return _Stream(member.name, member.offset_data, n_frames, n_columns, sample_bytes, is_float)


def _float(value: str | None, what: str, path: Path, default: float | None = None) -> float:
    if value is None or value.strip() == "":
        if default is not None:
            return default
        raise FormatError(f"the header has no {what}", fix=_FIX_ARCHIVE, source=path)
    try:
        return float(value.strip().replace(",", "."))
    except ValueError:
        raise FormatError(
            f"the header's {what} {value!r} is not a number", fix=_FIX_ARCHIVE, source=path
        ) from None


# -- .otb+ / .otb ---------------------------------------------------------------------


def _pick(items: Sequence[str], acquisition: int | str | None, path: Path) -> str:
    if acquisition is None:
        if len(items) > 1:
            logger.warning(
                "%s holds %d acquisitions (%s); reading the first (pass acquisition=NAME "
                "or INDEX to choose)",
                path.name,
                len(items),
                ", ".join(items),
            )
        return items[0]
    if isinstance(acquisition, int) and 0 <= acquisition < len(items):
        return items[acquisition]
    for name in items:
        if str(acquisition) in (name, Path(name).stem):
            return name
    raise ParameterError(
        f"no acquisition {acquisition!r} in the archive",
        fix=f"use an index 0..{len(items) - 1} or one of {', '.join(items)}",
        source=path,
    )


def _otb_plus_layout(
    path: Path,
    tar: tarfile.TarFile,
    members: dict[str, tarfile.TarInfo],
    acquisition: int | str | None,
    power_supply_v: float | None,
) -> _Layout:
    sigs = sorted(n for n in members if n.lower().endswith(".sig"))
    if not sigs:
        raise FormatError(
            "the archive holds no .sig signal file",
            fix="export the acquisition again from OTBioLab+ (File > Save as .otb+)",
            source=path,
        )
    sig_name = _pick(sigs, acquisition, path)
    xml_name = f"{Path(sig_name).stem}.xml"
    if xml_name not in members:
        raise FormatError(
            f"the archive holds {sig_name} but not its XML header {xml_name}",
            fix=_FIX_ARCHIVE,
            source=path,
        )
    root = _xml(tar, members[xml_name], path)
    if root.tag != "Device":
        raise FormatError(
            f"{xml_name} is not an OTBioLab+ device header (root <{root.tag}>, expected "
            "<Device>); older OTBioLab .otb archives are laid out differently",
            fix="open the file in OTBioLab+ and save it as .otb+ or export it to .mat",
            source=path,
        )
    fs = _float(root.get("SampleFrequency"), "SampleFrequency", path)
    n_total = int(_float(root.get("DeviceTotalChannels"), "DeviceTotalChannels", path))
    bits = int(_float(root.get("ad_bits"), "ad_bits", path, default=16.0))
    if bits not in (16, 24, 32):
        raise FormatError(
            f"{xml_name} gives ad_bits={bits}; OTB+ samples are 16, 24 or 32 bits",
            fix=_FIX_ARCHIVE,
            source=path,
        )
    device = root.get("Name", "")
    supply = power_supply_v if power_supply_v is not None else power_supply_for(device)
    if power_supply_v is None and device.split(";")[0].strip().upper() not in POWER_SUPPLY_V:
        logger.warning(
            "%s: device %r has no known ADC range; using %.1f V as OTBioLab+ does "
            "(pass power_supply_v= to override)",
            path.name,
            device,
            supply,
        )
    stream = _stream(path, members[sig_name], n_total, bits // 8)

    labels: list[str] = []
    columns: list[int] = []
    scales: list[float] = []
    groups: list[dict[str, Any]] = []
    aux: list[str] = []
    described: set[int] = set()
    muscles: list[str] = []
    sides: list[str] = []
    adapters = root.findall("./Channels/Adapter") or list(root.iter("Adapter"))
    for a_pos, adapter in enumerate(adapters):
        a_id = adapter.get("ID", "")
        a_desc = adapter.get("Description", "")
        gain = _float(adapter.get("Gain"), f"Gain of adapter {a_id!r}", path, default=1.0)
        start = int(_float(adapter.get("ChannelStartIndex"), "ChannelStartIndex", path, 0.0))
        a_index = adapter.get("AdapterIndex", str(a_pos))
        adapter_non_emg = any(k in a_id.lower() for k in _NON_EMG_ADAPTERS)
        emg_here: list[tuple[int, int, str, str, str]] = []
        for ch in adapter.findall("Channel"):
            index = int(_float(ch.get("Index"), "channel Index", path))
            column = start + index
            if not 0 <= column < n_total:
                raise FormatError(
                    f"{xml_name}: adapter {a_id!r} channel {index} maps to column {column}, "
                    f"outside the {n_total} channels of {sig_name}",
                    fix=_FIX_ARCHIVE,
                    source=path,
                )
            described.add(column)
            c_id = ch.get("ID", "")
            c_desc = ch.get("Description", "")
            name = f"{c_id or a_id}-{index + 1}"
            names_grid = find_catalogue_grid(f"{c_id} {c_desc}") is not None
            if not names_grid and (adapter_non_emg or _looks_non_emg(c_id, c_desc)):
                aux.append(f"{name} ({a_id})" if a_id else name)
                continue
            if gain <= 0:
                raise FormatError(
                    f"{xml_name}: adapter {a_id!r} has gain {gain}",
                    fix=_FIX_ARCHIVE,
                    source=path,
                )
            c_gain = ch.get("Gain")
            if c_gain not in (None, "", "1") and _float(c_gain, "channel Gain", path) != 1.0:
                logger.warning(
                    "%s: channel %s has its own gain %s; scaling with the adapter gain %g "
                    "as OTBioLab+ does",
                    path.name,
                    name,
                    c_gain,
                    gain,
                )
            emg_here.append((column, index, c_id, c_desc, name))
            if ch.get("Muscle"):
                muscles.append(ch.get("Muscle", ""))
            if ch.get("Side"):
                sides.append(ch.get("Side", ""))
        if not emg_here:
            continue
        grid = None
        for text in (emg_here[0][2], emg_here[0][3], a_id, a_desc):
            grid = find_catalogue_grid(text) if text else None
            if grid is not None:
                break
        first = len(labels)
        for column, _index, _cid, _cdesc, name in emg_here:
            labels.append(name)
            columns.append(column)
            scales.append(supply / 2.0**bits / gain * 1e6)
        groups.append(
            {
                "adapter": a_id,
                "adapter_index": a_index,
                "description": a_desc,
                "gain": gain,
                "first": first,
                "n_channels": len(emg_here),
                "grid": None if grid is None else grid.name,
            }
        )
    _unique_labels(labels, groups)
    unused = n_total - len(described)
    if unused:
        aux.append(f"{unused} channel(s) not described by any adapter")
    extra = {
        "device": device,
        "acquisition": Path(sig_name).stem,
        "ad_bits": bits,
        "power_supply_v": supply,
        "device_total_channels": n_total,
        "processed_files_ignored": sorted(n for n in members if n.lower().endswith(".sip")),
    }
    layout = _Layout(fs, [stream], labels, [0] * len(labels), columns, scales, groups, aux, extra)
    layout.muscle = _common(muscles)
    layout.side = _common(sides)
    if "patient.xml" in members:
        patient = _xml(tar, members["patient.xml"], path)
        when = patient.findtext("time")
        layout.start_time = when.strip() if when else None
    return layout


def _unique_labels(labels: list[str], groups: list[dict[str, Any]]) -> None:
    """Prefix ``A<AdapterIndex>-`` to labels that several adapters share (in place)."""
    if len(set(labels)) == len(labels):
        return
    for g in groups:
        for i in range(g["first"], g["first"] + g["n_channels"]):
            labels[i] = f"A{g.get('adapter_index', '')}-{labels[i]}"


def _common(values: list[str]) -> str | None:
    clean = {v.strip() for v in values if v.strip() and v.strip().lower() != "not defined"}
    return clean.pop() if len(clean) == 1 else None


# -- .otb4 -----------------------------------------------------------------------------


def _text(node: ET.Element, tag: str, default: str = "") -> str:
    value = node.findtext(tag)
    return default if value is None else value.strip()


def _otb4_layout(path: Path, tar: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> _Layout:
    track_files = sorted(n for n in members if re.fullmatch(r"Tracks_\d+\.xml", n))
    if not track_files:
        raise FormatError(
            "the .otb4 archive holds no Tracks_NNN.xml header",
            fix="save the recording again from OTBioLab+ or export it to .mat",
            source=path,
        )
    tracks = [t for name in track_files for t in _xml(tar, members[name], path).iter("TrackInfo")]
    if not tracks:
        raise FormatError(
            f"{', '.join(track_files)} describe no tracks",
            fix="save the recording again from OTBioLab+ or export it to .mat",
            source=path,
        )
    streams: dict[str, int] = {}
    stream_list: list[_Stream] = []
    labels: list[str] = []
    stream_of: list[int] = []
    columns: list[int] = []
    scales: list[float] = []
    groups: list[dict[str, Any]] = []
    aux: list[str] = []
    fs_values: set[float] = set()
    devices: set[str] = set()
    for k, track in enumerate(tracks):
        title = _text(track, "Title", f"Track {k + 1}")
        subtitle = _text(track, "SubTitle")
        name = " - ".join(p for p in (title, subtitle) if p)
        n_ch = int(_float(track.findtext("NumberOfChannels"), "NumberOfChannels", path, 1.0))
        unit = _text(track, "UnitOfMeasurement")
        strings = track.find("StringsDescriptions")
        sensor = _text(strings, "OriginalSensor") if strings is not None else ""
        is_control = _text(track, "IsControl").lower() == "true"
        is_processing = _text(track, "IsProcessing").lower() == "true"
        names_grid = find_catalogue_grid(f"{sensor} {title} {subtitle}") is not None
        if (
            is_control
            or is_processing
            or not is_voltage_unit(unit or "?")
            or (not names_grid and _looks_non_emg(title, subtitle))
        ):
            aux.append(f"{name} ({n_ch} ch, {unit or 'no unit'})")
            continue
        sig = Path(_text(track, "SignalStreamPath")).name
        if sig not in members:
            raise FormatError(
                f"track {name!r} refers to {sig or 'no signal file'}, which the archive lacks",
                fix=_FIX_ARCHIVE,
                source=path,
            )
        size = int(_float(track.findtext("SampleSize"), "SampleSize", path, 2.0))
        if size not in (2, 3, 4, 8):
            raise FormatError(
                f"track {name!r} has SampleSize {size}; expected 2, 3, 4 or 8 bytes",
                fix=_FIX_ARCHIVE,
                source=path,
            )
        total = int(_float(track.findtext("TotalChannelsInFile"), "TotalChannelsInFile", path))
        if sig not in streams:
            streams[sig] = len(stream_list)
            stream_list.append(_stream(path, members[sig], total, size, is_float=size == 8))
        s_idx = streams[sig]
        first_col = int(_float(track.findtext("AcquisitionChannel"), "AcquisitionChannel", path))
        if first_col < 0 or first_col + n_ch > stream_list[s_idx].n_columns:
            raise FormatError(
                f"track {name!r} spans columns {first_col}..{first_col + n_ch - 1} of {sig}, "
                f"which has {stream_list[s_idx].n_columns}",
                fix=_FIX_ARCHIVE,
                source=path,
            )
        if size == 8:
            factor = to_microvolt_factor(unit, path)
        else:
            bits = int(_float(track.findtext("ADC_Nbits"), "ADC_Nbits", path))
            adc_range = _float(track.findtext("ADC_Range"), "ADC_Range", path)
            gain = _float(track.findtext("Gain"), "Gain", path)
            unit_factor = _float(
                track.findtext("UnitOfMeasurementFactor"), "UnitOfMeasurementFactor", path, 1.0
            )
            if gain <= 0 or bits <= 0:
                raise FormatError(
                    f"track {name!r} has gain {gain} and {bits} ADC bits",
                    fix=_FIX_ARCHIVE,
                    source=path,
                )
            factor = adc_range / 2.0**bits / gain * unit_factor * to_microvolt_factor(unit, path)
        fs_values.add(_float(track.findtext("SamplingFrequency"), "SamplingFrequency", path))
        devices.add(_text(track, "Device"))
        base = sensor or subtitle or title
        grid = find_catalogue_grid(f"{sensor} {title} {subtitle}")
        chan_labels = [_text(c, "Label") for c in track.iter("ChannelRapresentation")]
        first = len(labels)
        for i in range(n_ch):
            given = chan_labels[i] if i < len(chan_labels) else ""
            labels.append(given if given and not given.isdigit() else f"{base}-{i + 1}")
            stream_of.append(s_idx)
            columns.append(first_col + i)
            scales.append(factor)
        groups.append(
            {
                "adapter": name,
                "first": first,
                "n_channels": n_ch,
                "grid": None if grid is None else grid.name,
                "stream": sig,
            }
        )
    if len(fs_values) > 1:
        raise FormatError(
            f"EMG tracks are sampled at different rates ({sorted(fs_values)} Hz)",
            fix="export each device's tracks separately from OTBioLab+",
            source=path,
        )
    used = {stream_of[i] for i in range(len(labels))}
    frames = {stream_list[i].n_frames for i in used}
    if len(frames) > 1:
        raise FormatError(
            f"EMG signal streams differ in length ({sorted(frames)} samples)",
            fix="export each device's tracks separately from OTBioLab+",
            source=path,
        )
    for name in sorted(n for n in members if re.fullmatch(r"TrapezoidalTracks_\d+\.xml", n)):
        for track in _xml(tar, members[name], path).iter("TrackInfo"):
            title = " - ".join(p for p in (_text(track, "Title"), _text(track, "SubTitle")) if p)
            aux.append(f"{title} (feedback, {name})")
    fs = fs_values.pop() if fs_values else 0.0
    extra = {"device": ";".join(sorted(d for d in devices if d)), "track_files": track_files}
    return _Layout(fs, stream_list, labels, stream_of, columns, scales, groups, aux, extra)


# -- the recording ---------------------------------------------------------------------


class OTBRecording(Recording):
    """EMG channels of an OT Bioelettronica archive, memory-mapped inside the tar.

    Built by :func:`read_otb`; samples are converted to µV on reading.
    """

    def __init__(
        self,
        path: Path,
        layout: _Layout,
        grid: Grid | None,
        format_name: str,
        metadata: RecordingMetadata,
    ) -> None:
        n_frames = max((layout.streams[s].n_frames for s in set(layout.stream_of)), default=0)
        super().__init__(
            fs=layout.fs,
            n_samples=n_frames,
            channel_labels=layout.labels,
            grid=grid,
            metadata=metadata,
            source=path,
            format_name=format_name,
            file_unit="uV",
        )
        self._path = path
        self._streams = layout.streams
        self._stream_of = np.asarray(layout.stream_of, dtype=np.int64)
        self._column_of = np.asarray(layout.column_of, dtype=np.int64)
        self._scale = np.asarray(layout.scale_uv, dtype=np.float64)
        self._maps: dict[int, np.memmap] = {}

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_maps"] = {}
        return state

    def _map(self, s: int) -> np.memmap:
        if s not in self._maps:
            st = self._streams[s]
            if st.is_float:
                self._maps[s] = np.memmap(
                    self._path,
                    dtype="<f8",
                    mode="r",
                    offset=st.offset,
                    shape=(st.n_frames, st.n_columns),
                )
            elif st.sample_bytes == 3:
                self._maps[s] = np.memmap(
                    self._path,
                    dtype=np.uint8,
                    mode="r",
                    offset=st.offset,
                    shape=(st.n_frames, st.n_columns, 3),
                )
            else:
                dtype = {2: "<i2", 4: "<i4"}[st.sample_bytes]
                self._maps[s] = np.memmap(
                    self._path,
                    dtype=dtype,
                    mode="r",
                    offset=st.offset,
                    shape=(st.n_frames, st.n_columns),
                )
        return self._maps[s]

    def _read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        out = np.empty((stop - start, len(channels)), dtype=np.float32)
        streams = self._stream_of[channels]
        for s in np.unique(streams):
            sel = np.flatnonzero(streams == s)
            cols = self._column_of[channels[sel]]
            raw = self._map(int(s))[start:stop]
            if self._streams[s].sample_bytes == 3 and not self._streams[s].is_float:
                b = raw[:, cols].astype(np.int32)
                values = b[..., 0] | (b[..., 1] << 8) | (b[..., 2] << 16)
                values = np.where(values >= 1 << 23, values - (1 << 24), values)
            else:
                values = raw[:, cols]
            out[:, sel] = values * self._scale[channels[sel]]
        return out


def _choose_grid(layout: _Layout, path: Path) -> Grid | None:
    names = {g["grid"] for g in layout.groups}
    if len(names) != 1 or None in names:
        if len(layout.groups) > 1:
            logger.info(
                "%s: %d EMG adapters (%s); no single grid applies to all %d channels — "
                "select channels or pass grid=",
                path.name,
                len(layout.groups),
                ", ".join(f"{g['adapter']}: {g['grid'] or 'unknown grid'}" for g in layout.groups),
                len(layout.labels),
            )
        return None
    grid = find_catalogue_grid(names.pop() or "")
    if grid is None or grid.n_channels != len(layout.labels):
        logger.info(
            "%s: grid %s has %s electrodes but %d EMG channels were found; geometry not applied",
            path.name,
            None if grid is None else grid.name,
            None if grid is None else grid.n_channels,
            len(layout.labels),
        )
        return None
    return grid


def read_otb(
    path: str | PathLike[str],
    *,
    acquisition: int | str | None = None,
    power_supply_v: float | None = None,
    **kwargs: Any,
) -> OTBRecording:
    """Open an OT Bioelettronica ``.otb+``, ``.otb`` or ``.otb4`` archive lazily.

    Parameters
    ----------
    path : path
        The archive.
    acquisition : int or str, optional
        Which acquisition to read when an ``.otb+`` holds several ``.sig``
        files (index in name order, or the file's name/stem); the first by
        default.
    power_supply_v : float, optional
        ADC range in volts, overriding the value known for the device.
    **kwargs
        Ignored (accepted for a uniform reader signature).

    Returns
    -------
    OTBRecording
        EMG channels only, in µV. Auxiliary, control and unused channels are
        listed in ``metadata.extra["aux_channels"]``. A catalogue grid named
        in the header is applied when it covers exactly the EMG channels.

    Raises
    ------
    FormatError
        Broken tar, missing or invalid XML header, or a ``.sig`` whose size is
        not a whole number of frames.
    """
    p = Path(path)
    if kwargs:
        logger.debug("read_otb ignores %s", ", ".join(kwargs))
    tar, members = _open_archive(p)
    with tar:
        is_v4 = p.suffix.lower() == ".otb4" or any(
            re.fullmatch(r"Tracks_\d+\.xml", n) for n in members
        )
        if is_v4:
            layout = _otb4_layout(p, tar, members)
            format_name = "OTB4"
        else:
            layout = _otb_plus_layout(p, tar, members, acquisition, power_supply_v)
            format_name = "OTB+" if p.suffix.lower() != ".otb" else "OTB"
    if layout.aux:
        logger.info(
            "%s: skipped %d non-EMG channel group(s): %s",
            p.name,
            len(layout.aux),
            "; ".join(layout.aux),
        )
    if not layout.labels:
        raise FormatError(
            "the archive holds no EMG channels (only " + "; ".join(layout.aux or ["nothing"]) + ")",
            fix="check the adapters configured in OTBioLab+ for this acquisition",
            source=p,
        )
    grid = _choose_grid(layout, p)
    extra = dict(layout.extra)
    extra["aux_channels"] = list(layout.aux)
    extra["adapters"] = layout.groups
    metadata = RecordingMetadata(
        muscle=layout.muscle, side=layout.side, start_time=layout.start_time, extra=extra
    )
    return OTBRecording(p, layout, grid, format_name, metadata)


__all__ = [
    "DEFAULT_POWER_SUPPLY_V",
    "POWER_SUPPLY_V",
    "OTBRecording",
    "power_supply_for",
    "read_otb",
]
