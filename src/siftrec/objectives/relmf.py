"""Rel-MF (Saito et al., WSDM 2020): the unbiased pointwise objective for MNAR clicks.

Saito et al., "Unbiased Recommender Learning from Missing-Not-At-Random Implicit Feedback"
(WSDM 2020), model a click as exposure × relevance, ``Y = O·R`` with
``P(O = 1) = θ``, and replace the label of every pair by ``Y/θ``, whose expectation is the true
relevance. A clicked pair then contributes ``(1/θ)·δ⁽¹⁾ + (1 − 1/θ)·δ⁽⁰⁾`` (a negative weight on
its "irrelevant" part when ``θ < 1``) and an unclicked pair ``δ⁽⁰⁾`` (``siftrec.bias.estimators``
defines the local losses ``δ``). Propensities are clipped from below, ``θ ← max(θ, clip)``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

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
from siftrec.bias.propensity import (
    PROPENSITY_METHODS,
    check_propensities,
    estimate_propensities,
)
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.objectives.base import Batch, PointwiseObjective, register_objective
from siftrec.search_space import Float, SearchSpace


@register_objective("relmf", "rel-mf")
@dataclass
class RelMF(PointwiseObjective):
    """Clipped-IPS pointwise loss over B positives and their B·n_neg sampled unclicked pairs.

    ``loss = (Σ_b w_b [(1/θ_b) δ⁽¹⁾(s_b) + (1 − 1/θ_b) δ⁽⁰⁾(s_b)] + Σ_bj δ⁽⁰⁾(s_bj))
    / (B·(1 + n_neg))`` with ``θ_b = max(propensity_b, clip)``: the shared pointwise formula with
    the IPS-mixed local loss on positives. As in the authors' real-data code, every sample of the
    batch weighs the same (they draw 2^14 positives and 2^14 unclicked pairs per step and divide
    by the batch size), so the unclicked part is the all-pairs estimator's, down-weighted by a
    constant. Unlike their code, unclicked pairs are the sampler's negatives of each positive's
    user (uniform items by default) rather than uniform over all unclicked pairs.

    Propensities: the training log's ``propensity`` column when it has one (user-supplied,
    per interaction), else ``propensity``: the item-popularity power law ``(n_i / max n)^eta``
    or the exposure model of :mod:`siftrec.bias.exposure`, estimated on the training log in
    :meth:`setup`.

    Attributes:
        loss: ``"squared"`` (default: the authors' real-data loss; bounded, so the negative
            weights of clicked pairs cannot drive a score to infinity) or ``"log"`` (their
            semi-synthetic loss; with ``θ < 1`` a clicked pair's term ``(1 − 1/θ)·softplus(s)``
            is unbounded below in ``s``, kept in check only by ``clip`` and regularisation).
        clip: the lower clip ``M`` of the propensities (0: unclipped Rel-MF; weights are then
            bounded only by the smallest propensity). The default 0.1 is the best clip of
            {0.01, 0.05, 0.1, 0.2} over Yahoo! R3, Coat and semi-synthetic data
            (docs/benchmarks.md, "Debiasing defaults").
        eta: exponent of the popularity power law (used without a ``propensity`` column).
        propensity: ``"power-law"`` or ``"exposure-model"``, used without a ``propensity``
            column.
    """

    search_space: ClassVar[SearchSpace] = {
        "clip": Float(0.001, 0.3, log=True),
        "eta": Float(0.0, 1.0),
    }

    loss: LocalLoss = "squared"
    clip: float = 0.1
    eta: float = 0.5
    propensity: str = "power-law"

    def __post_init__(self) -> None:
        check_loss(self.loss)
        if not 0 <= self.clip <= 1:
            raise SiftrecError(f"relmf clip must be in [0, 1], got {self.clip}")
        if not np.isfinite(self.eta) or self.eta < 0:
            raise SiftrecError(f"relmf eta must be a non-negative number, got {self.eta}")
        if self.propensity not in PROPENSITY_METHODS:
            raise SiftrecError(
                f"relmf propensity must be one of {', '.join(PROPENSITY_METHODS)}, "
                f"got {self.propensity!r}"
            )
        self.estimated_: np.ndarray | None = None

    def setup(self, train: Interactions) -> None:
        """Check the log's ``propensity`` column, or estimate item propensities without one."""
        if train.has_column("propensity"):
            theta = np.maximum(check_propensities(train.column("propensity")), self.clip)
            if (theta <= 0).any():
                raise SiftrecError(
                    f"{int((theta <= 0).sum())} training interactions have propensity 0; "
                    "set relmf clip > 0"
                )
            self.estimated_ = None
        else:
            self.estimated_ = estimate_propensities(
                train, self.propensity, eta=self.eta, floor=self.clip
            )

    def interaction_propensities(self, train: Interactions) -> np.ndarray | None:
        """The propensities estimated in :meth:`setup` (None: the log has a column)."""
        return self.estimated_

    def positive_loss(self, batch: Batch, pos: torch.Tensor) -> torch.Tensor:
        """``(1/θ)·δ⁽¹⁾(s) + (1 − 1/θ)·δ⁽⁰⁾(s)`` per positive."""
        inv = self._inverse(pos, batch.propensities)
        return inv * relevant_loss(pos, self.loss) + (1.0 - inv) * irrelevant_loss(pos, self.loss)

    def positive_grad(self, batch: Batch, pos: torch.Tensor) -> torch.Tensor:
        inv = self._inverse(pos, batch.propensities)
        return inv * relevant_grad(pos, self.loss) + (1.0 - inv) * irrelevant_grad(pos, self.loss)

    def negative_loss(self, batch: Batch, neg: torch.Tensor) -> torch.Tensor:
        """``δ⁽⁰⁾(s)`` per unclicked pair."""
        return irrelevant_loss(neg, self.loss)

    def negative_grad(self, batch: Batch, neg: torch.Tensor) -> torch.Tensor:
        return irrelevant_grad(neg, self.loss)

    def _inverse(self, pos: torch.Tensor, propensities: torch.Tensor | None) -> torch.Tensor:
        """``1 / max(θ, clip)`` per positive."""
        if propensities is None:
            raise SiftrecError(
                "relmf needs the propensity of every positive: train it through a model (the "
                "trainer passes them) or give the Batch propensities"
            )
        return 1.0 / propensities.to(pos.dtype).clamp(min=self.clip)
