"""Model registry: names used by the CLI, ``model.json`` and :func:`load_model`.

Built-in models register when ``siftrec.models`` is imported; a look-up by name imports it first.
Loading a saved model is a look-up by the name its ``model.json`` records, so it lives here too.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from siftrec.errors import SiftrecError
from siftrec.models.base import Recommender

_REGISTRY: dict[str, type[Recommender]] = {}


def register(name: str) -> Callable[[type[Recommender]], type[Recommender]]:
    """Class decorator that makes a model available under ``name``."""

    def decorate(cls: type[Recommender]) -> type[Recommender]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise RuntimeError(f"model name {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def _populate() -> None:
    """Import ``siftrec.models``, whose modules register the built-in models (it imports this
    module, so the import waits until the first look-up)."""
    import siftrec.models  # noqa: F401


def get_model_class(name: str) -> type[Recommender]:
    """The model class registered under ``name`` (case-insensitive)."""
    _populate()
    key = name.lower()
    if key not in _REGISTRY:
        raise SiftrecError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return _REGISTRY[key]


def available_models() -> list[str]:
    """Registered model names."""
    _populate()
    return sorted(_REGISTRY)


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
