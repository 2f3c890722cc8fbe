"""Model registry: names used by the CLI, ``model.json`` and :func:`load_model`.

Built-in models are listed by name with the module that defines them (:data:`BUILTIN_MODELS`);
a look-up imports that module alone, so a popularity or ItemKNN fit never loads torch. Loading a
saved model is a look-up by the name its ``model.json`` records, so it lives here too.
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path

from siftrec.errors import SiftrecError
from siftrec.models.base import Recommender

_REGISTRY: dict[str, type[Recommender]] = {}

#: Built-in model name → the module whose import registers it.
BUILTIN_MODELS: dict[str, str] = {
    "ease": "siftrec.models.ease",
    "gmf": "siftrec.models.neumf",
    "ials": "siftrec.models.ials",
    "itemknn": "siftrec.models.knn",
    "lightgcn": "siftrec.models.lightgcn",
    "mf": "siftrec.models.mf",
    "multdae": "siftrec.models.vae",
    "multvae": "siftrec.models.vae",
    "neumf": "siftrec.models.neumf",
    "popularity": "siftrec.models.popularity",
    "random": "siftrec.models.chance",
}


def register(name: str) -> Callable[[type[Recommender]], type[Recommender]]:
    """Class decorator that makes a model available under ``name``."""

    def decorate(cls: type[Recommender]) -> type[Recommender]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise RuntimeError(f"model name {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def get_model_class(name: str) -> type[Recommender]:
    """The model class registered under ``name`` (case-insensitive); a built-in model's module
    is imported on its first look-up."""
    key = name.lower()
    if key not in _REGISTRY and key in BUILTIN_MODELS:
        importlib.import_module(BUILTIN_MODELS[key])
    if key not in _REGISTRY:
        raise SiftrecError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return _REGISTRY[key]


def available_models() -> list[str]:
    """Registered model names, the built-in ones included (without importing them)."""
    return sorted(_REGISTRY.keys() | BUILTIN_MODELS.keys())


def load_model(directory: str | Path, expected: type[Recommender] | None = None) -> Recommender:
    """Load any saved siftrec model: the class named in ``model.json``, built with its saved
    parameters, then its arrays (``expected``: refuse a model of another class)."""
    directory = Path(directory)
    meta_path = directory / "model.json"
    if not meta_path.is_file():
        raise SiftrecError(f"{directory} is not a model directory (no model.json)")
    try:
        meta = json.loads(meta_path.read_text())
        model_cls = get_model_class(meta["model"])
        if expected is not None and not issubclass(model_cls, expected):
            raise SiftrecError(f"{directory} holds a {meta['model']} model, not {expected.name}")
        # a FitOptions field in params (files saved before fit options) sets the model's options
        model = model_cls(**meta["params"])
        n_users, n_items = meta["n_users"], meta["n_items"]
        if not all(isinstance(n, int) and not isinstance(n, bool) for n in (n_users, n_items)):
            raise ValueError(f"n_users/n_items are not integers: {n_users!r}, {n_items!r}")
    except SiftrecError:
        raise
    except (OSError, ValueError, KeyError, TypeError, json.JSONDecodeError) as exc:
        raise SiftrecError(f"corrupt model directory {directory}: {exc}") from None
    model.restore(directory, meta)
    return model
