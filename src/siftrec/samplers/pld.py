"""PLD: personal-loss-distribution resampling of positives (Zhang et al., WWW 2025; methods.md §4).

Within one user, clean positives usually have lower loss than the user's noisy ones, even where
the global loss distributions overlap. After ``warmup_epochs`` ordinary epochs, every training
example is chosen from a per-user pool of ``pool_size`` of the user's positives, drawn with
probability ``softmax(−ℓ/τ)`` of their losses against the example's negatives. When the
candidates are scored is ``losses``:

- ``"batch"`` (official ``PLDCFTrainer``): per mini-batch, with the current parameters, through
  the trainer's ``score_fn`` — an extra forward of ``pool_size + n_negatives`` candidates per
  example (for LightGCN a graph propagation per batch): ~2-3× the cost of a BPR epoch.
- ``"epoch"``: once, at the start of each resampling epoch: every training interaction's score
  (the pools then gather these, so a positive is scored once, not once per pool it is in) and
  every example's negatives, in one chunked no-grad pass (for LightGCN one propagation per
  epoch); the draw is then index work only. The scores lag the parameters by up to one epoch;
  the losses are the same function of the scores as in ``"batch"``, so per example the
  distribution is the official one with epoch-old parameters. Scoring the pass's negatives per
  user instead (one loss per interaction, fixed for the epoch) cost ~2 % Recall@20 on ML-1M.
  Where the score matrix is small next to the pairs needed (``DENSE_RATIO``; ML-1M, not
  Gowalla) the pass reads them off whole user rows (the trainer's ``score_rows_fn``: one
  ``score_all`` per block of users, a GEMM for MF) instead of gathering each pair's embeddings:
  the same scores; on ML-1M (2 CPUs) 0.65-1.5× the gathers' pass time for MF (GEMM-bound),
  ~1/7 for LightGCN.
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

#: Rows per ``score_fn`` call of the ``losses="epoch"`` pass: chunks of 2^14 keep the gathered
#: embeddings in cache (MF on ML-1M: 2^16-row chunks make the pass ~4× slower).
SNAPSHOT_CHUNK = 1 << 14
#: Cost model of the pass: score whole user rows (``score_rows_fn``) when ``n_users · n_items
#: ≤ DENSE_RATIO · pairs needed``. Measured break-even on ML-1M (2 loaded CPU cores, dim 64):
#: MF 16-37 entries per pair (~15-25 ns per dense entry vs ~250-800 ns per gathered pair),
#: LightGCN ~160 (its training-mode gathers recompute last-layer rows per chunk).
DENSE_RATIO = 32
#: Scores per ``score_rows_fn`` call of the dense pass (``DENSE_BLOCK // n_items`` users).
DENSE_BLOCK = 1 << 22


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
        temperature: softmax temperature ``τ`` (0.1).
        warmup_epochs: plain epochs before resampling starts (``begin_adv``, 5).
        loss: the candidates' loss, ``"pairwise"`` (BPR) or ``"pointwise"`` (BCE).
        losses: when the candidates are scored: ``"batch"``, per mini-batch (official code);
            ``"epoch"``, in one pass at the start of each resampling epoch (faster, see the
            module docstring).
    """

    wants_scores: ClassVar[bool] = True

    pool_size: int = 5
    temperature: float = 0.1
    warmup_epochs: int = 5
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
        #: Score of every training interaction at the start of this epoch (``"epoch"``).
        self.snapshot: torch.Tensor | None = None

    def setup(self, train: Interactions, rng: np.random.Generator) -> None:
        super().setup(train, rng)
        # Interaction ids grouped by user (a CSR over ids) to draw a user's pool.
        self.csr_ids = np.argsort(self.users, kind="stable")
        self.csr_ids_t = torch.from_numpy(self.csr_ids)
        self.degree = np.bincount(self.users, minlength=self.n_users)
        self.row_ptr = np.concatenate(([0], np.cumsum(self.degree)))
        self.active_users = np.flatnonzero(self.degree)
        # The dense pass's keys user · n_items + item of the interactions, in CSR order
        keys = self.users[self.csr_ids] * self.n_items + self.items[self.csr_ids]
        self.csr_keys = torch.from_numpy(keys)

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
        positions = torch.from_numpy(self.pool_positions(users))
        negatives = self.negatives(users)
        self.snapshot, neg_scores = self.snapshot_scores(users, negatives)
        # pools as CSR positions: one gather of the 430k-long snapshot into CSR order spares
        # a pool_size-times longer gather of interaction ids
        in_csr = self.snapshot[self.csr_ids_t]
        choice = self.choose(self.pool_logits(in_csr[positions], neg_scores)).unsqueeze(1)
        ids = self.csr_ids[positions.gather(1, choice).squeeze(1).numpy()]
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
        """``losses="epoch"``'s pass: float32 scores [|S|] of every training interaction and
        [len(users), n_negatives] of the examples' negatives (None for ``"pointwise"``).

        Scored from whole user rows (``score_rows_fn``) where ``DENSE_RATIO`` says that is
        cheaper than gathering each pair, otherwise through ``score_fn``; the same scores.
        """
        pairwise = self.loss == "pairwise"
        n_pairs = len(self.users) + (negatives.size if pairwise else 0)
        if self.score_rows_fn is not None and self.n_users * self.n_items <= DENSE_RATIO * n_pairs:
            return self._dense_snapshot(users, negatives if pairwise else None)
        pos = self._scores(torch.from_numpy(self.users), torch.from_numpy(self.items)[:, None])
        if not pairwise:
            return pos.squeeze(1), None
        return pos.squeeze(1), self._scores(torch.from_numpy(users), torch.from_numpy(negatives))

    def _scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``score_fn`` in chunks of ``SNAPSHOT_CHUNK`` rows, as float32 on the CPU."""
        return torch.cat(
            [
                self.score_fn(users[s : s + SNAPSHOT_CHUNK], items[s : s + SNAPSHOT_CHUNK])
                .float()
                .cpu()
                for s in range(0, len(users), SNAPSHOT_CHUNK)
            ]
        )

    def _dense_snapshot(
        self, users: np.ndarray, negatives: np.ndarray | None
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """``snapshot_scores`` from whole rows: blocks of ``DENSE_BLOCK // n_items`` users, each
        one ``score_rows_fn`` call (a GEMM for MF) and one gather per group of pairs; the
        positives are grouped by user already (CSR order), the negatives are sorted by key."""
        rows = max(1, DENSE_BLOCK // self.n_items)
        firsts = np.arange(0, self.n_users + rows, rows)  # block b: users [firsts[b], firsts[b+1])
        groups = [(self.csr_keys, self.row_ptr[np.minimum(firsts, self.n_users)])]
        if negatives is not None:
            keys = np.repeat(users, negatives.shape[1]) * self.n_items + negatives.reshape(-1)
            # int32 keys (where they fit) sort ~2× faster (a radix sort)
            small = self.n_users * self.n_items < 2**31
            keys = torch.from_numpy(keys.astype(np.int32) if small else keys)
            neg_keys, neg_order = torch.sort(keys, stable=True)
            neg_keys = neg_keys.long()
            bounds = torch.searchsorted(neg_keys, torch.from_numpy(firsts * self.n_items))
            groups.append((neg_keys, bounds.numpy()))
        values = [torch.empty(len(keys)) for keys, _ in groups]
        for b, first in enumerate(firsts[:-1].tolist()):
            if all(bounds[b] == bounds[b + 1] for _, bounds in groups):
                continue
            block = self.score_rows_fn(torch.arange(first, min(first + rows, self.n_users)))
            block = block.reshape(-1)
            for (keys, bounds), out in zip(groups, values, strict=True):
                lo, hi = bounds[b], bounds[b + 1]
                local = (keys[lo:hi] - first * self.n_items).to(block.device)
                out[lo:hi] = block.take(local).float().cpu()
        snapshot = torch.empty_like(values[0]).index_copy_(
            0, torch.from_numpy(self.csr_ids), values[0]
        )
        if negatives is None:
            return snapshot, None
        neg = torch.empty_like(values[1]).index_copy_(0, neg_order, values[1])
        return snapshot, neg.view(negatives.shape)

    def epoch_users(self) -> np.ndarray:
        """The users of one epoch's ``|S|`` examples (see ``epoch_mode``)."""
        n = len(self.users)
        if self.epoch_mode == "users":
            return self.active_users[self.rng.integers(0, len(self.active_users), size=n)]
        order = torch.randperm(n, generator=self.torch_generator).numpy()
        return self.users[order]

    def pools(self, users: np.ndarray) -> np.ndarray:
        """Interaction ids [len(users), pool_size] of each user's candidate pool."""
        return self.csr_ids[self.pool_positions(users)]

    def pool_positions(self, users: np.ndarray) -> np.ndarray:
        """Positions in the user-grouped (CSR) order [len(users), pool_size] of each pool.

        Without replacement (Floyd's algorithm, vectorised over users) when the user has at
        least ``pool_size`` interactions, uniform with replacement otherwise.
        """
        k = self.pool_size
        degree = self.degree[users].astype(np.int32)
        small = degree < k
        # Floyd, one contiguous row per pool slot t: draw from [0, degree − k + t], take
        # ``degree − k + t`` instead if the draw is already in the pool
        draws = self.rng.random((k, len(users)))
        slots = np.empty((k, len(users)), dtype=np.int32)
        for t in range(k):
            top = degree - (k - t)
            slots[t] = draws[t] * np.where(small, degree, top + 1)
            taken = np.zeros(len(users), dtype=bool)
            for earlier in slots[:t]:
                taken |= earlier == slots[t]
            np.copyto(slots[t], top, where=taken & ~small)
        return np.ascontiguousarray((self.row_ptr[users] + slots).T)

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
        """One column per row of ``logits`` [B, k] drawn from their softmax (Gumbel-max)."""
        uniform = torch.rand(logits.shape, generator=self.torch_generator)
        return torch.argmax(logits - uniform.clamp_(min=1e-20).log_().neg_().log_(), dim=1)
