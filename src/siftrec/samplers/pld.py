"""PLD: personal-loss-distribution resampling of positives (Zhang et al., WWW 2025).

Within one user, clean positives usually have lower loss than the user's noisy ones, even where
the global loss distributions overlap. After ``warmup_epochs`` ordinary epochs, every training
example is chosen from a per-user pool of ``pool_size`` of the user's positives, drawn with
probability ``softmax(−ℓ/τ)`` of their losses against the example's negatives. When the
candidates are scored is ``losses``:

- ``"batch"`` (official ``PLDCFTrainer``): per mini-batch, with the current parameters, through
  the trainer's ``score_fn`` — an extra forward of ``pool_size + n_negatives`` candidates per
  example (for LightGCN a graph propagation per batch), a multiple of a BPR epoch's cost.
- ``"epoch"``: once, at the start of each resampling epoch: every training interaction's score
  (the pools then gather these, so a positive is scored once, not once per pool it is in) and
  every example's negatives, in one no-grad pass (for LightGCN one propagation per epoch); the
  draw is then index work and one vectorised softmax draw. The scores lag the parameters by up
  to one epoch; the losses are the same function of the scores as in ``"batch"``, so per example
  the distribution is the official one with epoch-old parameters. Scoring the pass's negatives
  per user instead (one loss per interaction, fixed for the epoch) cost ~2 % Recall@20 on ML-1M.
  Dot-product scorers (MF, LightGCN, GMF: the trainer's ``factors_fn``) are scored pair by pair in a
  compiled loop over their factor tables (``pld_kernels.pair_scores``, ~20 ns a pair on ML-1M),
  other scorers through ``score_fn`` in chunks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.samplers import pld_kernels
from siftrec.samplers.base import Batch, register_sampler
from siftrec.samplers.uniform import UniformSampler
from siftrec.search_space import Float, Int, SearchSpace

#: Rows per ``score_fn`` call of the ``losses="epoch"`` pass for scorers without factors:
#: chunks of 2^14 keep the gathered embeddings in cache.
SNAPSHOT_CHUNK = 1 << 14


@register_sampler("pld")
@dataclass
class PLDSampler(UniformSampler):
    """Uniform negatives; positives resampled from per-user pools by their personal loss.

    Per example (official ``PLDCFTrainer``): a user, a pool ``C_u`` of ``pool_size`` of the
    user's training interactions (without replacement when the user has that many, otherwise
    with replacement, duplicates kept), ``n_negatives`` uniform negatives, and the positive
    ``i ~ P(i | u, C_u) = softmax_{C_u}(−ℓ_ui / τ)``, with ``ℓ_ui = mean_j softplus(s_uj −
    s_ui)`` (``loss="pairwise"``, BPR, as shipped) or ``softplus(−s_ui)`` (``loss="pointwise"``,
    BCE). ``τ → 0`` trains on the lowest-loss candidate, ``τ → ∞`` on a uniform positive.

    Users per epoch follow ``epoch_mode``: ``"users"`` draws ``|S|`` uniform users (the
    official sampler); ``"interactions"`` takes the user of every training interaction in a
    shuffled order (users in proportion to their activity). Warm-up epochs are the base
    sampler's plain epochs.

    Attributes:
        pool_size: candidates per example ``k`` (5).
        temperature: softmax temperature ``τ`` (0.3; the authors' 0.1 starves the model of
            all but the lowest-loss positive on small logs).
        warmup_epochs: plain epochs before resampling starts (``begin_adv``; 10, half of
            MF's default 20 epochs: a model trained for at most this many epochs never
            resamples). τ and the warm-up were chosen with MF's defaults by a
            leave-one-dataset-out study over 7 noisy logs (``docs/benchmarks.md``).
        loss: the candidates' loss, ``"pairwise"`` (BPR) or ``"pointwise"`` (BCE).
        losses: when the candidates are scored: ``"batch"``, per mini-batch (official code);
            ``"epoch"``, in one pass at the start of each resampling epoch (faster, see the
            module docstring).
    """

    wants_scores: ClassVar[bool] = True
    groups_by_user: ClassVar[bool] = True
    search_space: ClassVar[SearchSpace] = {
        "pool_size": Int(2, 10),
        "temperature": Float(0.01, 1.0, log=True),
        "warmup_epochs": Int(0, 10),
    }

    pool_size: int = 5
    temperature: float = 0.3
    warmup_epochs: int = 10
    loss: Literal["pairwise", "pointwise"] = "pairwise"
    losses: Literal["epoch", "batch"] = "epoch"

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
        if self.losses not in ("epoch", "batch"):
            raise SiftrecError(f"losses must be 'epoch' or 'batch', got {self.losses!r}")
        #: Score of every training interaction at the start of this epoch (``"epoch"``), in
        #: user-grouped order: ``snapshot[p]`` is interaction ``csr_ids[p]``'s.
        self.snapshot: torch.Tensor | None = None

    def setup(self, train: Interactions, rng: np.random.Generator) -> None:
        super().setup(train, rng)  # groups_by_user: csr_ids, row_ptr to draw a user's pool
        self.csr_users, self.csr_items = self.users[self.csr_ids], self.items[self.csr_ids]

    # ------------------------------------------------------------------ epochs
    def epoch(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        if epoch < self.warmup_epochs:
            yield from super().epoch(epoch, batch_size)
            return
        if self.score_fn is None:
            raise SiftrecError("the pld sampler needs the model's score_fn (train it with a model)")
        if self.losses == "batch":
            yield from self.batch_scored_epoch(batch_size)
            return
        users = self.epoch_users()
        negatives = self.negatives(users)
        self.snapshot, neg_scores = self.snapshot_scores(users, negatives)
        positions = self.pool_positions(users)
        pool_scores = torch.from_numpy(pld_kernels.take(self.snapshot.numpy(), positions))
        choice = self.choose(self.pool_logits(pool_scores, neg_scores))
        ids = self.csr_ids[positions[np.arange(len(users)), choice.numpy()]]
        items = np.concatenate([self.items[ids][:, None], negatives], axis=1)
        tensors = [torch.from_numpy(a) for a in (ids, users, items)]
        for start in range(0, len(ids), batch_size):
            yield Batch(*(t[start : start + batch_size] for t in tensors))

    def batch_scored_epoch(self, batch_size: int) -> Iterator[Batch]:
        """``losses="batch"``: each batch's pools and negatives scored with the current model."""
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
            scores = self.score_fn(u, cand).cpu()
            choice = self.choose(self.pool_logits(scores[:, :k], scores[:, k:])).unsqueeze(1)
            ids = pools[start : start + batch_size].gather(1, choice).squeeze(1)
            items = torch.cat([cand.gather(1, choice), cand[:, k:]], dim=1)
            yield Batch(ids, u, items)

    def snapshot_scores(
        self, users: np.ndarray, negatives: np.ndarray
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``losses="epoch"``'s pass: float32 CPU scores [|S|] of every training interaction, in
        user-grouped order (``csr_ids``), and [len(users), n_negatives] of the examples'
        negatives (None for ``"pointwise"``).

        From the model's factor tables where it has them (``factors_fn``), otherwise through
        ``score_fn``; the same scores up to float rounding.
        """
        factors = self.factors_fn() if self.factors_fn is not None else None
        score = self._scores if factors is None else self._factor_scores(*factors)
        positives = score(self.csr_users, self.csr_items[:, None]).squeeze(1)
        if self.loss == "pointwise":
            return positives, None
        return positives, score(users, negatives)

    def _scores(self, users: np.ndarray, items: np.ndarray) -> torch.Tensor:
        """Scores [B, m] of ``items`` [B, m] for ``users`` [B]: ``score_fn`` in chunks of
        ``SNAPSHOT_CHUNK`` rows, as float32 on the CPU."""
        users_t, items_t = torch.from_numpy(users), torch.from_numpy(items)
        return torch.cat(
            [
                self.score_fn(users_t[s : s + SNAPSHOT_CHUNK], items_t[s : s + SNAPSHOT_CHUNK])
                .float()
                .cpu()
                for s in range(0, len(users), SNAPSHOT_CHUNK)
            ]
        )

    @staticmethod
    def _factor_scores(
        user_factors: torch.Tensor, item_factors: torch.Tensor, item_bias: torch.Tensor | None
    ) -> Callable[[np.ndarray, np.ndarray], torch.Tensor]:
        """``_scores`` from a dot-product model's factor tables (``pld_kernels.pair_scores``)."""
        tables = [t.float().cpu().contiguous().numpy() for t in (user_factors, item_factors)]
        bias = (
            np.empty(0, np.float32)
            if item_bias is None
            else item_bias.float().cpu().contiguous().numpy()
        )

        def score(users: np.ndarray, items: np.ndarray) -> torch.Tensor:
            flat_users = np.repeat(users, items.shape[1])
            flat = pld_kernels.pair_scores(*tables, bias, flat_users, items.reshape(-1))
            return torch.from_numpy(flat).view(items.shape)

        return score

    def epoch_users(self) -> np.ndarray:
        """The users of one epoch's ``|S|`` examples (see ``epoch_mode``)."""
        n = len(self.users)
        if self.epoch_mode == "users":
            return self.uniform_users(n)
        order = torch.randperm(n, generator=self.torch_generator).numpy()
        return self.users[order]

    def pools(self, users: np.ndarray) -> np.ndarray:
        """Interaction ids [len(users), pool_size] of each user's candidate pool."""
        return self.csr_ids[self.pool_positions(users)]

    def pool_positions(self, users: np.ndarray) -> np.ndarray:
        """Positions in the user-grouped (CSR) order [len(users), pool_size] of each pool.

        Without replacement (Floyd's algorithm) when the user has at least ``pool_size``
        interactions, uniform with replacement otherwise (``pld_kernels.pool_positions``).
        """
        draws = self.rng.random((self.pool_size, len(users)))
        return pld_kernels.pool_positions(users, self.row_ptr, draws)

    def pool_logits(self, pos: torch.Tensor, neg: torch.Tensor | None) -> torch.Tensor:
        """``−ℓ/τ`` [B, k] (softmax: the pool distribution) from the pool's scores [B, k] and
        the example's negatives' scores [B, n_neg] (unused by ``"pointwise"``)."""
        pos = pos.float()
        if self.loss == "pairwise" and neg.shape[1] == 1:
            losses = F.softplus(neg.float() - pos)
        elif self.loss == "pairwise":
            losses = F.softplus(neg.float().unsqueeze(1) - pos.unsqueeze(2)).mean(dim=2)
        else:
            losses = F.softplus(-pos)
        return losses.div_(-self.temperature)

    def choose(self, logits: torch.Tensor) -> torch.Tensor:
        """One column per row of ``logits`` [B, k] drawn from their softmax (inverse CDF: the
        first column whose cumulative weight exceeds a uniform share of the row's total)."""
        cumulative = (logits - logits.amax(dim=1, keepdim=True)).exp_().cumsum_(dim=1)
        threshold = torch.rand(len(logits), 1, generator=self.torch_generator)
        threshold.mul_(cumulative[:, -1:])
        return (cumulative <= threshold).sum(dim=1).clamp_(max=logits.shape[1] - 1)
