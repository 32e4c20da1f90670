"""Shared fixtures. Tests may read ../shared/data directly (SHARED_DATA); the package ships its own copy."""

from __future__ import annotations

import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("MLIPSCOPE_SHARED_DATA", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    if not SHARED_DATA.is_dir():
        pytest.skip(f"shared data not found at {SHARED_DATA} (set MLIPSCOPE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def sw_calc():
    """LAMMPS Stillinger–Weber Si, shared across tests (LAMMPSlib handles changing cells and atom counts)."""
    from mlipscope.calculators import sw_silicon

    return sw_silicon()
