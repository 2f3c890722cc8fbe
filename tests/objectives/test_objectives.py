import dataclasses
from dataclasses import dataclass
from typing import ClassVar

import pytest
import torch

from siftrec import SiftrecError
from siftrec.objectives import (
    BCE,
    BPR,
    Batch,
    Multinomial,
    ObjectiveKind,
    SampledObjective,
    available_objectives,
    get_objective,
)


def scores(seed: int = 0, batch: int = 6, n_neg: int = 3):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(batch, generator=g, dtype=torch.float64)
    neg = torch.randn(batch, n_neg, generator=g, dtype=torch.float64)
    weights = torch.rand(batch, generator=g, dtype=torch.float64) + 0.5
    theta = torch.ones(batch, dtype=torch.float64)
    return pos, neg, weights, theta


def test_bpr_values():
    pos = torch.tensor([2.0, 0.0])
    neg = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    softplus = torch.nn.functional.softplus
    expected = torch.stack(
        [
            (softplus(torch.tensor(-2.0)) + softplus(torch.tensor(-1.0))) / 2,
            softplus(torch.tensor(0.0)),
        ]
    )
    torch.testing.assert_close(BPR()(Batch.from_scores(pos, neg)), expected.mean())


def test_bce_is_mean_over_all_labelled_samples():
    pos = torch.tensor([1.0, -1.0])
    neg = torch.tensor([[0.5], [2.0]])
    loss = BCE()(Batch.from_scores(pos, neg, weights=torch.tensor([2.0, 1.0])))
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0])
    logits = torch.tensor([1.0, -1.0, 0.5, 2.0])
    each = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    torch.testing.assert_close(loss, (2 * each[0] + each[1] + each[2] + each[3]) / 4)


def test_multinomial_reads_logits_and_targets():
    logits = torch.tensor([[0.0, 1.0, 2.0]])
    targets = torch.tensor([[0.0, 1.0, 1.0]])
    loss = Multinomial()(Batch(None, torch.tensor([0]), scores=logits, targets=targets))
    log_p = torch.log_softmax(logits, dim=1)
    torch.testing.assert_close(loss, -(log_p[0, 1] + log_p[0, 2]))


@pytest.mark.parametrize(
    "spec", ["bce", "tce(num_gradual=100)", "rce(beta=0)", "relmf(loss=log, clip=0)"]
)
@pytest.mark.parametrize("weighted", [False, True])
def test_pointwise_family_reduces_to_bce(spec, weighted):
    # T-CE before its first drop, R-CE with β = 0 and Rel-MF at full exposure are BCE
    pos, neg, weights, theta = scores(seed=2)
    batch = Batch.from_scores(pos, neg, weights=weights if weighted else None, propensities=theta)
    objective, bce = get_objective(spec), BCE()
    torch.testing.assert_close(objective(batch), bce(batch))
    for got, ref in zip(objective.score_gradients(batch), bce.score_gradients(batch), strict=True):
        torch.testing.assert_close(got, ref)


def test_batch_views_and_frozen():
    pos, neg, _, _ = scores(batch=2, n_neg=3)
    items = torch.tensor([[5, 1, 2, 3], [6, 4, 2, 0]])
    batch = Batch.from_scores(pos, neg, items=items, step=3)
    torch.testing.assert_close(batch.pos_scores, pos)
    torch.testing.assert_close(batch.neg_scores, neg)
    assert batch.pos.tolist() == [5, 6] and batch.neg.tolist() == [[1, 2, 3], [4, 2, 0]]
    assert len(batch) == 2 and batch.users.tolist() == [0, 1] and batch.step == 3
    with pytest.raises(dataclasses.FrozenInstanceError):
        batch.step = 4


def test_an_objective_with_the_old_keyword_signature_is_refused():
    with pytest.raises(SiftrecError, match=r"receive one Batch: def __call__\(self, batch\)"):

        @dataclass
        class Old(SampledObjective):
            kind: ClassVar[ObjectiveKind] = "pairwise"

            def __call__(self, pos, neg, *, weights=None, step=0, epoch=0):
                return (neg - pos.unsqueeze(1)).mean()

    with pytest.raises(SiftrecError, match="score_gradients"):

        @dataclass
        class OldGradients(BPR):
            def score_gradients(self, pos, neg, **kw):
                return super().score_gradients(Batch.from_scores(pos, neg))


def test_registry_names_aliases_and_specs():
    assert {"bpr", "bce", "bpo", "multinomial"} <= set(available_objectives())
    assert isinstance(get_objective("BPO"), BCE)
    assert get_objective("bpr").kind == "pairwise"
    assert get_objective("bce").kind == "pointwise"
    assert get_objective("multinomial").kind == "listwise"
    with pytest.raises(SiftrecError, match="unknown objective 'nope'"):
        get_objective("nope")
    with pytest.raises(SiftrecError, match="unknown hyperparameter 'margin'"):
        get_objective("bpr(margin=1)")
    with pytest.raises(SiftrecError, match="bad component spec"):
        get_objective("bpr(")
