"""The pruned augmented-pair term: which triples it draws, which it keeps, where gradients go."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from siftrec import SiftrecError
from siftrec.objectives.augment import AugmentedPairs, AuxiliarySum
from siftrec.text.augment import CandidateEdges
from siftrec.train.engine import AuxiliaryLoss, Batch, Scorer


class TableScorer(Scorer):
    """Scores from a learnable user × item table; records what it was asked."""

    def __init__(self, n_users: int, n_items: int) -> None:
        super().__init__(n_users, n_items)
        self.table = torch.nn.Parameter(torch.zeros(n_users, n_items, dtype=torch.float64))
        self.asked: list[tuple[torch.Tensor, torch.Tensor]] = []

    def score_candidates(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        self.asked.append((users, items))
        return self.table[users.unsqueeze(1), items]

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        return self.table[users]


def batch_of(size: int) -> Batch:
    ids = torch.arange(size)
    return Batch(ids, ids % 3, torch.zeros(size, 2, dtype=torch.long))


def term(edges: CandidateEdges, prune: float, weight: float = 1.0, seed: int = 0) -> AugmentedPairs:
    return AugmentedPairs(edges, 5, weight, prune, torch.Generator().manual_seed(seed))


def test_pruning_keeps_the_smallest_losses_and_only_they_get_gradients() -> None:
    edges = CandidateEdges(np.array([0]), np.array([0]))
    scores = torch.tensor(
        [[2.0, 0.0], [0.0, 3.0], [1.0, 1.0], [-1.0, 0.5], [0.0, -4.0]],
        dtype=torch.float64,
        requires_grad=True,
    )
    losses = torch.nn.functional.softplus(scores[:, 1] - scores[:, 0]).detach()
    kept = term(edges, prune=0.5).pair_losses(scores)  # ⌊0.5 · 5⌋ = 2 kept
    assert sorted(kept.tolist()) == pytest.approx(sorted(losses.tolist())[:2])
    kept.sum().backward()
    dropped = torch.argsort(losses)[2:]
    assert not scores.grad[dropped].any() and scores.grad.abs().sum() > 0
    all_kept = term(edges, prune=0.0).pair_losses(scores)
    assert all_kept.tolist() == pytest.approx(losses.tolist())


def test_forward_draws_proposed_triples_and_weights_the_mean() -> None:
    edges = CandidateEdges(np.array([0, 1, 2]), np.array([3, 4, 0]), np.array([1, 2, 4]))
    scorer = TableScorer(3, 5)
    with torch.no_grad():
        scorer.table.copy_(torch.randn(3, 5, generator=torch.Generator().manual_seed(1)))
    value = term(edges, prune=0.25, weight=0.3)(scorer, batch_of(8))
    users, items = scorer.asked[-1]
    assert len(users) == 8  # as many triples as the observed batch
    triples = {(0, 3, 1), (1, 4, 2), (2, 0, 4)}
    assert {(u, p, n) for u, (p, n) in zip(users.tolist(), items.tolist(), strict=True)} <= triples
    scores = scorer.table[users.unsqueeze(1), items]
    losses = torch.nn.functional.softplus(scores[:, 1] - scores[:, 0])
    expected = 0.3 * torch.sort(losses).values[: math.floor(0.75 * 8)].mean()
    assert value.item() == pytest.approx(expected.item())


def test_without_proposed_negatives_they_are_drawn_uniformly() -> None:
    edges = CandidateEdges(np.array([0, 1]), np.array([3, 4]))
    scorer = TableScorer(2, 5)
    pairs = term(edges, prune=0.0)
    pairs(scorer, batch_of(4000))
    _, items = scorer.asked[-1]
    counts = np.bincount(items[:, 1].numpy(), minlength=5)
    assert counts.min() > 700  # every item, about 800 times each
    first = term(edges, prune=0.0, seed=7)
    second = term(edges, prune=0.0, seed=7)
    first(scorer, batch_of(16))
    second(scorer, batch_of(16))
    assert torch.equal(scorer.asked[-1][1], scorer.asked[-2][1])  # seeded


def test_argument_errors() -> None:
    empty = CandidateEdges(np.zeros(0, np.int64), np.zeros(0, np.int64))
    with pytest.raises(SiftrecError, match="no candidate edges"):
        term(empty, prune=0.0)
    edges = CandidateEdges(np.array([0]), np.array([0]))
    with pytest.raises(SiftrecError, match="prune in"):
        term(edges, prune=1.0)


class Constant(AuxiliaryLoss):
    def __init__(self, value: float, lr: float, with_parameter: bool) -> None:
        super().__init__()
        self.value, self.lr = value, lr
        self.p = torch.nn.Parameter(torch.zeros(1)) if with_parameter else None

    def forward(self, scorer: Scorer, batch: Batch) -> torch.Tensor:
        return torch.tensor(self.value)


def test_auxiliary_sum_adds_terms_and_shares_one_rate() -> None:
    total = AuxiliarySum([Constant(1.5, 0.01, True), Constant(2.0, 0.5, False)])
    assert total(TableScorer(1, 1), batch_of(2)).item() == 3.5
    assert total.lr == 0.01  # the term without parameters does not count
    with pytest.raises(SiftrecError, match="differ in lr"):
        AuxiliarySum([Constant(1, 0.01, True), Constant(1, 0.5, True)])
