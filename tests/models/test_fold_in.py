"""Fold-in (``recommend_history``/``score_history``) of the factor models and popularity."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp
import torch

from siftrec import SiftrecError
from siftrec.data.synthetic import generate
from siftrec.models import GMF, MF, LightGCN, NeuMF, Popularity
from siftrec.models.torch_base import fold_in_least_squares


@pytest.fixture(scope="module")
def log():
    return generate(n_users=300, n_items=200, seed=0).interactions


def top_overlap(a: np.ndarray, b: np.ndarray, seen: sp.csr_matrix, k: int = 10) -> float:
    """Mean share of the top-k (seen items masked) that two score matrices have in common."""
    a, b = a.copy(), b.copy()
    rows, cols = seen.nonzero()
    a[rows, cols] = b[rows, cols] = -np.inf
    top_a, top_b = np.argsort(-a, axis=1)[:, :k], np.argsort(-b, axis=1)[:, :k]
    return float(np.mean([len(set(x) & set(y)) / k for x, y in zip(top_a, top_b, strict=True)]))


def test_mf_fold_in_of_a_training_user_reproduces_their_ranking(log):
    model = MF(epochs=15, dim=32).fit(log)
    users = np.arange(60)
    history = log.binary[users]
    folded, trained = model.score_history(history), model.score(users)
    agreement = top_overlap(folded, trained, history)
    chance = top_overlap(np.random.default_rng(0).random(trained.shape), trained, history)
    assert agreement >= 0.6, agreement
    assert chance < 0.2
    # the per-user rank correlation of all unseen items is high too
    corr = [np.corrcoef(f, t)[0, 1] for f, t in zip(folded, trained, strict=True)]
    assert np.median(corr) > 0.8


def test_least_squares_solves_the_ridge_system():
    rng = np.random.default_rng(1)
    q = torch.from_numpy(rng.normal(size=(30, 4)))
    rows = sp.random(5, 30, density=0.2, random_state=2, format="csr", dtype=np.float64)
    users = fold_in_least_squares(rows, q).numpy()
    gram = q.numpy().T @ q.numpy()
    ridge = 10.0 * np.trace(gram) / 4
    expected = np.linalg.solve(gram + ridge * np.eye(4), (rows @ q.numpy()).T).T
    np.testing.assert_allclose(users, expected, rtol=1e-10)


def test_mf_with_item_bias_adds_it(log):
    model = MF(epochs=1, dim=8, item_bias=True).fit(log)
    empty = sp.csr_matrix((1, model.n_items), dtype=np.float32)
    bias = model.scorer_.factors()[2].numpy()
    np.testing.assert_allclose(model.score_history(empty)[0], bias, rtol=1e-6)


@pytest.mark.parametrize(
    "model",
    [GMF(epochs=2, dim=8), LightGCN(epochs=2, dim=8, layers=2), NeuMF(epochs=2, dim=8)],
    ids=["gmf", "lightgcn", "neumf"],
)
def test_other_factor_models_fold_in_users_unseen_in_training(log, model):
    model.fit(log)
    new_users = log.binary[:4]  # rows as if they were new users
    items, scores = model.recommend_history(new_users, k=10)
    assert items.shape == (4, 10) and np.isfinite(scores).all()
    assert not new_users[np.arange(4)[:, None], items].toarray().any()


def test_neumf_fold_in_learns_from_the_history(log):
    """The optimised user scores the history's items above the rest (what BCE asks of it)."""
    model = NeuMF(epochs=3, dim=8).fit(log)
    history = log.binary[:20]
    scores = model.score_history(history)
    clicked = np.asarray(history.todense(), dtype=bool)
    assert np.mean([s[c].mean() > s[~c].mean() for s, c in zip(scores, clicked, strict=True)]) > 0.9
    single = model.score_history(history[5:6])  # a user's result does not depend on the batch
    np.testing.assert_allclose(single[0], scores[5], rtol=1e-4, atol=1e-5)


def test_popularity_fold_in_masks_history_only(log):
    model = Popularity().fit(log)
    history = log.binary[:3]
    np.testing.assert_array_equal(model.score_history(history), model.score([0, 1, 2]))
    items, _ = model.recommend_history(history, k=5)
    assert not history[np.arange(3)[:, None], items].toarray().any()


def test_recommend_history_raw_for_posted_histories():
    clicks = pd.DataFrame(
        {"user": ["u1", "u1", "u2", "u2", "u3", "u3"], "item": ["a", "b", "a", "c", "b", "c"]}
    )
    model = Popularity().fit(clicks)
    posted = pd.DataFrame({"user": ["new", "new", "other"], "item": ["a", "unknown", "c"]})
    recs = model.recommend_history_raw(posted, k=2)
    assert list(recs.columns) == ["user", "item", "rank", "score"]
    assert recs[recs["user"] == "new"]["item"].tolist() == ["b", "c"]  # a is masked
    assert recs[recs["user"] == "other"]["item"].tolist() == ["a", "b"]
    allowed = model.recommend_history_raw(posted, k=2, items=["c"])
    assert allowed["item"].tolist() == ["c"]  # "other" already has c: nothing left for them
    with pytest.raises(SiftrecError, match="sparse history is in item indices"):
        model.recommend_history_raw(sp.csr_matrix((1, 3)))
