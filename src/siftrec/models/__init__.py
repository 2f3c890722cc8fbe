"""Models (scorers). Each model class is imported on first use (``siftrec.models.MF``, a registry
look-up by name), so code that needs one classic model does not load torch with the others."""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from siftrec.models.base import FitOptions, Recommender
from siftrec.models.registry import available_models, get_model_class, load_model, register

if TYPE_CHECKING:
    from siftrec.models.chance import RandomScores
    from siftrec.models.ease import EASE
    from siftrec.models.ials import IALS
    from siftrec.models.knn import ItemKNN
    from siftrec.models.lightgcn import LightGCN
    from siftrec.models.mf import MF
    from siftrec.models.neumf import GMF, NeuMF
    from siftrec.models.popularity import Popularity
    from siftrec.models.vae import MultDAE, MultVAE

#: Model class name → the module that defines it (imported by :func:`__getattr__`).
_CLASSES: dict[str, str] = {
    "EASE": "siftrec.models.ease",
    "GMF": "siftrec.models.neumf",
    "IALS": "siftrec.models.ials",
    "ItemKNN": "siftrec.models.knn",
    "LightGCN": "siftrec.models.lightgcn",
    "MF": "siftrec.models.mf",
    "MultDAE": "siftrec.models.vae",
    "MultVAE": "siftrec.models.vae",
    "NeuMF": "siftrec.models.neumf",
    "Popularity": "siftrec.models.popularity",
    "RandomScores": "siftrec.models.chance",
}


def __getattr__(name: str) -> Any:
    """``siftrec.models.MF`` and ``from siftrec.models import MF``: import the class's module."""
    if name in _CLASSES:
        return getattr(importlib.import_module(_CLASSES[name]), name)
    raise AttributeError(f"module 'siftrec.models' has no attribute {name!r}")


__all__ = [
    "EASE",
    "GMF",
    "IALS",
    "MF",
    "FitOptions",
    "ItemKNN",
    "LightGCN",
    "MultDAE",
    "MultVAE",
    "NeuMF",
    "Popularity",
    "RandomScores",
    "Recommender",
    "available_models",
    "get_model_class",
    "load_model",
    "register",
]
