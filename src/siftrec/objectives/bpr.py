"""BPR: pairwise log-likelihood that a positive outranks each sampled negative (Rendle et al.,
UAI 2009)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from siftrec.objectives.base import (
    Batch,
    Gradients,
    ObjectiveKind,
    SampledObjective,
    register_objective,
    weighted_mean,
)
from siftrec.search_space import SearchSpace


@register_objective("bpr")
@dataclass
class BPR(SampledObjective):
    """``loss = mean_b w_b · mean_j softplus(s_bj − s_b)``."""

    kind: ClassVar[ObjectiveKind] = "pairwise"
    search_space: ClassVar[SearchSpace] = {}

    def __call__(self, batch: Batch) -> torch.Tensor:
        per = F.softplus(batch.neg_scores - batch.pos_scores.unsqueeze(1)).mean(dim=1)
        return weighted_mean(per, batch.weights)

    def score_gradients(self, batch: Batch) -> Gradients:
        # d softplus(s_j - s_i) / d s_j = sigmoid(s_j - s_i); the positive gets minus the sum.
        weights = batch.weights
        diff = batch.neg_scores.detach() - batch.pos_scores.detach().unsqueeze(1)
        per = F.softplus(diff).mean(dim=1)
        scale = 1.0 / diff.numel()
        dneg = torch.sigmoid(diff).mul_(scale)
        if weights is not None:
            dneg.mul_(weights.to(dneg.dtype).unsqueeze(1))
        return Gradients(weighted_mean(per, weights), -dneg.sum(dim=1), dneg)
