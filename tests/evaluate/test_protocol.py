import math
from collections.abc import Mapping

import numpy as np
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.data.ids import IdMap
from siftrec.evaluate import evaluate, parse_metrics, ranking_metrics
from siftrec.models import Popularity, RandomScores, Recommender
from siftrec.testing import contract_log

D2 = 1 / math.log2(3)  # NDCG discount of rank 2

USERS = IdMap(np.array(["a", "b", "c"]))
ITEMS = IdMap(np.arange(100, 106))  # index i ↔ raw id 100 + i; item 105 (index 5) never trained

# Fixed scores (users a, b, c × items 0..5); user c has all scores tied.
SCORES = np.array(
    [
        [6, 5, 4, 3, 2, 1],
        [1, 2, 3, 4, 5, 6],
        [3, 3, 3, 3, 3, 3],
    ],
    dtype=np.float32,
)


def log(pairs: list[tuple[str, int]], user_map=USERS, item_map=ITEMS) -> Interactions:
    users, items = zip(*pairs, strict=True)
    return Interactions.from_raw(
        np.array(users), np.array(items), user_map=user_map, item_map=item_map
    )


TRAIN = log([("a", 100), ("a", 101), ("b", 102), ("b", 104), ("c", 100), ("c", 103)])
TEST = log([("a", 102), ("a", 104), ("b", 100), ("b", 105), ("c", 101)])


class FixedScores(Recommender):
    """Test-only model: a fixed score table; fold-in scores are ``history @ item_item``."""

    name = "fixed"
    supports_fold_in = True
    item_item = np.zeros((6, 6), dtype=np.float32)

    def _fit(self, train: Interactions) -> None:
        self.table = SCORES[: train.n_users, : train.n_items]

    def _score(self, users: np.ndarray) -> np.ndarray:
        return self.table[users]

    def _score_history(self, history) -> np.ndarray:
        return np.asarray(history @ self.item_item, dtype=np.float32)

    def _get_state(self) -> dict[str, np.ndarray]:
        return {"table": self.table}

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        self.table = state["table"]


@pytest.fixture(scope="module")
def model() -> FixedScores:
    return FixedScores().fit(TRAIN)


def test_train_items_masked_and_cold_items_dropped(model: FixedScores) -> None:
    result = evaluate(model, TEST, "recall@2,ndcg@2,coverage@2")
    # Candidates exclude each user's train items and cold item 5 (no training interaction).
    # a: train {0,1} → top-2 [2, 3]; T = {2, 4}: hit at rank 1 → recall 1/2, ndcg 1/(1 + D2)
    # b: train {2, 4} → top-2 [3, 1]; T = {0} (5 dropped as cold) → 0, 0
    # c: train {0,3}, all tied → lower index first: [1, 2]; T = {1} → 1, 1
    np.testing.assert_allclose(result.per_user["recall@2"], [1 / 2, 0, 1])
    np.testing.assert_allclose(result.per_user["ndcg@2"], [1 / (1 + D2), 0, 1])
    assert result.metrics["recall@2"] == pytest.approx(1 / 2)
    assert result.metrics["ndcg@2"] == pytest.approx((1 / (1 + D2) + 1) / 3)
    # top-2 union {2, 3, 1} over the 5 candidate items
    assert result.metrics["coverage@2"] == pytest.approx(3 / 5)
    assert "coverage@2" not in result.per_user
    assert (result.n_users, result.n_skipped_users, result.n_dropped_interactions) == (3, 0, 1)
    np.testing.assert_array_equal(result.users, [0, 1, 2])
    assert result.seconds > 0


def test_keep_cold_items(model: FixedScores) -> None:
    result = evaluate(model, TEST, "recall@2", drop_cold_items=False)
    # b now ranks cold item 5 first: top-2 [5, 3]; T = {0, 5} → recall 1/2; a and c unchanged.
    np.testing.assert_allclose(result.per_user["recall@2"], [1 / 2, 1 / 2, 1])
    assert result.n_dropped_interactions == 0


def test_exclude_seen_off(model: FixedScores) -> None:
    result = evaluate(model, TEST, "recall@2", exclude_seen=False)
    # a: top-2 [0, 1] (its train items) → 0; b: [4, 3] → 0; c: tied → [0, 1]; T = {1} → 1
    np.testing.assert_allclose(result.per_user["recall@2"], [0, 0, 1])


def test_validation_items_excluded(model: FixedScores) -> None:
    valid = log([("a", 103)])
    result = evaluate(model, TEST, "recall@2,ndcg@2", exclude=valid)
    # a: 0, 1 (train) and 3 (validation) masked → top-2 [2, 4] = T → recall 1, ndcg 1
    assert result.per_user["recall@2"][0] == 1.0
    assert result.per_user["ndcg@2"][0] == pytest.approx(1.0)
    # A sequence of logs is merged; masking c's test item 1 turns c's hit into a miss.
    result = evaluate(model, TEST, "recall@2", exclude=[valid, log([("c", 101)])])
    np.testing.assert_allclose(result.per_user["recall@2"], [1, 0, 0])


def test_foreign_id_maps_unknown_users_and_items(model: FixedScores) -> None:
    # A test log read on its own: different index order, an unknown user z, an unknown item 999.
    test = Interactions.from_raw(
        np.array(["z", "z", "a", "a", "b", "b", "c"]),
        np.array([100, 101, 102, 999, 100, 105, 105]),
    )
    result = evaluate(model, test, "recall@2")
    # dropped: z's 2 rows (unknown user), a:999 (unknown item), b:105 and c:105 (cold item)
    # c's held-out set is then empty → c and z are skipped; a: T={2} hit; b: T={0} miss
    assert result.n_dropped_interactions == 5
    assert (result.n_users, result.n_skipped_users) == (2, 2)
    np.testing.assert_array_equal(model.user_map_.to_raw(result.users), ["a", "b"])
    np.testing.assert_allclose(result.per_user["recall@2"], [1, 0])


def test_to_json_and_per_user_frame(model: FixedScores) -> None:
    result = evaluate(model, TEST, ["ndcg@2", "recall@2"])
    payload = result.to_json()
    assert list(payload) == ["ndcg@2", "recall@2", "n_users"]
    assert payload["n_users"] == 3
    assert all(isinstance(v, float) for k, v in payload.items() if k != "n_users")
    frame = result.per_user_frame(model.user_map_)
    assert frame.columns == ["user", "ndcg@2", "recall@2"]
    assert frame["user"].to_list() == ["a", "b", "c"]
    assert frame["recall@2"].to_list() == pytest.approx([1 / 2, 0, 1])
    with pytest.raises(SiftrecError, match="user map has 1 ids"):
        result.per_user_frame(IdMap(np.array(["a"])))


def test_fold_in() -> None:
    model = FixedScores().fit(TRAIN)
    item_item = np.zeros((6, 6), dtype=np.float32)
    item_item[np.arange(6), (np.arange(6) + 1) % 6] = 2.0  # item i recommends item i + 1
    model.item_item = item_item
    fold_in = Interactions.from_raw(
        np.array(["x", "y", "y", "y"]), np.array([100, 102, 103, 999])
    )  # 999 is unknown to the model and dropped from y's history
    test = Interactions.from_raw(
        np.array(["w", "x", "y", "y"]), np.array([100, 101, 100, 105])
    )  # w has no fold-in interactions; 105 is cold
    result = evaluate(model, test, "recall@2,ndcg@2", fold_in=fold_in)
    # x: history {0} → item 1 scores 2, the rest 0 (ties → lower index) → top-2 [1, 2];
    #    T = {1} → recall 1, ndcg 1
    # y: history {2, 3} (masked) → item 3 and 4 score 2, 3 masked → top-2 [4, 0];
    #    T = {0} (5 cold) → recall 1, ndcg D2
    np.testing.assert_allclose(result.per_user["recall@2"], [1, 1])
    np.testing.assert_allclose(result.per_user["ndcg@2"], [1, D2])
    assert (result.n_users, result.n_skipped_users, result.n_dropped_interactions) == (2, 1, 2)
    frame = result.per_user_frame(fold_in.user_map)
    assert frame["user"].to_list() == ["x", "y"]


def test_fold_in_errors(model: FixedScores) -> None:
    chance = RandomScores().fit(TRAIN)  # a model without fold-in
    with pytest.raises(SiftrecError, match="cannot score users unseen"):
        evaluate(chance, TEST, fold_in=TEST)
    with pytest.raises(SiftrecError, match="exclude cannot be combined with fold_in"):
        evaluate(model, TEST, fold_in=TEST, exclude=TEST)


def test_popularity_matches_direct_computation() -> None:
    data = contract_log(seed=3, n_users=80, n_items=50)
    rng = np.random.default_rng(0)
    is_test = rng.random(len(data)) < 0.3
    train, test = data.subset(~is_test), data.subset(is_test)
    model = Popularity().fit(train)
    metrics = "recall@5,ndcg@10,map@10,coverage@5"
    result = evaluate(model, test, metrics, batch_size=7)

    # Direct: popularity scores, train items and never-trained items to -inf, stable sort.
    scores = np.tile(model.score([0])[0].astype(np.float64), (data.n_users, 1))
    scores[train.binary.toarray() > 0] = -np.inf
    cold = train.item_counts() == 0
    scores[:, cold] = -np.inf
    ranked = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    ranked[np.take_along_axis(scores, ranked, axis=1) == -np.inf] = -1
    truth = test.subset(~cold[test.items]).binary
    users = np.flatnonzero(np.diff(truth.indptr))
    expected = ranking_metrics(
        ranked[users], truth[users], parse_metrics(metrics), n_items=int((~cold).sum())
    )
    for key, values in expected.items():
        assert result.metrics[key] == pytest.approx(float(np.mean(values)), rel=1e-12), key
    np.testing.assert_array_equal(result.users, users)
    assert result.n_dropped_interactions == int(cold[test.items].sum())
    assert result.n_skipped_users == len(np.unique(test.users)) - len(users)
    # Batching and the progress bar do not change anything.
    again = evaluate(model, test, metrics, batch_size=1000, progress=True)
    assert again.metrics == result.metrics


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"metrics": "recall@0"}, "positive integer"),
        ({"metrics": "auc@10"}, "unknown metric 'auc'"),
        ({"metrics": "recall@7"}, "larger than the catalog"),
        ({"batch_size": 0}, "batch_size must be a positive integer"),
        ({"exclude": [TEST, "x"]}, "exclude must be Interactions"),
    ],
)
def test_bad_arguments(model: FixedScores, kwargs: dict, message: str) -> None:
    with pytest.raises(SiftrecError, match=message):
        evaluate(model, TEST, **kwargs)


def test_bad_inputs(model: FixedScores) -> None:
    with pytest.raises(SiftrecError, match="test set is empty"):
        evaluate(model, TEST.subset(np.zeros(len(TEST), dtype=bool)))
    with pytest.raises(SiftrecError, match="no test user left"):
        evaluate(model, Interactions.from_raw(np.array(["q"]), np.array([100])))
    with pytest.raises(SiftrecError, match="not fitted"):
        evaluate(FixedScores(), TEST)
    with pytest.raises(SiftrecError, match="test must be Interactions"):
        evaluate(model, TRAIN.binary)
