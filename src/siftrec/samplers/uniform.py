"""Uniform negative sampling over the whole catalog (BPR's default, Rendle et al., UAI 2009)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from siftrec.samplers.base import Sampler, register_sampler
from siftrec.search_space import SearchSpace


@register_sampler("uniform")
@dataclass
class UniformSampler(Sampler):
    """Negatives uniform over all items (minus the user's positives with ``exclude_positives``)."""

    search_space: ClassVar[SearchSpace] = {}

    def draw_items(self, users: np.ndarray) -> np.ndarray:
        return self.rng.integers(0, self.n_items, size=len(users), dtype=np.int64)

    def draw_excluding(self, users: np.ndarray) -> np.ndarray:
        """Exact complement sampling: no further rejection rounds for dense users."""
        return self.index.sample_complement(users, self.rng)
