import math
import re
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp

from siftrec import SiftrecError
from siftrec.evaluate.metrics import (
    DCG,
    GRAMMAR,
    MAP,
    METRICS,
    MRR,
    NDCG,
    Coverage,
    HitRate,
    MetricSpec,
    Precision,
    RatedDCG,
    RatedMAP,
    RatedRecall,
    Recall,
    RecallCapped,
    metric_names,
    parse_metric,
    parse_metrics,
    ranking_metrics,
)

LOG2_3 = math.log2(3)  # discount of rank 2 is 1 / log2(3)


def truth_matrix(sets: list[set[int]], n_items: int) -> sp.csr_matrix:
    rows = [r for r, s in enumerate(sets) for _ in s]
    cols = [i for s in sets for i in sorted(s)]
    return sp.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(sets), n_items))


# Five users over a 10-item catalog.
RANKED = np.array(
    [
        [4, 7, 1, 9, 2],  # T = {7, 2, 5}: hits at ranks 2 and 5, |T| < K=5
        [0, 1, 2, 3, 5],  # T = {0, 2, 3, 6, 8, 9}: hits at ranks 1, 3, 4, |T| > K
        [3, 6, -1, -1, -1],  # T = {8}: padded, no hit
        [5, -1, -1, -1, -1],  # T = {5, 9}: padded, hit at rank 1
        [0, 1, 2, 3, 4],  # T = {}: undefined, NaN
    ]
)
TRUTH = truth_matrix([{7, 2, 5}, {0, 2, 3, 6, 8, 9}, {8}, {5, 9}, set()], n_items=10)
D = [1 / math.log2(r + 1) for r in range(1, 6)]  # 1, .6309, .5, .4307, .3869

EXPECTED_AT_5 = {
    "recall": [2 / 3, 3 / 6, 0, 1 / 2],
    "recall_capped": [2 / 3, 3 / 5, 0, 1 / 2],  # / min(5, |T|)
    "precision": [2 / 5, 3 / 5, 0, 1 / 5],  # padding still counts in K
    # user 0: (D2 + D5) / (D1 + D2 + D3); user 1: (D1 + D3 + D4) / (D1 + ... + D5)
    # user 3: D1 / (D1 + D2)
    "ndcg": [
        (D[1] + D[4]) / sum(D[:3]),
        (D[0] + D[2] + D[3]) / sum(D),
        0,
        1 / (1 + 1 / LOG2_3),
    ],
    "hit_rate": [1, 1, 0, 1],
    "mrr": [1 / 2, 1, 0, 1],  # first hit only
    # user 0: (P@2 + P@5) / 3 = (1/2 + 2/5) / 3; user 1: (P@1 + P@3 + P@4) / 5
    # user 3: P@1 / 2
    "map": [(1 / 2 + 2 / 5) / 3, (1 + 2 / 3 + 3 / 4) / 5, 0, 1 / 2],
}
EXPECTED_AT_2 = {
    "recall": [1 / 3, 1 / 6, 0, 1 / 2],
    "recall_capped": [1 / 2, 1 / 2, 0, 1 / 2],
    "precision": [1 / 2, 1 / 2, 0, 1 / 2],
    # user 0: D2 / (D1 + D2); user 1: D1 / (D1 + D2); user 3: D1 / (D1 + D2)
    "ndcg": [D[1] / (D[0] + D[1]), 1 / (D[0] + D[1]), 0, 1 / (D[0] + D[1])],
    "hit_rate": [1, 1, 0, 1],
    "mrr": [1 / 2, 1, 0, 1],
    # user 0: P@2 / min(2, 3); user 1: P@1 / 2; user 3: P@1 / 2
    "map": [(1 / 2) / 2, 1 / 2, 0, 1 / 2],
}


@pytest.mark.parametrize("k, expected", [(5, EXPECTED_AT_5), (2, EXPECTED_AT_2)])
def test_hand_worked(k: int, expected: dict[str, list[float]]) -> None:
    specs = [MetricSpec(name, k) for name in expected]
    out = ranking_metrics(RANKED, TRUTH, specs)
    for name, values in expected.items():
        got = out[f"{name}@{k}"]
        assert got.shape == (5,)
        np.testing.assert_allclose(got[:4], values, rtol=1e-12, err_msg=name)
        assert np.isnan(got[4]), f"{name}: empty held-out set must be NaN"


def test_coverage_hand_worked() -> None:
    out = ranking_metrics(RANKED, TRUTH, parse_metrics("coverage@5,coverage@2"))
    # top-5 union: {4,7,1,9,2} ∪ {0,1,2,3,5} ∪ {3,6} ∪ {5} ∪ {0..4} = 9 of 10 items
    assert out["coverage@5"].shape == ()
    assert float(out["coverage@5"]) == pytest.approx(0.9)
    # top-2 union: {4,7} ∪ {0,1} ∪ {3,6} ∪ {5} ∪ {0,1} = 7 items
    assert float(out["coverage@2"]) == pytest.approx(0.7)
    # a larger catalog (e.g. items the lists could not reach) lowers coverage
    assert float(ranking_metrics(RANKED, TRUTH, [MetricSpec("coverage", 2)], 14)["coverage@2"]) == (
        pytest.approx(0.5)
    )


def test_padding_never_matches_previous_row() -> None:
    # Key encoding row * n_items + item: row 1's padding (-1) would be key 1*10-1 = 9, which is
    # row 0's item 9. It must not count as a hit.
    ranked = np.array([[0, 1], [-1, -1]])
    truth = truth_matrix([{9}, {9}], n_items=10)
    out = ranking_metrics(ranked, truth, [MetricSpec("hit_rate", 2)])
    np.testing.assert_array_equal(out["hit_rate@2"], [0, 0])


def test_truth_values_and_duplicates_are_structure_only() -> None:
    # Weights do not matter, duplicate entries count once, explicit zeros are not held out.
    truth = sp.csr_matrix((np.array([5.0, 2.0, 0.0]), ([0, 0, 0], [1, 1, 2])), shape=(1, 4))
    out = ranking_metrics(np.array([[1, 2]]), truth, parse_metrics("recall@2,precision@2"))
    assert out["recall@2"][0] == 1.0  # T = {1}
    assert out["precision@2"][0] == 0.5


def test_ties_in_ranked_lists_are_positional() -> None:
    # Ties are broken before the metric (lower item index first); a metric only sees positions,
    # so swapping two items changes the value: hit at rank 1 vs rank 2.
    truth = truth_matrix([{3}], n_items=5)
    first = ranking_metrics(np.array([[3, 4]]), truth, [MetricSpec("ndcg", 2)])["ndcg@2"][0]
    second = ranking_metrics(np.array([[4, 3]]), truth, [MetricSpec("ndcg", 2)])["ndcg@2"][0]
    assert first == 1.0
    assert second == pytest.approx(1 / LOG2_3)


def reference(ranked: np.ndarray, sets: list[set[int]], name: str, k: int, n_items: int):
    """Plain per-user definitions from docs/metrics.md, independent of the vectorised code."""
    if name == "coverage":
        return len({int(i) for row in ranked for i in row[:k] if i >= 0}) / n_items
    if name in ("hit_rate_pairs", "ndcg_pairs"):  # one value over every held-out pair
        total, pairs = 0.0, sum(len(truth) for truth in sets)
        for row, truth in zip(ranked, sets, strict=True):
            for r, item in enumerate(row[:k]):
                if item >= 0 and int(item) in truth:
                    total += 1.0 if name == "hit_rate_pairs" else 1 / math.log2(r + 2)
        return total / pairs if pairs else math.nan
    values = []
    for row, truth in zip(ranked, sets, strict=True):
        if not truth:
            values.append(math.nan)
            continue
        top = [int(i) for i in row[:k]]
        hits = [1 if (i >= 0 and i in truth) else 0 for i in top]
        n_hits = sum(hits)
        if name == "recall":
            values.append(n_hits / len(truth))
        elif name == "recall_capped":
            values.append(n_hits / min(k, len(truth)))
        elif name == "precision":
            values.append(n_hits / k)
        elif name == "ndcg":
            dcg = sum(h / math.log2(r + 2) for r, h in enumerate(hits))
            idcg = sum(1 / math.log2(r + 2) for r in range(min(k, len(truth))))
            values.append(dcg / idcg)
        elif name == "hit_rate":
            values.append(float(n_hits > 0))
        elif name == "mrr":
            values.append(1 / (hits.index(1) + 1) if n_hits else 0.0)
        elif name == "map":
            total, found = 0.0, 0
            for r, h in enumerate(hits):
                if h:
                    found += 1
                    total += found / (r + 1)
            values.append(total / min(k, len(truth)))
    return values


@pytest.mark.parametrize("seed", [0, 1])
def test_matches_reference_on_random_data(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_users, n_items, k_max = 150, 40, 25
    ranked = np.full((n_users, k_max), -1)
    sets = []
    for u in range(n_users):
        length = rng.integers(0, k_max + 1) if rng.random() < 0.2 else k_max
        ranked[u, :length] = rng.permutation(n_items)[:length]
        size = rng.integers(0, 16)
        # bias the truth towards the ranked items so that hits are common
        pool = ranked[u, ranked[u] >= 0] if rng.random() < 0.5 and length else np.arange(n_items)
        sets.append(set(rng.choice(pool, size=min(size, len(pool)), replace=False).tolist()))
    truth = truth_matrix(sets, n_items)
    specs = [MetricSpec(name, k) for name in METRICS for k in (1, 3, 10, 25)]
    out = ranking_metrics(ranked, truth, specs)
    for spec in specs:
        expected = reference(ranked, sets, spec.name, spec.k, n_items)
        np.testing.assert_allclose(out[str(spec)], expected, rtol=1e-12, err_msg=str(spec))


def test_parse_metrics() -> None:
    specs = parse_metrics(" Recall@20, ndcg@20 ,recall@20,map@5")
    assert [str(s) for s in specs] == ["recall@20", "ndcg@20", "map@5"]
    assert parse_metrics(["hit_rate@1", MetricSpec("mrr", 3)]) == [
        MetricSpec("hit_rate", 1),
        MetricSpec("mrr", 3),
    ]


@pytest.mark.parametrize(
    "spec, message",
    [
        ("recal@20", "unknown metric 'recal'"),
        ("recall@0", "positive integer"),
        ("ndcg@-3", "positive integer"),
        ("recall", "no cut-off"),
        ("recall@ten", "not an integer"),
        ("recall@20,", "empty entry"),
        ([], "no metrics"),
    ],
)
def test_parse_metrics_errors(spec, message: str) -> None:
    with pytest.raises(SiftrecError, match=message):
        parse_metrics(spec)


@pytest.mark.parametrize(
    "ranked, truth, message",
    [
        (np.array([[0, 1]]), truth_matrix([{0}, {1}], 3), "rows must align"),
        (np.array([[0]]), truth_matrix([{0}], 3), "fewer than the largest cut-off"),
        (np.array([[0, 3]]), truth_matrix([{0}], 3), r"\[0, 3\)"),
        (np.array([[0, -2]]), truth_matrix([{0}], 3), "padding"),
        (np.array([[1, 1]]), truth_matrix([{0}], 3), "repeat an item"),
        (np.array([[0.0, 1.0]]), truth_matrix([{0}], 3), "integer array"),
        (np.array([[0, 1]]), np.ones((1, 3)), "sparse"),
    ],
)
def test_ranking_metrics_errors(ranked, truth, message: str) -> None:
    with pytest.raises(SiftrecError, match=message):
        ranking_metrics(ranked, truth, [MetricSpec("recall", 2)])


def test_empty_input_gives_empty_arrays() -> None:
    out = ranking_metrics(
        np.zeros((0, 3), dtype=np.int64),
        sp.csr_matrix((0, 5)),
        parse_metrics("recall@3,coverage@3"),
    )
    assert out["recall@3"].shape == (0,)
    assert float(out["coverage@3"]) == 0.0


# ---------------------------------------------------------------------- the metric grammar
DOCUMENTED = [
    ("recall@20", Recall(20)),
    ("recall_capped@20", RecallCapped(20)),
    ("precision@10", Precision(10)),
    ("ndcg@20", NDCG(20)),
    ("hit_rate@1", HitRate(1)),
    ("mrr@10", MRR(10)),
    ("map@5", MAP(5)),
    ("coverage@20", Coverage(20)),
    ("ips-recall@5", Recall(5, estimator="ips")),
    ("snips-recall@5", Recall(5, estimator="snips")),
    ("ips-dcg@5", DCG(5, estimator="ips")),
    ("snips-dcg@5", DCG(5, estimator="snips")),
    ("ips-ndcg@5", NDCG(5, estimator="ips")),
    ("snips-ndcg@20", NDCG(20, estimator="snips")),
    ("rated:dcg@5", RatedDCG(5)),
    ("rated:recall@5", RatedRecall(5)),
    ("rated:map@5", RatedMAP(5)),
]


@pytest.mark.parametrize(("name", "metric"), DOCUMENTED)
def test_every_documented_name_round_trips(name, metric) -> None:
    assert parse_metric(name) == metric
    assert metric.label == str(metric) == name
    assert parse_metric(metric.label) == metric
    assert parse_metric(metric) is metric


def test_the_documented_table_of_names_and_objects_agrees_with_the_parser() -> None:
    import siftrec.evaluate as evaluate_module

    doc = (Path(__file__).parents[2] / "docs" / "metrics.md").read_text()
    section = doc.split("## Metric names", 1)[1].split("\n## ", 1)[0]
    pairs = []
    for row in (line for line in section.splitlines() if line.startswith("| `")):
        names, objects = row.split(" | ")[:2]
        names = re.findall(r"`([a-z_:-]+@\d+)`", names)
        objects = re.findall(r"`([A-Za-z]+\([^`]*\))`", objects)
        assert len(names) == len(objects), row
        pairs += zip(names, objects, strict=True)
    assert len(pairs) == 14
    for name, source in pairs:
        metric = eval(source, vars(evaluate_module))  # the docs' own examples
        assert parse_metric(name) == metric and metric.label == name


def test_names_are_read_in_canonical_form_and_keyed_as_written() -> None:
    named = metric_names([" NDCG @ 20", "all:recall@05", Recall(10), "ndcg@20"])
    assert named == {"ndcg@20": NDCG(20), "all:recall@5": Recall(5), "recall@10": Recall(10)}
    assert parse_metrics("all:recall@5,recall@5") == [Recall(5)]  # one metric, two keys


def test_a_call_fills_in_what_a_name_leaves_out() -> None:
    assert parse_metric("dcg@5", estimator="snips") == DCG(5, estimator="snips")
    assert parse_metric("ips-dcg@5", estimator="snips") == DCG(5, estimator="ips")
    assert parse_metric(Recall(5), estimator="ips") == Recall(5, estimator="ips")
    assert parse_metric("dcg@5", scope="rated") == RatedDCG(5)
    assert parse_metric("all:ndcg@5", scope="rated") == NDCG(5)
    assert parse_metric("recall@5", scope="rated", estimator="snips") == RatedRecall(5)
    with pytest.raises(SiftrecError, match="names two different metrics"):
        metric_names(["recall@5", Recall(5)], scope="rated")


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("recal@20", "unknown metric 'recal'"),
        ("naive-dcg@5", "unknown estimator 'naive'"),
        ("some:dcg@5", "unknown scope 'some'"),
        ("snips-map@5", "no IPS/SNIPS version"),
        ("rated:ndcg@5", "unknown MAR metric"),
        ("rated:snips-dcg@5", "unknown MAR metric"),
        ("dcg@5", "rated:dcg@5"),
    ],
)
def test_unknown_names_are_refused_on_one_line(name, message) -> None:
    with pytest.raises(SiftrecError, match=message) as info:
        parse_metric(name)
    assert "\n" not in str(info.value)
    if message.startswith("unknown"):
        assert GRAMMAR in str(info.value)


def test_metric_objects_check_their_fields() -> None:
    for build in (lambda: Recall(0), lambda: NDCG(5, estimator="dr"), lambda: MAP(True)):
        with pytest.raises(SiftrecError):
            build()
    assert MetricSpec("recall", 20) == Recall(20)  # the constructor of earlier versions
    assert not Coverage(5).per_user and Recall(5).per_user


def test_ranking_metrics_takes_objects_and_refuses_other_kernels_metrics() -> None:
    by_name = ranking_metrics(RANKED, TRUTH, "recall@3,ndcg@3")
    by_object = ranking_metrics(RANKED, TRUTH, [Recall(3), NDCG(3)])
    assert by_name.keys() == by_object.keys()
    for key, values in by_name.items():
        np.testing.assert_array_equal(values, by_object[key])
    for other, call in (("snips-ndcg@3", "evaluate_ips"), ("rated:dcg@3", "evaluate_mar")):
        with pytest.raises(SiftrecError, match=call):
            ranking_metrics(RANKED, TRUTH, other)
