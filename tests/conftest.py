"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Oversubscribed CPUs make spinning OpenMP workers crawl; passive waiting is never slower here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: ``../shared/data`` beside the repository checkout (where the project's real data sets live).
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data directory (``$SIFTREC_DATA``, default ``../shared/data``); skips if absent."""
    root = Path(os.environ.get("SIFTREC_DATA", DEFAULT_DATA))
    if not root.is_dir():
        pytest.skip(f"real data directory {root} not found (set SIFTREC_DATA to run this test)")
    return root
