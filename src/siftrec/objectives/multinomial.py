"""Multinomial log-likelihood over the whole catalog (Mult-VAE / Mult-DAE, methods.md §6.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from siftrec.objectives.base import (
    ListwiseObjective,
    ObjectiveOutput,
    register_objective,
    weighted_mean,
)
from siftrec.search_space import SearchSpace


@register_objective("multinomial")
@dataclass
class Multinomial(ListwiseObjective):
    """``−mean_b w_b Σ_i t_bi log softmax(logits_b)_i``; per row: ``−Σ_i t_bi log softmax_i``."""

    search_space: ClassVar[SearchSpace] = {}

    def __call__(
        self,
        logits: torch.Tensor,
        targets: torch.Tensor,
        *,
        weights: torch.Tensor | None = None,
        step: int = 0,
        epoch: int = 0,
    ) -> ObjectiveOutput:
        per = -(torch.log_softmax(logits, dim=1) * targets).sum(dim=1)
        return ObjectiveOutput(weighted_mean(per, weights), per.detach())
