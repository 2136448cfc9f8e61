import sys

import numpy as np
import pytest

from fasciq.errors import FasciqError
from fasciq.recording import Annotations
from tests.report.analysis_folder import FS, make_analysis


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    return make_analysis(tmp_path_factory.mktemp("mne"), write_source=False)


def test_to_mne(synth):
    mne = pytest.importorskip("mne")
    from fasciq import to_mne

    rec = synth.recording
    rec = rec.load()
    rec.annotations = Annotations.from_list([(1.0, 0.0, "marker from file")])
    raw = to_mne(rec, synth.outdir)
    assert isinstance(raw, mne.io.BaseRaw)
    assert raw.info["sfreq"] == FS
    assert raw.ch_names == list(rec.channel_labels)
    assert set(raw.get_channel_types()) == {"emg"}
    np.testing.assert_allclose(
        raw.get_data(start=0, stop=2048), rec.get_traces(0, 2048).T * 1e-6, rtol=1e-6, atol=1e-12
    )
    ann = raw.annotations
    fp = synth.fasciculations.sort_values("time_s")
    fps = [(o, d) for o, d in zip(ann.onset, ann.description, strict=True) if d.startswith("FP")]
    np.testing.assert_allclose([o for o, _ in fps], fp["time_s"], atol=0.5 / FS)
    assert [d for _, d in fps] == ["FP" if u < 0 else f"FP unit {u}" for u in fp["unit"]]
    assert "marker from file" in ann.description
    bad = [
        (o, dur)
        for o, dur, d in zip(ann.onset, ann.duration, ann.description, strict=True)
        if d == "BAD_excluded: voluntary"
    ]
    assert bad == [(20.0, 6.0)]
    # electrode positions in metres (x right, y up)
    locs = np.array([ch["loc"][:3] for ch in raw.info["chs"]])
    pos = rec.positions_mm
    np.testing.assert_allclose(locs[:, 0], pos[:, 0] / 1000)
    np.testing.assert_allclose(locs[:, 1], -pos[:, 1] / 1000)


def test_to_mne_without_mne(synth, monkeypatch):
    from fasciq.interop.mne import to_mne

    monkeypatch.setitem(sys.modules, "mne", None)
    with pytest.raises(FasciqError, match=r"pip install fasciq\[mne\]"):
        to_mne(synth.recording)
