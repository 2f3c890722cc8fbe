"""siftrec: recommenders that learn the true preferences from noisy, biased implicit feedback."""

import os

# OpenMP workers that spin while waiting make every torch (and numba) parallel region wait for
# descheduled peers on a busy CPU: a fit there ran 10-50x slower than with passive waiting,
# which costs nothing measurable on an idle machine (docs/benchmarks.md, iALS section). libgomp
# reads the policy once, when torch first loads it, so it is set here, before any siftrec module
# can import torch; a value the user set wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.version import __version__

__all__ = ["Interactions", "SiftrecError", "__version__"]
