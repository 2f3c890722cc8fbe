"""``siftrec models``: every model, objective and sampler with its documented hyperparameters."""

from __future__ import annotations

import dataclasses
import json

import pytest
from typer.testing import CliRunner

from siftrec.cli.main import app
from siftrec.components import attribute_docs, describe_fields, one_line, type_name
from siftrec.models import FitOptions, available_models, get_model_class
from siftrec.train.engine import objectives, samplers

runner = CliRunner()


def _declared() -> list[tuple[str, type]]:
    """Every hyperparameter dataclass: model configs, objectives, samplers, FitOptions."""
    out = [(f"model {name}", get_model_class(name).Config) for name in available_models()]
    for registry in (objectives, samplers):
        classes = {registry.get_class(name) for name in registry.available()}
        out += [(f"{registry.what} {cls.name}", cls) for cls in sorted(classes, key=str)]
    return [*out, ("FitOptions", FitOptions)]


@pytest.mark.parametrize(("label", "cls"), _declared(), ids=[label for label, _ in _declared()])
def test_every_field_has_a_meaning(label, cls):
    """Each field is documented in an ``Attributes:`` section (the convention `models` reads)."""
    undocumented = [f.name for f in describe_fields(cls) if not f.help]
    assert undocumented == [], f"{label}: fields without an Attributes: entry"


def test_attribute_sections_are_parsed_with_inheritance():
    @dataclasses.dataclass
    class Base:
        """Base.

        Attributes:
            a: the first. It has
                a continuation line.
            b: the second, e.g. ``2``. Second sentence.
        """

        a: int = 1
        b: float | None = None

    @dataclasses.dataclass
    class Child(Base):
        """Child.

        Attributes:
            b: overridden meaning.
            c: a choice.
        """

        c: str = "x"

    docs = attribute_docs(Child)
    assert docs["a"] == "the first. It has a continuation line."
    assert docs["b"] == "overridden meaning."
    assert one_line(attribute_docs(Base)["b"]) == "the second, e.g. 2."
    fields = {f.name: f for f in describe_fields(Child)}
    assert (fields["b"].type, fields["b"].default, fields["c"].help) == (
        "float | None",
        None,
        "a choice.",
    )
    assert one_line("uses :class:`~siftrec.models.base.FitOptions` here") == "uses FitOptions here"


def test_type_names_read_like_values():
    from typing import Literal

    assert type_name(Literal["a", "b"]) == "a|b"
    assert type_name(int | None) == "int | None"
    assert type_name(bool) == "bool"


def test_listing_names_every_component_and_field():
    result = runner.invoke(app, ["models"])
    assert result.exit_code == 0, result.output
    text = result.stdout
    for heading in ("MODELS", "OBJECTIVES", "SAMPLERS"):
        assert heading in text
    for _, cls in _declared()[:-1]:
        for field in dataclasses.fields(cls):
            assert f"  {field.name} " in text or f"  {field.name}\n" in text, field.name
    for name in [*available_models(), *objectives.available(), *samplers.available()]:
        assert name in text


def test_one_entry_shows_type_default_and_meaning():
    result = runner.invoke(app, ["models", "ease"])
    assert result.exit_code == 0, result.output
    line = next(line for line in result.stdout.splitlines() if line.strip().startswith("l2 "))
    assert line.split()[:3] == ["l2", "float", "500.0"]
    assert "ridge" in line
    assert "OBJECTIVES" not in result.stdout
    # an alias finds its objective; a name of two kinds shows both
    assert "drop_rate" in runner.invoke(app, ["models", "t-ce"]).stdout
    both = runner.invoke(app, ["models", "popularity"]).stdout
    assert "MODELS" in both and "SAMPLERS" in both


def test_json_lists_the_declared_fields():
    result = runner.invoke(app, ["models", "--json"])
    assert result.exit_code == 0, result.output
    data = json.loads(result.stdout)
    assert {m["name"] for m in data["models"]} == set(available_models())
    mf = next(m for m in data["models"] if m["name"] == "mf")
    fields = {f["name"]: f for f in mf["hyperparameters"]}
    assert fields.keys() == {f.name for f in dataclasses.fields(get_model_class("mf").Config)}
    assert fields["lr"]["default"] == get_model_class("mf").Config().lr
    assert {f["name"] for f in mf["fit_options"]} == {"device", "progress"}
    assert all(f["help"] for f in mf["hyperparameters"])
    tce = json.loads(runner.invoke(app, ["models", "tce", "--json"]).stdout)
    assert tce["models"] == [] and tce["objectives"][0]["aliases"] == ["t-ce"]


def test_unknown_name_is_one_line_error():
    result = runner.invoke(app, ["models", "nosuch"])
    assert result.exit_code == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "nosuch" in lines[0] and "itemknn" in lines[0]


def test_fit_help_points_to_models():
    result = runner.invoke(app, ["fit", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "siftrec models" in result.stdout
    assert "--objective" in result.stdout and "--sampler" in result.stdout
