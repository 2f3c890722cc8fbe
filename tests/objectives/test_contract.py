"""Every registered objective passes the objective contract suite of ``siftrec.testing``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from siftrec.objectives import BCE, Batch, ObjectiveKind, SampledObjective
from siftrec.objectives.base import objectives
from siftrec.testing import (
    OBJECTIVE_CASES,
    ObjectiveCase,
    objective_checks,
    parametrize_objective_checks,
    uncovered_objectives,
)
from siftrec.testing.objectives import check_closed_form, check_extreme_scores, check_gradcheck


@parametrize_objective_checks()
def test_objective_contract(check):
    check()


def test_every_registered_objective_has_a_contract_case():
    assert uncovered_objectives() == []


@pytest.fixture
def registered():
    """Register test objectives under ``name``; removed afterwards."""
    names = []

    def register(name, cls):
        objectives.register(name)(cls)
        names.append(name)
        return cls

    yield register
    for name in names:
        objectives._classes.pop(name)


def test_an_objective_without_a_case_is_named(registered):
    @dataclass
    class Hinge(SampledObjective):
        kind: ClassVar[ObjectiveKind] = "pairwise"

        def __call__(self, batch: Batch) -> torch.Tensor:
            return torch.relu(1 + batch.neg_scores - batch.pos_scores.unsqueeze(1)).mean()

    registered("test_hinge", Hinge)
    assert uncovered_objectives() == ["test_hinge"]
    assert (
        uncovered_objectives({**OBJECTIVE_CASES, "test_hinge": ObjectiveCase(("test_hinge",))})
        == []
    )


def test_checks_catch_a_wrong_closed_form_and_an_overflow(registered):
    @dataclass
    class WrongGradient(BCE):
        def score_gradients(self, batch):
            out = super().score_gradients(batch)
            return out._replace(pos=out.pos * 2)

    @dataclass
    class Overflowing(BCE):
        def __call__(self, batch: Batch) -> torch.Tensor:
            return torch.log(torch.sigmoid(batch.pos_scores)).neg().mean()  # log(sigmoid) overflows

    registered("test_wrong_gradient", WrongGradient)
    registered("test_overflowing", Overflowing)
    with pytest.raises(AssertionError):
        check_closed_form("test_wrong_gradient")
    with pytest.raises(AssertionError, match="at scores"):
        check_extreme_scores("test_overflowing")
    check_gradcheck("test_overflowing")  # smooth at ordinary scores: only the extremes fail


def test_closed_form_check_only_where_one_exists():
    ids = [i for i, _ in objective_checks("multinomial", OBJECTIVE_CASES["multinomial"])]
    assert ids == ["multinomial-extreme_scores", "multinomial-gradcheck"]
    ids = [i for i, _ in objective_checks("rce", ObjectiveCase(("rce",), gradcheck=False))]
    assert ids == ["rce-extreme_scores", "rce-closed_form"]
