"""``siftrec models [NAME] [--json]``: every model, objective and sampler with its hyperparameters.

Generated from the declarations: the registries give the names, each ``Config`` / component
dataclass the fields, types and defaults, and the ``Attributes:`` section of its docstring the
one-line meaning of each field (:func:`siftrec.components.describe_fields`).
"""

from __future__ import annotations

import dataclasses
import inspect
import json
from typing import Annotated, Any

import typer

from siftrec.cli.common import handle_errors
from siftrec.components import ComponentRegistry, FieldDoc, describe_fields, one_line
from siftrec.errors import SiftrecError

#: How each kind is set on ``siftrec fit`` (shown in the listing's headings).
_USAGE = {
    "model": "siftrec fit --model NAME --param key=value",
    "objective": "siftrec fit --objective 'NAME(key=value,...)'",
    "sampler": "siftrec fit --sampler 'NAME(key=value,...)'",
}


@handle_errors
def models_command(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="A model, objective or sampler: show it alone."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the listing as JSON.")] = False,
) -> None:
    """List every model, objective and sampler with its hyperparameters: type, default and
    meaning.

    Hyperparameters are set with `siftrec fit --param key=value`; objectives and samplers with
    `--objective` / `--sampler` (a spec such as 'tce(drop_rate=0.1)'), for the torch models.
    """
    entries = catalog()
    if name is not None:
        key = name.lower()
        entries = [e for e in entries if key == e["name"] or key in e.get("aliases", [])]
        if not entries:
            known = ", ".join(sorted({e["name"] for e in catalog()}))
            raise SiftrecError(f"no model, objective or sampler named {name!r}; known: {known}")
    if as_json:
        grouped = {f"{kind}s": [e for e in entries if e["kind"] == kind] for kind in _USAGE}
        typer.echo(json.dumps(grouped, indent=2, default=str))
        return
    typer.echo("\n".join(_render(entries)))


def catalog() -> list[dict[str, Any]]:
    """Every registered model, objective and sampler as a JSON-ready description."""
    # lazy: the objectives and samplers load torch; only this command needs their classes
    from siftrec.models import FitOptions, available_models, get_model_class
    from siftrec.train.engine import objectives, samplers

    options = {f.name: f for f in describe_fields(FitOptions)}
    out = []
    for name in available_models():
        cls = get_model_class(name)
        out.append(
            {
                "kind": "model",
                "name": name,
                "description": _summary(cls),
                "uses_validation": cls.uses_validation,
                "hyperparameters": [_field_json(f) for f in describe_fields(cls.Config)],
                "fit_options": [_field_json(options[o]) for o in sorted(cls._run_options())],
            }
        )
    for registry in (objectives, samplers):
        out.extend(_components(registry))
    return out


def _components(registry: ComponentRegistry[Any]) -> list[dict[str, Any]]:
    """One entry per component class of ``registry``, its other registered names as aliases."""
    names: dict[type, list[str]] = {}
    for key in registry.available():
        names.setdefault(registry.get_class(key), []).append(key)
    out = []
    for cls, keys in names.items():
        entry: dict[str, Any] = {
            "kind": registry.what,
            "name": cls.name,
            "aliases": sorted(k for k in keys if k != cls.name),
            "description": _summary(cls),
        }
        if registry.what == "objective":
            entry["objective_kind"] = cls.kind
        entry["hyperparameters"] = [_field_json(f) for f in describe_fields(cls)]
        out.append(entry)
    return sorted(out, key=lambda e: e["name"])


def _summary(cls: type) -> str:
    """The first sentence of a class's own docstring (of its first paragraph)."""
    return one_line((inspect.getdoc(cls) or "").split("\n\n")[0])


def _field_json(field: FieldDoc) -> dict[str, Any]:
    return dataclasses.asdict(field)


def _render(entries: list[dict[str, Any]]) -> list[str]:
    """The listing as text: a heading per kind, a block per entry, a line per field."""
    lines: list[str] = []
    for kind, usage in _USAGE.items():
        chosen = [e for e in entries if e["kind"] == kind]
        if not chosen:
            continue
        lines += [f"{kind.upper()}S ({usage})", ""]
        for entry in chosen:
            title = entry["name"]
            if entry.get("aliases"):
                title += f" (also: {', '.join(entry['aliases'])})"
            if "objective_kind" in entry:
                title += f" [{entry['objective_kind']}]"
            lines.append(f"{title}: {entry['description']}")
            fields = entry["hyperparameters"]
            if not fields:
                lines.append("  (no hyperparameters)")
            lines += _field_lines(fields)
            if entry.get("fit_options"):
                lines.append("  fit options (how the fit runs; not saved):")
                lines += _field_lines(entry["fit_options"])
            if entry.get("uses_validation"):
                lines.append("  uses --validation for early stopping and selection")
            lines.append("")
    return lines


def _field_lines(fields: list[dict[str, Any]]) -> list[str]:
    """``  name  type  default  meaning``, the first three columns aligned."""
    rows = [(f["name"], f["type"], _default(f["default"]), f["help"]) for f in fields]
    widths = [max((len(row[i]) for row in rows), default=0) for i in range(3)]
    return [
        f"  {n:<{widths[0]}}  {t:<{widths[1]}}  {d:<{widths[2]}}  {h}".rstrip()
        for n, t, d, h in rows
    ]


def _default(value: Any) -> str:
    """A default as a user would write it on the command line."""
    if value is None:
        return "none"
    if isinstance(value, bool):
        return str(value).lower()
    return str(value)
