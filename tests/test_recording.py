"""The Recording core: slicing, channel selection, chunks, geometry, annotations, metadata."""

from __future__ import annotations

import json

import numpy as np
import pytest

from fasciq.errors import DataError, GridError, ParameterError
from fasciq.recording import Annotations, ArrayRecording, RecordingMetadata


def _rec(n: int = 100, n_ch: int = 4) -> ArrayRecording:
    data = np.arange(n * n_ch, dtype=np.float64).reshape(n, n_ch)
    return ArrayRecording(data, 1000.0, channel_labels=[f"c{i}" for i in range(n_ch)])


def test_get_traces_slicing_and_clipping() -> None:
    rec = _rec()
    full = rec.get_traces()
    assert full.dtype == np.float32 and full.shape == (100, 4) and full.flags.c_contiguous
    np.testing.assert_array_equal(rec.get_traces(10, 13), full[10:13])
    np.testing.assert_array_equal(rec.get_traces(-5, 3), full[:3])  # clipped at the start
    np.testing.assert_array_equal(rec.get_traces(95, 500), full[95:])  # ... and at the end
    assert rec.get_traces(50, 50).shape == (0, 4)
    assert rec.get_traces(70, 60, channels=[1]).shape == (0, 1)
    assert rec.duration_s == pytest.approx(0.1)


def test_channel_selection_by_label_index_slice() -> None:
    rec = _rec()
    full = rec.get_traces()
    np.testing.assert_array_equal(rec.get_traces(channels=["c3", "c0"]), full[:, [3, 0]])
    np.testing.assert_array_equal(rec.get_traces(channels=[3, 0]), full[:, [3, 0]])
    np.testing.assert_array_equal(rec.get_traces(channels=[-1]), full[:, [3]])
    np.testing.assert_array_equal(rec.get_traces(channels=slice(1, 3)), full[:, 1:3])
    np.testing.assert_array_equal(rec.get_traces(channels=np.array([2])), full[:, [2]])
    with pytest.raises(ParameterError, match="unknown channel"):
        rec.get_traces(channels=["c9"])
    with pytest.raises(ParameterError, match="out of range"):
        rec.get_traces(channels=[4])


def test_select_channels_keeps_geometry() -> None:
    data = np.random.default_rng(0).normal(size=(50, 64))
    rec = ArrayRecording(data, 2048.0).with_grid("GR08MM1305")
    sub = rec.select_channels(["ch5", "ch1"])
    assert sub.channel_labels == ("ch5", "ch1")
    np.testing.assert_array_equal(sub.get_traces(), rec.get_traces()[:, [4, 0]])
    np.testing.assert_array_equal(sub.positions_mm, rec.positions_mm[[4, 0]])
    np.testing.assert_array_equal(sub.get_traces(5, 9, ["ch1"]), rec.get_traces(5, 9, [0]))


def test_with_grid_mismatch_and_views() -> None:
    rec = _rec(n_ch=4)
    with pytest.raises(GridError) as info:
        rec.with_grid("8x8@4")
    assert "64 electrodes" in str(info.value) and "4 EMG channels" in str(info.value)
    with_grid = rec.with_grid("2x2@5")
    assert with_grid.grid.name == "2x2@5" and rec.grid is None  # the original is unchanged
    np.testing.assert_array_equal(with_grid.positions_mm, [[0, 0], [5, 0], [0, 5], [5, 5]])
    tagged = rec.with_metadata(muscle="FDI")
    assert tagged.metadata.muscle == "FDI" and rec.metadata.muscle is None


@pytest.mark.parametrize(("chunk", "margin"), [(30, 7), (100, 0), (1, 3), (33, 200)])
def test_iter_chunks_margins_exact_at_edges(chunk: int, margin: int) -> None:
    rec = _rec()
    full = rec.get_traces()
    chunks = list(rec.iter_chunks(chunk, margin=margin))
    assert chunks[0].start == 0 and chunks[0].left == 0  # no margin before the start
    assert chunks[-1].stop == 100 and chunks[-1].right == 0  # ... nor after the end
    for c in chunks:
        assert c.left == min(margin, c.start) and c.right == min(margin, 100 - c.stop)
        np.testing.assert_array_equal(c.traces, full[c.start - c.left : c.stop + c.right])
        np.testing.assert_array_equal(c.core, full[c.start : c.stop])
    np.testing.assert_array_equal(np.concatenate([c.core for c in chunks]), full)
    with pytest.raises(ParameterError):
        list(rec.iter_chunks(0))


def test_iter_chunks_sub_range_and_padding() -> None:
    rec = _rec()
    chunks = list(rec.iter_chunks(25, margin=5, channels=["c1"], start=10, stop=60))
    assert [(c.start, c.stop) for c in chunks] == [(10, 35), (35, 60)]
    assert chunks[0].left == 5 and chunks[-1].right == 5
    np.testing.assert_array_equal(chunks[1].traces[:, 0], rec.get_traces(30, 65)[:, 1])
    padded = rec.get_padded(-3, 2, [0])
    np.testing.assert_array_equal(padded[:, 0], [0, 0, 0, 0, 4])


def test_annotations_sorted_and_validated() -> None:
    ann = Annotations.from_list([(2.0, 0.0, "b"), (0.5, 1.0, "a"), (2.0, 0.1, "c")])
    assert list(ann) == [(0.5, 1.0, "a"), (2.0, 0.0, "b"), (2.0, 0.1, "c")]  # stable
    both = ann + Annotations.from_list([(1.0, 0.0, "x")])
    assert [d for _, _, d in both] == ["a", "x", "b", "c"]
    assert len(Annotations.from_list([])) == 0
    assert ann.to_list()[0] == {"onset": 0.5, "duration": 1.0, "description": "a"}
    with pytest.raises(ParameterError):
        Annotations(np.array([1.0, 2.0]), np.array([0.0]), ("a", "b"))


def test_metadata_round_trip() -> None:
    meta = RecordingMetadata(
        subject="S1",
        session="M6",
        muscle="biceps",
        side="left",
        exposures=("caffeine", "salbutamol"),
        start_time="2024-01-02T03:04:05",
        extra={"site": "KCL"},
    )
    assert RecordingMetadata.from_dict(meta.to_dict()) == meta
    loose = RecordingMetadata.from_dict(
        {"subject": 12, "exposures": "caffeine, nicotine", "height_cm": 180}
    )
    assert loose.subject == "12" and loose.exposures == ("caffeine", "nicotine")
    assert loose.extra == {"height_cm": 180}
    assert RecordingMetadata.from_dict(None) == RecordingMetadata()


def test_describe_is_json_and_complete() -> None:
    rec = ArrayRecording(
        np.zeros((2048, 4)),
        2048.0,
        annotations=Annotations.from_list([(0.1, 0.0, "x")]),
        metadata=RecordingMetadata(subject="S2"),
    ).with_grid("2x2@8")
    desc = json.loads(json.dumps(rec.describe()))
    assert desc["format"] == "array" and desc["n_channels"] == 4 and desc["fs"] == 2048.0
    assert desc["duration_s"] == 1.0 and desc["n_samples"] == 2048 and desc["unit"] == "uV"
    assert desc["channels"] == ["ch1", "ch2", "ch3", "ch4"]
    assert desc["grid"]["name"] == "2x2@8" and desc["has_positions"] is True
    assert desc["annotations"] == [{"onset": 0.1, "duration": 0.0, "description": "x"}]
    assert desc["metadata"]["subject"] == "S2"
    assert "4 ch" in repr(rec)


def test_construction_errors_and_label_dedup() -> None:
    with pytest.raises(DataError, match="2-D"):
        ArrayRecording(np.zeros((2, 2, 2)), 100.0)
    with pytest.raises(DataError, match="labels"):
        ArrayRecording(np.zeros((5, 2)), 100.0, channel_labels=["a"])
    with pytest.raises(DataError, match="sampling rate"):
        ArrayRecording(np.zeros((5, 2)), 0.0)
    with pytest.raises(DataError, match="no samples"):
        ArrayRecording(np.zeros((0, 2)), 100.0)
    with pytest.raises(DataError, match=r"shape \(2, 3\)"):
        ArrayRecording(np.zeros((5, 2)), 100.0, positions_mm=np.zeros((2, 3)))
    rec = ArrayRecording(np.zeros((5, 3)), 100.0, channel_labels=["a", "a", "b"])
    assert rec.channel_labels == ("a", "a-2", "b")
    one = ArrayRecording(np.arange(5.0), 100.0)
    assert one.n_channels == 1 and one.load().get_traces().shape == (5, 1)
