"""The objective contract and the formula the pointwise (BCE) family shares.

The contract — :class:`Objective`, the one :class:`Batch` every objective receives, the
:class:`Gradients` of the fused path and the registry — is the engine's
(``siftrec.train.engine``) and is re-exported here. Three kinds exist: ``pairwise`` (scores of a
positive vs its sampled negatives), ``pointwise`` (positives labelled 1, sampled negatives 0) and
``listwise`` (logits over the whole catalog vs the user's row). See ``docs/engine.md``.

:class:`PointwiseObjective` is the loss and closed-form gradient of BCE, T-CE, R-CE and Rel-MF:
they differ only in the per-sample losses and the weights and normaliser of the batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F

from siftrec.train.engine import (
    SAMPLED_KINDS,
    Batch,
    Gradients,
    ListwiseObjective,
    Objective,
    ObjectiveKind,
    SampledObjective,
    available_objectives,
    get_objective,
    objectives,
    register_objective,
)

__all__ = [
    "SAMPLED_KINDS",
    "Batch",
    "Gradients",
    "ListwiseObjective",
    "Objective",
    "ObjectiveKind",
    "PointwiseObjective",
    "PointwiseWeights",
    "SampledObjective",
    "available_objectives",
    "get_objective",
    "objectives",
    "register_objective",
    "weighted_mean",
]


def weighted_mean(values: torch.Tensor, weights: torch.Tensor | None) -> torch.Tensor:
    """``mean(weights · values)`` over the batch (weights are not renormalised)."""
    if weights is None:
        return values.mean()
    return (values * weights.to(values.dtype)).mean()


class PointwiseWeights(NamedTuple):
    """Weights of one batch in the pointwise loss: ``pos`` [B], the positives' weights with the
    interaction weights folded in (None: the interaction weights alone), ``neg`` [B, n_neg]
    (None: 1), and the normaliser ``n`` (the number of labelled samples counted)."""

    pos: torch.Tensor | None
    neg: torch.Tensor | None
    n: int


@dataclass
class PointwiseObjective(SampledObjective):
    """``loss = (Σ_b a_b ℓ⁺(s_b) + Σ_bj c_bj ℓ⁻(s_bj)) / n`` and its closed-form gradient
    ``d/ds_b = a_b ℓ⁺'(s_b) / n``, ``d/ds_bj = c_bj ℓ⁻'(s_bj) / n``.

    Subclasses choose the per-sample losses (default: BCE's ``ℓ⁺(s) = softplus(−s)``,
    ``ℓ⁻(s) = softplus(s)``) and :meth:`weights` (default: ``a`` = the interaction weights,
    ``c = 1``, ``n`` = every labelled sample). Weights are constants of the gradient (a
    stop-gradient where they depend on the scores). Interaction weights alone multiply the
    scaled gradient, an objective's own weights the unscaled one (the order of the two float
    products is part of what a seed reproduces).
    """

    kind: ClassVar[ObjectiveKind] = "pointwise"

    def weights(self, batch: Batch) -> PointwiseWeights:
        """``a``, ``c`` and ``n`` of ``batch`` (default: interaction weights, 1, all samples)."""
        return PointwiseWeights(None, None, batch.scores.numel())

    def positive_loss(self, batch: Batch, pos: torch.Tensor) -> torch.Tensor:
        """``ℓ⁺`` [B] of the positives' scores ``pos`` (default: BCE's ``softplus(−s)``)."""
        return F.softplus(-pos)

    def positive_grad(self, batch: Batch, pos: torch.Tensor) -> torch.Tensor:
        """``ℓ⁺'`` [B], a fresh tensor (default: ``−σ(−s)``)."""
        return torch.sigmoid(-pos).neg_()

    def negative_loss(self, batch: Batch, neg: torch.Tensor) -> torch.Tensor:
        """``ℓ⁻`` [B, n_neg] of the negatives' scores (default: BCE's ``softplus(s)``)."""
        return F.softplus(neg)

    def negative_grad(self, batch: Batch, neg: torch.Tensor) -> torch.Tensor:
        """``ℓ⁻'`` [B, n_neg], a fresh tensor (default: ``σ(s)``)."""
        return torch.sigmoid(neg)

    def __call__(self, batch: Batch) -> torch.Tensor:
        return self._loss(batch, batch.pos_scores, batch.neg_scores, self.weights(batch))

    def score_gradients(self, batch: Batch) -> Gradients:
        pos, neg = batch.pos_scores.detach(), batch.neg_scores.detach()
        w = self.weights(batch)
        scale = 1.0 / w.n
        dpos = self.positive_grad(batch, pos)
        if w.pos is not None:
            dpos.mul_(w.pos).mul_(scale)
        else:
            dpos.mul_(scale)
            if batch.weights is not None:
                dpos.mul_(batch.weights.to(dpos.dtype))
        dneg = self.negative_grad(batch, neg)
        if w.neg is not None:
            dneg.mul_(w.neg)
        return Gradients(self._loss(batch, pos, neg, w), dpos, dneg.mul_(scale))

    def _loss(
        self, batch: Batch, pos: torch.Tensor, neg: torch.Tensor, w: PointwiseWeights
    ) -> torch.Tensor:
        pos_term = self.positive_loss(batch, pos)
        a = w.pos if w.pos is not None or batch.weights is None else batch.weights.to(pos.dtype)
        if a is not None:
            pos_term = pos_term * a
        neg_term = self.negative_loss(batch, neg)
        if w.neg is not None:
            neg_term = neg_term * w.neg
        return (pos_term.sum() + neg_term.sum()) / w.n
