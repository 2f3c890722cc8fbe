"""Sampling the declared search spaces (``siftrec.search_space``) into model parameters.

One trial's parameters are the user's fixed parameters plus one draw from every dimension of the
model's ``search_space`` whose ``when`` condition holds. A :class:`Components` dimension draws a
component name and then that component's own ``search_space`` under the parameter names
``"<field>.<component>.<param>"`` (e.g. ``objective.tce.drop_rate``), so each component's
parameters keep one distribution across trials, as TPE needs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import optuna

from siftrec.components import ComponentRegistry, parse_spec
from siftrec.errors import SiftrecError
from siftrec.models import Recommender, available_models, get_model_class
from siftrec.models.base import coerce_param
from siftrec.search_space import (
    Categorical,
    Components,
    Dimension,
    Float,
    Int,
    SearchSpace,
    declared_space,
)
from siftrec.train.auto import AUTO
from siftrec.train.engine import objectives, samplers


def component_registry(kind: str) -> ComponentRegistry:
    """The registry of objectives or samplers."""
    return objectives if kind == "objective" else samplers


def fixed_params(model_cls: type[Recommender], params: Mapping[str, Any]) -> dict[str, Any]:
    """``params`` coerced to the model's declared types (an unknown name is a SiftrecError).

    A fixed component spec (``objective=tce``) is checked against its registry here, so a typo
    fails before the first trial.
    """
    fixed = {key: model_cls.parse_param(key, value) for key, value in params.items()}
    for key, dim in declared_space(model_cls).items():
        if isinstance(dim, Components) and key in fixed:
            name = parse_spec(str(fixed[key]))[0]
            if name == AUTO:
                raise SiftrecError(
                    f"{key}=auto selects on validation by itself and tune searches the "
                    f"{key} already; leave {key} unset or fix a named one"
                )
            component_registry(dim.kind).get_class(name)
    return fixed


def restricted_space(
    model_cls: type[Recommender], choices: Mapping[str, Sequence[Any]]
) -> dict[str, Dimension]:
    """The model's declared space with the fields of ``choices`` narrowed to the listed values.

    A component field keeps only the listed components, each still drawn with its own space
    (``{"objective": ["tce", "rce", "nbpo"]}`` searches the denoisers only); any other field
    becomes an unordered choice among the listed values, coerced to the field's type. A field
    must be one the model searches, a component one of its declared choices, and two or more
    distinct values are needed (a single value is a fixed parameter).
    """
    space: dict[str, Dimension] = dict(declared_space(model_cls))
    for key, values in choices.items():
        dim = space.get(key)
        if dim is None:
            searched = ", ".join(space) or "nothing"
            raise SiftrecError(
                f"{key} is not a searched parameter of {model_cls.name} (searched: {searched})"
            )
        if isinstance(values, str) or not isinstance(values, Sequence) or len(values) < 2:
            raise SiftrecError(
                f"the choices of {key} must be a list of two or more values, got {values!r} "
                "(fix a single value as a parameter)"
            )
        if isinstance(dim, Components):
            space[key] = Components(dim.kind, _component_choices(key, dim, values), dim.when)
        else:
            coerced = tuple(coerce_param(model_cls.Config, key, value) for value in values)
            if len(set(coerced)) != len(coerced):
                raise SiftrecError(f"the choices of {key} repeat a value: {list(values)}")
            space[key] = Categorical(coerced, dim.when)
    return space


def _component_choices(key: str, dim: Components, values: Sequence[Any]) -> tuple[str, ...]:
    """Canonical names of the listed components, each one of ``dim``'s declared choices."""
    registry = component_registry(dim.kind)
    declared = {registry.get_class(name).name for name in dim.choices}
    names = []
    for value in values:
        name, spec_params = parse_spec(str(value))
        if spec_params:
            raise SiftrecError(
                f"the choices of {key} are {dim.kind} names; {value!r} sets parameters "
                "(the chosen component's own space is searched)"
            )
        canonical = registry.get_class(name).name
        if canonical not in declared:
            raise SiftrecError(
                f"{key} choice {value!r} is not among the declared choices "
                f"({', '.join(dim.choices)})"
            )
        names.append(canonical)
    if len(set(names)) != len(names):
        raise SiftrecError(f"the choices of {key} repeat a {dim.kind}: {list(values)}")
    return tuple(names)


def sample_params(
    trial: optuna.trial.BaseTrial,
    model_cls: type[Recommender],
    fixed: Mapping[str, Any],
    space: SearchSpace | None = None,
) -> dict[str, Any]:
    """One trial's model parameters: ``fixed`` plus a draw from the model's search space.

    A fixed field is not drawn, except a fixed component given by name (``objective=tce`` or
    ``objective=tce(drop_of=positives)``): its spec's own parameters stay as given and the rest of
    that component's space is drawn, so ``--param objective=tce`` tunes T-CE. ``space``
    replaces the declared space (e.g. a :func:`restricted_space`).
    """
    params = dict(fixed)
    context: dict[str, Any] = dict(fixed)  # values that ``when`` conditions compare against
    for key, dim in (declared_space(model_cls) if space is None else space).items():
        if not _holds(dim, context):
            continue
        if isinstance(dim, Components):
            given = str(fixed[key]) if key in fixed else None
            params[key], context[key] = _sample_component(trial, key, dim, given)
        elif key not in fixed:
            params[key] = context[key] = suggest(trial, key, dim)
    return params


def suggest(trial: optuna.trial.BaseTrial, name: str, dim: Dimension) -> Any:
    """Draw ``name`` from a plain (non-component) dimension."""
    if isinstance(dim, Float):
        return trial.suggest_float(name, dim.low, dim.high, log=dim.log)
    if isinstance(dim, Int):
        return trial.suggest_int(name, dim.low, dim.high, log=dim.log)
    if isinstance(dim, Categorical):
        return trial.suggest_categorical(name, list(dim.choices))
    raise TypeError(f"cannot suggest a {type(dim).__name__} dimension directly")


def _sample_component(
    trial: optuna.trial.BaseTrial, key: str, dim: Components, given: str | None
) -> tuple[str, str]:
    """A component spec for field ``key`` and the chosen component's canonical name."""
    registry = component_registry(dim.kind)
    if given is None:
        name, spec_params = trial.suggest_categorical(key, list(dim.choices)), {}
    else:
        name, spec_params = parse_spec(given)
    cls = registry.get_class(name)
    values: dict[str, Any] = {k: coerce_param(cls, k, v) for k, v in spec_params.items()}
    for param, sub in declared_space(cls).items():
        if param not in values and _holds(sub, values):
            values[param] = suggest(trial, f"{key}.{cls.name}.{param}", sub)
    body = ", ".join(f"{k}={_spec_value(v)}" for k, v in values.items())
    return (f"{cls.name}({body})" if body else cls.name), cls.name


def _holds(dim: Dimension, context: Mapping[str, Any]) -> bool:
    """Whether every ``when`` condition of ``dim`` matches the values chosen so far."""
    return all(key in context and context[key] == value for key, value in dim.when.items())


def _spec_value(value: Any) -> str:
    """``value`` as written in a component spec (floats round-trip exactly)."""
    return repr(value) if isinstance(value, float) else str(value)


# ---------------------------------------------------------------------- documentation
def describe(dim: Dimension) -> str:
    """A short human-readable range, e.g. ``0.005 – 0.5, log`` or ``linear, log``."""
    if isinstance(dim, Float | Int):
        text = f"{dim.low:g} – {dim.high:g}"
        return f"{text}, log" if dim.log else text
    choices = ", ".join("none" if c is None else str(c).lower() for c in dim.choices)
    if isinstance(dim, Components):
        return f"{dim.kind}s {choices}, each with its own space"
    return choices


def space_markdown() -> str:
    """Markdown tables of every registered model's, objective's and sampler's search space."""
    sections = ["### Models\n", _table([(n, get_model_class(n)) for n in available_models()])]
    for kind, title in (("objective", "Objectives"), ("sampler", "Samplers")):
        registry = component_registry(kind)
        classes: dict[str, type] = {}
        for name in registry.available():
            cls = registry.get_class(name)
            classes.setdefault(cls.name, cls)
        sections += [f"### {title}\n", _table(sorted(classes.items()))]
    return "\n".join(sections)


def _table(named: list[tuple[str, type]]) -> str:
    rows = ["| name | parameter | range | only when |", "| --- | --- | --- | --- |"]
    for name, cls in named:
        space = declared_space(cls)
        if not space:
            rows.append(f"| `{name}` | — (nothing to tune) | | |")
        for param, dim in space.items():
            when = ", ".join(f"{k} = {v}" for k, v in dim.when.items())
            rows.append(f"| `{name}` | `{param}` | {describe(dim)} | {when} |")
    return "\n".join(rows) + "\n"
