"""``similar_items``: item-item matrices (ItemKNN, EASE) and cosine of item factors."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from siftrec import Interactions, SiftrecError
from siftrec.data.synthetic import generate
from siftrec.models import EASE, IALS, MF, ItemKNN, MultDAE, NeuMF, Popularity

# users × items: u0 {0,1}, u1 {0,2}, u2 {0,1,2}, u3 {1}, u4 {3}
HAND = sp.csr_matrix(
    np.array([[1, 1, 0, 0], [1, 0, 1, 0], [1, 1, 1, 0], [0, 1, 0, 0], [0, 0, 0, 1]], np.float32)
)


def test_itemknn_similar_items_by_hand():
    model = ItemKNN(k=3, shrink=0.0).fit(Interactions.from_csr(HAND))
    items, scores = model.similar_items([0, 3], k=3)
    # item 0: cos(0,1) = 2/3, cos(0,2) = 2/√6; item 3 co-occurs with nothing
    assert items[0].tolist() == [2, 1, 3]
    np.testing.assert_allclose(scores[0], [2 / np.sqrt(6), 2 / 3, 0.0], rtol=1e-6)
    assert 3 not in items[1] and np.all(scores[1] == 0)


def test_itemknn_similar_items_are_the_items_own_neighbours():
    """With pruning, item 1's one neighbour is item 0, though item 1 is no item's neighbour."""
    model = ItemKNN(k=1, shrink=1.0).fit(Interactions.from_csr(HAND))
    items, scores = model.similar_items([1], k=1)
    assert items[0].tolist() == [0]
    np.testing.assert_allclose(scores[0], [2 / (3 + 1)], rtol=1e-6)


def test_ease_similar_items_are_rows_of_b():
    model = EASE(l2=1.0).fit(Interactions.from_csr(HAND))
    b = model.B_.numpy()
    items, scores = model.similar_items([1], k=3)
    row = b[1].copy()
    row[1] = -np.inf
    assert items[0].tolist() == np.argsort(-row, kind="stable")[:3].tolist()
    np.testing.assert_allclose(scores[0], np.sort(row)[::-1][:3], rtol=1e-6)


@pytest.fixture(scope="module")
def log():
    return generate(n_users=150, n_items=80, seed=1).interactions


def test_mf_similar_items_is_cosine_of_item_factors(log):
    model = MF(epochs=2, dim=8).fit(log)
    q = model.scorer_.item_emb.weight.detach().numpy()
    unit = q / np.linalg.norm(q, axis=1, keepdims=True)
    cosine = unit[[4]] @ unit.T
    cosine[0, 4] = -np.inf
    items, scores = model.similar_items([4], k=5)
    assert items[0].tolist() == np.argsort(-cosine[0], kind="stable")[:5].tolist()
    np.testing.assert_allclose(scores[0], np.sort(cosine[0])[::-1][:5], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    "model",
    [IALS(factors=8, iterations=2), NeuMF(epochs=1, dim=8), MultDAE(epochs=1)],
    ids=["ials", "neumf", "multdae"],
)
def test_factor_models_find_similar_items(log, model):
    model.fit(log)
    items, scores = model.similar_items(np.arange(6), k=4)
    assert items.shape == (6, 4) and (items >= 0).all()
    assert not (items == np.arange(6)[:, None]).any()
    assert (scores <= 1 + 1e-5).all()  # cosine


def test_similar_items_raw_frame_and_errors():
    clicks = pd.DataFrame(
        {"user": ["u1", "u1", "u2", "u2", "u3"], "item": ["a", "b", "a", "c", "b"]}
    )
    model = ItemKNN().fit(clicks)
    frame = model.similar_items_raw(["a", "b"], k=5)
    assert list(frame.columns) == ["item", "similar_item", "rank", "score"]
    assert frame[frame["item"] == "a"]["similar_item"].tolist()[0] in ("b", "c")
    assert len(frame[frame["item"] == "a"]) == 2  # k beyond the catalog: the other two items
    with pytest.raises(SiftrecError, match="'nope'"):
        model.similar_items_raw(["nope"])
    with pytest.raises(SiftrecError, match="cannot find similar items"):
        Popularity().fit(clicks).similar_items([0])
    with pytest.raises(SiftrecError, match="out of range"):
        model.similar_items([9])
