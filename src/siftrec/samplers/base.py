"""The sampler contract: which (user, positive, negatives) triples a torch model trains on.

A sampler sees only the training ``Interactions``. Per epoch it yields mini-batches of
interaction ids (rows of the training log), users, positive items and ``n_negatives`` negative
items per positive. Negatives for the whole epoch are drawn at once and, with
``exclude_positives``, never include one of the user's training items (vectorised rejection:
draw all, test membership, redraw only the rejected ones). See ``docs/engine.md``.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.samplers.membership import PositiveIndex
from siftrec.train.engine import (
    Batch,
    BatchSampler,
    Factors,
    FactorsFn,
    ScoreFn,
    available_samplers,
    get_sampler,
    register_sampler,
    samplers,
)

__all__ = [
    "Batch",
    "EpochMode",
    "Factors",
    "FactorsFn",
    "Sampler",
    "ScoreFn",
    "available_samplers",
    "get_sampler",
    "register_sampler",
    "samplers",
]

EpochMode = Literal["interactions", "users"]
#: Rejection rounds before the still-rejected draws take the sampler's exact fallback.
REJECTION_ROUNDS = 8


@dataclass
class Sampler(BatchSampler):
    """Base sampler. Subclasses choose the negative item distribution (``draw_items``).

    Attributes:
        n_negatives: negatives per positive.
        exclude_positives: never return one of the user's training items as a negative.
        epoch_mode: ``"interactions"``: one shuffled pass over all training interactions;
            ``"users"``: ``|S|`` draws of a uniform user (among users with a positive) and a
            uniform positive of that user (LightGCN / MyMediaLite convention).
    """

    #: Set by samplers that need ``csr_ids``/``row_ptr``/``active_users`` in every epoch mode.
    groups_by_user: ClassVar[bool] = False

    n_negatives: int = 1
    exclude_positives: bool = True
    epoch_mode: EpochMode = "interactions"

    def __post_init__(self) -> None:
        if self.n_negatives < 1:
            raise SiftrecError(f"n_negatives must be at least 1, got {self.n_negatives}")
        if self.epoch_mode not in ("interactions", "users"):
            raise SiftrecError(
                f"epoch_mode must be 'interactions' or 'users', got {self.epoch_mode!r}"
            )
        self.score_fn: ScoreFn | None = None
        self.factors_fn: FactorsFn | None = None

    # ------------------------------------------------------------------ setup
    def setup(self, train: Interactions, rng: np.random.Generator) -> None:
        """Bind the training log and the (seeded) generator; called once per fit."""
        self.rng = rng
        # epochs are shuffled with torch's randperm (faster than numpy's permutation), seeded
        # from ``rng``.
        self.torch_generator = torch.Generator().manual_seed(int(rng.integers(2**62)))
        self.n_users, self.n_items = train.n_users, train.n_items
        self.users = train.users.astype(np.int64)
        self.items = train.items.astype(np.int64)
        if self.epoch_mode == "users" or self.groups_by_user:
            # Interaction ids grouped by user (a CSR over ids) to draw a user's positives.
            self.csr_ids = np.argsort(self.users, kind="stable")
            counts = np.bincount(self.users, minlength=self.n_users)
            self.row_ptr = np.concatenate(([0], np.cumsum(counts)))
            self.active_users = np.flatnonzero(counts)
        self.index = PositiveIndex(self.users, self.items, self.n_users, self.n_items)
        self._setup_distribution(train)
        if self.exclude_positives:
            self._check_negatives_exist()

    def _setup_distribution(self, train: Interactions) -> None:
        """Prepare the negative item distribution (default: nothing to prepare)."""

    def _check_negatives_exist(self) -> None:
        """Raise if some user has no item left to sample as a negative."""
        full = np.flatnonzero(self.index.counts >= self.n_items)
        if full.size:
            raise SiftrecError(
                f"{full.size} user(s) interacted with every item, so no negative can be "
                "sampled for them; drop them or set exclude_positives=false"
            )

    # ------------------------------------------------------------------ epochs
    def epoch(self, epoch: int, batch_size: int) -> Iterator[Batch]:
        """The mini-batches of one epoch (``epoch`` is the 0-based epoch index)."""
        ids = self.epoch_ids().astype(np.int64)
        users = self.users[ids]
        items = np.empty((len(ids), 1 + self.n_negatives), dtype=np.int64)
        items[:, 0] = self.items[ids]
        items[:, 1:] = self.negatives(users)
        tensors = [torch.from_numpy(a) for a in (ids, users, items)]
        for start in range(0, len(ids), batch_size):
            yield Batch(*(t[start : start + batch_size] for t in tensors))

    def epoch_ids(self) -> np.ndarray:
        """Interaction ids of one epoch, in training order."""
        n = len(self.users)
        if self.epoch_mode == "interactions":
            return torch.randperm(n, generator=self.torch_generator, dtype=torch.int32).numpy()
        users = self.uniform_users(n)
        degree = self.row_ptr[users + 1] - self.row_ptr[users]
        offset = np.floor(self.rng.random(n) * degree).astype(np.int64)
        return self.csr_ids[self.row_ptr[users] + offset]

    def uniform_users(self, n: int) -> np.ndarray:
        """``n`` users drawn uniformly, with replacement, among those with a positive."""
        return self.active_users[self.rng.integers(0, len(self.active_users), size=n)]

    def negatives(self, users: np.ndarray) -> np.ndarray:
        """``n_negatives`` negatives per entry of ``users``, shape [len(users), n_negatives]."""
        flat_users = np.repeat(users.astype(np.int64), self.n_negatives)
        items = self.draw_items(flat_users)
        if self.exclude_positives:
            todo = np.flatnonzero(self.index.contains(flat_users, items))
            for _ in range(REJECTION_ROUNDS):
                if not todo.size:
                    break
                items[todo] = self.draw_items(flat_users[todo])
                todo = todo[self.index.contains(flat_users[todo], items[todo])]
            if todo.size:
                items[todo] = self.draw_excluding(flat_users[todo])
        return items.reshape(len(users), self.n_negatives)

    @abstractmethod
    def draw_items(self, users: np.ndarray) -> np.ndarray:
        """One candidate negative (int64 item index) per entry of ``users``, with ``self.rng``."""

    def draw_excluding(self, users: np.ndarray) -> np.ndarray:
        """Negatives for draws still rejected after ``REJECTION_ROUNDS`` (users with dense rows).

        Default: keep rejecting, only the still-rejected draws, until all are admissible.
        """
        items = self.draw_items(users)
        todo = np.flatnonzero(self.index.contains(users, items))
        while todo.size:
            items[todo] = self.draw_items(users[todo])
            todo = todo[self.index.contains(users[todo], items[todo])]
        return items
