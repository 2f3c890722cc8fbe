"""Named, parametrised components (objectives, samplers) built from spec strings.

A component class is a dataclass whose fields are its hyperparameters. It is registered under one
or more names and built from a *spec*: ``"name"`` or ``"name(key=value, ...)"``, so a single
string (a CLI ``--param`` value, a ``model.json`` entry) fully describes it. Values are coerced
to the declared field types exactly like model hyperparameters.
"""

from __future__ import annotations

import dataclasses
import importlib
import re
import types
import typing
from typing import Any, Generic, TypeVar

from siftrec.errors import SiftrecError

T = TypeVar("T")

_SPEC = re.compile(r"^\s*([A-Za-z_][\w\-]*)\s*(?:\((.*)\))?\s*$")


def parse_spec(spec: str) -> tuple[str, dict[str, str]]:
    """Split ``"name(k=v, k2=v2)"`` into ``("name", {"k": "v", "k2": "v2"})``."""
    match = _SPEC.match(spec) if isinstance(spec, str) else None
    if match is None:
        raise SiftrecError(f"bad component spec {spec!r}; expected 'name' or 'name(key=value,...)'")
    name, body = match.group(1).lower(), match.group(2)
    params: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in (body or "").split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise SiftrecError(f"bad parameter {part!r} in spec {spec!r}; expected key=value")
        params[key.strip()] = value.strip()
    return name, params


def coerce_param(config_cls: type, key: str, value: Any) -> Any:
    """Convert ``value`` (often a CLI string) to the declared type of ``config_cls.key``."""
    fields = {f.name: f for f in dataclasses.fields(config_cls)}
    if key not in fields:
        known = ", ".join(sorted(fields)) or "none"
        raise SiftrecError(f"unknown hyperparameter {key!r} (known: {known})")
    hints = typing.get_type_hints(config_cls)
    target = hints[key]
    if not isinstance(value, str):
        return value
    options = typing.get_args(target) if isinstance(target, types.UnionType) else (target,)
    if typing.get_origin(target) is typing.Literal:
        allowed = typing.get_args(target)
        if value not in allowed:
            raise SiftrecError(f"hyperparameter {key}={value!r}; expected one of {allowed}")
        return value
    for option in options:
        if option is type(None):
            if value.lower() in ("none", "null", ""):
                return None
            continue
        try:
            if option is bool:
                low = value.lower()
                if low in ("1", "true", "yes", "on"):
                    return True
                if low in ("0", "false", "no", "off"):
                    return False
                raise ValueError(value)
            if option is int:
                return int(float(value)) if float(value).is_integer() else int(value)
            if option is float:
                return float(value)
            if option is str:
                return value
        except ValueError:
            continue
    raise SiftrecError(f"hyperparameter {key}={value!r} is not a valid {target}")


class ComponentRegistry(Generic[T]):
    """Name → dataclass registry for one kind of component (``what``: "objective", ...).

    ``package`` is imported before any look-up, so its modules have registered the built-ins.
    """

    def __init__(self, what: str, package: str) -> None:
        self.what = what
        self.package = package
        self._classes: dict[str, type[T]] = {}

    def _populate(self) -> None:
        """Import the package whose modules register the built-in components."""
        importlib.import_module(self.package)

    def register(self, name: str, *aliases: str):
        """Class decorator: make the class available as ``name`` (and ``aliases``)."""

        def decorate(cls: type[T]) -> type[T]:
            for key in (name, *aliases):
                key = key.lower()
                if key in self._classes and self._classes[key] is not cls:
                    raise RuntimeError(f"{self.what} name {key!r} registered twice")
                self._classes[key] = cls
            cls.name = name.lower()
            return cls

        return decorate

    def get_class(self, name: str) -> type[T]:
        self._populate()
        key = name.lower()
        if key not in self._classes:
            raise SiftrecError(
                f"unknown {self.what} {name!r}; available: {', '.join(self.available())}"
            )
        return self._classes[key]

    def available(self) -> list[str]:
        """Registered names, aliases included."""
        self._populate()
        return sorted(self._classes)

    def create(self, spec: str, **params: Any) -> T:
        """Build the component described by ``spec``, with ``params`` as further fields.

        A parameter given both in the spec string and in ``params`` is an error (two sources
        for one value are a configuration mistake, not something to resolve silently).
        """
        name, spec_params = parse_spec(spec)
        cls = self.get_class(name)
        twice = sorted(set(spec_params) & set(params))
        if twice:
            raise SiftrecError(
                f"{self.what} parameter(s) {', '.join(twice)} given both in {spec!r} and as "
                "separate settings; set each once"
            )
        merged = {**spec_params, **params}
        values = {key: coerce_param(cls, key, value) for key, value in merged.items()}
        try:
            return cls(**values)
        except (TypeError, ValueError) as exc:
            if isinstance(exc, SiftrecError):
                raise
            raise SiftrecError(f"cannot build {self.what} {spec!r}: {exc}") from None
