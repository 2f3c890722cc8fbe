"""Named, parametrised components (objectives, samplers) built from spec strings.

A component class is a dataclass whose fields are its hyperparameters. It is registered under one
or more names and built from a *spec*: ``"name"`` or ``"name(key=value, ...)"``, so a single
string (a CLI ``--param`` value, a ``model.json`` entry) fully describes it. Values are coerced
to the declared field types exactly like model hyperparameters.
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
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


# ---------------------------------------------------------------------- documentation
@dataclasses.dataclass(frozen=True)
class FieldDoc:
    """One hyperparameter as ``siftrec models`` shows it: name, type, default and meaning."""

    name: str
    type: str
    default: Any
    help: str


_ATTRIBUTES_HEADER = "Attributes:"
#: The end of a first sentence: a full stop before a capital (not the one of "e.g." / "i.e.").
_SENTENCE_END = re.compile(r"(?<!\be\.g)(?<!\bi\.e)\.\s+(?=[A-Z])")
_ROLE = re.compile(r":[a-z]+:`~?([^`]+)`")


def attribute_docs(cls: type) -> dict[str, str]:
    """The ``Attributes:`` entries of the docstrings of ``cls`` and its bases (Google style:
    ``name: text``, continuation lines indented further), the most derived class's winning.

    This is the convention every hyperparameter dataclass (a model ``Config``, an objective, a
    sampler, ``FitOptions``) follows to document each field where it is declared.
    """
    docs: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        docs.update(_parse_attributes(klass.__dict__.get("__doc__") or ""))
    return docs


def _parse_attributes(docstring: str) -> dict[str, str]:
    lines = inspect.cleandoc(docstring).splitlines()
    if _ATTRIBUTES_HEADER not in (line.strip() for line in lines):
        return {}
    start = next(i for i, line in enumerate(lines) if line.strip() == _ATTRIBUTES_HEADER)
    base = len(lines[start]) - len(lines[start].lstrip())
    entries: dict[str, list[str]] = {}
    indent, current = None, None
    for line in lines[start + 1 :]:
        depth = len(line) - len(line.lstrip())
        if line.strip() and depth <= base:
            break  # the section ended
        if not line.strip():
            continue
        indent = depth if indent is None else indent
        name, sep, text = line.strip().partition(":")
        if depth == indent and sep and name.isidentifier():
            current = name
            entries[current] = [text.strip()]
        elif current is not None:
            entries[current].append(line.strip())
    return {name: " ".join(parts).strip() for name, parts in entries.items()}


def one_line(text: str) -> str:
    """The first sentence of ``text``, reST markup removed (for a one-line listing)."""
    text = _ROLE.sub(lambda m: m[1].rsplit(".", 1)[-1], " ".join(text.split()))
    text = text.replace("``", "")
    match = _SENTENCE_END.search(text)
    return text[: match.start() + 1] if match else text


def type_name(annotation: Any) -> str:
    """A field type as a user writes its values: ``int``, ``float | None``, ``a|b`` for a
    ``Literal``."""
    if typing.get_origin(annotation) is typing.Literal:
        return "|".join(str(arg) for arg in typing.get_args(annotation))
    if isinstance(annotation, types.UnionType) or typing.get_origin(annotation) is typing.Union:
        return " | ".join(type_name(arg) for arg in typing.get_args(annotation))
    if annotation is type(None):
        return "None"
    return getattr(annotation, "__name__", str(annotation))


def describe_fields(cls: type) -> list[FieldDoc]:
    """Every dataclass field of ``cls`` with its type, default and the first sentence of its
    ``Attributes:`` entry (empty when undocumented; a test requires one for every field)."""
    hints = typing.get_type_hints(cls)
    docs = attribute_docs(cls)
    out = []
    for field in dataclasses.fields(cls):
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = None
        out.append(
            FieldDoc(
                field.name,
                type_name(hints[field.name]),
                default,
                one_line(docs.get(field.name, "")),
            )
        )
    return out
