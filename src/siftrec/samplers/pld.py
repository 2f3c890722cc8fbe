"""PLD: personal-loss-distribution resampling of positives (Zhang et al., WWW 2025; methods.md §4).

Within one user, clean positives usually have lower loss than the user's noisy ones, even where
the global loss distributions overlap. After ``warmup_epochs`` ordinary epochs, every training
example is chosen from a per-user pool of ``pool_size`` of the user's positives, drawn with
probability ``softmax(−ℓ/τ)`` of their current losses against the negatives shared by the
pool (scored without gradient through the trainer's ``score_fn``, batch by batch, so the losses
come from the current parameters).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.samplers.base import Batch, register_sampler
from siftrec.samplers.uniform import UniformSampler


@register_sampler("pld")
@dataclass
class PLDSampler(UniformSampler):
    """Uniform negatives; positives resampled from per-user pools by their personal loss.

    Per example (official ``PLDCFTrainer``): a user, a pool ``C_u`` of ``pool_size`` of the
    user's training interactions (without replacement when the user has that many, otherwise
    with replacement, duplicates kept), ``n_negatives`` uniform negatives shared by the pool,
    and the positive ``i ~ P(i | u, C_u) = softmax_{C_u}(−ℓ_ui / τ)``, with
    ``ℓ_ui = mean_j softplus(s_uj − s_ui)`` (``loss="pairwise"``, BPR, as shipped) or
    ``softplus(−s_ui)`` (``loss="pointwise"``, BCE). ``τ → 0`` trains on the lowest-loss
    candidate, ``τ → ∞`` on a uniform positive.

    Users per epoch follow ``epoch_mode``: ``"users"`` draws ``|S|`` uniform users (the
    official sampler); ``"interactions"`` takes the user of every training interaction in a
    shuffled order (users in proportion to their activity). Warm-up epochs are the base
    sampler's plain epochs.

    Attributes:
        pool_size: candidates per example ``k`` (5).
        temperature: softmax temperature ``τ`` (0.1).
        warmup_epochs: plain epochs before resampling starts (``begin_adv``, 5).
        loss: the candidates' loss, ``"pairwise"`` (BPR) or ``"pointwise"`` (BCE).
    """

    wants_scores: ClassVar[bool] = True

    pool_size: int = 5
    temperature: float = 0.1
    warmup_epochs: int = 5
    loss: Literal["pairwise", "pointwise"] = "pairwise"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.pool_size < 1:
            raise SiftrecError(f"pool_size must be at least 1, got {self.pool_size}")
        if not self.temperature > 0.0:
            raise SiftrecError(f"temperature must be positive, got {self.temperature}")
        if self.warmup_epochs < 0:
            raise SiftrecError(f"warmup_epochs must be non-negative, got {self.warmup_epochs}")
        if self.loss not in ("pairwise", "pointwise"):
            raise SiftrecError(f"loss must be 'pairwise' or 'pointwise', got {self.loss!r}")

    def setup(self, train: Interactions, rng: np.random.Generator) -> None:
        super().setup(train, rng)
        # Interaction ids grouped by user (a CSR over ids) to draw a user's pool.
        self.csr_ids = np.argsort(self.users, kind="stable")
        self.degree = np.bincount(self.users, minlength=self.n_users)
        self.row_ptr = np.concatenate(([0], np.cumsum(self.degree)))
        self.active_users = np.flatnonzero(self.degree)

    # ------------------------------------------------------------------ epochs
    def epoch(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        if epoch < self.warmup_epochs:
            yield from super().epoch(epoch, batch_size)
            return
        if self.score_fn is None:
            raise SiftrecError("the pld sampler needs the model's score_fn (train it with a model)")
        users = self.epoch_users()
        pools = torch.from_numpy(self.pools(users))
        k = self.pool_size
        # [pool items | negatives] of the whole epoch; batches are views of it
        candidates = torch.from_numpy(
            np.concatenate([self.items[pools.numpy()], self.negatives(users)], axis=1)
        )
        users_t = torch.from_numpy(users)
        for start in range(0, len(users), batch_size):
            u, cand = users_t[start : start + batch_size], candidates[start : start + batch_size]
            logits = self.pool_logits(self.score_fn(u, cand)).cpu()
            choice = self.choose(logits).unsqueeze(1)
            ids = pools[start : start + batch_size].gather(1, choice).squeeze(1)
            items = torch.cat([cand.gather(1, choice), cand[:, k:]], dim=1)
            yield Batch(ids, u, items)

    def epoch_users(self) -> np.ndarray:
        """The users of one epoch's ``|S|`` examples (see ``epoch_mode``)."""
        n = len(self.users)
        if self.epoch_mode == "users":
            return self.active_users[self.rng.integers(0, len(self.active_users), size=n)]
        order = torch.randperm(n, generator=self.torch_generator).numpy()
        return self.users[order]

    def pools(self, users: np.ndarray) -> np.ndarray:
        """Interaction ids [len(users), pool_size] of each user's candidate pool.

        Without replacement (Floyd's algorithm, vectorised over users) when the user has at
        least ``pool_size`` interactions, uniform with replacement otherwise.
        """
        k = self.pool_size
        degree = self.degree[users]
        # Floyd: for t < k draw from [0, degree − k + t], keep ``degree − k + t`` if taken
        top = degree[:, None] - k + np.arange(k)
        offsets = (self.rng.random((len(users), k)) * (top + 1)).astype(np.int64)
        small = degree < k
        offsets[small] = (self.rng.random((small.sum(), k)) * degree[small, None]).astype(np.int64)
        big = np.flatnonzero(~small)
        chosen, top = offsets[big], top[big]
        for t in range(1, k):
            taken = (chosen[:, :t] == chosen[:, t : t + 1]).any(axis=1)
            chosen[taken, t] = top[taken, t]
        offsets[big] = chosen
        return self.csr_ids[self.row_ptr[users][:, None] + offsets]

    def pool_logits(self, scores: torch.Tensor) -> torch.Tensor:
        """``−ℓ/τ`` [B, k] (softmax: the pool distribution) from the scores [B, k + n_neg]."""
        k = self.pool_size
        pos, neg = scores[:, :k].float(), scores[:, k:].float()
        if self.loss == "pairwise":
            losses = F.softplus(neg.unsqueeze(1) - pos.unsqueeze(2)).mean(dim=2)
        else:
            losses = F.softplus(-pos)
        return losses.div_(-self.temperature)

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        """One column per row of ``logits`` [B, k] drawn from their softmax (Gumbel-max)."""
        uniform = torch.rand(logits.shape, generator=self.torch_generator)
        return torch.argmax(logits - uniform.clamp_(min=1e-20).log_().neg_().log_(), dim=1)
