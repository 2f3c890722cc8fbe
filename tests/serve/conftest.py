"""Small fitted models saved once per session for the serving tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siftrec import Interactions
from siftrec.models import EASE, IALS, Popularity
from siftrec.models.base import Recommender

N_USERS, N_ITEMS = 40, 60


def small_log(seed: int = 0) -> Interactions:
    """A log with text user ids ``u0…`` and item ids ``i0…``; item popularity decreasing."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, N_ITEMS + 1)
    users, items = [], []
    for user in range(N_USERS):
        chosen = rng.choice(N_ITEMS, size=8, replace=False, p=weights / weights.sum())
        users += [f"u{user}"] * len(chosen)
        items += [f"i{item}" for item in chosen]
    return Interactions.from_raw(np.array(users), np.array(items))


def _save(model: Recommender, root: Path, name: str) -> Path:
    return model.fit(small_log()).save(root / name)


@pytest.fixture(scope="session")
def ials_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fitted iALS (a dot-product model with fold-in)."""
    model = IALS(factors=8, iterations=3, seed=0, device="cpu")
    return _save(model, tmp_path_factory.mktemp("models"), "ials")


@pytest.fixture(scope="session")
def ease_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fitted EASE (fold-in, not a dot product)."""
    return _save(EASE(), tmp_path_factory.mktemp("models"), "ease")


@pytest.fixture(scope="session")
def popularity_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fitted popularity model."""
    return _save(Popularity(), tmp_path_factory.mktemp("models"), "popularity")
