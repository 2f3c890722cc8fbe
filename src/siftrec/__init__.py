"""siftrec: recommenders that learn the true preferences from noisy, biased implicit feedback."""

import os

# OpenMP workers that spin while waiting make every torch (and numba) parallel region wait for
# descheduled peers on a busy CPU: a fit there ran 10-50x slower than with passive waiting,
# which costs nothing measurable on an idle machine (docs/benchmarks.md, iALS section). libgomp
# reads the policy once, when torch first loads it, so it is set here, before any siftrec module
# can import torch; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
# Scoring allocates a fresh users × items block per batch, faulted in page by page: in 4 kB
# pages that cost the scoring GEMMs of a gowalla evaluation far more CPU than the same GEMMs into
# a reused buffer (docs/benchmarks.md, full-ranking evaluation). Torch backs allocations of 2 MB
# and more with transparent huge pages when this is set before its first allocation (where the
# kernel allows them); a value the user set wins.
os.environ.setdefault("THP_MEM_ALLOC_ENABLE", "1")

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.version import __version__

__all__ = ["Interactions", "SiftrecError", "__version__"]
