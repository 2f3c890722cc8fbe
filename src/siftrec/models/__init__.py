"""Models (scorers). Importing this package registers every built-in model."""

from siftrec.models.base import Recommender, load_model
from siftrec.models.popularity import Popularity
from siftrec.models.registry import available_models, get_model_class, register

__all__ = [
    "Popularity",
    "Recommender",
    "available_models",
    "get_model_class",
    "load_model",
    "register",
]
