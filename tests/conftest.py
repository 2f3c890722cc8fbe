"""Shared fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

# Oversubscribed CPUs make spinning OpenMP workers crawl; passive waiting is never slower here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

#: ``../shared/data`` beside the repository checkout (where the project's real data sets live).
DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
# Tests, the benchmark grids they parse and the commands they run find the real data through
# SIFTREC_DATA; a checkout next to its data needs no setting (the library default is a cache dir).
if not os.environ.get("SIFTREC_DATA") and DEFAULT_DATA.is_dir():
    os.environ["SIFTREC_DATA"] = str(DEFAULT_DATA)


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The real-data directory (``$SIFTREC_DATA``, default ``../shared/data``); skips if absent."""
    root = Path(os.environ.get("SIFTREC_DATA") or DEFAULT_DATA)
    if not root.is_dir():
        pytest.skip(f"real data directory {root} not found (set SIFTREC_DATA to run this test)")
    return root


@pytest.fixture
def one_numba_thread():
    """One numba thread: Hogwild updates, and so seeded numba fits, reproduce only sequentially."""
    import numba  # here, not at import: most tests never load numba

    before = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(before)
