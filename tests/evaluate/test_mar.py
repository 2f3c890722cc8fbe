import math

import numpy as np
import pytest

from siftrec import SiftrecError
from siftrec.evaluate import DCG, NDCG, RatedDCG, RatedMAP, RatedRecall, evaluate
from siftrec.evaluate.mar import evaluate_mar, evaluate_mar_all, evaluate_mar_rated, rated_metrics
from tests.evaluate.fixed import TRAIN, FixedScores, log

D3 = 1 / math.log2(3)  # the rated-items discount of rank 3 (ranks 1 and 2 count 1)


# ---------------------------------------------------------------- the pure kernel
# row 0 rates items 4 (relevant), 1, 2 (relevant) with scores 2, 5, 4: order 1, 2, 4
# row 1 rates items 3 (relevant) and 1 with tied scores (order 1, 3: lower index first); the
#   middle slot is padding, its score ignored
ITEMS = np.array([[4, 1, 2], [3, -1, 1]])
SCORES = np.array([[2.0, 5.0, 4.0], [3.0, 99.0, 3.0]])
RELEVANT = np.array([[True, False, True], [True, False, False]])


def test_rated_kernel_by_hand():
    names = "dcg@1,dcg@2,dcg@3,recall@1,recall@3,map@1,map@3,dcg@5"
    out = rated_metrics(ITEMS, SCORES, RELEVANT, names, epsilon=0.1)
    # ranked relevance: row 0 [0.1, 1, 1] (total 2.1), row 1 [0.1, 1] (total 1.1)
    assert out["dcg@1"] == pytest.approx([0.1, 0.1])
    assert out["dcg@2"] == pytest.approx([1.1, 1.1])
    assert out["dcg@3"] == pytest.approx([1.1 + D3, 1.1])
    assert out["dcg@5"] == pytest.approx(out["dcg@3"])  # a cut-off past the rated items
    assert out["recall@1"] == pytest.approx([0.1 / 2.1, 0.1 / 1.1])
    assert out["recall@3"] == pytest.approx([1.0, 1.0])
    assert out["map@1"] == pytest.approx([0.0, 0.0])
    # Σ over relevant ranks r of (Σ_{j ≤ r} rel_j) / r
    assert out["map@3"] == pytest.approx([1.1 / 2 + 2.1 / 3, 1.1 / 2])


def test_rated_kernel_names_objects_and_epsilon_zero():
    by_object = rated_metrics(ITEMS, SCORES, RELEVANT, [RatedDCG(2), RatedMAP(3)], epsilon=0.1)
    by_name = rated_metrics(ITEMS, SCORES, RELEVANT, "rated:dcg@2,map@3", epsilon=0.1)
    np.testing.assert_array_equal(by_object["rated:dcg@2"], by_name["rated:dcg@2"])
    np.testing.assert_array_equal(by_object["rated:map@3"], by_name["map@3"])
    nothing = np.zeros_like(RELEVANT)
    recall = rated_metrics(ITEMS, SCORES, nothing, [RatedRecall(2)], epsilon=0.0)
    assert np.isnan(recall["rated:recall@2"]).all()  # 0/0: no relevant item, no ε
    for bad, message in (
        ("ndcg@3", "unknown MAR metric"),
        ("all:ndcg@3", "evaluate / ranking_metrics"),
        ([NDCG(3)], "evaluate / ranking_metrics"),
    ):
        with pytest.raises(SiftrecError, match=message):
            rated_metrics(ITEMS, SCORES, RELEVANT, bad)
    with pytest.raises(SiftrecError, match="one shape"):
        rated_metrics(ITEMS, SCORES[:, :2], RELEVANT)
    with pytest.raises(SiftrecError, match="epsilon"):
        rated_metrics(ITEMS, SCORES, RELEVANT, epsilon=1.0)


# ---------------------------------------------------------------- protocols on a fitted model
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
    assert list(result.metrics) == ["dcg@1", "recall@1", "map@1", "dcg@3", "recall@3", "map@3"]
    e, one = 0.001, 1.0
    # ranked relevance per user
    rel = {0: [e, one, one], 2: [e, e], 3: [one, one, e]}
    dcg1 = [rel[0][0], rel[2][0], rel[3][0]]
    dcg3 = [
        rel[0][0] + rel[0][1] + rel[0][2] * D3,
        rel[2][0] + rel[2][1],
        rel[3][0] + rel[3][1] + rel[3][2] * D3,
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


def test_evaluate_mar_reads_every_spelling_of_a_metric():
    model = FixedScores().fit(TRAIN)
    test = log([0, 0, 1, 1, 2], [1, 2, 4, 3, 3], rating=np.array([5, 2, 4, 1, 3]))
    plain = evaluate_mar(model, test, ["dcg@2", "all:ndcg@2"]).metrics
    spelled = evaluate_mar(model, test, [" DCG@02", "rated:dcg@2", RatedDCG(2), NDCG(2)]).metrics
    assert spelled == {
        "dcg@2": plain["dcg@2"],
        "rated:dcg@2": plain["dcg@2"],
        "ndcg@2": plain["all:ndcg@2"],
    }
    for bad, message in (
        ("ndcg@5", "unknown MAR metric"),
        ("snips-dcg@5", "without an estimator"),
        (DCG(5, estimator="snips"), "needs no propensities"),
        ("all:nosuch@5", "nosuch"),
    ):
        with pytest.raises(SiftrecError, match=message):
            evaluate_mar(model, test, [bad])
