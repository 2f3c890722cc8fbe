import gzip
import io
import sys
from pathlib import Path

import numpy as np
import pytest
import scipy.sparse as sp
from rich.console import Console

from siftrec import Interactions, SiftrecError, resources
from siftrec.models import ItemKNN, Popularity, Recommender, load_model
from siftrec.models import knn as knn_module
from siftrec.models.knn import item_similarity
from siftrec.testing import contract_log as contract_data

# users × items: u0 {0,1}, u1 {0,2}, u2 {0,1,2}, u3 {1}
HAND = sp.csr_matrix(np.array([[1, 1, 0], [1, 0, 1], [1, 1, 1], [0, 1, 0]], dtype=np.float32))


def test_similarity_by_hand_with_shrinkage():
    # norms √3, √3, √2; dots (0,1)=2, (0,2)=2, (1,2)=1; shrink 1 in the denominator
    s01, s02, s12 = 2 / (3 + 1), 2 / (np.sqrt(6) + 1), 1 / (np.sqrt(6) + 1)
    expected = np.array([[0, s01, s02], [s01, 0, s12], [s02, s12, 0]])
    np.testing.assert_allclose(item_similarity(HAND, k=2, shrink=1.0).toarray(), expected, 1e-6)
    model = ItemKNN(k=2, shrink=1.0).fit(Interactions.from_csr(HAND))
    np.testing.assert_allclose(model.score([3])[0], [s01, 0, s12], rtol=1e-6)


def test_top_k_pruning_by_hand():
    # k=1: item 0's nearest is 2 (s02 > s01), item 1's is 0, item 2's is 0 (column = target).
    s01, s02 = 2 / (3 + 1), 2 / (np.sqrt(6) + 1)
    expected = np.array([[0, s01, s02], [0, 0, 0], [s02, 0, 0]])
    np.testing.assert_allclose(item_similarity(HAND, k=1, shrink=1.0).toarray(), expected, 1e-6)


def test_matches_dense_cosine_and_keeps_top_k():
    x = contract_data(seed=3).binary
    dense = x.toarray().astype(np.float64)
    dots = dense.T @ dense
    norms = np.sqrt(np.diag(dots))
    full = dots / (np.outer(norms, norms) + 5.0)
    np.fill_diagonal(full, 0)
    np.testing.assert_allclose(item_similarity(x, k=1000, shrink=5.0).toarray(), full, 1e-5)
    pruned = item_similarity(x, k=4, shrink=5.0).toarray()
    for j in range(x.shape[1]):
        kept = np.flatnonzero(pruned[:, j])
        assert len(kept) <= 4
        np.testing.assert_allclose(pruned[kept, j], full[kept, j], rtol=1e-5)
        assert full[kept, j].min() >= np.sort(full[:, j])[-4] - 1e-6


def test_zero_norm_items_without_shrink():
    x = sp.csr_matrix(np.array([[1, 0, 1], [1, 0, 0]], dtype=np.float32))
    s = item_similarity(x, k=5, shrink=0.0).toarray()
    assert np.all(np.isfinite(s))
    np.testing.assert_allclose(s, [[0, 0, 1 / np.sqrt(2)], [0, 0, 0], [1 / np.sqrt(2), 0, 0]])


def test_feedback_weighting_uses_weights_and_round_trips(tmp_path):
    data = Interactions.from_csr(
        sp.csr_matrix(np.array([[3, 1, 0], [1, 0, 1], [0, 2, 2]], dtype=np.float32))
    )
    binary = ItemKNN(shrink=0.0).fit(data)
    weighted = ItemKNN(shrink=0.0, feedback_weighting="weights").fit(data)
    assert not np.allclose(binary.score([0]), weighted.score([0]))
    # item 0 and 1: dot 3·1 = 3, norms √10 and √5; user 0 scores item 1 with weight 3.
    assert weighted.score([0])[0, 1] == pytest.approx(3 * 3 / np.sqrt(50), rel=1e-6)
    loaded = load_model(weighted.save(tmp_path / "m"))
    np.testing.assert_allclose(loaded.score([0, 1, 2]), weighted.score([0, 1, 2]))
    np.testing.assert_allclose(
        loaded.score_history(sp.csr_matrix([[2.0, 0, 0]])),
        [[0, 6 / np.sqrt(50), 2 / np.sqrt(50)]],
        1e-6,
    )


def test_memory_guard_refuses_and_force_bypasses(monkeypatch):
    data = contract_data()
    monkeypatch.setattr(resources, "memory_limits", lambda: {"cgroup limit": 10_000})
    with pytest.raises(
        SiftrecError,
        match=r"^ItemKNN on 40 items needs ~.* kB \(10 neighbours per item and dense similarity "
        r"blocks\) but the process may use 10\.0 kB \(cgroup limit\); use a smaller k",
    ):
        ItemKNN(k=10).fit(data)
    assert ItemKNN(k=10, force=True).fit(data).similarity_.shape == (40, 40)


def test_huge_catalog_is_refused_before_building_the_similarity(monkeypatch):
    n_items = 1_000_000
    huge = sp.csr_matrix(([1.0, 1.0], ([0, 1], [0, n_items - 1])), shape=(2, n_items))
    nbytes, operations = knn_module.similarity_cost(huge, k=100)
    assert nbytes > n_items * 100 * 20  # the kept neighbours alone
    assert operations >= n_items**2  # quadratic in the catalog
    monkeypatch.setattr(resources, "memory_limits", lambda: {"available memory": 4 * 10**9})

    def reached(*args, **kwargs):
        raise RuntimeError("similarity reached")

    monkeypatch.setattr(knn_module, "item_similarity", reached)
    with pytest.raises(SiftrecError, match=r"ItemKNN on 1,000,000 items needs ~\d+\.\d GB"):
        ItemKNN(k=100).fit(Interactions.from_csr(huge))


def test_estimate_grows_with_k_and_catalog():
    small = sp.random(50, 40, density=0.2, format="csr", random_state=0, dtype=np.float32)
    large = sp.random(50, 400, density=0.02, format="csr", random_state=0, dtype=np.float32)
    assert knn_module.similarity_cost(small, 20)[0] > knn_module.similarity_cost(small, 5)[0]
    assert knn_module.similarity_cost(large, 5)[1] > 50 * knn_module.similarity_cost(small, 5)[1]


def test_progress_bar_over_blocks_and_identical_result(monkeypatch):
    x = sp.random(80, 300, density=0.05, format="csr", random_state=5, dtype=np.float32)
    expected = item_similarity(x, k=7, shrink=2.0, progress=False)
    monkeypatch.setattr(knn_module, "_BLOCK_BYTES", 4 * 300 * 16)  # 19 blocks of 16 items
    out = io.StringIO()
    console = Console(file=out, force_terminal=True, width=120)
    monkeypatch.setattr(knn_module, "_console", lambda: console)
    shown = item_similarity(x, k=7, shrink=2.0, progress=True)
    assert "item similarity (~" in out.getvalue() and "300/300" in out.getvalue()
    for attr in ("data", "indices", "indptr"):
        np.testing.assert_array_equal(getattr(shown, attr), getattr(expected, attr))


def test_progress_shown_only_on_a_terminal_for_large_work(monkeypatch):
    x = contract_data(n_items=40).binary
    opened = []
    monkeypatch.setattr(knn_module, "_console", lambda: opened.append(1) or Console(quiet=True))
    item_similarity(x, k=5, shrink=0.0)  # stderr is not a terminal under pytest
    monkeypatch.setattr(knn_module, "_PROGRESS_OPERATIONS", 0)
    item_similarity(x, k=5, shrink=0.0)
    assert opened == []

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    monkeypatch.setattr(sys, "stderr", Terminal())
    item_similarity(x, k=5, shrink=0.0)
    assert opened == [1]
    monkeypatch.setattr(knn_module, "_PROGRESS_OPERATIONS", 10**12)
    item_similarity(x, k=5, shrink=0.0)
    assert opened == [1]
    assert "progress" not in ItemKNN().get_params()


def test_load_refuses_a_similarity_of_the_wrong_shape(tmp_path):
    saved = ItemKNN(k=3).fit(contract_data()).save(tmp_path / "m")
    state = dict(np.load(saved / "arrays.npz"))
    state["sim_shape"] = np.array([41, 41])
    state["sim_indptr"] = np.concatenate([state["sim_indptr"], state["sim_indptr"][-1:]])
    np.savez(saved / "arrays.npz", **state)
    with pytest.raises(SiftrecError, match=r"saved similarity has shape \(41, 41\), expected"):
        load_model(saved)


# ---------------------------------------------------------------- real data (ml-100k)
def ml100k_split(root: Path, seed: int = 0) -> tuple[Interactions, sp.csr_matrix]:
    """ML-100K ratings >= 4 as positives, random 80/20 per user: (train, test matrix)."""
    path = root / "ml-100k" / "u.data.gz"
    if not path.is_file():
        pytest.skip(f"{path} not found")
    with gzip.open(path) as f:
        raw = np.loadtxt(f, dtype=np.int64)
    raw = raw[raw[:, 2] >= 4]
    data = Interactions.from_raw(raw[:, 0], raw[:, 1])
    rng = np.random.default_rng(seed)
    order = np.lexsort((rng.random(len(data)), data.users))
    counts = data.user_counts()
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    rank = np.empty(len(data), dtype=np.int64)
    rank[order] = np.arange(len(data)) - starts[data.users[order]]
    is_test = rank < np.round(0.2 * counts[data.users])
    return data.subset(~is_test), data.subset(is_test).binary


def recall_at(model: Recommender, test: sp.csr_matrix, k: int = 20) -> float:
    """Mean Recall@k (hits / |test items|) over users with test items."""
    users = np.flatnonzero(np.diff(test.indptr))
    items, _ = model.recommend(users, k=k)
    hits = np.asarray(test[users[:, None], np.maximum(items, 0)].todense()) * (items >= 0)
    return float(np.mean(hits.sum(axis=1) / np.diff(test.indptr)[users]))


def test_ml100k_beats_popularity(shared_data):
    train, test = ml100k_split(shared_data)
    popularity = recall_at(Popularity().fit(train), test)
    knn = recall_at(ItemKNN().fit(train), test)
    assert knn > 1.5 * popularity, (knn, popularity)
