"""Data layer: the Interactions type, readers, preprocessing, splits and data simulation."""

from siftrec.data.ids import IdMap
from siftrec.data.interactions import Interactions

__all__ = ["IdMap", "Interactions"]
