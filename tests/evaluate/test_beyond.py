import math

import numpy as np
import pytest

from siftrec import SiftrecError
from siftrec.evaluate.beyond import (
    average_popularity,
    beyond_accuracy,
    catalog_coverage,
    exposure_counts,
    gini_index,
    head_items,
    long_tail_share,
)

POPULARITY = np.array([50.0, 30.0, 10.0, 5.0, 5.0, 0.0, 0.0, 0.0, 0.0, 0.0])
RANKED = np.array([[0, 1, 2], [0, 3, -1], [-1, -1, -1], [7, 0, 1]])


def test_average_popularity_per_user_then_over_users():
    expected = np.mean([(50 + 30 + 10) / 3, (50 + 5) / 2, (0 + 50 + 30) / 3])
    assert average_popularity(RANKED, POPULARITY) == pytest.approx(expected)


def test_exposure_counts_and_coverage():
    np.testing.assert_array_equal(exposure_counts(RANKED, 10), [3, 2, 1, 1, 0, 0, 0, 1, 0, 0])
    assert catalog_coverage(RANKED, 10) == pytest.approx(5 / 10)


def test_gini_extremes_and_a_hand_example():
    assert gini_index(np.array([[0, 1], [2, 3]]), 4) == pytest.approx(0.0)
    assert gini_index(np.array([[2], [2], [2]]), 4) == pytest.approx(3 / 4)
    # counts sorted: 0,0,0,0,0,1,1,1,2,3 (total 8, n 10)
    counts = np.array([0, 0, 0, 0, 0, 1, 1, 1, 2, 3], dtype=float)
    j = np.arange(1, 11)
    assert gini_index(RANKED, 10) == pytest.approx(np.sum((2 * j - 11) * counts) / (10 * 8))
    assert math.isnan(gini_index(np.full((2, 2), -1), 4))


def test_head_and_long_tail():
    # head = the 2 most popular items (items 0 and 1); items 3 and 4 tie, lower index first
    np.testing.assert_array_equal(np.flatnonzero(head_items(POPULARITY, 0.2)), [0, 1])
    np.testing.assert_array_equal(np.flatnonzero(head_items(POPULARITY, 0.4)), [0, 1, 2, 3])
    assert long_tail_share(RANKED, POPULARITY) == pytest.approx(np.mean([1 / 3, 1 / 2, 1 / 3]))
    assert long_tail_share(RANKED, POPULARITY, head_fraction=0.0) == pytest.approx(1.0)


def test_beyond_accuracy_cuts_at_k():
    out = beyond_accuracy(RANKED, POPULARITY, k=1)
    assert set(out) == {"avg_popularity@1", "gini@1", "long_tail@1", "coverage@1"}
    assert out["avg_popularity@1"] == pytest.approx((50 + 50 + 0) / 3)
    assert out["coverage@1"] == pytest.approx(2 / 10)
    assert out["long_tail@1"] == pytest.approx(1 / 3)
    assert beyond_accuracy(RANKED, POPULARITY)["coverage@3"] == pytest.approx(0.5)


@pytest.mark.parametrize(
    ("ranked", "popularity", "match"),
    [
        (np.array([0, 1]), POPULARITY, "2-d"),
        (np.array([[0, 10]]), POPULARITY, "ranked item indices"),
        (np.array([[0.5]]), POPULARITY, "2-d integer"),
        (RANKED, np.array([1.0, -1.0]), "non-negative"),
        (RANKED, np.zeros((2, 5)), "1-d"),
    ],
)
def test_input_errors(ranked, popularity, match):
    with pytest.raises(SiftrecError, match=match):
        average_popularity(ranked, popularity)


def test_k_and_head_fraction_errors():
    with pytest.raises(SiftrecError, match="k must"):
        beyond_accuracy(RANKED, POPULARITY, k=4)
    with pytest.raises(SiftrecError, match="head_fraction"):
        long_tail_share(RANKED, POPULARITY, head_fraction=1.5)
