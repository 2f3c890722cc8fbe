"""Pointwise loss estimators of Rel-MF (Saito et al., WSDM 2020: ideal, naive, IPS, clipped).

With clicks ``Y = O·R`` (exposure ``O ~ Bern(θ)``, relevance ``R ~ Bern(γ)``, independent), the
*ideal* loss over a set of pairs D uses the true relevance,
``L_ideal = mean_D[γ δ⁽¹⁾(s) + (1 − γ) δ⁽⁰⁾(s)]``; the *naive* estimator plugs in the clicks
(``γ → Y``) and is biased towards popular, well-exposed items; the *unbiased* (IPS) estimator
plugs in ``Y/θ`` (``E[Y/θ] = γ``); the *clipped* one uses ``Y / max(θ, M)`` (bias for pairs with
``θ < M``, bounded variance). All four are :func:`pointwise_risk` with a different target.

Local losses of a logit ``s`` (prediction ``σ(s)``): ``"log"``: ``δ⁽¹⁾ = softplus(−s)``,
``δ⁽⁰⁾ = softplus(s)``; ``"squared"``: ``δ⁽¹⁾ = (1 − σ(s))²``, ``δ⁽⁰⁾ = σ(s)²``.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from siftrec.errors import SiftrecError

LocalLoss = Literal["log", "squared"]
LOCAL_LOSSES: tuple[str, ...] = ("log", "squared")


def relevant_loss(scores: torch.Tensor, loss: LocalLoss) -> torch.Tensor:
    """``δ⁽¹⁾``: the loss of predicting logit ``scores`` for a relevant pair."""
    if loss == "log":
        return F.softplus(-scores)
    return torch.sigmoid(-scores).square()


def irrelevant_loss(scores: torch.Tensor, loss: LocalLoss) -> torch.Tensor:
    """``δ⁽⁰⁾``: the loss of predicting logit ``scores`` for an irrelevant pair."""
    if loss == "log":
        return F.softplus(scores)
    return torch.sigmoid(scores).square()


def relevant_grad(scores: torch.Tensor, loss: LocalLoss) -> torch.Tensor:
    """``dδ⁽¹⁾/ds``: ``−σ(−s)`` (log) or ``−2σ(−s)²σ(s)`` (squared)."""
    neg = torch.sigmoid(-scores)
    return -neg if loss == "log" else -2.0 * neg.square() * (1.0 - neg)


def irrelevant_grad(scores: torch.Tensor, loss: LocalLoss) -> torch.Tensor:
    """``dδ⁽⁰⁾/ds``: ``σ(s)`` (log) or ``2σ(s)²σ(−s)`` (squared)."""
    pos = torch.sigmoid(scores)
    return pos if loss == "log" else 2.0 * pos.square() * (1.0 - pos)


def check_loss(loss: str) -> None:
    if loss not in LOCAL_LOSSES:
        raise SiftrecError(f"loss must be one of {', '.join(LOCAL_LOSSES)}, got {loss!r}")


def pointwise_risk(
    scores: np.ndarray | torch.Tensor, targets: np.ndarray | torch.Tensor, loss: LocalLoss = "log"
) -> float:
    """``mean[t · δ⁽¹⁾(s) + (1 − t) · δ⁽⁰⁾(s)]`` over all entries (float64)."""
    check_loss(loss)
    s = torch.as_tensor(scores, dtype=torch.float64)
    t = torch.as_tensor(targets, dtype=torch.float64)
    if s.shape != t.shape:
        raise SiftrecError(f"scores have shape {tuple(s.shape)} but targets {tuple(t.shape)}")
    if s.numel() == 0:
        raise SiftrecError("no pairs to average the loss over")
    risk = t * relevant_loss(s, loss) + (1.0 - t) * irrelevant_loss(s, loss)
    return float(risk.mean())


def ideal_loss(
    scores: np.ndarray | torch.Tensor, relevance: np.ndarray | torch.Tensor, loss: LocalLoss = "log"
) -> float:
    """The loss against the true relevance (probabilities ``γ`` or 0/1 labels ``R``)."""
    return pointwise_risk(scores, relevance, loss)


def naive_loss(
    scores: np.ndarray | torch.Tensor, clicks: np.ndarray | torch.Tensor, loss: LocalLoss = "log"
) -> float:
    """The loss with clicks as labels: unclicked relevant-but-unexposed pairs count as negatives."""
    return pointwise_risk(scores, clicks, loss)


def ips_loss(
    scores: np.ndarray | torch.Tensor,
    clicks: np.ndarray | torch.Tensor,
    propensities: np.ndarray | torch.Tensor,
    loss: LocalLoss = "log",
    clip: float = 0.0,
) -> float:
    """Rel-MF's estimator with targets ``Y / max(θ, clip)``: unbiased for ``clip = 0``."""
    y = torch.as_tensor(clicks, dtype=torch.float64)
    theta = torch.as_tensor(propensities, dtype=torch.float64)
    if theta.shape != y.shape:
        raise SiftrecError(
            f"clicks have shape {tuple(y.shape)} but propensities {tuple(theta.shape)}"
        )
    if not 0 <= clip <= 1:
        raise SiftrecError(f"clip must be in [0, 1], got {clip}")
    if not bool(((theta >= 0) & (theta <= 1)).all()):
        raise SiftrecError("propensities must lie in [0, 1]")
    theta = theta.clamp(min=clip)
    if bool(((theta <= 0) & (y != 0)).any()):
        raise SiftrecError("a clicked pair has propensity 0; pass clip > 0")
    return pointwise_risk(scores, torch.where(y != 0, y / theta, 0.0), loss)
