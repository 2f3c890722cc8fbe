"""R-CE: reweighted BCE of Adaptive Denoising Training (Wang et al., WSDM 2021; methods.md §3.4).

Positives the model finds implausible (small ``σ(s)``, large loss) are likely false positives,
so each positive's BCE term is weighted by ``sg(σ(s))^β``. The official code
(``DenoisingRec/R_CE/loss.py``) weights the negatives symmetrically by ``sg(1 − σ(s))^β``;
that is the default here (``weight_negatives=False`` weights the positives only).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F

from siftrec.errors import SiftrecError
from siftrec.objectives.base import (
    ObjectiveKind,
    ObjectiveOutput,
    SampledObjective,
    register_objective,
)
from siftrec.search_space import Float, SearchSpace


@register_objective("rce", "r-ce")
@dataclass
class ReweightedBCE(SampledObjective):
    """``loss = (Σ_b w_b ω_b softplus(−s_b) + Σ_bj ω_bj softplus(s_bj)) / (B·(1 + n_neg))``.

    ``ω_b = sg(σ(s_b))^β``, ``ω_bj = sg(σ(−s_bj))^β`` (1 without ``weight_negatives``); the
    weights are not renormalised, as in the official code. ``per_interaction[b] =
    softplus(−s_b)`` (the unweighted positive loss).

    Attributes:
        beta: the weight exponent ``β`` (``alpha`` in the official code; its default 0.2;
            ``β = 0`` is plain BCE).
        weight_negatives: weight negatives too (official code) or only positives.
    """

    kind: ClassVar[ObjectiveKind] = "pointwise"
    search_space: ClassVar[SearchSpace] = {"beta": Float(0.01, 1.0, log=True)}

    beta: float = 0.2
    weight_negatives: bool = True

    def __post_init__(self) -> None:
        if not self.beta >= 0.0:
            raise SiftrecError(f"beta must be non-negative, got {self.beta}")

    def _weights(self, pos: torch.Tensor, neg: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Detached ``σ(s)^β`` [B] and ``σ(−s)^β`` [B, n_neg] (exp of β·logsigmoid: stable)."""
        w_pos = torch.exp(self.beta * F.logsigmoid(pos.detach()))
        if not self.weight_negatives:
            return w_pos, torch.ones_like(neg)
        return w_pos, torch.exp(self.beta * F.logsigmoid(-neg.detach()))

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
        w_pos, w_neg = self._weights(pos, neg)
        if weights is not None:
            w_pos = w_pos * weights.to(w_pos.dtype)
        total = (per * w_pos).sum() + (F.softplus(neg) * w_neg).sum()
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
        # The weights are constants: BCE's gradients times the weights.
        pos, neg = pos.detach(), neg.detach()
        scale = 1.0 / (pos.numel() + neg.numel())
        w_pos, w_neg = self._weights(pos, neg)
        if weights is not None:
            w_pos = w_pos * weights.to(w_pos.dtype)
        per = F.softplus(-pos)
        loss = ((per * w_pos).sum() + (F.softplus(neg) * w_neg).sum()) * scale
        dpos = torch.sigmoid(-pos).mul_(w_pos).mul_(-scale)
        dneg = torch.sigmoid(neg).mul_(w_neg).mul_(scale)
        return ObjectiveOutput(loss, per), dpos, dneg
