"""Conformance cases for OT Bioelettronica archives (``.otb+`` and ``.otb4``).

The archives are written the way OTBioLab+ writes them: an uncompressed tar
with ``abstract.xml``/``patient.xml``, the acquisition header ``NAME.xml``
(root ``<Device>``, one ``<Adapter>`` per connector with its ``<Channel>``
elements, attribute order as in OT's XML writer, UTF-8 with a byte-order mark)
and ``NAME.sig`` with interleaved little-endian int16 frames of all
``DeviceTotalChannels`` channels. The ``.otb4`` case follows the
``Tracks_000.xml`` ``<ArrayOfTrackInfo>`` layout read by OT's ``OpenOTB4_v2.m``.
"""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import numpy as np

from tests.io.conformance import ConformanceCase, test_signal, truncate

FS = 2048
N = 1500
N_TOTAL = 72  # 64 EMG + 1 AUX + 2 control + 5 unused inputs
GAIN = 150.0
SUPPLY = 5.0  # Quattrocento ADC range (V)
UV_PER_BIT = SUPPLY / 2**16 / GAIN * 1e6


def _grid_adapter(
    start: int, gain: float, grid: str = "GR08MM1305", muscle: str = "Biceps", position: int = 4
) -> str:
    channels = "".join(
        f'<Channel ID="{grid}" Prefix="" Description="Array 8 mm i.e.d. 13x5" Gain="1" '
        f'Index="{i}" Muscle="{muscle}" Side="Right" />'
        for i in range(64)
    )
    return (
        f'<Adapter ID="AD1x64" Description="Adapter for 64 channels grid" Gain="{gain:g}" '
        f'HighPassFilter="10" LowPassFilter="500" DetectionMode="0" AdapterIndex="{position}" '
        f'ChannelStartIndex="{start}">{channels}</Adapter>'
    )


def device_xml(
    n_total: int = N_TOTAL, name: str = "QUATTROCENTO;Firmware 1.5", adapters: str | None = None
) -> bytes:
    """The acquisition header as OTBioLab+ writes it (UTF-8 with BOM)."""
    if adapters is None:
        adapters = (
            _grid_adapter(0, GAIN)
            + '<Adapter ID="Direct connection to Auxiliary Input" Description="AUX" Gain="0.5" '
            'HighPassFilter="0" LowPassFilter="100000" DetectionMode="0" AdapterIndex="8" '
            'ChannelStartIndex="64" AuxScaleFactor="1" UnitOfMeasurement="mV">'
            '<Channel ID="AUX Acceleration" Prefix="" Description="Auxiliary channel" Gain="1" '
            'Index="0" Muscle="Not defined" Side="Not defined" /></Adapter>'
            '<Adapter ID="AdapterControl" Description="Control" Gain="1" AdapterIndex="9" '
            'ChannelStartIndex="65">'
            '<Channel ID="Buffer" Prefix="" Description="Buffer" Gain="1" Index="0" '
            'Muscle="Not defined" Side="Not defined" />'
            '<Channel ID="Ramp" Prefix="" Description="Ramp" Gain="1" Index="1" '
            'Muscle="Not defined" Side="Not defined" /></Adapter>'
        )
    text = (
        '<?xml version="1.0" encoding="utf-8"?>\r\n'
        f'<Device Name="{name}" DeviceTotalChannels="{n_total}" Sources="1" '
        f'SampleFrequency="{FS}" Firmware="1.5" ad_bits="16"><Channels>{adapters}'
        "</Channels></Device>"
    )
    return b"\xef\xbb\xbf" + text.encode("utf-8")


PATIENT_XML = (
    b'<?xml version="1.0" encoding="utf-8"?><patient><name>S01</name>'
    b"<time>2024-03-05T10:15:00</time><duration>0.732421875</duration></patient>"
)
ABSTRACT_XML = b'<?xml version="1.0" encoding="utf-8"?><abstract><files>1</files></abstract>'


def write_tar(path: Path, members: dict[str, bytes]) -> Path:
    """An uncompressed tar holding ``members`` in the given order."""
    with tarfile.open(path, "w") as tar:
        for name, payload in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
    return path


def emg_raw(n: int = N, seed: int = 11) -> np.ndarray:
    """int16 codes of a 64-channel test signal at the Quattrocento resolution."""
    return np.round(test_signal(n, 64, seed=seed) / UV_PER_BIT).astype(np.int16)


def otb_plus_frames(emg: np.ndarray, n_total: int = N_TOTAL, seed: int = 3) -> np.ndarray:
    """All device channels: EMG first, then AUX/control/unused filled with other values."""
    rng = np.random.default_rng(seed)
    frames = rng.integers(-30000, 30000, (emg.shape[0], n_total), dtype=np.int16)
    frames[:, : emg.shape[1]] = emg
    return frames


def build_otb_plus(tmp_path: Path) -> ConformanceCase:
    raw = emg_raw()
    frames = otb_plus_frames(raw)
    path = write_tar(
        tmp_path / "biceps.otb+",
        {
            "abstract.xml": ABSTRACT_XML,
            "patient.xml": PATIENT_XML,
            "acq_000.xml": device_xml(),
            "acq_000.sig": frames.astype("<i2").tobytes(),
            "acq_000.sip": np.zeros(10).tobytes(),
            "acq_000.pro": b"<pro><description>force</description></pro>",
        },
    )
    return ConformanceCase(
        path=path,
        format="otb",
        fs=FS,
        labels=[f"GR08MM1305-{i + 1}" for i in range(64)],
        data_uv=raw.astype(np.float64) * UV_PER_BIT,
        atol_uv=1e-3,
        file_unit="uV",
        grid_name="GR08MM1305",
        corrupt=truncate(0.5),
    )


def _track(
    title: str,
    subtitle: str,
    stream: str,
    first: int,
    n_ch: int,
    total: int,
    *,
    size: int,
    bits: int,
    adc_range: float,
    gain: float,
    unit: str,
    factor: float,
    control: bool = False,
    sensor: str = "",
) -> str:
    labels = "".join(
        f"<ChannelRapresentation><Index>{i}</Index><Label>{i + 1}</Label></ChannelRapresentation>"
        for i in range(n_ch)
    )
    return (
        f"<TrackInfo><Title>{title}</Title><SubTitle>{subtitle}</SubTitle>"
        "<Device>Novecento+</Device>"
        f"<IsControl>{'true' if control else 'false'}</IsControl>"
        f"<NumberOfChannels>{n_ch}</NumberOfChannels>"
        f"<TotalChannelsInFile>{total}</TotalChannelsInFile>"
        f"<AcquisitionChannel>{first}</AcquisitionChannel>"
        f"<SamplingFrequency>{FS}</SamplingFrequency><SampleSize>{size}</SampleSize>"
        f"<Gain>{gain:g}</Gain><ADC_Nbits>{bits}</ADC_Nbits><ADC_Range>{adc_range:g}</ADC_Range>"
        f"<UnitOfMeasurement>{unit}</UnitOfMeasurement>"
        f"<UnitOfMeasurementFactor>{factor:g}</UnitOfMeasurementFactor>"
        f"<SignalStreamPath>{stream}</SignalStreamPath>"
        f"<StringsDescriptions><Mode>Monopolar</Mode><OriginalAdapter>BioHD</OriginalAdapter>"
        f"<OriginalSensor>{sensor}</OriginalSensor></StringsDescriptions>"
        f"<Channels>{labels}</Channels></TrackInfo>"
    )


OTB4_RANGE, OTB4_BITS, OTB4_GAIN = 4.8, 24, 256.0
#: µV per count: range / 2**bits / gain (V), times the mV factor 1000, times 1000 µV/mV
OTB4_UV_PER_BIT = OTB4_RANGE / 2**OTB4_BITS / OTB4_GAIN * 1000 * 1000


def build_otb4(tmp_path: Path) -> ConformanceCase:
    n = 1200
    emg = np.round(test_signal(n, 64, seed=5) / OTB4_UV_PER_BIT).astype(np.int32)
    frames = np.zeros((n, 66), dtype=np.int32)
    frames[:, :64] = emg
    frames[:, 64] = np.arange(n)  # buffer counter
    frames[:, 65] = 7  # control
    tracks = (
        '<?xml version="1.0" encoding="utf-8"?><ArrayOfTrackInfo>'
        + _track(
            "HD08MM1305",
            "Biceps brachii",
            "Signal_000.sig",
            0,
            64,
            66,
            size=4,
            bits=OTB4_BITS,
            adc_range=OTB4_RANGE,
            gain=OTB4_GAIN,
            unit="mV",
            factor=1000,
            sensor="HD08MM1305",
        )
        + _track(
            "Buffer",
            "Buffer",
            "Signal_000.sig",
            64,
            1,
            66,
            size=4,
            bits=0,
            adc_range=1,
            gain=1,
            unit="",
            factor=1,
        )
        + _track(
            "Control Signal",
            "Control",
            "Signal_000.sig",
            65,
            1,
            66,
            size=4,
            bits=0,
            adc_range=1,
            gain=1,
            unit="",
            factor=1,
            control=True,
        )
        + "</ArrayOfTrackInfo>"
    )
    trapezoid = (
        '<?xml version="1.0" encoding="utf-8"?><ArrayOfTrackInfo>'
        + _track(
            "Trapezoidal track",
            "Performed Path",
            "Feedback_000.sig",
            0,
            1,
            2,
            size=8,
            bits=0,
            adc_range=1,
            gain=1,
            unit="%MVC",
            factor=1,
        )
        + "</ArrayOfTrackInfo>"
    )
    device = (
        b'<?xml version="1.0" encoding="utf-8"?><DeviceParameters><AdBits>24</AdBits>'
        b"<SamplingFrequency>2048</SamplingFrequency><ADC_Range>4.8</ADC_Range>"
        b"<TotalChannelsInFile>66</TotalChannelsInFile></DeviceParameters>"
    )
    path = write_tar(
        tmp_path / "biceps.otb4",
        {
            "DeviceParameters.xml": device,
            "Tracks_000.xml": tracks.encode(),
            "TrapezoidalTracks_000.xml": trapezoid.encode(),
            "Signal_000.sig": frames.astype("<i4").tobytes(),
            "Feedback_000.sig": np.zeros((10, 2)).tobytes(),
        },
    )
    return ConformanceCase(
        path=path,
        format="otb",
        fs=FS,
        labels=[f"HD08MM1305-{i + 1}" for i in range(64)],
        data_uv=emg.astype(np.float64) * OTB4_UV_PER_BIT,
        atol_uv=1e-3,
        file_unit="uV",
        grid_name="GR08MM1305",
        corrupt=truncate(0.4),
    )


CASES = [build_otb_plus, build_otb4]
