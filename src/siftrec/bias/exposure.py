"""Exposure propensities from a model of exposure fit on the click log (Liang et al., WWW 2016).

The popularity power law ``(n_i / max n)^eta`` calls every item-level difference in clicks
exposure and ignores the user. An exposure model separates the two causes of a missing click
instead: Liang et al.'s ExpoMF (WWW 2016) has each pair exposed with probability ``μ_ui``; an
exposed pair is clicked according to the user's taste, ``y_ui ~ N(p_uᵀq_i, 1/λ_y)``, an
unexposed one never. siftrec's exposure prior has a user and an item effect on the logit scale,
``μ_ui = σ(a_u + b_i)`` (user activity × item popularity; Liang et al.'s per-item prior is the
case without ``a``), so the propensity of a pair depends on both.

EM (Liang et al., Algorithm 1, with the prior fit by Newton steps): the E-step gives each
unclicked pair the posterior exposure ``e_ui = μ φ(p_uᵀq_i) / (μ φ(p_uᵀq_i) + 1 − μ)``
(``φ`` the Gaussian density at 0; clicked pairs are exposed, ``e = 1``): a pair the taste model
predicts the user would like but did not click was probably not shown. The M-step refits the
taste factors by ridge regressions weighted by ``e`` and the exposure logits by a logistic
regression on the soft labels ``e``. The propensities are the prior ``μ_ui`` (a clicked pair's
posterior is 1 whatever its propensity). Clicks alone fix the scale of ``μ`` only through the
model's assumptions: ``λ_y`` sets how strongly an unclicked pair the taste model scores 0 counts
as exposed. The default ``λ_y = 2π`` makes ``φ(0) = 1``, so such a pair's posterior equals its
prior (neither evidence of exposure nor of its absence); Liang et al.'s ``λ_y = 1`` counts it as
evidence against exposure and shrinks every propensity. The shape (which pairs are exposed more)
is what the model adds over the power law. Every table is dense (users × items), so the model
suits logs up to tens of millions of pairs.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.resources import require_memory

#: Dense float32 users × items tables the fit keeps at once (clicks, scores, prior, posterior…).
_DENSE_TABLES = 6


@dataclass(frozen=True)
class ExposureModel:
    """A fitted exposure prior ``μ_ui = σ(user_logits[u] + item_logits[i])``."""

    user_logits: np.ndarray
    item_logits: np.ndarray

    def propensities(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """``μ`` of the pairs ``(users[k], items[k])`` (float64 in (0, 1))."""
        logits = self.user_logits[np.asarray(users)] + self.item_logits[np.asarray(items)]
        return 1.0 / (1.0 + np.exp(-logits))

    def table(self) -> np.ndarray:
        """``μ`` of every (user, item) pair, shape ``(n_users, n_items)``."""
        logits = self.user_logits[:, None] + self.item_logits[None, :]
        return 1.0 / (1.0 + np.exp(-logits))


def fit_exposure_model(
    train: Interactions,
    *,
    dim: int = 10,
    iterations: int = 10,
    lambda_y: float = 2.0 * math.pi,
    l2: float = 0.01,
    prior: float = 0.01,
    seed: int = 0,
) -> ExposureModel:
    """Fit the exposure model on the clicks of ``train`` (weights and duplicates ignored).

    ``dim``: taste factors; ``iterations``: EM iterations; ``lambda_y``: precision of the
    click given exposure (see the module docstring); ``l2``: ridge penalty of the factors;
    ``prior``: Gaussian penalty on the exposure logits (keeps users and items without clicks
    finite).
    """
    if not isinstance(train, Interactions):
        raise SiftrecError(f"expected Interactions, got {type(train).__name__}")
    if len(train) == 0:
        raise SiftrecError("cannot fit an exposure model on an empty interaction log")
    for name, value in (("dim", dim), ("iterations", iterations)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise SiftrecError(f"exposure model {name} must be a positive integer, got {value!r}")
    for name, value in (("lambda_y", lambda_y), ("l2", l2), ("prior", prior)):
        if not math.isfinite(value) or value <= 0:
            raise SiftrecError(f"exposure model {name} must be a positive number, got {value}")
    n_users, n_items = train.shape
    require_memory(
        _DENSE_TABLES * 4 * n_users * n_items,
        f"the exposure model on {n_users:,} users × {n_items:,} items",
        "use propensity=power-law",
        detail="dense users × items tables",
    )
    clicks = torch.from_numpy(train.binary.toarray().astype(np.float32))
    generator = torch.Generator().manual_seed(seed)
    p = 0.01 * torch.randn(n_users, dim, generator=generator)
    q = 0.01 * torch.randn(n_items, dim, generator=generator)
    rate = (clicks.sum(0) + 1.0) / (n_users + 2.0)
    a = torch.zeros(n_users)
    b = torch.log(rate / (1.0 - rate))
    density0 = math.sqrt(lambda_y / (2.0 * math.pi))
    eye = torch.eye(dim)
    clicked = clicks > 0
    for _ in range(iterations):
        # E-step: posterior exposure of every pair
        mu = torch.sigmoid(a[:, None] + b[None, :])
        shown = mu * density0 * torch.exp(-0.5 * lambda_y * (p @ q.T).square_())
        post = shown.div_(shown + 1.0 - mu).masked_fill_(clicked, 1.0)
        del mu
        # M-step, taste: ridge regressions of the clicks weighted by the posterior
        p = _weighted_ridge(post, clicks, q, lambda_y, l2 * eye)
        q = _weighted_ridge(post.T, clicks.T, p, lambda_y, l2 * eye)
        # M-step, exposure prior: one Newton step per block of the logistic fit to ``post``
        a = a + _newton_step(post, a[:, None] + b[None, :], a, prior, dim=1)
        b = b + _newton_step(post, a[:, None] + b[None, :], b, prior, dim=0)
    return ExposureModel(a.double().numpy(), b.double().numpy())


def _weighted_ridge(
    weights: torch.Tensor,
    clicks: torch.Tensor,
    other: torch.Tensor,
    lambda_y: float,
    ridge: torch.Tensor,
) -> torch.Tensor:
    """Rows ``x_r = (λ_y Σ_c w_rc o_c o_cᵀ + ridge)⁻¹ λ_y Σ_c w_rc y_rc o_c`` (y is 0/1 and
    w = 1 where y = 1, so the right-hand side is ``λ_y (Y @ O)_r``)."""
    dim = other.shape[1]
    outer = (other[:, :, None] * other[:, None, :]).reshape(len(other), dim * dim)
    gram = (weights @ outer).reshape(len(weights), dim, dim).mul_(lambda_y) + ridge
    rhs = (clicks @ other).mul_(lambda_y)
    return torch.linalg.solve(gram, rhs)


def _newton_step(
    target: torch.Tensor, logits: torch.Tensor, current: torch.Tensor, prior: float, dim: int
) -> torch.Tensor:
    """Newton update of one block of logits (``dim`` sums over the other index) for the
    penalised log-likelihood ``Σ [e log μ + (1 − e) log(1 − μ)] − prior/2 · Σ x²``."""
    mu = torch.sigmoid(logits)
    gradient = (target - mu).sum(dim) - prior * current
    curvature = (mu * (1.0 - mu)).sum(dim) + prior
    return gradient / curvature
