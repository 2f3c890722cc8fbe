"""Chance level: every (user, item) pair gets a seeded pseudo-random score.

The reference row of a protocol (e.g. the MAR rated-items protocol, whose chance level is far
from 0). Scores are a stateless hash of ``(seed, user, item)``: nothing is stored, any user batch
is scored in O(batch × items), and the same seed always gives the same ranking.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from siftrec.data.interactions import Interactions
from siftrec.models.base import Recommender
from siftrec.models.registry import register
from siftrec.search_space import SearchSpace


@dataclass
class RandomConfig:
    """Random-ranking hyperparameters.

    Attributes:
        seed: picks the random ranking.
    """

    seed: int = 0


@register("random")
class RandomScores(Recommender):
    """Uniform scores in [0, 1) from a splitmix64 hash of ``(seed, user, item)``."""

    Config = RandomConfig
    #: Nothing to tune: the chance level.
    search_space: ClassVar[SearchSpace] = {}

    def _fit(self, train: Interactions) -> None:
        """Nothing to learn: the base class keeps the id maps that fix the score shape."""

    def _score(self, users: np.ndarray) -> np.ndarray:
        items = np.arange(self.n_items, dtype=np.uint64)
        rows = np.asarray(users, dtype=np.uint64)[:, None] * np.uint64(self.n_items)
        salt = np.uint64(self.config.seed % 2**32) << np.uint64(32)
        return _unit_floats(_splitmix64((rows + items) ^ salt))

    def _get_state(self) -> dict[str, np.ndarray]:
        return {}

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        """No learned state."""


def _splitmix64(x: np.ndarray) -> np.ndarray:
    """The splitmix64 finaliser (wrapping uint64 arithmetic)."""
    x = x + np.uint64(0x9E3779B97F4A7C15)
    x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return x ^ (x >> np.uint64(31))


def _unit_floats(bits: np.ndarray) -> np.ndarray:
    """The top 24 bits as float32 in [0, 1)."""
    return (bits >> np.uint64(40)).astype(np.float32) / np.float32(2**24)
