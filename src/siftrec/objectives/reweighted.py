"""R-CE: the reweighted BCE loss of Adaptive Denoising Training (Wang et al., WSDM 2021).

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
    Batch,
    PointwiseObjective,
    PointwiseWeights,
    register_objective,
)
from siftrec.search_space import Float, SearchSpace


@register_objective("rce", "r-ce")
@dataclass
class ReweightedBCE(PointwiseObjective):
    """``loss = (Σ_b w_b ω_b softplus(−s_b) + Σ_bj ω_bj softplus(s_bj)) / (B·(1 + n_neg))``.

    ``ω_b = sg(σ(s_b))^β``, ``ω_bj = sg(σ(−s_bj))^β`` (1 without ``weight_negatives``); the
    weights are not renormalised, as in the official code. The shared pointwise formula with
    these weights.

    Attributes:
        beta: the weight exponent ``β`` (``alpha`` in the official code, whose default is
            0.2; 0.05 here, chosen with MF's defaults by a leave-one-dataset-out study over
            7 noisy logs, see ``docs/benchmarks.md``; ``β = 0`` is plain BCE).
        weight_negatives: weight negatives too (official code) or only positives.
    """

    search_space: ClassVar[SearchSpace] = {"beta": Float(0.01, 1.0, log=True)}

    beta: float = 0.05
    weight_negatives: bool = True

    def __post_init__(self) -> None:
        if not self.beta >= 0.0:
            raise SiftrecError(f"beta must be non-negative, got {self.beta}")

    def weights(self, batch: Batch) -> PointwiseWeights:
        """Detached ``σ(s)^β`` [B] (times the interaction weights) and ``σ(−s)^β`` [B, n_neg]
        (None without ``weight_negatives``); exp of β·logsigmoid, stable at any score."""
        pos, neg = batch.pos_scores.detach(), batch.neg_scores.detach()
        w_pos = torch.exp(self.beta * F.logsigmoid(pos))
        if batch.weights is not None:
            w_pos = w_pos * batch.weights.to(w_pos.dtype)
        w_neg = torch.exp(self.beta * F.logsigmoid(-neg)) if self.weight_negatives else None
        return PointwiseWeights(w_pos, w_neg, batch.scores.numel())
