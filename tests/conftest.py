"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data directory (``$SIFTREC_DATA``, default /work/shared/data); skips if absent."""
    root = Path(os.environ.get("SIFTREC_DATA", "/work/shared/data"))
    if not root.is_dir():
        pytest.skip(f"real data directory {root} not found (set SIFTREC_DATA to run this test)")
    return root
