import math

import numpy as np
import pytest
import scipy.sparse as sp

from siftrec import SiftrecError
from siftrec.evaluate import DCG, NDCG, Recall, evaluate, ranking_metrics
from siftrec.evaluate.ips import evaluate_ips, ips_ranking_metrics, validation_propensities
from siftrec.models import Popularity
from tests.evaluate.fixed import TRAIN, FixedScores, log

D2, D3 = 1 / math.log2(3), 1 / math.log2(4)  # NDCG discounts of ranks 2 and 3


def random_case(seed: int = 0, n_users: int = 30, n_items: int = 25, k: int = 8):
    rng = np.random.default_rng(seed)
    ranked = np.stack([rng.permutation(n_items)[:k] for _ in range(n_users)])
    ranked[0, -2:] = -1  # padding
    truth = sp.random(n_users, n_items, density=0.2, format="csr", random_state=seed)
    truth.data[:] = 1
    return ranked, truth


def test_names_without_an_estimator_take_the_calls():
    ranked, truth = random_case()
    theta = np.random.default_rng(2).uniform(0.1, 1, truth.shape[1])
    short = ips_ranking_metrics(ranked, truth, "recall@5, DCG@3,ndcg@5,recall@5", theta, "ips")
    assert list(short) == ["recall@5", "dcg@3", "ndcg@5"]
    written = ips_ranking_metrics(ranked, truth, "ips-recall@5,ips-dcg@3", theta, "snips")
    objects = ips_ranking_metrics(ranked, truth, [Recall(5), DCG(3, "ips")], theta, "ips")
    assert list(objects) == ["recall@5", "ips-dcg@3"]
    np.testing.assert_array_equal(written["ips-recall@5"], short["recall@5"])
    np.testing.assert_array_equal(objects["ips-dcg@3"], short["dcg@3"])
    mixed = ips_ranking_metrics(ranked, truth, "snips-ndcg@5,ips-ndcg@5", theta)
    snips = ips_ranking_metrics(ranked, truth, "ndcg@5", theta, "snips")["ndcg@5"]
    np.testing.assert_array_equal(mixed["snips-ndcg@5"], snips)
    np.testing.assert_array_equal(mixed["ips-ndcg@5"], short["ndcg@5"])
    for bad in ("precision@5", "dcg", "dcg@0", "dcg@x", "", "rated:dcg@5", "naive-dcg@5"):
        with pytest.raises(SiftrecError) as info:
            ips_ranking_metrics(ranked, truth, bad, theta)
        assert "\n" not in str(info.value)


@pytest.mark.parametrize("theta", [1.0, 0.3])
def test_snips_with_uniform_propensities_equals_the_plain_metric(theta):
    ranked, truth = random_case()
    plain = ranking_metrics(ranked, truth, "recall@5,ndcg@5,ndcg@8")
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


def test_evaluate_ips_with_uniform_propensities_equals_evaluate():
    model = Popularity().fit(log([0, 0, 1, 1, 2, 3, 3, 3], [0, 1, 0, 2, 3, 4, 5, 0]))
    test = log([0, 1, 2, 2, 3], [2, 3, 1, 5, 1])
    plain = evaluate(model, test, "recall@2,ndcg@2")
    snips = evaluate_ips(model, test, "recall@2,ndcg@2", np.full(6, 0.2))
    assert snips.metrics == pytest.approx(plain.metrics)
    assert snips.n_users == plain.n_users
    np.testing.assert_array_equal(snips.users, plain.users)
    written = evaluate_ips(model, test, "snips-recall@2", np.full(6, 0.2), estimator="ips")
    assert written.metrics == pytest.approx({"snips-recall@2": plain.metrics["recall@2"]})
    by_object = evaluate_ips(model, test, [NDCG(2, estimator="snips")], np.full(6, 0.2))
    assert by_object.metrics == pytest.approx({"snips-ndcg@2": plain.metrics["ndcg@2"]})


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
    with pytest.raises(SiftrecError, match=r"'map@3'.*evaluate / ranking_metrics"):
        evaluate_ips(model, test, "map@3", theta)


def test_validation_propensities_prefer_the_log_column():
    validation = log([0, 1], [2, 3])
    assert validation_propensities(TRAIN, validation.with_columns(propensity=np.ones(2))) is None
    theta = validation_propensities(TRAIN, validation, eta=1.0)
    counts = np.bincount(TRAIN.items, minlength=6)
    np.testing.assert_allclose(theta, counts / counts.max())


def test_the_earlier_module_still_exports_the_documented_functions():
    from siftrec.evaluate import ips, mar, unbiased

    assert unbiased.evaluate_ips is ips.evaluate_ips
    assert unbiased.ips_ranking_metrics is ips.ips_ranking_metrics
    assert unbiased.evaluate_mar_rated is mar.evaluate_mar_rated
    assert unbiased.evaluate_mar_all is mar.evaluate_mar_all
    assert unbiased.evaluate_mar is mar.evaluate_mar
