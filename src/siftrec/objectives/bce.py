"""Pointwise binary cross-entropy ("BPO", methods.md §1.3): positives 1, sampled negatives 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from siftrec.objectives.base import (
    ObjectiveKind,
    ObjectiveOutput,
    SampledObjective,
    register_objective,
)
from siftrec.search_space import SearchSpace


@register_objective("bce", "bpo")
@dataclass
class BCE(SampledObjective):
    """Mean BCE over the B·(1 + n_neg) labelled samples of a batch.

    ``loss = (Σ_b w_b softplus(−s_b) + Σ_bj softplus(s_bj)) / (B·(1 + n_neg))``; weights apply to
    the positives only. ``per_interaction[b] = softplus(−s_b)``: the positive's own loss, which
    loss-based denoisers (T-CE, PLD) rank.
    """

    kind: ClassVar[ObjectiveKind] = "pointwise"
    search_space: ClassVar[SearchSpace] = {}

    def __call__(
        self,
        pos: torch.Tensor,
        neg: torch.Tensor,
        *,
        weights: torch.Tensor | None = None,
        propensities: torch.Tensor | None = None,
        step: int = 0,
        epoch: int = 0,
    ) -> ObjectiveOutput:
        per = F.softplus(-pos)
        pos_term = per if weights is None else per * weights.to(per.dtype)
        total = pos_term.sum() + F.softplus(neg).sum()
        return ObjectiveOutput(total / (pos.numel() + neg.numel()), per.detach())

    def score_gradients(
        self,
        pos: torch.Tensor,
        neg: torch.Tensor,
        *,
        weights: torch.Tensor | None = None,
        propensities: torch.Tensor | None = None,
        step: int = 0,
        epoch: int = 0,
    ) -> tuple[ObjectiveOutput, torch.Tensor, torch.Tensor]:
        # d softplus(-s)/ds = -sigmoid(-s);  d softplus(s)/ds = sigmoid(s).
        pos, neg = pos.detach(), neg.detach()
        scale = 1.0 / (pos.numel() + neg.numel())
        out = self(pos, neg, weights=weights)
        dpos = torch.sigmoid(-pos).mul_(-scale)
        if weights is not None:
            dpos.mul_(weights.to(dpos.dtype))
        dneg = torch.sigmoid(neg).mul_(scale)
        return out, dpos, dneg
