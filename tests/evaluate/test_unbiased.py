import math
from collections.abc import Mapping

import numpy as np
import pytest
import scipy.sparse as sp

from siftrec import Interactions, SiftrecError
from siftrec.data.ids import IdMap
from siftrec.evaluate import evaluate, ranking_metrics
from siftrec.evaluate.metrics import parse_metrics
from siftrec.evaluate.unbiased import (
    evaluate_ips,
    evaluate_mar,
    evaluate_mar_all,
    evaluate_mar_rated,
    ips_ranking_metrics,
    parse_estimator_metric,
    parse_mar_metrics,
    parse_unbiased_metrics,
    validation_propensities,
)
from siftrec.models import Popularity, Recommender

D2, D3 = 1 / math.log2(3), 1 / math.log2(4)  # NDCG discounts of ranks 2 and 3


def random_case(seed: int = 0, n_users: int = 30, n_items: int = 25, k: int = 8):
    rng = np.random.default_rng(seed)
    ranked = np.stack([rng.permutation(n_items)[:k] for _ in range(n_users)])
    ranked[0, -2:] = -1  # padding
    truth = sp.random(n_users, n_items, density=0.2, format="csr", random_state=seed)
    truth.data[:] = 1
    return ranked, truth


def test_parse_unbiased_metrics():
    specs = parse_unbiased_metrics("recall@5, DCG@3,ndcg@5,recall@5")
    assert [str(s) for s in specs] == ["recall@5", "dcg@3", "ndcg@5"]
    for bad in ("precision@5", "dcg", "dcg@0", "dcg@x", ""):
        with pytest.raises(SiftrecError):
            parse_unbiased_metrics(bad)


@pytest.mark.parametrize("theta", [1.0, 0.3])
def test_snips_with_uniform_propensities_equals_the_plain_metric(theta):
    ranked, truth = random_case()
    plain = ranking_metrics(ranked, truth, parse_metrics("recall@5,ndcg@5,ndcg@8"))
    uniform = np.full(truth.shape[1], theta)
    snips = ips_ranking_metrics(ranked, truth, "recall@5,ndcg@5,ndcg@8,dcg@8", uniform)
    for name in ("recall@5", "ndcg@5", "ndcg@8"):
        np.testing.assert_allclose(snips[name], plain[name])
    # plain DCG = NDCG · IDCG(min(K, |T_u|))
    n_true = np.diff(truth.indptr)
    idcg = np.array([sum(1 / math.log2(r + 1) for r in range(1, min(8, n) + 1)) for n in n_true])
    np.testing.assert_allclose(snips["dcg@8"], plain["ndcg@8"] * np.where(n_true, idcg, np.nan))


def test_ips_by_hand():
    # user 0: held-out items 1 (θ 0.5) and 3 (θ 0.25), ranked [3, 0, 1]; user 1: item 2, no hit
    truth = sp.csr_matrix(np.array([[0, 1, 0, 1], [0, 0, 1, 0], [0, 0, 0, 0]]))
    ranked = np.array([[3, 0, 1], [0, 1, 3], [0, 1, 2]])
    theta = np.array([1.0, 0.5, 0.1, 0.25])
    ips = ips_ranking_metrics(ranked, truth, "recall@1,recall@3,dcg@3,ndcg@3", theta, "ips")
    np.testing.assert_allclose(ips["recall@1"][:2], [4 / 2, 0])
    np.testing.assert_allclose(ips["recall@3"][:2], [(4 + 2) / 2, 0])
    np.testing.assert_allclose(ips["dcg@3"][:2], [4 + 2 * D3, 0])
    np.testing.assert_allclose(ips["ndcg@3"][:2], [(4 + 2 * D3) / (1 + D2), 0])
    assert np.isnan(ips["recall@3"][2])
    snips = ips_ranking_metrics(ranked, truth, "recall@1,dcg@3", theta, "snips")
    # weights 4 and 2 rescaled to average 1 over the user's 2 held-out items: 4/3 and 2/3
    np.testing.assert_allclose(snips["recall@1"][0], (4 / 3) / 2)
    np.testing.assert_allclose(snips["dcg@3"][0], 4 / 3 + (2 / 3) * D3)


def test_per_pair_propensities_match_per_item_ones():
    ranked, truth = random_case(seed=1)
    theta = np.random.default_rng(1).uniform(0.05, 1, truth.shape[1])
    table = truth.multiply(theta[None, :]).tocsr()
    table = table + sp.csr_matrix(([0.7], ([0], [0])), shape=truth.shape)  # an extra pair
    table.data = np.minimum(table.data, 1.0)
    per_item = ips_ranking_metrics(ranked, truth, "recall@5,ndcg@5", theta, "ips")
    per_pair = ips_ranking_metrics(ranked, truth, "recall@5,ndcg@5", table, "ips")
    for name, values in per_item.items():
        np.testing.assert_allclose(per_pair[name], values)


def test_propensity_errors():
    ranked, truth = random_case()
    with pytest.raises(SiftrecError, match="shape"):
        ips_ranking_metrics(ranked, truth, "dcg@5", np.ones(3))
    zero = np.ones(truth.shape[1])
    zero[truth.indices[0]] = 0.0
    with pytest.raises(SiftrecError, match=r"\(0, 1\]"):
        ips_ranking_metrics(ranked, truth, "dcg@5", zero)
    missing = truth.copy().astype(np.float64)
    missing.data[:] = 0.5
    missing.data[0] = 0.0
    missing.eliminate_zeros()
    with pytest.raises(SiftrecError, match="no propensity"):
        ips_ranking_metrics(ranked, truth, "dcg@5", missing)
    with pytest.raises(SiftrecError, match="estimator"):
        ips_ranking_metrics(ranked, truth, "dcg@5", np.ones(truth.shape[1]), "dr")


# ---------------------------------------------------------------- protocols on a fitted model
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


def test_evaluate_ips_with_uniform_propensities_equals_evaluate():
    model = Popularity().fit(log([0, 0, 1, 1, 2, 3, 3, 3], [0, 1, 0, 2, 3, 4, 5, 0]))
    test = log([0, 1, 2, 2, 3], [2, 3, 1, 5, 1])
    plain = evaluate(model, test, "recall@2,ndcg@2")
    snips = evaluate_ips(model, test, "recall@2,ndcg@2", np.full(6, 0.2))
    assert snips.metrics == pytest.approx(plain.metrics)
    assert snips.n_users == plain.n_users
    np.testing.assert_array_equal(snips.users, plain.users)


def test_evaluate_ips_uses_the_propensity_column_per_pair():
    model = FixedScores().fit(TRAIN)
    theta = np.array([0.5, 0.25, 0.5, 1.0, 0.5, 0.5])
    test = log([0, 0, 1], [1, 3, 4])
    by_item = evaluate_ips(model, test, "dcg@3,recall@2", theta, estimator="ips")
    by_pair = evaluate_ips(
        model, test.with_columns(propensity=theta[test.items]), "dcg@3,recall@2", estimator="ips"
    )
    assert by_pair.metrics == pytest.approx(by_item.metrics)
    # user 0 ranks [0, 1, 2, ...] (5 masked): item 1 at rank 2 (w 4), item 3 at rank 4;
    # user 1 ranks [5, 4, ...] (0 masked): item 4 at rank 2 (w 2)
    assert by_item.per_user["dcg@3"] == pytest.approx([4 * D2, 2 * D2])
    assert by_item.per_user["recall@2"] == pytest.approx([4 / 2, 2 / 1])
    with pytest.raises(SiftrecError, match="propensities"):
        evaluate_ips(model, test, "dcg@3")


def test_mar_all_is_evaluate_on_the_relevant_test_ratings():
    model = FixedScores().fit(TRAIN)
    test = log([0, 0, 1, 1, 2], [1, 2, 4, 3, 3], rating=np.array([5, 2, 4, 1, 3]))
    result = evaluate_mar_all(model, test, "recall@1,ndcg@2")
    expected = evaluate(model, test.subset(np.array([0, 2])), "recall@1,ndcg@2")
    assert result.metrics == pytest.approx(expected.metrics)
    assert result.n_users == 2
    with pytest.raises(SiftrecError, match="nothing is relevant"):
        evaluate_mar_all(model, test, threshold=6)


def test_mar_rated_protocol_by_hand():
    model = FixedScores().fit(TRAIN)
    # user 0 rates items 4 (5 stars), 1 (2), 2 (4): scores 2, 5, 4 → order 1, 2, 4
    # user 2 rates items 3 (1), 1 (2), all scores tied → order 1, 3 (lower index first)
    # user 3 rates items 2 (4), 5 (5), 4 (1): scores 0, 1, 0 → order 5, 2, 4; 5 is a training item
    test = log(
        [0, 0, 0, 2, 2, 3, 3, 3],
        [4, 1, 2, 3, 1, 2, 5, 4],
        rating=np.array([5, 2, 4, 1, 2, 4, 5, 1]),
    )
    result = evaluate_mar_rated(model, test, ks=(1, 3))
    e, one = 0.001, 1.0
    d3 = 1 / math.log2(3)
    # ranked relevance per user
    rel = {0: [e, one, one], 2: [e, e], 3: [one, one, e]}
    dcg1 = [rel[0][0], rel[2][0], rel[3][0]]
    dcg3 = [
        rel[0][0] + rel[0][1] + rel[0][2] * d3,
        rel[2][0] + rel[2][1],
        rel[3][0] + rel[3][1] + rel[3][2] * d3,
    ]
    assert result.per_user["dcg@1"] == pytest.approx(dcg1)
    assert result.per_user["dcg@3"] == pytest.approx(dcg3)
    assert result.per_user["recall@1"] == pytest.approx([e / sum(rel[0]), 1 / 2, 1 / sum(rel[3])])
    assert result.per_user["recall@3"] == pytest.approx([1.0, 1.0, 1.0])
    # MAP: Σ over relevant ranks r of (Σ_{j ≤ r} rel_j) / r
    map3 = [(e + 1) / 2 + (e + 2) / 3, 0.0, 1 / 1 + 2 / 2]
    assert result.per_user["map@3"] == pytest.approx(map3)
    assert result.per_user["map@1"] == pytest.approx([0.0, 0.0, 1.0])
    assert result.metrics["dcg@3"] == pytest.approx(np.mean(dcg3))
    np.testing.assert_array_equal(result.users, [0, 2, 3])


def test_mar_rated_errors():
    model = FixedScores().fit(TRAIN)
    rated = log([0, 0], [1, 1], rating=np.array([5, 4]))
    with pytest.raises(SiftrecError, match="twice"):
        evaluate_mar_rated(model, rated)
    with pytest.raises(SiftrecError, match="rating"):
        evaluate_mar_rated(model, log([0], [1]))
    with pytest.raises(SiftrecError, match="cut-offs"):
        evaluate_mar_rated(model, log([0], [1], rating=np.array([5])), ks=(0,))


def test_parse_estimator_and_mar_metrics():
    assert parse_estimator_metric("snips-dcg@5") == ("snips", "dcg@5")
    assert parse_estimator_metric("IPS-recall@3") == ("ips", "recall@3")
    for bad in ("dcg@5", "naive-dcg@5", "snips-map@5"):
        with pytest.raises(SiftrecError):
            parse_estimator_metric(bad)
    assert parse_mar_metrics(["map@5", "dcg@3", "dcg@5", "all:ndcg@5"]) == ([3, 5], ["ndcg@5"])
    for bad in ("ndcg@5", "dcg@0", "dcg@05", "DCG@5", "all:NDCG@5", "all:nosuch@5"):
        with pytest.raises(SiftrecError):
            parse_mar_metrics([bad])


def test_evaluate_mar_joins_both_protocols_per_user():
    model = FixedScores().fit(TRAIN)
    test = log([0, 0, 1, 1, 2], [1, 2, 4, 3, 3], rating=np.array([5, 2, 4, 1, 3]))
    result = evaluate_mar(model, test, ["dcg@2", "map@1", "all:recall@1", "all:coverage@2"])
    rated = evaluate_mar_rated(model, test, ks=(1, 2))
    every = evaluate_mar_all(model, test, "recall@1,coverage@2")
    assert result.metrics == pytest.approx(
        {
            "dcg@2": rated.metrics["dcg@2"],
            "map@1": rated.metrics["map@1"],
            "all:recall@1": every.metrics["recall@1"],
            "all:coverage@2": every.metrics["coverage@2"],
        }
    )
    np.testing.assert_array_equal(result.users, [0, 1, 2])  # user 2 has no relevant item
    assert set(result.per_user) == {"dcg@2", "map@1", "all:recall@1"}  # coverage: catalog-level
    np.testing.assert_allclose(result.per_user["dcg@2"], rated.per_user["dcg@2"])
    all_recall = result.per_user["all:recall@1"]
    assert np.isnan(all_recall[2])
    np.testing.assert_allclose(all_recall[:2], every.per_user["recall@1"])


def test_validation_propensities_prefer_the_log_column():
    validation = log([0, 1], [2, 3])
    assert validation_propensities(TRAIN, validation.with_columns(propensity=np.ones(2))) is None
    theta = validation_propensities(TRAIN, validation, eta=1.0)
    counts = np.bincount(TRAIN.items, minlength=6)
    np.testing.assert_allclose(theta, counts / counts.max())
