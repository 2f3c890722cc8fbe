import numpy as np
import pytest

from siftrec.samplers import pld_kernels


@pytest.mark.parametrize("with_bias", [False, True])
def test_pair_scores_are_the_dot_products_plus_bias(with_bias):
    rng = np.random.default_rng(0)
    p = rng.standard_normal((7, 5)).astype(np.float32)
    q = rng.standard_normal((9, 5)).astype(np.float32)
    bias = rng.standard_normal(9).astype(np.float32) if with_bias else np.empty(0, np.float32)
    users, items = rng.integers(0, 7, 50), rng.integers(0, 9, 50)
    expected = np.einsum("ed,ed->e", p[users].astype(np.float64), q[items].astype(np.float64))
    if with_bias:
        expected += bias[items]
    scores = pld_kernels.pair_scores(p, q, bias, users, items)
    assert scores.dtype == np.float32
    np.testing.assert_allclose(scores, expected, rtol=1e-5, atol=1e-5)


def test_pool_positions_by_hand():
    # user 0: positions 0-1 (degree 2 < k: with replacement); user 1: positions 2-7 (degree 6)
    row_ptr = np.array([0, 2, 8])
    draws = np.array([[0.5, 0.5], [0.9, 0.45], [0.1, 0.99]])  # [k=3, examples]
    positions = pld_kernels.pool_positions(np.array([0, 1]), row_ptr, draws)
    # user 0: ⌊0.5·2⌋, ⌊0.9·2⌋, ⌊0.1·2⌋ = 1, 1, 0
    # user 1 (Floyd): ⌊0.5·4⌋ = 2; ⌊0.45·5⌋ = 2 is taken -> top 4; ⌊0.99·6⌋ = 5
    np.testing.assert_array_equal(positions, [[1, 1, 0], [2 + 2, 2 + 4, 2 + 5]])


def test_pool_positions_without_replacement_are_uniform_subsets():
    rng = np.random.default_rng(0)
    n, k, degree = 60_000, 3, 5
    positions = pld_kernels.pool_positions(
        np.zeros(n, dtype=np.int64), np.array([0, degree]), rng.random((k, n))
    )
    ordered = np.sort(positions, axis=1)
    assert (np.diff(ordered, axis=1) > 0).all()  # distinct
    subsets = np.unique(ordered, axis=0, return_counts=True)[1]
    assert len(subsets) == 10  # all C(5, 3) subsets, each ~n/10 times
    assert np.abs(subsets / n - 0.1).max() < 0.01


def test_take_is_fancy_indexing():
    values = np.arange(10, dtype=np.float32) * 1.5
    index = np.array([[3, 3, 9], [0, 1, 2]])
    np.testing.assert_array_equal(pld_kernels.take(values, index), values[index])
