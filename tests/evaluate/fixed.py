"""A test-only model with a fixed score table, and logs on its id maps (IPS and MAR tests)."""

from collections.abc import Mapping

import numpy as np

from siftrec import Interactions
from siftrec.data.ids import IdMap
from siftrec.models import Recommender

USERS, ITEMS = IdMap(np.arange(4)), IdMap(np.arange(6))
SCORES = np.array(
    [
        [6, 5, 4, 3, 2, 1],
        [1, 2, 3, 4, 5, 6],
        [3, 3, 3, 3, 3, 3],
        [0, 1, 0, 1, 0, 1],
    ],
    dtype=np.float32,
)


class FixedScores(Recommender):
    """Test-only model with a fixed score table."""

    name = "fixed"

    def _fit(self, train: Interactions) -> None:
        self.table = SCORES.copy()

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.table[users].copy()

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"table": self.table}

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.table = state["table"]


def log(users, items, **columns) -> Interactions:
    return Interactions(
        np.array(users), np.array(items), np.ones(len(users)), USERS, ITEMS, columns
    )


TRAIN = log([0, 1, 2, 2, 2, 3, 3, 3], [5, 0, 0, 2, 3, 5, 4, 1])  # every item trained
