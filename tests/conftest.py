"""Shared fixtures: paths to the real recordings in ../shared/data."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("FASCIQ_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Folder of real recordings; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared recordings not found at {SHARED_DATA}")
    return SHARED_DATA


#: The OTBioLab+ grid recording in the shared data, with its force reference.
OTB_MAT = "otbiolab-mat/vastus_lateralis_GR08MM1305.mat"


@pytest.fixture(scope="session")
def otb_force(shared_data) -> np.ndarray:
    """Force reference (% MVC) of :data:`OTB_MAT`: the last column of its data."""
    from scipy.io import loadmat

    return loadmat(shared_data / OTB_MAT)["Data"][0, 0][:, -1].astype(np.float64)
