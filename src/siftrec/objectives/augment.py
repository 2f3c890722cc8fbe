"""LLMRec's augmented training triples with loss-based noise pruning, as an auxiliary term.

The candidate edges come from an augmenter (``siftrec.text.augment``: text similarity, or a
registered LLM backend). On every training step, for an observed batch of ``B`` triples:

1. draw ``B`` candidate edges uniformly with replacement (seeded); an edge without a proposed
   negative gets an item drawn uniformly from all items;
2. score them with the scorer being trained and take each triple's BPR loss
   ``ℓ_j = softplus(s_{u,neg} − s_{u,pos})``;
3. keep the ``⌊(1 − prune)·B⌋`` triples with the smallest loss (chosen on detached values; the
   others get no gradient): an augmented edge the model disagrees with most is treated as noise;
4. add ``weight · mean(kept ℓ)`` to the objective's loss.

Differences from the reference code (``HKUDS/LLMRec``): it appends the augmented triples of 10 %
of the batch's users to the observed batch and applies the pruning to the combined batch; its
``prune_loss`` sorts ``log σ(s_pos − s_neg)`` ascending and keeps the first ``(1 − ω)`` share,
which keeps the largest losses. This term follows the paper's description instead: pruning
acts on the augmented triples only and drops the largest losses; observed triples are left to
the objective. ``weight`` plays the role of the reference's share of augmented triples in a batch.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn
from torch.nn import functional as F

from siftrec.errors import SiftrecError
from siftrec.text.augment import CandidateEdges
from siftrec.train.engine import AuxiliaryLoss, Batch, Scorer


class AugmentedPairs(AuxiliaryLoss):
    """The pruned BPR term over candidate edges (no parameters of its own).

    Args:
        edges: candidate edges (indices of the training log); at least one.
        n_items: number of items (range of the uniformly drawn negatives).
        weight: multiplies the term.
        prune: share of each step's augmented triples dropped, largest loss first, in ``[0, 1)``.
        generator: seeds the draws.
    """

    def __init__(
        self,
        edges: CandidateEdges,
        n_items: int,
        weight: float,
        prune: float,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        if not len(edges):
            raise SiftrecError("the augmenter proposed no candidate edges")
        if weight < 0 or not 0 <= prune < 1:
            raise SiftrecError("augment weight must be non-negative and prune in [0, 1)")
        self.n_items, self.weight, self.prune = n_items, weight, prune
        self.register_buffer("users", torch.from_numpy(edges.users), persistent=False)
        self.register_buffer("pos", torch.from_numpy(edges.pos), persistent=False)
        neg = None if edges.neg is None else torch.from_numpy(edges.neg)
        self.register_buffer("neg", neg, persistent=False)
        self._generator = torch.Generator().manual_seed(
            int(torch.randint(0, 2**62, (1,), generator=generator))
        )

    def forward(self, scorer: Scorer, batch: Batch) -> torch.Tensor:
        count = len(batch)
        drawn = torch.randint(0, len(self.users), (count,), generator=self._generator)
        drawn = drawn.to(self.users.device)
        if self.neg is None:
            neg = torch.randint(0, self.n_items, (count,), generator=self._generator)
            neg = neg.to(self.users.device)
        else:
            neg = self.neg[drawn]
        items = torch.stack([self.pos[drawn], neg], dim=1)
        scores = scorer.score_candidates(self.users[drawn], items)
        if scores.shape != items.shape:
            raise SiftrecError("augment_k needs a scorer that gives one score per candidate")
        losses = self.pair_losses(scores)
        return self.weight * losses.mean()

    def pair_losses(self, scores: torch.Tensor) -> torch.Tensor:
        """The kept triples' BPR losses, from scores ``[n, 2]`` (positive, negative)."""
        losses = F.softplus(scores[:, 1] - scores[:, 0])
        keep = math.floor((1 - self.prune) * len(losses))
        if keep >= len(losses):
            return losses
        kept = torch.topk(losses.detach(), max(keep, 1), largest=False, sorted=False).indices
        return losses[kept]


class AuxiliarySum(AuxiliaryLoss):
    """Several auxiliary terms added together (their parameters trained at one shared ``lr``)."""

    def __init__(self, terms: Sequence[AuxiliaryLoss]) -> None:
        super().__init__()
        if not terms:
            raise SiftrecError("AuxiliarySum needs at least one term")
        rates = {term.lr for term in terms if any(True for _ in term.parameters())}
        if len(rates) > 1:
            raise SiftrecError(f"auxiliary terms with parameters differ in lr: {sorted(rates)}")
        self.lr = rates.pop() if rates else AuxiliaryLoss.lr
        self.terms = nn.ModuleList(terms)

    def forward(self, scorer: Scorer, batch: Batch) -> torch.Tensor:
        total = self.terms[0](scorer, batch)
        for term in self.terms[1:]:
            total = total + term(scorer, batch)
        return total
