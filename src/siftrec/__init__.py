"""siftrec: recommenders that learn the true preferences from noisy, biased implicit feedback."""

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError

__version__ = "0.1.0"

__all__ = ["Interactions", "SiftrecError", "__version__"]
