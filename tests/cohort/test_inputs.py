from __future__ import annotations

from pathlib import Path

import pytest

from fasciq.cohort.inputs import bids_entities, discover
from fasciq.errors import FormatError
from tests.cohort.study import GROUPS, MUSCLES, VISIT_MONTHS


def test_bids_root_with_participants_and_sessions(study_root: Path) -> None:
    entries = discover(study_root)
    assert len(entries) == 3 * 4 * len(VISIT_MONTHS) * len(MUSCLES)
    assert len({e.recording_id for e in entries}) == len(entries)
    e = next(e for e in entries if e.recording_id == "sub-als02_ses-03_task-rest_acq-biceps")
    assert (e.subject, e.session, e.muscle) == ("als02", "03", "biceps")
    assert e.metadata["group"] == "ALS"
    assert e.metadata["acq_time"].startswith("2023-07-")  # visit at 6 months
    assert isinstance(e.metadata["age"], int)
    assert {x.metadata["group"] for x in entries} == set(GROUPS)


def test_listing_with_metadata(study_root: Path, tmp_path: Path) -> None:
    files = sorted(study_root.rglob("*_emg.bdf"))[:3]
    listing = tmp_path / "list.csv"
    rows = ["path,subject,muscle,group,salbutamol"]
    for i, f in enumerate(files):
        rows.append(f"{f},p{i},thenar,ALS,{'yes' if i else 'no'}")
    listing.write_text("\n".join(rows) + "\n")
    entries = discover(listing)
    assert [e.subject for e in entries] == ["p0", "p1", "p2"]
    assert entries[1].metadata == {"group": "ALS", "salbutamol": "yes"}
    assert entries[0].muscle == "thenar"
    assert entries[0].path == files[0]

    listing.write_text("path\nmissing.bdf\n")
    with pytest.raises(FormatError, match=r"missing\.bdf"):
        discover(listing)
    listing.write_text("file\nx.bdf\n")
    with pytest.raises(FormatError, match="no path column"):
        discover(listing)


def test_glob_and_folder(study_root: Path) -> None:
    pattern = str(study_root / "sub-als01" / "**" / "*acq-biceps_emg.bdf")
    entries = discover(pattern)
    assert len(entries) == len(VISIT_MONTHS)
    assert all(e.muscle == "biceps" and e.subject == "als01" for e in entries)
    folder = discover(study_root / "sub-con01" / "ses-01")
    assert sorted(e.muscle for e in folder) == sorted(MUSCLES)


def test_nothing_found(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="does not exist"):
        discover(tmp_path / "nope")
    with pytest.raises(FormatError, match="no recordings"):
        discover(tmp_path)
    with pytest.raises(FormatError, match="matches no files"):
        discover(str(tmp_path / "*.bdf"))


def test_bids_entities() -> None:
    assert bids_entities("sub-01_ses-02_task-rest_acq-tib_emg.bdf") == {
        "sub": "01",
        "ses": "02",
        "task": "rest",
        "acq": "tib",
    }
