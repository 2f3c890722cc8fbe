"""Inner-product indexes: the exact one against numpy, faiss' recall against exact."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siftrec import SiftrecError
from siftrec.models import EASE, IALS, MF
from siftrec.serve.ann import ExactIndex, FaissIndex, build_index, factor_tables
from tests.serve.conftest import small_log


def _catalog(n_items: int = 4000, dim: int = 16, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Clustered item vectors with varying norms (as factor models learn) and user queries."""
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((40, dim))
    items = centres[rng.integers(0, 40, n_items)] + 0.3 * rng.standard_normal((n_items, dim))
    items *= rng.lognormal(0, 0.3, (n_items, 1))
    queries = centres[rng.integers(0, 40, 200)] + 0.3 * rng.standard_normal((200, dim))
    return items.astype(np.float32), queries.astype(np.float32)


def test_exact_index_is_the_brute_force_top_k() -> None:
    items, queries = _catalog()
    found, scores = ExactIndex(items).search(queries, 10)
    products = queries @ items.T
    np.testing.assert_array_equal(found, np.argsort(-products, axis=1, kind="stable")[:, :10])
    np.testing.assert_allclose(scores, np.sort(products, axis=1)[:, ::-1][:, :10], rtol=1e-5)


def test_faiss_recall_against_exact_and_true_scores() -> None:
    items, queries = _catalog()
    exact, _ = ExactIndex(items).search(queries, 10)
    index = FaissIndex(items, nprobe=16)
    found, scores = index.search(queries, 10)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(found, exact, strict=True)])
    assert recall >= 0.9
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ items.T, found, 1), rtol=1e-4)
    assert (np.diff(scores, axis=1) <= 0).all()
    everything = FaissIndex(items, nprobe=index._index.nlist).search(queries, 10)[0]
    np.testing.assert_array_equal(everything, exact)  # scanning every cell is exact


def test_inner_product_not_distance() -> None:
    """The extra-dimension transform: a long vector far away beats a short one nearby."""
    items = np.array([[1.0, 0.0], [10.0, 1.0], [0.1, 0.0]], dtype=np.float32)
    found, _ = FaissIndex(items, n_lists=1).search(np.array([[1.0, 0.0]], np.float32), 3)
    assert found[0].tolist() == [1, 0, 2]


def test_faiss_is_reproducible_and_round_trips(tmp_path: Path) -> None:
    items, queries = _catalog(1000)
    first = FaissIndex(items, seed=3).search(queries, 5)
    second = FaissIndex(items, seed=3)
    np.testing.assert_array_equal(first[0], second.search(queries, 5)[0])
    loaded = FaissIndex.load(second.save(tmp_path / "items.faiss"))
    np.testing.assert_array_equal(first[0], loaded.search(queries, 5)[0])
    (tmp_path / "junk.faiss").write_bytes(b"not an index")
    with pytest.raises(SiftrecError, match="not a faiss index"):
        FaissIndex.load(tmp_path / "junk.faiss")


def test_bad_input_is_refused() -> None:
    with pytest.raises(SiftrecError, match="unknown ANN backend"):
        build_index("annoy", np.ones((3, 2)))
    with pytest.raises(SiftrecError, match="non-finite"):
        ExactIndex(np.array([[np.nan, 1.0]]))
    with pytest.raises(SiftrecError, match="dimensions"):
        ExactIndex(np.ones((3, 2))).search(np.ones((1, 3)), 2)


@pytest.mark.parametrize(
    "model",
    [IALS(factors=4, iterations=2, seed=0, device="cpu"), MF(dim=4, epochs=1, item_bias=True)],
    ids=["ials", "mf-bias"],
)
def test_factor_tables_reproduce_model_scores(model) -> None:
    model.fit(small_log())
    users, items = factor_tables(model)
    np.testing.assert_allclose(users @ items.T, model.score(np.arange(model.n_users)), atol=1e-5)


def test_factor_tables_of_a_non_dot_product_model() -> None:
    assert factor_tables(EASE().fit(small_log())) is None
