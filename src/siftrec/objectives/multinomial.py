"""Multinomial log-likelihood over the whole catalog (Mult-VAE / Mult-DAE; Liang et al.,
WWW 2018)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch

from siftrec.objectives.base import Batch, ListwiseObjective, register_objective, weighted_mean
from siftrec.search_space import SearchSpace


@register_objective("multinomial")
@dataclass
class Multinomial(ListwiseObjective):
    """``−mean_b w_b Σ_i t_bi log softmax(logits_b)_i`` (``t``: ``batch.targets``)."""

    search_space: ClassVar[SearchSpace] = {}

    def __call__(self, batch: Batch) -> torch.Tensor:
        per = -(torch.log_softmax(batch.scores, dim=1) * batch.targets).sum(dim=1)
        return weighted_mean(per, batch.weights)
