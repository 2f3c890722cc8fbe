"""Most-popular baseline: every user gets items ranked by training interaction count."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp

from siftrec.data.interactions import Interactions
from siftrec.models.base import Recommender
from siftrec.models.registry import register
from siftrec.search_space import SearchSpace


@dataclass
class PopularityConfig:
    """Popularity hyperparameters.

    Attributes:
        weighted: sum interaction weights instead of counting distinct users.
    """

    weighted: bool = False


@register("popularity")
class Popularity(Recommender):
    """Scores each item by its number of training users (or summed weights).

    Fold-in (``recommend_history``): a new user gets the same popularity scores; their history
    only masks the items they already have. No item representation, so no ``similar_items``.
    """

    Config = PopularityConfig
    supports_fold_in = True
    #: Nothing to tune: the baseline has no hyperparameter that depends on the data.
    search_space: ClassVar[SearchSpace] = {}

    def _fit(self, train: Interactions) -> None:
        matrix = train.matrix if self.config.weighted else train.binary
        self.item_scores_ = np.asarray(matrix.sum(axis=0)).ravel().astype(np.float32)

    def _score(self, users: np.ndarray) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (len(users), len(self.item_scores_)))

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return np.broadcast_to(self.item_scores_, (history.shape[0], len(self.item_scores_)))

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"item_scores": self.item_scores_}

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.item_scores_ = state["item_scores"]
