"""siftrec: recommenders that learn the true preferences from noisy, biased implicit feedback."""

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.version import __version__

__all__ = ["Interactions", "SiftrecError", "__version__"]
