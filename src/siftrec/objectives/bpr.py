"""BPR: pairwise log-likelihood that a positive outranks each sampled negative (methods.md §1.2)."""

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
    weighted_mean,
)
from siftrec.search_space import SearchSpace


@register_objective("bpr")
@dataclass
class BPR(SampledObjective):
    """``loss = mean_b w_b · mean_j softplus(s_bj − s_b)``.

    ``per_interaction[b] = mean_j softplus(s_bj − s_b)`` (unweighted).
    """

    kind: ClassVar[ObjectiveKind] = "pairwise"
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
        per = F.softplus(neg - pos.unsqueeze(1)).mean(dim=1)
        return ObjectiveOutput(weighted_mean(per, weights), per.detach())

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
        # d softplus(s_j - s_i) / d s_j = sigmoid(s_j - s_i); the positive gets minus the sum.
        pos, neg = pos.detach(), neg.detach()
        diff = neg - pos.unsqueeze(1)
        per = F.softplus(diff).mean(dim=1)
        scale = 1.0 / diff.numel()
        dneg = torch.sigmoid(diff).mul_(scale)
        if weights is not None:
            dneg.mul_(weights.to(dneg.dtype).unsqueeze(1))
        dpos = -dneg.sum(dim=1)
        return ObjectiveOutput(weighted_mean(per, weights), per), dpos, dneg
