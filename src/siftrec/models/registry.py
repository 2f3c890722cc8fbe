"""Model registry: names used by the CLI, ``model.json`` and ``load_model``."""

from __future__ import annotations

from typing import TYPE_CHECKING

from siftrec.errors import SiftrecError

if TYPE_CHECKING:
    from siftrec.models.base import Recommender

_REGISTRY: dict[str, type[Recommender]] = {}


def register(name: str):
    """Class decorator that makes a model available under ``name``."""

    def decorate(cls: type[Recommender]) -> type[Recommender]:
        if name in _REGISTRY and _REGISTRY[name] is not cls:
            raise RuntimeError(f"model name {name!r} registered twice")
        cls.name = name
        _REGISTRY[name] = cls
        return cls

    return decorate


def get_model_class(name: str) -> type[Recommender]:
    """The model class registered under ``name`` (case-insensitive)."""
    import siftrec.models  # noqa: F401  (populates the registry)

    key = name.lower()
    if key not in _REGISTRY:
        raise SiftrecError(f"unknown model {name!r}; available: {', '.join(available_models())}")
    return _REGISTRY[key]


def available_models() -> list[str]:
    import siftrec.models  # noqa: F401

    return sorted(_REGISTRY)
