"""UBPR: the unbiased pairwise loss for missing-not-at-random clicks (Saito, ICTIR 2020).

Saito models a click as exposure × relevance, ``Y = O·R`` with ``P(O = 1) = θ``, and writes the
ideal pairwise loss ``Σ γ_ui (1 − γ_uj) ℓ(s_ui − s_uj)`` (``ℓ(x) = softplus(−x)``, BPR's loss) with
the unbiased estimate ``(Y_ui/θ_ui)(1 − Y_uj/θ_uj)``: every positive ``i`` weighs ``1/θ_ui``, and a
sampled item ``j`` that the user also clicked makes the term negative (``θ_uj < 1``), which undoes,
in expectation, the relevant-but-unexposed items among the unclicked ones. Those negative terms are
unbounded below; the non-negative variant caps each term from below at ``−beta`` (Saito's code
clips the pair loss at ``beta``; ``beta = 0`` drops the negative terms). Propensities are clipped
from below, ``θ ← max(θ, clip)``, as in Rel-MF.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from siftrec.bias.propensity import (
    DEFAULT_ETA,
    PROPENSITY_METHODS,
    check_propensities,
    estimate_propensities,
)
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.objectives.base import (
    Batch,
    Gradients,
    ObjectiveKind,
    SampledObjective,
    register_objective,
)
from siftrec.search_space import Categorical, Float, SearchSpace


@register_objective("ubpr")
@dataclass
class UBPR(SampledObjective):
    """Clipped-IPS pairwise loss over B positives and their n_neg sampled items each.

    ``loss = mean_bj max(w_b · (1/θ_b) · (1 − Y_bj/θ_bj) · softplus(s_bj − s_b), −beta)`` with
    ``θ = max(propensity, clip)``, ``w_b`` the interaction weight and ``Y_bj`` whether the user
    clicked the sampled item ``j`` in the training log (a pair with ``j`` = the positive counts
    0). The factors read the batch's ``users``, ``items`` and ``propensities``.

    Sampled items are negatives the sampler drew: with the default ``exclude_positives=True``
    no sampled item is clicked, so every term is ``(1/θ_b)·softplus(s_bj − s_b)`` (BPR with
    inverse-propensity weights on the positives) and ``beta`` has no effect; the full estimator
    of the paper needs clicked items among the sampled ones,
    ``exclude_positives=false`` (a model setting).

    Propensities: the training log's ``propensity`` column when it has one (per interaction;
    the propensity of a clicked sampled item is that pair's value), else ``propensity``:
    the item-popularity power law ``(n_i / max n)^eta`` or the exposure model of
    :mod:`siftrec.bias.exposure`, estimated on the training log in :meth:`setup`.

    Attributes:
        clip: the lower clip ``M`` of the propensities (0: unclipped; weights are then bounded
            only by the smallest propensity).
        beta: lower cap of a term's value ``−beta`` (0: non-negative UBPR; a large value: the
            plain unbiased estimator). Only terms with a clicked sampled item can be negative.
        eta: exponent of the popularity power law.
        propensity: ``"power-law"`` or ``"exposure-model"``, used without a ``propensity``
            column.
        normalize: divide every inverse propensity by their mean over the training
            interactions (self-normalised, as SNIPS is to IPS): the weights keep their ratios
            but average 1, so a step is as large as an unweighted BPR step and a backbone's
            learning rate and L2 tuned for BPR carry over.

    Defaults (``clip=0.5, normalize=True``): chosen leave one data set out over Yahoo! R3, Coat
    and semi-synthetic clicks at MF's defaults, by the largest worst-case gain over MF-BCE; each
    held-out choice beats MF-BCE on the held-out data set (docs/benchmarks.md, "Debiasing at
    the library's defaults"). Strong weighting (``clip=0.2, normalize=False``) does better
    against the true relevance of semi-synthetic data and worse on Yahoo! R3's MAR test.
    """

    kind: ClassVar[ObjectiveKind] = "pairwise"
    search_space: ClassVar[SearchSpace] = {
        "clip": Float(0.001, 1.0, log=True),
        "normalize": Categorical((True, False)),
        "beta": Float(0.0, 10.0),
        "eta": Float(0.0, 1.0),
    }

    clip: float = 0.5
    beta: float = 0.0
    eta: float = DEFAULT_ETA
    propensity: str = "power-law"
    normalize: bool = True

    def __post_init__(self) -> None:
        if not 0 <= self.clip <= 1:
            raise SiftrecError(f"ubpr clip must be in [0, 1], got {self.clip}")
        if not np.isfinite(self.beta) or self.beta < 0:
            raise SiftrecError(f"ubpr beta must be a non-negative number, got {self.beta}")
        if not np.isfinite(self.eta) or self.eta < 0:
            raise SiftrecError(f"ubpr eta must be a non-negative number, got {self.eta}")
        if self.propensity not in PROPENSITY_METHODS:
            raise SiftrecError(
                f"ubpr propensity must be one of {', '.join(PROPENSITY_METHODS)}, "
                f"got {self.propensity!r}"
            )
        self.estimated_: np.ndarray | None = None
        self._keys: torch.Tensor | None = None
        self._theta: torch.Tensor | None = None
        self._n_items = 0
        self._scale: float | None = None if self.normalize else 1.0

    def setup(self, train: Interactions) -> None:
        """Take the log's ``propensity`` column (checked) or estimate one; index clicked pairs."""
        if train.has_column("propensity"):
            theta = check_propensities(train.column("propensity"))
            self.estimated_ = None
        else:
            theta = estimate_propensities(train, self.propensity, eta=self.eta, floor=self.clip)
            self.estimated_ = theta
        theta = np.maximum(theta, self.clip)
        if (theta <= 0).any():
            raise SiftrecError(
                f"{int((theta <= 0).sum())} training interactions have propensity 0; "
                "set ubpr clip > 0"
            )
        keys = train.users.astype(np.int64) * train.n_items + train.items.astype(np.int64)
        keys, first = np.unique(keys, return_index=True)
        self._keys = torch.from_numpy(keys)
        self._theta = torch.from_numpy(theta[first])
        self._n_items = train.n_items
        self._scale = float(1.0 / np.mean(1.0 / theta)) if self.normalize else 1.0

    def interaction_propensities(self, train: Interactions) -> np.ndarray | None:
        """The propensities estimated in :meth:`setup` (None: the log has a column)."""
        return self.estimated_

    def __call__(self, batch: Batch) -> torch.Tensor:
        pos, neg = batch.pos_scores, batch.neg_scores
        terms = self._factors(batch, neg) * F.softplus(neg - pos.unsqueeze(1))
        if batch.weights is not None:
            terms = terms * batch.weights.to(terms.dtype).unsqueeze(1)
        return terms.clamp(min=-self.beta).mean()

    def score_gradients(self, batch: Batch) -> Gradients:
        # d/ds_j of c·softplus(s_j − s_i) = c·σ(s_j − s_i); the positive gets minus the row sum.
        # A term held at −beta by the cap has no gradient.
        pos, neg = batch.pos_scores.detach(), batch.neg_scores.detach()
        factor = self._factors(batch, neg)
        if batch.weights is not None:
            factor = factor * batch.weights.to(factor.dtype).unsqueeze(1)
        diff = neg - pos.unsqueeze(1)
        terms = factor * F.softplus(diff)
        free = terms > -self.beta
        dneg = torch.where(free, factor * torch.sigmoid(diff), 0.0).div_(diff.numel())
        return Gradients(terms.clamp(min=-self.beta).mean(), -dneg.sum(dim=1), dneg)

    def _factors(self, batch: Batch, neg: torch.Tensor) -> torch.Tensor:
        """``(1/θ_b)(1 − Y_bj/θ_bj)`` per (positive, sampled item) pair, [B, n_neg]."""
        propensities, users = batch.propensities, batch.users
        if propensities is None:
            raise SiftrecError(
                "ubpr needs the propensity of every positive: train it through a model (the "
                "trainer passes them) or give the Batch propensities"
            )
        if self._scale is None:
            raise SiftrecError(
                "ubpr normalize=true divides by the mean inverse propensity of the training "
                "log: call setup(train) first (a model does), or set normalize=false"
            )
        inverse = self._scale / propensities.to(neg.dtype).clamp(min=self.clip)
        factor = inverse.unsqueeze(1).expand_as(neg)
        if batch.items is None or self._keys is None or not len(self._keys):
            return factor
        pos_items, neg_items = batch.pos, batch.neg
        keys = users.to(torch.int64).unsqueeze(1) * self._n_items + neg_items.to(torch.int64)
        keys = keys.cpu()
        at = torch.searchsorted(self._keys, keys).clamp_(max=len(self._keys) - 1)
        clicked = self._keys[at] == keys
        if not bool(clicked.any()):
            return factor
        theta_j = torch.where(clicked, self._theta[at], 1.0).to(device=neg.device, dtype=neg.dtype)
        clicked = clicked.to(neg.device)
        negative = torch.where(clicked, 1.0 - 1.0 / theta_j, 1.0)
        negative = torch.where(neg_items == pos_items.unsqueeze(1), 0.0, negative)
        return factor * negative
