"""Search-space declarations: every registered component declares one, and they are well formed."""

from __future__ import annotations

import dataclasses

import pytest

from siftrec import SiftrecError
from siftrec.models import available_models, get_model_class
from siftrec.objectives.base import objectives
from siftrec.samplers import UniformSampler
from siftrec.samplers.base import samplers
from siftrec.search_space import Categorical, Components, Float, Int, declared_space


def registered() -> list[tuple[str, type]]:
    """Every registered model, objective and sampler class (aliases once)."""
    out = [(f"model {name}", get_model_class(name)) for name in available_models()]
    for registry in (objectives, samplers):
        classes = {registry.get_class(name) for name in registry.available()}
        out += [(f"{registry.what} {cls.name}", cls) for cls in sorted(classes, key=str)]
    return out


@pytest.mark.parametrize(("label", "cls"), registered(), ids=[n for n, _ in registered()])
def test_every_registered_component_declares_its_space(label, cls):
    space = declared_space(cls)  # raises when the class itself declares none
    fields = {f.name for f in dataclasses.fields(getattr(cls, "Config", cls))}
    for key, dim in space.items():
        assert key in fields, f"{label}: {key} is not a hyperparameter"
        for condition in dim.when:
            assert condition in list(space)[: list(space).index(key)], f"{label}: {key}.when"
        if isinstance(dim, Components):
            registry = objectives if dim.kind == "objective" else samplers
            assert set(dim.choices) <= set(registry.available()), f"{label}: {key}"


def test_an_inherited_declaration_does_not_count():
    @dataclasses.dataclass
    class Subclass(UniformSampler):
        extra: float = 1.0

    assert declared_space(UniformSampler) == {}
    with pytest.raises(SiftrecError, match="declares no search space"):
        declared_space(Subclass)


def test_the_spaces_cover_the_denoisers_conditionally():
    mf = declared_space(get_model_class("mf"))
    assert isinstance(mf["objective"], Components)
    assert {"bpr", "bce", "tce", "rce", "nbpo"} <= set(mf["objective"].choices)
    assert {"uniform", "pld"} <= set(mf["sampler"].choices)
    assert isinstance(declared_space(objectives.get_class("tce"))["drop_rate"], Float)
    assert declared_space(get_model_class("ials"))["epsilon"].when == {"confidence": "log"}
    assert declared_space(get_model_class("popularity")) == {}


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda: Float(1.0, 1.0), "low < high"),
        (lambda: Float(0.0, 1.0, log=True), "low > 0"),
        (lambda: Int(0, 5, log=True), "low >= 1"),
        (lambda: Int(1, 2.5), "integers"),
        (lambda: Categorical(("a",)), "two or more"),
        (lambda: Categorical(("a", object())), "plain value"),
        (lambda: Components("model", ("mf",)), "objective or sampler"),
        (lambda: Float(0.1, 1.0, when=["x"]), "when"),
    ],
)
def test_malformed_dimensions_are_refused(make, message):
    with pytest.raises(SiftrecError, match=message):
        make()
