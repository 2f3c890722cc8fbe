import numpy as np
import pytest
import torch

from siftrec.models.ranking import top_k


def reference_top_k(scores: np.ndarray, k: int) -> np.ndarray:
    """Stable sort on (-score, item index): the documented tie rule."""
    return np.array([np.lexsort((np.arange(len(row)), -row))[:k] for row in scores])


@pytest.mark.parametrize("k", [1, 3, 7, 12])
def test_matches_stable_sort_with_many_ties(k):
    rng = np.random.default_rng(k)
    scores = rng.integers(0, 4, size=(50, 12)).astype(np.float32)
    scores[rng.random(scores.shape) < 0.2] = -np.inf
    items, values = top_k(torch.as_tensor(scores), k)
    expected = reference_top_k(scores, k)
    np.testing.assert_array_equal(items, expected)
    np.testing.assert_array_equal(values, np.take_along_axis(scores, expected, axis=1))


def test_tie_at_boundary_keeps_lowest_index():
    scores = np.array([[0.5, 1.0, 0.5, 0.5, 2.0]], dtype=np.float32)
    items, _ = top_k(scores, 3)
    assert items.tolist() == [[4, 1, 0]]


def test_k_larger_than_columns_and_empty():
    items, values = top_k(np.array([[1.0, 2.0]], dtype=np.float32), 5)
    assert items.tolist() == [[1, 0]] and values.shape == (1, 2)
    items, _ = top_k(np.zeros((0, 4), dtype=np.float32), 2)
    assert items.shape == (0, 2) or items.shape[0] == 0
