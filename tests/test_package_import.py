"""Importing siftrec sets up OpenMP for a busy machine before torch can start its thread pool."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

#: torch's OpenMP runtime (libgomp) prints the settings it starts with to stderr
#: (OMP_DISPLAY_ENV=VERBOSE); passive waiting shows as a spin count of 0, libgomp's own default
#: (what a plain ``import torch`` starts with) spins 300000 times before sleeping and ACTIVE
#: spins for good.
_FIT = """
import siftrec
from siftrec.models import get_model_class
import numpy as np
data = siftrec.Interactions.from_raw([0, 0, 1, 2], [0, 1, 1, 2])
get_model_class("ease")().fit(data)
"""


def _run(code: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("OMP_", "GOMP_"))}
    return subprocess.run(
        [sys.executable, "-c", code],
        env={**clean, "OMP_DISPLAY_ENV": "VERBOSE", **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )


def test_import_sets_passive_waiting_without_loading_torch():
    out = _run(
        "import os, sys, siftrec; print(os.environ['OMP_WAIT_POLICY'], 'torch' in sys.modules)"
    )
    assert out.stdout.split() == ["PASSIVE", "False"]


@pytest.mark.parametrize(
    ("code", "user", "spins"),
    [
        (_FIT, None, "0"),
        (_FIT, "ACTIVE", "30000000000"),  # the user's setting is kept
    ],
)
def test_torch_thread_pool_starts_with_passive_waiting(code, user, spins):
    """The OpenMP runtime torch loads during a Python fit starts without spinning."""
    out = _run(code, **({} if user is None else {"OMP_WAIT_POLICY": user}))
    assert f"GOMP_SPINCOUNT = '{spins}'" in out.stderr
