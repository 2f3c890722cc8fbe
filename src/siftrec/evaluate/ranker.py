"""What evaluation needs from a model: the ``Ranker`` protocol.

The evaluation layer sits below the models: a model's fit may score its validation part with
these protocols, so they must not import the model classes. Any object with these members is
evaluated; every ``siftrec.models.Recommender`` is one.
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import numpy as np
import scipy.sparse as sp

from siftrec.data.ids import IdMap


@runtime_checkable
class Ranker(Protocol):
    """A fitted model that ranks items for known users (and, optionally, for new histories)."""

    name: str
    supports_fold_in: bool
    user_map_: IdMap | None
    item_map_: IdMap | None
    seen_: sp.csr_matrix | None

    @property
    def is_fitted(self) -> bool: ...

    @property
    def n_items(self) -> int: ...

    def score(self, users: Any) -> Any: ...

    def recommend(
        self, users: Any, k: int = 10, **options: Any
    ) -> tuple[np.ndarray, np.ndarray]: ...

    def recommend_history(self, history: Any, k: int = 10, **options: Any) -> Any: ...
