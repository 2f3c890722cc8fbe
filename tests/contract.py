"""The contract every siftrec model passes: inherit ``ModelContract`` and define ``make_model``.

Covers batch vs single recommend, seen-item exclusion, extra exclusion, save/load round trip,
determinism under a fixed seed, bad user indices and k, and unfitted use.
"""

from __future__ import annotations

import numpy as np
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.models import Recommender, load_model


def contract_data(seed: int = 0, n_users: int = 60, n_items: int = 40) -> Interactions:
    """A small random log with string user ids and integer item ids; every user has items."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        chosen = rng.choice(n_items, size=rng.integers(3, 12), replace=False)
        users += [f"u{u}"] * len(chosen)
        items += list(chosen + 100)
    return Interactions.from_raw(np.array(users), np.array(items))


class ModelContract:
    """Mixin for a model's test class."""

    def make_model(self) -> Recommender:  # pragma: no cover - overridden
        raise NotImplementedError

    @pytest.fixture(scope="class")
    @classmethod
    def data(cls) -> Interactions:
        return contract_data()

    @pytest.fixture(scope="class")
    @classmethod
    def fitted(cls, data: Interactions) -> Recommender:
        return cls().make_model().fit(data)

    def test_score_shape_and_dtype(self, fitted: Recommender, data: Interactions) -> None:
        scores = fitted.score(np.arange(5))
        assert scores.shape == (5, data.n_items)
        assert scores.dtype == np.float32
        assert np.all(np.isfinite(scores))

    def test_recommend_excludes_seen(self, fitted: Recommender, data: Interactions) -> None:
        users = np.arange(data.n_users)
        items, _ = fitted.recommend(users, k=5)
        seen = data.binary
        for u in users:
            assert not set(items[u][items[u] >= 0]) & set(seen[u].indices)

    def test_recommend_extra_exclusion(self, fitted: Recommender, data: Interactions) -> None:
        first, _ = fitted.recommend([0], k=3)
        exclude = data.binary.copy().tolil()
        exclude[:, :] = 0
        exclude[0, first[0, 0]] = 1
        items, _ = fitted.recommend([0], k=3, exclude=exclude.tocsr())
        assert first[0, 0] not in items[0]

    def test_recommend_leaves_scores_untouched(self, fitted: Recommender) -> None:
        before = fitted.score(np.arange(6))
        fitted.recommend(np.arange(6), k=3, exclude_items=np.array([0, 1]))
        np.testing.assert_array_equal(fitted.score(np.arange(6)), before)

    def test_batch_equals_single(self, fitted: Recommender) -> None:
        batch, batch_scores = fitted.recommend(np.arange(10), k=7, batch_size=3)
        for u in range(10):
            single, single_scores = fitted.recommend([u], k=7)
            np.testing.assert_array_equal(batch[u], single[0])
            np.testing.assert_allclose(batch_scores[u], single_scores[0], rtol=1e-5, atol=1e-6)

    def test_scores_sorted(self, fitted: Recommender) -> None:
        _, scores = fitted.recommend(np.arange(10), k=10)
        assert np.all(np.diff(scores, axis=1) <= 1e-6)

    def test_save_load_round_trip(self, fitted: Recommender, tmp_path) -> None:
        fitted.save(tmp_path / "m")
        loaded = load_model(tmp_path / "m")
        assert type(loaded) is type(fitted)
        assert loaded.get_params() == fitted.get_params()
        np.testing.assert_allclose(
            loaded.score(np.arange(8)), fitted.score(np.arange(8)), rtol=1e-5, atol=1e-6
        )
        np.testing.assert_array_equal(loaded.user_map_.ids, fitted.user_map_.ids)

    def test_deterministic(self, data: Interactions) -> None:
        a = self.make_model().fit(data).score(np.arange(6))
        b = self.make_model().fit(data).score(np.arange(6))
        np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)

    def test_bad_users_and_k(self, fitted: Recommender, data: Interactions) -> None:
        with pytest.raises(SiftrecError, match="out of range"):
            fitted.recommend([data.n_users], k=3)
        with pytest.raises(SiftrecError, match="integers"):
            fitted.score(np.array([0.5]))
        with pytest.raises(SiftrecError, match="larger than the catalog"):
            fitted.recommend([0], k=data.n_items + 1)

    def test_unfitted(self) -> None:
        with pytest.raises(SiftrecError, match="not fitted"):
            self.make_model().score([0])

    def test_empty_fit(self, data: Interactions) -> None:
        with pytest.raises(SiftrecError, match="empty"):
            self.make_model().fit(data.subset(np.zeros(len(data), dtype=bool)))
