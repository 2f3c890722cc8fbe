"""Popularity-biased negative sampling: ``p(j) ∝ count_j^beta`` (word2vec-style ``beta=0.75``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.samplers.base import Sampler, register_sampler
from siftrec.search_space import Float, SearchSpace


@register_sampler("popularity")
@dataclass
class PopularitySampler(Sampler):
    """Negatives drawn with probability ∝ (training interactions of the item)^``beta``.

    Items without training interactions have zero mass; ``beta = 0`` is uniform over the
    items seen in training. Popular negatives are harder, so the model learns to demote
    popularity rather than the easy distinction between seen and never-seen items.

    Attributes:
        beta: exponent of the item counts (0: uniform over the items seen in training).
    """

    search_space: ClassVar[SearchSpace] = {"beta": Float(0.0, 1.0)}

    beta: float = 1.0

    def _setup_distribution(self, train: Interactions) -> None:
        counts = np.bincount(self.items, minlength=self.n_items).astype(np.float64)
        mass = np.zeros_like(counts)
        seen = counts > 0
        mass[seen] = counts[seen] ** self.beta
        self.probabilities = mass / mass.sum()
        self._cdf = np.cumsum(mass)

    def _check_negatives_exist(self) -> None:
        key_users = self.index.keys // self.n_items
        key_items = self.index.keys % self.n_items
        covered = np.bincount(
            key_users, weights=self.probabilities[key_items], minlength=self.n_users
        )
        full = np.flatnonzero(covered >= 1.0 - 1e-9)
        if full.size:
            raise SiftrecError(
                f"{full.size} user(s) interacted with every item that has sampling mass, so no "
                "negative can be sampled for them; drop them or set exclude_positives=false"
            )

    def draw_items(self, users: np.ndarray) -> np.ndarray:
        u = self.rng.random(len(users)) * self._cdf[-1]
        return np.minimum(np.searchsorted(self._cdf, u, side="right"), self.n_items - 1)
