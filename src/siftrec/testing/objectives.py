"""The contract every registered objective passes, as pytest checks driven by the registry.

Each objective has an :class:`ObjectiveCase` in :data:`OBJECTIVE_CASES`, keyed by its registered
name: the specs to check and whether its loss is a plain differentiable function of the scores.
:func:`parametrize_objective_checks` turns the cases into one pytest test per (spec, check);
:func:`uncovered_objectives` names registered objectives without a case, so a new objective
cannot skip the suite. A third-party objective registered with
``siftrec.objectives.register_objective`` runs the same suite from its own test file::

    from siftrec.testing.objectives import ObjectiveCase, parametrize_objective_checks

    @parametrize_objective_checks({"myloss": ObjectiveCase(("myloss", "myloss(margin=2)"))})
    def test_myloss_contract(check):
        check()

Checks, on a float64 batch with weights, propensities, indices and counters (the objective set
up on a small log, its own module built and bound, as in training):

- ``gradcheck``: ``torch.autograd.gradcheck`` of the loss w.r.t. the scores, with and without
  interaction weights (cases with ``gradcheck=False`` use stop-gradients, whose autograd
  gradient is by design not the finite difference of the loss);
- ``closed_form`` (objectives that override ``score_gradients``): the closed form equals
  autograd on ``__call__`` (loss and both gradients), with and without weights;
- ``extreme_scores``: loss and gradients are finite at scores of ±1e4.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from siftrec.data.interactions import Interactions
from siftrec.train.engine import (
    SAMPLED_KINDS,
    Batch,
    Objective,
    SampledObjective,
    get_objective,
    objectives,
)

#: Batch shape of the checks: positives (or users, listwise), negatives per positive, catalog.
N_BATCH, N_NEG, N_USERS, N_ITEMS = 6, 3, 12, 15
#: The score magnitude of ``extreme_scores``.
EXTREME = 1e4


@dataclass(frozen=True)
class ObjectiveCase:
    """How the suite checks one registered objective.

    Attributes:
        specs: the spec strings to check (e.g. the defaults and variants of its options).
        gradcheck: whether the loss is a plain differentiable function of the scores; False
            for objectives with stop-gradient terms (R-CE's weights, NBPO's surrogate).
    """

    specs: Sequence[str]
    gradcheck: bool = True


#: The case of every built-in objective, by registered name.
OBJECTIVE_CASES: dict[str, ObjectiveCase] = {
    "bpr": ObjectiveCase(("bpr",)),
    "bce": ObjectiveCase(("bce",)),
    "multinomial": ObjectiveCase(("multinomial",)),
    "tce": ObjectiveCase(
        ("tce(num_gradual=4)", "tce(num_gradual=4, drop_of=positives)", "tce(ramp_epochs=3)")
    ),
    "rce": ObjectiveCase(("rce", "rce(beta=0.5, weight_negatives=false)"), gradcheck=False),
    "relmf": ObjectiveCase(("relmf", "relmf(loss=log, clip=0.1)")),
    "nbpo": ObjectiveCase(("nbpo(dim=4)", "nbpo(dim=4, l2_flip=0)"), gradcheck=False),
    "ubpr": ObjectiveCase(("ubpr", "ubpr(beta=1.0)")),
    "gnolr": ObjectiveCase(
        (
            "gnolr(towers=false)",
            "gnolr(levels=3, variant=non_nested, towers=false)",
            "gnolr(levels=3, variant=naive, towers=false)",
            "gnolr(levels=3, learn_cutpoints=true, scale=2.0, towers=false)",
        )
    ),
    "multitask": ObjectiveCase(("multitask", "multitask(levels=2)")),
}


def uncovered_objectives(cases: Mapping[str, ObjectiveCase] = OBJECTIVE_CASES) -> list[str]:
    """Registered objective names whose class no case in ``cases`` covers (aliases share one)."""
    covered = {objectives.get_class(name) for name in cases}
    names = {objectives.get_class(name).name for name in objectives.available()}
    return sorted(name for name in names if objectives.get_class(name) not in covered)


def contract_train_log(seed: int = 0) -> Interactions:
    """A small random log over ``N_USERS`` × ``N_ITEMS`` that objectives are set up on."""
    rng = np.random.default_rng(seed)
    matrix = np.zeros((N_USERS, N_ITEMS), dtype=np.float32)
    for user in range(N_USERS):
        matrix[user, rng.choice(N_ITEMS, 5, replace=False)] = 1.0
    return Interactions.from_csr(sp.csr_matrix(matrix))


@functools.cache
def _objective(spec: str) -> Objective:
    """``spec`` built, set up on :func:`contract_train_log` and bound to its own module (in
    float64), as the trainer prepares it."""
    objective = get_objective(spec)
    module = objective.build(N_USERS, N_ITEMS, torch.Generator().manual_seed(0), False)
    if module is not None:
        objective.bind(module.double())
    objective.setup(contract_train_log())
    return objective


def contract_batch(objective: Objective, weighted: bool, scale: float = 1.0) -> Batch:
    """A float64 batch for ``objective``'s kind (scores ~ N(0, scale²)) with propensities in
    [0.05, 1], indices, ``step`` 5 and ``epoch`` 1; interaction weights when ``weighted``."""
    g = torch.Generator().manual_seed(1)
    users = torch.randint(0, N_USERS, (N_BATCH,), generator=g)
    weights = torch.rand(N_BATCH, generator=g, dtype=torch.float64) + 0.5 if weighted else None
    common: dict[str, Any] = {"weights": weights, "step": 5, "epoch": 1}
    if objective.kind not in SAMPLED_KINDS:
        logits = torch.randn(N_BATCH, N_ITEMS, generator=g, dtype=torch.float64) * scale
        targets = (torch.rand(N_BATCH, N_ITEMS, generator=g) < 0.3).double()
        return Batch(None, users, scores=logits, targets=targets, **common)
    items = torch.randint(0, N_ITEMS, (N_BATCH, 1 + N_NEG), generator=g)
    scores = torch.randn(N_BATCH, 1 + N_NEG, generator=g, dtype=torch.float64) * scale
    propensities = torch.rand(N_BATCH, generator=g, dtype=torch.float64) * 0.95 + 0.05
    ids = torch.arange(N_BATCH)
    return Batch(ids, users, items, scores, propensities=propensities, **common)


def _loss_of_scores(objective: Objective, batch: Batch) -> Callable[[torch.Tensor], torch.Tensor]:
    """The loss as a function of the batch's scores alone."""
    return lambda scores: objective(dataclasses.replace(batch, scores=scores))


# ---------------------------------------------------------------------- checks
def check_gradcheck(spec: str) -> None:
    """``torch.autograd.gradcheck`` of the loss w.r.t. the scores (float64)."""
    objective = _objective(spec)
    for weighted in (False, True):
        batch = contract_batch(objective, weighted)
        scores = batch.scores.clone().requires_grad_(True)
        assert torch.autograd.gradcheck(_loss_of_scores(objective, batch), (scores,)), spec


def check_closed_form(spec: str) -> None:
    """The closed-form ``score_gradients`` equal autograd on ``__call__``."""
    objective = _objective(spec)
    for weighted in (False, True):
        batch = contract_batch(objective, weighted)
        got = objective.score_gradients(batch)
        ref = SampledObjective.score_gradients(objective, batch)
        torch.testing.assert_close(got.loss, ref.loss)
        torch.testing.assert_close(got.pos, ref.pos)
        torch.testing.assert_close(got.neg, ref.neg)


def check_extreme_scores(spec: str) -> None:
    """Loss and gradients are finite at scores of ±``EXTREME``."""
    objective = _objective(spec)
    batch = contract_batch(objective, weighted=True)
    rows, cols = batch.scores.shape
    checker = (
        torch.arange(rows).unsqueeze(1) + torch.arange(cols)
    ) % 2 == 0  # both signs per column
    extreme = torch.where(checker, EXTREME, -EXTREME).double().requires_grad_(True)
    loss = _loss_of_scores(objective, batch)(extreme)
    (grad,) = torch.autograd.grad(loss, (extreme,))
    assert torch.isfinite(loss), f"{spec}: loss {loss.item()} at scores ±{EXTREME:g}"
    assert torch.isfinite(grad).all(), f"{spec}: non-finite gradient at scores ±{EXTREME:g}"
    if isinstance(objective, SampledObjective):
        out = objective.score_gradients(dataclasses.replace(batch, scores=extreme.detach()))
        finite = all(torch.isfinite(t).all() for t in out)
        assert finite, f"{spec}: non-finite score_gradients at scores ±{EXTREME:g}"


def objective_checks(name: str, case: ObjectiveCase) -> list[tuple[str, Callable[[], None]]]:
    """``(id, zero-argument check)`` pairs of every spec of ``case`` (the ids name the spec)."""
    cls = objectives.get_class(name)
    checks: list[tuple[str, Callable[..., None]]] = [("extreme_scores", check_extreme_scores)]
    if case.gradcheck:
        checks.append(("gradcheck", check_gradcheck))
    if cls.kind in SAMPLED_KINDS and cls.score_gradients is not SampledObjective.score_gradients:
        checks.append(("closed_form", check_closed_form))
    return [
        (f"{spec}-{label}", functools.partial(check, spec))
        for spec in case.specs
        for label, check in checks
    ]


def parametrize_objective_checks(cases: Mapping[str, ObjectiveCase] = OBJECTIVE_CASES):
    """A pytest decorator: one test per (objective spec, check), the zero-argument check passed
    as the ``check`` argument (ids like ``tce(num_gradual=4)-closed_form``)."""
    pairs = [pair for name, case in cases.items() for pair in objective_checks(name, case)]
    return pytest.mark.parametrize("check", [c for _, c in pairs], ids=[i for i, _ in pairs])
