"""Rel-MF: the unbiased pointwise objective for missing-not-at-random clicks (methods.md §5).

Saito et al. (WSDM 2020) model a click as exposure × relevance, ``Y = O·R`` with
``P(O = 1) = θ``, and replace the label of every pair by ``Y/θ``, whose expectation is the true
relevance. A clicked pair then contributes ``(1/θ)·δ⁽¹⁾ + (1 − 1/θ)·δ⁽⁰⁾`` (a negative weight on
its "irrelevant" part when ``θ < 1``) and an unclicked pair ``δ⁽⁰⁾`` (``siftrec.bias.estimators``
defines the local losses ``δ``). Propensities are clipped from below, ``θ ← max(θ, clip)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from siftrec.bias.estimators import (
    LocalLoss,
    check_loss,
    irrelevant_grad,
    irrelevant_loss,
    relevant_grad,
    relevant_loss,
)
from siftrec.bias.propensity import check_propensities, popularity_propensities
from siftrec.errors import SiftrecError
from siftrec.objectives.base import (
    ObjectiveKind,
    ObjectiveOutput,
    SampledObjective,
    register_objective,
)
from siftrec.search_space import Float, SearchSpace

if TYPE_CHECKING:
    from siftrec.data.interactions import Interactions


@register_objective("relmf", "rel-mf")
@dataclass
class RelMF(SampledObjective):
    """Clipped-IPS pointwise loss over B positives and their B·n_neg sampled unclicked pairs.

    ``loss = (Σ_b w_b [(1/θ_b) δ⁽¹⁾(s_b) + (1 − 1/θ_b) δ⁽⁰⁾(s_b)] + Σ_bj δ⁽⁰⁾(s_bj))
    / (B·(1 + n_neg))`` with ``θ_b = max(propensity_b, clip)``; ``per_interaction[b]`` is the
    positive's own term. As in the authors' real-data code, every sample of the batch weighs the
    same (they draw 2^14 positives and 2^14 unclicked pairs per step and divide by the batch size),
    so the unclicked part is the all-pairs estimator's, down-weighted by a constant. Unlike their
    code, unclicked pairs are the sampler's negatives of each positive's user (uniform items by
    default) rather than uniform over all unclicked pairs.

    Propensities: the training log's ``propensity`` column when it has one (user-supplied,
    per interaction), else the item-popularity power law ``(n_i / max n)^eta`` estimated on the
    training log in :meth:`setup`.

    Attributes:
        loss: ``"squared"`` (default: the authors' real-data loss; bounded, so the negative
            weights of clicked pairs cannot drive a score to infinity) or ``"log"`` (their
            semi-synthetic loss; with ``θ < 1`` a clicked pair's term ``(1 − 1/θ)·softplus(s)``
            is unbounded below in ``s``, kept in check only by ``clip`` and regularisation).
        clip: the lower clip ``M`` of the propensities (0: unclipped Rel-MF; weights are then
            bounded only by the smallest propensity).
        eta: exponent of the popularity power law (used without a ``propensity`` column).
    """

    kind: ClassVar[ObjectiveKind] = "pointwise"
    search_space: ClassVar[SearchSpace] = {
        "clip": Float(0.001, 0.3, log=True),
        "eta": Float(0.0, 1.0),
    }

    loss: LocalLoss = "squared"
    clip: float = 0.01
    eta: float = 0.5

    def __post_init__(self) -> None:
        check_loss(self.loss)
        if not 0 <= self.clip <= 1:
            raise SiftrecError(f"relmf clip must be in [0, 1], got {self.clip}")
        if not np.isfinite(self.eta) or self.eta < 0:
            raise SiftrecError(f"relmf eta must be a non-negative number, got {self.eta}")
        self.item_propensities_: np.ndarray | None = None

    def setup(self, train: Interactions) -> None:
        """Check the log's ``propensity`` column, or estimate item propensities without one."""
        if train.has_column("propensity"):
            theta = np.maximum(check_propensities(train.column("propensity")), self.clip)
            if (theta <= 0).any():
                raise SiftrecError(
                    f"{int((theta <= 0).sum())} training interactions have propensity 0; "
                    "set relmf clip > 0"
                )
            self.item_propensities_ = None
        else:
            self.item_propensities_ = popularity_propensities(train, self.eta, floor=self.clip)

    def interaction_propensities(self, train: Interactions) -> np.ndarray | None:
        """The estimated item propensities of every training interaction (None: not estimated)."""
        if self.item_propensities_ is None:
            return None
        return self.item_propensities_[train.items]

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
        inv = self._inverse(pos, propensities)
        per = inv * relevant_loss(pos, self.loss) + (1.0 - inv) * irrelevant_loss(pos, self.loss)
        pos_term = per if weights is None else per * weights.to(per.dtype)
        total = pos_term.sum() + irrelevant_loss(neg, self.loss).sum()
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
        pos, neg = pos.detach(), neg.detach()
        out = self(pos, neg, weights=weights, propensities=propensities)
        scale = 1.0 / (pos.numel() + neg.numel())
        inv = self._inverse(pos, propensities)
        dpos = inv * relevant_grad(pos, self.loss) + (1.0 - inv) * irrelevant_grad(pos, self.loss)
        dpos.mul_(scale)
        if weights is not None:
            dpos.mul_(weights.to(dpos.dtype))
        dneg = irrelevant_grad(neg, self.loss).mul_(scale)
        return out, dpos, dneg

    def _inverse(self, pos: torch.Tensor, propensities: torch.Tensor | None) -> torch.Tensor:
        """``1 / max(θ, clip)`` per positive."""
        if propensities is None:
            raise SiftrecError(
                "relmf needs the propensity of every positive: train it through a model (the "
                "trainer passes them) or call it with propensities="
            )
        return 1.0 / propensities.to(pos.dtype).clamp(min=self.clip)
