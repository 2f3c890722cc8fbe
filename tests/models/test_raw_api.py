"""The Python API on the data users have: fit on DataFrames/matrices, raw ids in and out,
allow-lists, and scikit-learn's estimator protocol."""

from __future__ import annotations

import numpy as np
import pandas as pd
import polars as pl
import pytest
import scipy.sparse as sp
from sklearn.base import clone

from siftrec import Interactions, SiftrecError
from siftrec.models import available_models, get_model_class
from siftrec.testing import contract_log

# u1 {a, b, d}, u2 {a, c}, u3 {b, c}, u4 {a, b, c}
CLICKS = pd.DataFrame(
    {
        "user": ["u1", "u1", "u1", "u2", "u2", "u3", "u3", "u4", "u4", "u4"],
        "item": ["a", "b", "d", "a", "c", "b", "c", "a", "b", "c"],
    }
)


@pytest.fixture(scope="module")
def knn():
    return get_model_class("itemknn")().fit(CLICKS)


def test_contract_itemknn_on_a_pandas_frame_recommends_raw_ids(knn):
    """The import path, fit and call of the issue's contract, exactly."""
    from siftrec.models import get_model_class as contract_get

    model = contract_get("itemknn")().fit(CLICKS)
    recs = model.recommend_raw(["u1"], k=5)
    assert isinstance(recs, pd.DataFrame)
    assert list(recs.columns) == ["user", "item", "rank", "score"]
    # u1 has a, b, d: only c is left (k larger than what remains gives fewer rows)
    assert recs["user"].tolist() == ["u1"] and recs["item"].tolist() == ["c"]
    assert recs["rank"].tolist() == [1]


def test_recommend_raw_matches_index_recommend(knn):
    users = ["u4", "u2"]
    recs = knn.recommend_raw(users, k=2, exclude_seen=False)
    index = knn.user_map_.to_index(np.array(users))
    items, scores = knn.recommend(index, k=2, exclude_seen=False)
    assert recs["user"].tolist() == ["u4", "u4", "u2", "u2"]
    assert recs["item"].tolist() == knn.item_map_.to_raw(items.ravel()).tolist()
    assert recs["rank"].tolist() == [1, 2, 1, 2]
    np.testing.assert_allclose(recs["score"].to_numpy(), scores.ravel())


def test_allow_and_deny_lists_in_raw_ids(knn):
    allowed = knn.recommend_raw(["u2", "u3"], k=3, items=["d"])
    assert set(allowed["item"]) == {"d"}
    denied = knn.recommend_raw(["u2"], k=3, exclude_items=["b"])
    assert "b" not in set(denied["item"]) and set(denied["item"]) == {"d"}


def test_unknown_ids_error_names_them_or_are_skipped(knn):
    with pytest.raises(SiftrecError, match=r"'ghost'.*unknown='skip'"):
        knn.recommend_raw(["u1", "ghost"], k=1)
    recs = knn.recommend_raw(["u1", "ghost"], k=1, unknown="skip")
    assert recs["user"].tolist() == ["u1"]
    with pytest.raises(SiftrecError, match="unknown must be"):
        knn.recommend_raw(["u1"], unknown="ignore")
    with pytest.raises(SiftrecError, match=r"item id.*'zz'"):
        knn.recommend_raw(["u1"], items=["c", "zz"])


def test_score_raw_pairs_and_nan_for_skipped(knn):
    scores = knn.score_raw(["u1", "u2", "ghost"], ["c", "zz", "a"], unknown="skip")
    assert np.isnan(scores[1:]).all()
    expected = knn.score_pairs(knn.user_map_.to_index(["u1"]), knn.item_map_.to_index(["c"]))
    np.testing.assert_allclose(scores[:1], expected)
    with pytest.raises(SiftrecError, match="one per pair"):
        knn.score_raw(["u1"], ["a", "b"])


def test_polars_output_switch(knn):
    recs = knn.recommend_raw(["u1"], k=1, as_="polars")
    assert isinstance(recs, pl.DataFrame) and recs.columns == ["user", "item", "rank", "score"]


def test_integer_ids_round_trip_as_integers():
    frame = pl.DataFrame({"user_id": [10, 10, 20, 30], "item_id": [1, 2, 1, 3]})
    model = get_model_class("popularity")().fit(frame)
    recs = model.recommend_raw([20], k=2)
    assert recs["user"].tolist() == [20, 20] and recs["item"].tolist() == [2, 3]


def test_fit_on_a_sparse_matrix_uses_indices_as_ids():
    matrix = sp.csr_matrix(np.array([[1, 1, 0], [0, 1, 1], [1, 0, 1]], dtype=np.float32))
    model = get_model_class("ease")(l2=1.0).fit(matrix)
    assert model.n_users == 3 and model.n_items == 3
    recs = model.recommend_raw([0], k=1)
    assert recs["item"].tolist() == [2]


def test_fit_frames_with_validation_frame_on_torch_model():
    train = CLICKS.iloc[:8]
    valid = CLICKS.iloc[8:]
    model = get_model_class("mf")(epochs=2, dim=4, metric="recall@2").fit(train, valid)
    assert [r["epoch"] for r in model.history_ if "recall@2" in r] == [1, 2]


def test_fit_column_names_and_errors():
    frame = pd.DataFrame({"who": ["a", "b"], "what": ["x", "y"]})
    model = get_model_class("popularity")().fit(frame, user_col="who", item_col="what")
    assert model.n_items == 2
    with pytest.raises(SiftrecError, match="no user column"):
        get_model_class("popularity")().fit(frame)
    with pytest.raises(SiftrecError, match="train must be"):
        get_model_class("popularity")().fit([("a", "x")])


def test_include_items_on_index_recommend():
    log = contract_log()
    model = get_model_class("itemknn")().fit(log)
    allowed = np.array([1, 4, 9])
    items, scores = model.recommend(np.arange(10), k=5, include_items=allowed)
    assert np.isin(items[items >= 0], allowed).all()
    assert np.isneginf(scores[items < 0]).all()  # fewer admissible items than k: padded
    items, _ = model.recommend([0], k=3, include_items=[])
    assert (items == -1).all()
    with pytest.raises(SiftrecError, match="include_items: item index out of range"):
        model.recommend([0], k=3, include_items=[model.n_items])


@pytest.mark.parametrize("name", available_models())
def test_sklearn_clone_round_trips_every_model(name):
    cls = get_model_class(name)
    model = cls()
    copy = clone(model)
    assert type(copy) is cls and copy is not model
    assert copy.get_params() == model.get_params(deep=True)


def test_set_params_parses_validates_and_clone_keeps_them():
    model = get_model_class("mf")()
    assert model.set_params(dim="16", lr=0.1) is model
    assert model.get_params()["dim"] == 16
    assert clone(model).get_params()["dim"] == 16
    with pytest.raises(SiftrecError, match="dim must be at least 1"):
        model.set_params(dim=0)
    model.set_params(device="cpu")  # a fit option, not a hyperparameter
    assert model.options.device == "cpu" and "device" not in model.get_params()
    with pytest.raises(SiftrecError, match="auto"):
        get_model_class("multvae")().set_params(objective="auto")


def test_interactions_still_accepted():
    log = Interactions.from_raw(["a", "b"], ["x", "y"])
    model = get_model_class("popularity")().fit(log)
    assert model.item_map_ is log.item_map
