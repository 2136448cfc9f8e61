"""NumPy reader and writer: sidecar handling, exact round trips, streaming, safety."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from fasciq.errors import DataError, FormatError, GridError, OutputExistsError
from fasciq.io import read_recording, write_recording
from fasciq.io.numpy_format import read_numpy, write_numpy
from fasciq.recording import Annotations, ArrayRecording, Recording, RecordingMetadata


def _recording(n: int = 1000, n_ch: int = 64) -> ArrayRecording:
    rng = np.random.default_rng(2)
    data = rng.normal(0, 50, (n, n_ch)).astype(np.float32)
    return ArrayRecording(
        data,
        2048.0,
        channel_labels=[f"e{i}" for i in range(n_ch)],
        annotations=Annotations.from_list([(0.2, 0.1, "voluntary"), (0.01, 0.0, "start")]),
        metadata=RecordingMetadata(
            subject="P3", muscle="TA", side="right", exposures=("salbutamol",), extra={"visit": 2}
        ),
    ).with_grid("GR08MM1305")


class _CountingRecording(ArrayRecording):
    """Records the spans asked for, to check that writing streams."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.spans: list[tuple[int, int]] = []

    def _read(self, start: int, stop: int, channels: np.ndarray) -> np.ndarray:
        self.spans.append((start, stop))
        return super()._read(start, stop, channels)


@pytest.mark.parametrize("suffix", [".npy", ".npz"])
def test_write_then_read_is_exact(tmp_path: Path, suffix: str) -> None:
    rec = _recording()
    out = write_recording(rec, tmp_path / f"rec{suffix}")
    back = read_recording(out)
    np.testing.assert_array_equal(back.get_traces(), rec.get_traces())
    assert back.get_traces().dtype == np.float32
    assert back.channel_labels == rec.channel_labels
    assert back.fs == rec.fs and back.grid.name == "GR08MM1305"
    assert list(back.annotations) == list(rec.annotations)
    assert back.metadata.subject == "P3" and back.metadata.exposures == ("salbutamol",)
    assert back.metadata.extra["visit"] == 2
    side = json.loads((tmp_path / "rec.json").read_text())
    assert side["unit"] == "uV" and side["grid"] == "GR08MM1305"


def test_npy_writer_streams_in_chunks(tmp_path: Path) -> None:
    data = np.arange(5000 * 3, dtype=np.float32).reshape(5000, 3)
    rec = _CountingRecording(data, 1000.0)
    write_numpy(rec, tmp_path / "big.npy", chunk_s=0.7)
    assert rec.spans[:2] == [(0, 700), (700, 1400)] and rec.spans[-1] == (4900, 5000)
    back = read_numpy(tmp_path / "big.npy")
    assert isinstance(back._data, np.memmap)  # lazy
    np.testing.assert_array_equal(back.get_traces(), data)
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_positions_without_catalogue_grid_round_trip(tmp_path: Path) -> None:
    pos = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0], [7.0, 7.5]])
    rec = ArrayRecording(np.ones((10, 4), dtype=np.float32), 100.0, positions_mm=pos)
    write_numpy(rec, tmp_path / "p.npy")
    back = read_numpy(tmp_path / "p.npy")
    np.testing.assert_array_equal(back.positions_mm, pos)


def test_no_overwrite_unless_asked(tmp_path: Path) -> None:
    rec = _recording(50, 64)
    write_numpy(rec, tmp_path / "r.npy")
    before = (tmp_path / "r.npy").read_bytes()
    with pytest.raises(OutputExistsError):
        write_numpy(rec.select_channels(slice(0, 2)), tmp_path / "r.npy")
    assert (tmp_path / "r.npy").read_bytes() == before
    (tmp_path / "s.json").write_text("{}")
    with pytest.raises(OutputExistsError, match=r"s\.json"):
        write_numpy(rec, tmp_path / "s.npy")  # the sidecar would be overwritten
    assert not (tmp_path / "s.npy").exists()
    two = rec.select_channels([0, 1])
    write_numpy(two, tmp_path / "r.npy", overwrite=True)
    assert read_numpy(tmp_path / "r.npy").n_channels == 2


def test_missing_sidecar_says_what_to_write(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((20, 5), dtype=np.float32))
    with pytest.raises(FormatError) as info:
        read_numpy(tmp_path / "x.npy")
    msg = str(info.value)
    assert (
        "x.npy" in msg and "x.json" in msg and '"fs"' in msg and '"ch1", "ch2", "ch3", ...' in msg
    )
    rec = read_numpy(tmp_path / "x.npy", fs=1000)  # fs given directly: no sidecar needed
    assert rec.n_channels == 5 and rec.file_unit == "uV"


@pytest.mark.parametrize(
    ("sidecar", "error", "needle"),
    [
        ({"unit": "uV"}, FormatError, "no sampling rate"),
        ({"fs": -5}, DataError, "positive"),
        ({"fs": 100, "unit": "furlong"}, FormatError, "furlong"),
        ({"fs": 100, "channels": ["a", "b"]}, DataError, "names 2 channels"),
        ({"fs": 100, "grid": "9x9@"}, GridError, "9x9@"),
        ({"fs": 100, "grid": "8x8@4"}, GridError, "64 electrodes"),
        ({"fs": 100, "layout": "sideways"}, FormatError, "sideways"),
        ({"fs": 100, "annotations": [{"duration": 1}]}, FormatError, "onset"),
        ({"fs": 100, "positions_mm": [1, 2, 3]}, FormatError, "positions_mm"),
    ],
)
def test_bad_sidecars(tmp_path: Path, sidecar: dict, error: type, needle: str) -> None:
    np.save(tmp_path / "x.npy", np.zeros((20, 5), dtype=np.float32))
    (tmp_path / "x.json").write_text(json.dumps(sidecar))
    with pytest.raises(error) as info:
        read_numpy(tmp_path / "x.npy")
    assert needle in str(info.value)


def test_invalid_json_and_bad_arrays(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((20, 5), dtype=np.float32))
    (tmp_path / "x.json").write_text("{fs: 100}")
    with pytest.raises(FormatError, match="not valid JSON"):
        read_numpy(tmp_path / "x.npy")
    np.save(tmp_path / "cube.npy", np.zeros((2, 3, 4)))
    (tmp_path / "cube.json").write_text('{"fs": 10}')
    with pytest.raises(FormatError, match="2-D"):
        read_numpy(tmp_path / "cube.npy")
    np.savez(tmp_path / "many.npz", a=np.zeros((3, 2)), b=np.ones((3, 2)))
    (tmp_path / "many.json").write_text('{"fs": 10}')
    with pytest.raises(FormatError, match="none is named 'data'"):
        read_numpy(tmp_path / "many.npz")
    np.savez(tmp_path / "one.npz", samples=np.ones((3, 2)))
    (tmp_path / "one.json").write_text('{"fs": 10, "unit": "V"}')
    assert read_numpy(tmp_path / "one.npz").get_traces()[0, 0] == 1e6


def test_written_recording_is_a_recording(tmp_path: Path) -> None:
    rec = _recording(30, 64)
    back = read_numpy(write_numpy(rec, tmp_path / "a.npy"))
    assert isinstance(back, Recording)
    assert back.describe()["format"] == "NumPy .npy"
    with pytest.raises(FormatError, match=r"\.npy or \.npz"):
        write_numpy(rec, tmp_path / "a.txt")
