import numpy as np
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.data.preprocess import compact, deduplicate, k_core, rating_threshold


def log_with_repeats() -> Interactions:
    """u1 sees a three times, b once; u2 sees a twice."""
    return Interactions.from_raw(
        np.array(["u1", "u2", "u1", "u1", "u2", "u1"]),
        np.array(["a", "a", "b", "a", "a", "a"]),
        weights=[1.0, 2.0, 1.0, 5.0, 2.0, 3.0],
        columns={"timestamp": np.array([10, 11, 12, 13, 14, 15])},
    )


def pairs(data: Interactions) -> list[tuple[str, str]]:
    return list(zip(data.raw_users().tolist(), data.raw_items().tolist(), strict=True))


@pytest.mark.parametrize(
    ("keep", "timestamps", "weights"),
    [
        ("first", [10, 11, 12], [1.0, 2.0, 1.0]),
        ("last", [12, 14, 15], [1.0, 2.0, 3.0]),
        ("sum", [10, 11, 12], [9.0, 4.0, 1.0]),
        ("max", [11, 12, 13], [2.0, 1.0, 5.0]),
    ],
)
def test_deduplicate_keep_rules(keep, timestamps, weights):
    data = log_with_repeats()
    out, removed = deduplicate(data, keep=keep)
    assert removed == 3 and len(out) == 3
    assert out.column("timestamp").tolist() == timestamps  # side columns of the kept row
    assert out.weights.tolist() == weights
    assert out.user_map is data.user_map and out.item_map is data.item_map
    assert out.matrix.nnz == len(out)


def test_deduplicate_max_ties_keep_first_row():
    data = Interactions.from_raw(
        [1, 1, 1], [2, 2, 2], weights=[3.0, 3.0, 1.0], columns={"rating": np.array([5, 4, 3])}
    )
    out, removed = deduplicate(data, keep="max")
    assert removed == 2 and out.column("rating").tolist() == [5]


def test_deduplicate_without_repeats_and_bad_keep():
    data = Interactions.from_raw([1, 2], [1, 1])
    out, removed = deduplicate(data)
    assert removed == 0 and pairs(out) == pairs(data)
    with pytest.raises(SiftrecError, match="keep='mean'"):
        deduplicate(data, keep="mean")


def test_deduplicate_matches_a_reference_on_random_data():
    rng = np.random.default_rng(0)
    users, items = rng.integers(0, 30, 2000), rng.integers(0, 20, 2000)
    weights = rng.integers(1, 5, 2000).astype(float)
    data = Interactions.from_raw(users, items, weights=weights)
    out, removed = deduplicate(data, keep="sum")
    np.testing.assert_allclose(out.matrix.toarray(), data.matrix.toarray())
    assert removed == len(data) - data.matrix.nnz
    firsts = {}
    for row, key in enumerate(zip(users.tolist(), items.tolist(), strict=True)):
        firsts.setdefault(key, row)
    first, _ = deduplicate(data, keep="first")
    assert first.weights.tolist() == weights[sorted(firsts.values())].tolist()


def test_rating_threshold():
    data = Interactions.from_raw(
        [1, 1, 2, 3], [1, 2, 1, 1], columns={"rating": np.array([5, 3, 4.0, np.nan])}
    )
    kept = rating_threshold(data, 4)
    assert pairs(kept) == [(1, 1), (2, 1)]
    assert kept.n_users == data.n_users  # maps kept; compact() drops user 3
    assert compact(kept).n_users == 2
    with pytest.raises(SiftrecError, match="no 'score' column"):
        rating_threshold(data, 4, column="score")
    text = data.with_columns(label=np.array(["a", "b", "c", "d"]))
    with pytest.raises(SiftrecError, match="'label' is not numeric"):
        rating_threshold(text, 1, column="label")


def test_k_core_iterates_until_stable():
    # item c has 2 users, but dropping user u3 (1 interaction) leaves it with 1.
    users = ["u1", "u1", "u1", "u2", "u2", "u2", "u3", "u4", "u4"]
    items = ["a", "b", "c", "a", "b", "d", "c", "d", "e"]
    data = Interactions.from_raw(np.array(users), np.array(items))
    out = k_core(data, user_k=2, item_k=2)
    assert sorted(pairs(out)) == [("u1", "a"), ("u1", "b"), ("u2", "a"), ("u2", "b")]
    counts_u, counts_i = out.user_counts(), out.item_counts()
    assert counts_u[counts_u > 0].min() >= 2 and counts_i[counts_i > 0].min() >= 2
    assert len(k_core(data)) == len(data)
    assert len(k_core(data, user_k=10)) == 0


def test_k_core_random_result_is_a_fixed_point():
    rng = np.random.default_rng(1)
    data = Interactions.from_raw(rng.zipf(1.5, 3000) % 400, rng.zipf(1.3, 3000) % 300)
    out = k_core(data, user_k=5, item_k=3)
    assert 0 < len(out) < len(data)
    uc, ic = out.user_counts(), out.item_counts()
    assert uc[uc > 0].min() >= 5 and ic[ic > 0].min() >= 3
    assert len(k_core(out, user_k=5, item_k=3)) == len(out)


@pytest.mark.parametrize("bad", [-1, 1.5, "3", True])
def test_k_core_rejects_bad_k(bad):
    with pytest.raises(SiftrecError, match="user_k must be a non-negative integer"):
        k_core(Interactions.from_raw([1], [1]), user_k=bad)


def test_compact_reindexes_in_order():
    data = Interactions.from_raw(
        np.array(["x", "y", "z", "x"]), np.array([7, 8, 9, 9]), columns={"c": np.arange(4)}
    )
    sub = data.subset(np.array([0, 2, 3]))  # drops user y and item 8
    out = compact(sub)
    assert out.user_map.ids.tolist() == ["x", "z"] and out.item_map.ids.tolist() == [7, 9]
    assert pairs(out) == [("x", 7), ("z", 9), ("x", 9)]
    assert out.users.tolist() == [0, 1, 0] and out.items.tolist() == [0, 1, 1]
    assert out.column("c").tolist() == [0, 2, 3]
    assert compact(data).user_map is data.user_map  # nothing to drop: map shared
