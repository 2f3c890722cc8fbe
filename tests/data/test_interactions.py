import hashlib

import numpy as np
import pytest
import scipy.sparse as sp

from siftrec import Interactions, SiftrecError
from siftrec.data import interactions
from siftrec.data.ids import IdMap, normalize_ids
from siftrec.data.interactions import uniform_weights


# ---------------------------------------------------------------------------- normalize_ids
def test_normalize_ids_types():
    assert normalize_ids([3, 1]).dtype == np.int64
    assert normalize_ids(np.array([1.0, 2.0])).tolist() == [1, 2]
    assert normalize_ids(np.array([1, 2], dtype=object)).dtype == np.int64
    assert normalize_ids(np.array(["a", 1], dtype=object)).tolist() == ["a", "1"]
    assert normalize_ids(np.array([[1, 2], [3, 4]])).tolist() == [1, 2, 3, 4]


@pytest.mark.parametrize(
    ("raw", "match"),
    [
        (np.array([1.0, np.nan]), r"1 row has a missing user id \(first at row 2: NaN\)"),
        (np.array([1.5, 2.0]), "non-integer numeric ids"),
        (np.array(["a", ""]), r"1 row has a missing user id \(first at row 2: empty\)"),
        (np.array(["a", None], dtype=object), r"missing user id \(first at row 2: null\)"),
        (np.array(["NA", "b", " n/a "]), r"2 rows have a missing user id \(first at row 1: 'NA'\)"),
        (np.array([1.0, np.inf]), "1 non-finite ids"),
        (np.array([True, False]), "booleans"),
        (np.array([2**63], dtype=np.uint64), "beyond the int64 range"),
    ],
)
def test_normalize_ids_errors(raw, match):
    with pytest.raises(SiftrecError, match=match):
        normalize_ids(raw, "user")


# ---------------------------------------------------------------------------- IdMap
def test_id_map_first_seen_order_and_lookup():
    id_map, index = IdMap.from_raw(np.array([30, 10, 30, 20, 10]))
    assert id_map.ids.tolist() == [30, 10, 20]
    assert index.tolist() == [0, 1, 0, 2, 1] and index.dtype == np.int32
    assert id_map.to_index([20, 99, 30]).tolist() == [2, -1, 0]
    assert id_map.to_raw([1, 2]).tolist() == [10, 20]


def test_id_map_from_raw_matches_reference_on_random_ids():
    rng = np.random.default_rng(0)
    raw = rng.integers(-50, 500, 5000)
    id_map, index = IdMap.from_raw(raw)
    expected = list(dict.fromkeys(raw.tolist()))
    assert id_map.ids.tolist() == expected
    np.testing.assert_array_equal(id_map.ids[index], raw)


def test_id_map_rejects_duplicates():
    with pytest.raises(SiftrecError, match="duplicate ids"):
        IdMap(np.array(["a", "b", "a"]))


def test_id_map_lookup_across_id_types():
    ints = IdMap(np.array([1, 2, 3]))
    assert ints.to_index(np.array(["2", "x", "-1", "3"])).tolist() == [1, -1, -1, 2]
    assert ints.to_index(np.array([2.0, 1.5])).tolist() == [1, -1]
    strs = IdMap(np.array(["1", "b"]))
    assert strs.to_index(np.array([1, 2])).tolist() == [0, -1]
    assert IdMap(np.array([], dtype=np.int64)).to_index([1]).tolist() == [-1]


@pytest.mark.parametrize("spelling", ["NA", "nan", " null ", "N/A", "", "None", "NIL"])
def test_from_raw_refuses_missing_ids_it_used_to_accept(spelling):
    with pytest.raises(SiftrecError, match=r"1 row has a missing item id \(first at row 2"):
        Interactions.from_raw(["a", "b"], ["x", spelling])
    ok = Interactions.from_raw(["NAB", "nancy"], ["nil0", "NULLS"])
    assert ok.raw_users().tolist() == ["NAB", "nancy"]


def test_id_map_extend():
    base = IdMap(np.array([5, 6]))
    assert base.extend(np.array([6])) is base
    assert base.extend(np.array([8, 7, 8, 5])).ids.tolist() == [5, 6, 8, 7]
    assert base.extend(np.array(["9"])).ids.tolist() == [5, 6, 9]
    with pytest.raises(SiftrecError, match="'x' is not an integer"):
        base.extend(np.array(["x"]))
    assert IdMap(np.array(["a"])).extend(np.array([1])).ids.tolist() == ["a", "1"]


def test_id_map_equality_and_hash():
    a, b = IdMap(np.array([1, 2])), IdMap(np.array([1, 2]))
    assert a == b and hash(a) == hash(b) and len({a, b}) == 1
    assert a != IdMap(np.array([2, 1]))
    assert IdMap(np.array(["1", "2"])) != a
    assert IdMap(np.array(["a"], dtype="<U1")) == IdMap(np.array(["a"], dtype="<U5"))
    assert a != "not a map"


# ---------------------------------------------------------------------------- Interactions
def sample() -> Interactions:
    return Interactions.from_raw(
        np.array(["u2", "u1", "u2", "u2"]),
        np.array([10, 20, 10, 30]),
        weights=[1.0, 2.0, 3.0, 1.0],
        columns={"rating": np.array([4, 5, 3, 1])},
    )


def test_from_raw_builds_maps_and_views():
    data = sample()
    assert data.user_map.ids.tolist() == ["u2", "u1"]
    assert data.item_map.ids.tolist() == [10, 20, 30]
    assert data.users.dtype == np.int32 and data.weights.dtype == np.float32
    assert len(data) == 4 and data.shape == (2, 3)
    assert data.density == 4 / 6
    assert data.matrix.toarray().tolist() == [[4.0, 0.0, 1.0], [0.0, 2.0, 0.0]]  # summed
    assert data.binary.toarray().tolist() == [[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]]
    assert data.user_counts().tolist() == [3, 1] and data.item_counts().tolist() == [2, 1, 1]
    assert data.raw_users().tolist() == ["u2", "u1", "u2", "u2"]
    assert "4 interactions" in repr(data) and "rating" in repr(data)


def test_from_raw_with_maps_extends_them():
    train = sample()
    test = Interactions.from_raw(
        ["u1", "u3"], [30, 40], user_map=train.user_map, item_map=train.item_map
    )
    assert test.user_map.ids.tolist() == ["u2", "u1", "u3"]
    assert test.users.tolist() == [1, 2] and test.items.tolist() == [2, 3]


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"users": [1, 2], "items": [1]}, "different lengths"),
        ({"users": [1], "items": [1], "weights": ["a"]}, "weight column is not numeric"),
        ({"users": [1], "items": [1], "weights": [np.nan]}, "1 NaN/inf values"),
        ({"users": [1], "items": [1], "columns": {"c": np.arange(2)}}, "'c' has 2 values"),
        ({"users": [1], "items": [1], "user_map": IdMap(np.array([5]))}, None),
    ],
)
def test_from_raw_validation(kwargs, match):
    if match is None:
        assert Interactions.from_raw(**kwargs).user_map.ids.tolist() == [5, 1]
        return
    with pytest.raises(SiftrecError, match=match):
        Interactions.from_raw(**kwargs)


def test_constructor_range_checks():
    id_map = IdMap(np.array([1, 2]))
    with pytest.raises(SiftrecError, match="user index out of range"):
        Interactions(np.array([2]), np.array([0]), np.array([1.0]), id_map, id_map)
    with pytest.raises(SiftrecError, match="item index out of range"):
        Interactions(np.array([0]), np.array([-1]), np.array([1.0]), id_map, id_map)


def test_from_csr_drops_explicit_zeros_and_checks_maps():
    matrix = sp.csr_matrix((np.array([0.0, 2.0, 1.0]), ([0, 1, 1], [1, 0, 2])), shape=(2, 3))
    data = Interactions.from_csr(matrix)
    assert list(zip(data.users.tolist(), data.items.tolist(), strict=True)) == [(1, 0), (1, 2)]
    np.testing.assert_array_equal(data.matrix.toarray(), matrix.toarray())
    with pytest.raises(SiftrecError, match="do not match the matrix shape"):
        Interactions.from_csr(matrix, user_map=IdMap(np.array([1, 2, 3])))
    with pytest.raises(SiftrecError, match="expected a scipy sparse matrix"):
        Interactions.from_csr(np.ones((2, 2)))


def test_subset_with_columns_with_weights_share_maps():
    data = sample()
    sub = data.subset(data.column("rating") >= 4)
    assert sub.raw_items().tolist() == [10, 20] and sub.column("rating").tolist() == [4, 5]
    assert sub.user_map is data.user_map
    assert data.subset(np.array([3, 0])).weights.tolist() == [1.0, 1.0]
    tagged = data.with_columns(is_noise=np.array([0, 1, 0, 0], dtype=bool))
    assert tagged.has_column("is_noise") and not data.has_column("is_noise")
    assert data.with_weights(np.full(4, 2.0)).weights.tolist() == [2.0] * 4
    with pytest.raises(SiftrecError, match=r"no 'dwell_time' column \(available: rating\)"):
        data.column("dwell_time")


def test_remap_drops_unknown_ids():
    data = sample()
    target_users = IdMap(np.array(["u1", "u9"]))
    target_items = IdMap(np.array([20, 10, 30]))
    out, dropped = data.remap(target_users, target_items)
    assert dropped == 3
    assert out.users.tolist() == [0] and out.items.tolist() == [0]
    assert out.column("rating").tolist() == [5]


def test_to_polars_round_trip_columns():
    frame = sample().to_polars()
    assert frame.columns == ["user", "item", "weight", "rating"]
    assert frame["user"].to_list() == ["u2", "u1", "u2", "u2"]


def test_fingerprint_tracks_ids_and_weights():
    data = sample()
    assert data.fingerprint() == sample().fingerprint()
    assert data.fingerprint() != data.with_weights(np.ones(4)).fingerprint()
    unicode = Interactions.from_raw(np.array(["café", "naïve"]), np.array([1, 2]))
    assert len(unicode.fingerprint()) == 64  # non-ASCII ids hash too
    other = Interactions.from_raw(np.array(["cafe", "naïve"]), np.array([1, 2]))
    assert unicode.fingerprint() != other.fingerprint()


# ---------------------------------------------------------------------------- uniform weights
def materialised(log: Interactions) -> Interactions:
    """The same log holding its weights as an ordinary array (what the constructor avoids)."""
    copy = Interactions(log.users, log.items, log.weights, log.user_map, log.item_map)
    object.__setattr__(copy, "weights", np.array(log.weights))
    return copy


def old_fingerprint(log: Interactions) -> str:
    """The fingerprint over materialised weights, as ``model.json`` recorded it before."""
    h = hashlib.sha256()
    for ids in (log.raw_users(), log.raw_items()):
        h.update((ids.astype(np.bytes_) if ids.dtype.kind == "U" else ids).tobytes())
    h.update(np.array(log.weights).tobytes())
    return h.hexdigest()


def is_uniform(weights: np.ndarray) -> bool:
    return weights.strides == (0,) and not weights.flags.writeable


def test_a_log_without_weights_holds_its_ones_without_memory():
    log = Interactions.from_raw(np.array(["a", "b", "a", "c"]), np.array([1, 2, 2, 1]))
    assert is_uniform(log.weights) and log.uniform_weight == 1.0
    assert log.weights.dtype == np.float32 and log.weights.tolist() == [1.0] * 4
    with pytest.raises(ValueError, match="read-only"):
        log.weights[0] = 2.0
    # equal weights given as an array are kept the same way; unequal, zeros and empty are not
    assert is_uniform(Interactions.from_raw([1, 2], [1, 2], weights=np.full(2, 3.0)).weights)
    assert Interactions.from_raw([1, 2], [1, 2], weights=[1.0, 2.0]).uniform_weight is None
    assert Interactions.from_raw([1, 2], [1, 2], weights=[0.0, -0.0]).uniform_weight is None
    assert Interactions.from_raw([], []).uniform_weight is None
    with pytest.raises(SiftrecError, match="3 NaN/inf values"):
        Interactions.from_raw([1, 2, 3], [1, 2, 3], weights=uniform_weights(3, np.nan))


def test_uniform_weights_behave_as_ones():
    log = Interactions.from_raw(
        np.array(["a", "b", "a", "c", "b", "a"]),
        np.array([1, 2, 2, 1, 2, 3]),  # ("b", 2) twice: summed in the matrix
        columns={"t": np.arange(6)},
    )
    ones = materialised(log)
    assert not is_uniform(ones.weights)
    for name in ("matrix", "binary"):
        left, right = getattr(log, name), getattr(ones, name)
        assert left.dtype == right.dtype == np.float32 and left.data.flags.writeable
        assert (left != right).nnz == 0 and left.toarray()[1, 1] == (2.0 if name == "matrix" else 1)
    assert log.fingerprint() == ones.fingerprint() == old_fingerprint(ones)
    sub = log.subset(np.array([True, False, True, True, False, True]))
    assert is_uniform(sub.weights) and len(sub.weights) == 4
    assert is_uniform(log.subset(np.array([5, 0])).weights)
    assert is_uniform(log.with_columns(s=np.zeros(6)).weights)
    remapped, dropped = log.remap(IdMap(np.array(["a", "c"])), log.item_map)
    assert dropped == 2 and is_uniform(remapped.weights) and len(remapped.weights) == 4
    assert log.to_polars()["weight"].to_list() == [1.0] * 6
    doubled = log.with_weights(uniform_weights(6, 2.0))
    assert doubled.uniform_weight == 2.0 and doubled.matrix.toarray()[0, 0] == 2.0


@pytest.mark.parametrize("n", [5, 6, 7, 13])
def test_fingerprint_of_uniform_weights_hashed_by_block(monkeypatch, n):
    monkeypatch.setattr(interactions, "_HASH_BLOCK", 3)  # blocks, a remainder or none
    log = Interactions.from_raw(np.arange(n), np.arange(n), weights=np.full(n, 2.5))
    assert log.uniform_weight == 2.5
    assert log.fingerprint() == old_fingerprint(log) != old_fingerprint(log.subset(np.arange(4)))
