"""Models (scorers). Importing this package registers every built-in model."""

from siftrec.models.base import FitOptions, Recommender
from siftrec.models.chance import RandomScores
from siftrec.models.ease import EASE
from siftrec.models.ials import IALS
from siftrec.models.knn import ItemKNN
from siftrec.models.lightgcn import LightGCN
from siftrec.models.mf import MF
from siftrec.models.neumf import GMF, NeuMF
from siftrec.models.popularity import Popularity
from siftrec.models.registry import available_models, get_model_class, load_model, register
from siftrec.models.vae import MultDAE, MultVAE

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
