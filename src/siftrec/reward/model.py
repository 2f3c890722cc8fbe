"""Engagement (reward) models learned from logged implicit feedback over frozen embeddings.

``r(x, y) = MLP([c; v; c ⊙ v])`` of a context vector ``c`` and a candidate vector ``v`` (frozen
text embeddings). Training pairs every clicked row with an unclicked row of the same context
(any unclicked row when its context has none), redrawn each epoch, and minimises one of the
engine's sampled objectives on their scores: ``bce`` (pointwise: clicked 1, unclicked 0),
``bpr`` (pairwise Bradley–Terry: ``P(y ≻ y') = σ(r(x, y) − r(x, y'))``), or the denoising
``tce`` / ``rce`` for noisy clicks. With ``ips`` the clicked rows are weighted by
``1 / max(θ, clip)`` (``θ``: the logged examination or exposure propensity, e.g. of the position),
rescaled to mean 1, the position-bias correction of Rel-MF / Joachims et al.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from siftrec.bias.propensity import check_propensities
from siftrec.device import select_device
from siftrec.errors import SiftrecError
from siftrec.train.engine import Batch, SampledObjective, get_objective

#: Objectives a reward model trains with (sampled, without fitted state of their own).
REWARD_OBJECTIVES = ("bce", "bpr", "tce", "rce")


@dataclass
class RewardConfig:
    """Hyperparameters of :class:`RewardModel`.

    Attributes:
        objective: ``bce`` (pointwise), ``bpr`` (pairwise Bradley–Terry), ``tce`` or ``rce``
            (denoising, pointwise), optionally with parameters: ``"tce(drop_rate=0.1)"``.
        hidden: hidden units of the MLP.
        epochs: passes over the clicked rows.
        batch_size: clicked rows per step.
        lr: Adam learning rate.
        l2: Adam weight decay.
        ips: weight clicks by the inverse of their propensity.
        clip: propensity floor of the IPS weights.
        seed: seeds initialisation and pairing.
    """

    objective: str = "bce"
    hidden: int = 64
    epochs: int = 30
    batch_size: int = 512
    lr: float = 3e-3
    l2: float = 1e-5
    ips: bool = False
    clip: float = 0.05
    seed: int = 0

    def __post_init__(self) -> None:
        name = self.objective.partition("(")[0]
        if name not in REWARD_OBJECTIVES:
            raise SiftrecError(
                f"reward objective must be one of {', '.join(REWARD_OBJECTIVES)}, "
                f"got {self.objective!r}"
            )
        for field in ("hidden", "epochs", "batch_size"):
            if getattr(self, field) < 1:
                raise SiftrecError(f"{field} must be at least 1, got {getattr(self, field)}")
        if self.lr <= 0 or self.l2 < 0 or not 0 < self.clip <= 1:
            raise SiftrecError("lr must be positive, l2 non-negative and clip in (0, 1]")


class RewardNet(nn.Module):
    """``MLP([c; v; c ⊙ v]) → scalar`` (one hidden ReLU layer)."""

    def __init__(self, dim: int, hidden: int, generator: torch.Generator) -> None:
        super().__init__()
        self.dim = dim
        self.layers = nn.Sequential(nn.Linear(3 * dim, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        with torch.no_grad():
            for layer in (self.layers[0], self.layers[2]):
                nn.init.xavier_uniform_(layer.weight, generator=generator)
                layer.bias.zero_()

    def forward(self, contexts: torch.Tensor, candidates: torch.Tensor) -> torch.Tensor:
        joined = torch.cat([contexts, candidates, contexts * candidates], dim=-1)
        return self.layers(joined).squeeze(-1)


class RewardModel:
    """A pointwise or pairwise engagement model; ``net_`` after :meth:`fit`."""

    def __init__(self, config: RewardConfig | None = None, device: str = "auto", **params):
        self.config = dataclasses.replace(config or RewardConfig(), **params)
        self.device = select_device(device)
        self.net_: RewardNet | None = None
        self.history_: list[float] = []

    def fit(
        self,
        contexts: np.ndarray,
        candidates: np.ndarray,
        clicks: np.ndarray,
        groups: np.ndarray,
        propensities: np.ndarray | None = None,
    ) -> RewardModel:
        """Learn from logged rows: context vectors [n, t], candidate vectors [n, t], clicks [n]
        (0/1), the context id of each row ``groups`` [n] (pairs are drawn within a context)
        and, for ``ips``, the rows' propensities [n]."""
        cfg = self.config
        contexts, candidates = _vectors(contexts, candidates)
        clicks = np.asarray(clicks)
        groups = np.asarray(groups)
        if not (len(clicks) == len(groups) == len(contexts)):
            raise SiftrecError("contexts, candidates, clicks and groups must have equal length")
        if not np.isin(clicks, (0, 1)).all():
            raise SiftrecError("clicks must be 0 or 1")
        positive, negative = np.flatnonzero(clicks == 1), np.flatnonzero(clicks == 0)
        if not len(positive) or not len(negative):
            raise SiftrecError("the log needs clicked and unclicked rows to learn a reward")
        weights = None
        if cfg.ips:
            if propensities is None:
                raise SiftrecError("ips needs the rows' propensities")
            theta = np.maximum(check_propensities(propensities)[positive], cfg.clip)
            weights = torch.as_tensor(1.0 / theta / np.mean(1.0 / theta), dtype=torch.float32)
        objective = get_objective(cfg.objective)
        if not isinstance(objective, SampledObjective):
            raise SiftrecError(f"reward objective {cfg.objective!r} is not a sampled objective")
        generator = torch.Generator().manual_seed(cfg.seed)
        self.net_ = RewardNet(contexts.shape[1], cfg.hidden, generator).to(self.device)
        optimizer = torch.optim.Adam(self.net_.parameters(), lr=cfg.lr, weight_decay=cfg.l2)
        rng = np.random.default_rng(cfg.seed)
        ctx = torch.as_tensor(contexts, device=self.device)
        cand = torch.as_tensor(candidates, device=self.device)
        neg_groups = groups[negative]
        order = np.argsort(neg_groups, kind="stable")
        sorted_groups = neg_groups[order]
        start = np.searchsorted(sorted_groups, groups[positive], side="left")
        count = np.searchsorted(sorted_groups, groups[positive], side="right") - start
        self.history_, step = [], 0
        self.net_.train()
        for epoch in range(cfg.epochs):
            draw = rng.random(len(positive))
            within = negative[
                order[np.minimum(start + (draw * count).astype(np.int64), len(order) - 1)]
            ]
            anywhere = negative[rng.integers(0, len(negative), len(positive))]
            paired = np.where(count > 0, within, anywhere)
            losses = []
            for chunk in np.array_split(
                rng.permutation(len(positive)), max(1, len(positive) // cfg.batch_size)
            ):
                pos = torch.as_tensor(positive[chunk], device=self.device)
                neg = torch.as_tensor(paired[chunk], device=self.device)
                rows = torch.stack([pos, neg], dim=1)
                scores = self.net_(ctx[rows], cand[rows])
                batch = Batch(
                    None,
                    torch.as_tensor(chunk),
                    rows,
                    scores,
                    weights=None if weights is None else weights[chunk].to(self.device),
                    step=step,
                    epoch=epoch,
                )
                loss = objective(batch)
                optimizer.zero_grad(set_to_none=True)
                loss.backward()
                optimizer.step()
                losses.append(loss.item())
                step += 1
            self.history_.append(float(np.mean(losses)))
        self.net_.eval()
        return self

    def score(self, contexts: np.ndarray, candidates: np.ndarray) -> np.ndarray:
        """Rewards (logits) of the rows (context vector, candidate vector)."""
        if self.net_ is None:
            raise SiftrecError("the reward model is not fitted; call fit first")
        contexts, candidates = _vectors(contexts, candidates)
        if contexts.shape[1] != self.net_.dim:
            raise SiftrecError(
                f"vectors have dimension {contexts.shape[1]}; the model was fitted on "
                f"{self.net_.dim}"
            )
        out = np.empty(len(contexts), dtype=np.float32)
        with torch.no_grad():
            for begin in range(0, len(contexts), 65536):
                part = slice(begin, begin + 65536)
                c = torch.as_tensor(contexts[part], device=self.device)
                v = torch.as_tensor(candidates[part], device=self.device)
                out[part] = self.net_(c, v).cpu().numpy()
        return out

    def state(self) -> dict[str, np.ndarray]:
        """The network weights as numpy arrays."""
        if self.net_ is None:
            raise SiftrecError("the reward model is not fitted; call fit first")
        return {k: v.detach().cpu().numpy() for k, v in self.net_.state_dict().items()}

    @classmethod
    def from_state(
        cls, config: RewardConfig, state: dict[str, np.ndarray], device: str = "auto"
    ) -> RewardModel:
        """A fitted model from :meth:`state`."""
        model = cls(config, device=device)
        dim = state["layers.0.weight"].shape[1] // 3
        model.net_ = RewardNet(dim, config.hidden, torch.Generator()).to(model.device)
        model.net_.load_state_dict({k: torch.from_numpy(np.asarray(v)) for k, v in state.items()})
        model.net_.eval()
        return model


def _vectors(contexts: np.ndarray, candidates: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    contexts = np.ascontiguousarray(contexts, dtype=np.float32)
    candidates = np.ascontiguousarray(candidates, dtype=np.float32)
    if contexts.ndim != 2 or contexts.shape != candidates.shape:
        raise SiftrecError(
            f"context and candidate vectors must be equal [rows, dim] matrices, got "
            f"{contexts.shape} and {candidates.shape}"
        )
    if not (np.isfinite(contexts).all() and np.isfinite(candidates).all()):
        raise SiftrecError("context or candidate vectors hold non-finite values")
    return contexts, candidates
