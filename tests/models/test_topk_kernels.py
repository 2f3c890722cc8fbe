import numpy as np
import pytest
import scipy.sparse as sp

from siftrec.models.topk_kernels import masked_top_k


def reference(scores, k, mask, blocked):
    """Sort every row by (-score, column) after setting masked, blocked and NaN entries aside."""
    columns, values = [], []
    for row in range(scores.shape[0]):
        keep = np.ones(scores.shape[1], dtype=bool)
        keep[mask[row].indices] = False
        if blocked.size:
            keep[blocked] = False
        keep &= np.isfinite(scores[row]) | (scores[row] == np.inf)
        cols = np.flatnonzero(keep)
        order = np.lexsort((cols, -scores[row, cols]))[:k]
        chosen = cols[order]
        pad = k - len(chosen)
        columns.append(np.concatenate([chosen, np.full(pad, -1)]))
        values.append(np.concatenate([scores[row, chosen], np.full(pad, -np.inf)]))
    return np.array(columns), np.array(values, dtype=np.float32)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matches_a_sort_with_ties_masks_blocked_columns_and_nan(dtype):
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 6, size=(40, 30)).astype(dtype)  # many ties
    scores[3, :] = np.nan
    scores[4, 5:] = -np.inf  # fewer than k admissible
    scores[5, 7] = np.inf
    mask = sp.random(40, 30, density=0.3, random_state=1, format="csr")
    blocked = np.zeros(30, dtype=bool)
    blocked[[2, 11]] = True
    for k in (1, 7, 30):
        columns, values = masked_top_k(
            scores, k, mask.indptr.astype(np.int64), mask.indices.astype(np.int64), blocked
        )
        want_columns, want_values = reference(scores, k, mask, np.flatnonzero(blocked))
        np.testing.assert_array_equal(columns, want_columns)
        np.testing.assert_array_equal(values, want_values)


def test_ties_go_to_the_lower_column_by_hand():
    scores = np.array([[1.0, 3.0, 3.0, 2.0, 3.0]], dtype=np.float32)
    empty = np.zeros(0, dtype=np.int64)
    columns, values = masked_top_k(scores, 2, empty, empty, np.zeros(0, dtype=bool))
    assert columns.tolist() == [[1, 2]]
    assert values.tolist() == [[3.0, 3.0]]
    # column 1 masked: the tie among 2 and 4 goes to 2, then 4
    indptr, indices = np.array([0, 1]), np.array([1])
    columns, _ = masked_top_k(scores, 3, indptr, indices, np.zeros(0, dtype=bool))
    assert columns.tolist() == [[2, 4, 3]]
