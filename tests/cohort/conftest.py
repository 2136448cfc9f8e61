from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cohort.study import write_study

GRID = "4x4@8"


@pytest.fixture(scope="session")
def study_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The simulated study: 12 subjects (3 groups) x 4 visits x 2 muscles, 8 s each."""
    root = tmp_path_factory.mktemp("study") / "bids"
    write_study(root)
    return root


@pytest.fixture(scope="session")
def batch_derivatives(study_root: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The study analysed once by `fasciq batch` on a 2-worker local cluster."""
    from typer.testing import CliRunner

    from fasciq.cli.app import app

    out = tmp_path_factory.mktemp("deriv") / "derivatives"
    result = CliRunner().invoke(
        app, ["batch", str(study_root), "-o", str(out), "--grid", GRID, "--workers", "2", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    return out


@pytest.fixture
def small_study(study_root: Path, tmp_path: Path) -> Path:
    """A copy of 2 subjects of the study (16 recordings) that a test may modify."""
    dst = tmp_path / "bids"
    dst.mkdir()
    for name in ("dataset_description.json", "participants.tsv"):
        shutil.copy2(study_root / name, dst / name)
    for sub in ("sub-als01", "sub-con01"):
        shutil.copytree(study_root / sub, dst / sub)
    return dst
