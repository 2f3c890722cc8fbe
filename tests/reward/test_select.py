"""best_of_n (max / median, margin, fallback), group normalisation and the IPS/SNIPS value."""

from __future__ import annotations

import numpy as np
import pytest

from siftrec import SiftrecError
from siftrec.reward import KEEP_ORIGINAL, best_of_n, group_normalize, policy_value

NAN = np.nan


def test_max_and_median_pick_per_row() -> None:
    rewards = np.array([[0.1, 0.9, 0.5, 0.3], [2.0, 1.0, NAN, 3.0], [NAN, NAN, NAN, NAN]])
    assert best_of_n(rewards).tolist() == [1, 3, KEEP_ORIGINAL]
    # median: the lower median of the present rewards (rank count // 2 from the top)
    assert best_of_n(rewards, selection="median").tolist() == [3, 0, KEEP_ORIGINAL]


def test_margin_and_fallback_to_the_original() -> None:
    rewards = np.array([[0.5, 0.7], [0.5, 0.7], [0.5, 0.7], [0.5, 0.7]])
    original = np.array([0.6, 0.7, 0.65, 0.1])
    chosen = best_of_n(rewards, original, margin=0.05)
    # 0.7 > 0.6 + 0.05 → pick; 0.7 is not > 0.75 → keep; 0.7 is not > 0.70 → keep; 0.7 > 0.15
    assert chosen.tolist() == [1, KEEP_ORIGINAL, KEEP_ORIGINAL, 1]
    assert best_of_n(rewards, original).tolist() == [1, KEEP_ORIGINAL, 1, 1]
    median = best_of_n(rewards, original, selection="median")
    assert median.tolist() == [KEEP_ORIGINAL, KEEP_ORIGINAL, KEEP_ORIGINAL, 0]


def test_best_of_n_refuses_bad_arguments() -> None:
    with pytest.raises(SiftrecError, match="selection"):
        best_of_n(np.zeros((1, 2)), selection="mean")
    with pytest.raises(SiftrecError, match="margin"):
        best_of_n(np.zeros((1, 2)), margin=-1)
    with pytest.raises(SiftrecError, match="one reward per context"):
        best_of_n(np.zeros((2, 2)), np.zeros(3))
    with pytest.raises(SiftrecError, match="matrix"):
        best_of_n(np.zeros(3))


def test_group_normalize_filters_low_variance_groups() -> None:
    rewards = np.array([[1.0, 3.0, NAN], [5.0, 5.0, 5.0 + 1e-6], [7.0, NAN, NAN]])
    z, keep = group_normalize(rewards, min_std=1e-3)
    assert keep.tolist() == [True, False, False]
    np.testing.assert_allclose(z[0, :2], [-1.0, 1.0])
    assert np.isnan(z[0, 2]) and (z[1] == 0).all()


def test_policy_value_ips_and_snips_by_hand() -> None:
    target = np.array([1.0, 0.0, 1.0, 1.0])
    rewards = np.array([1.0, 1.0, 0.0, 2.0])
    p = np.array([0.5, 0.5, 0.25, 0.5])
    value = policy_value(target, rewards, p)
    weights = np.array([2.0, 0.0, 4.0, 2.0])
    assert value.ips == pytest.approx((2 + 0 + 0 + 4) / 4)
    assert value.snips == pytest.approx(6 / weights.sum())
    assert value.matched == 3
    assert value.effective_sample_size == pytest.approx(64 / 24)
    with pytest.raises(SiftrecError, match="propensity 0"):
        policy_value(target, rewards, np.array([0.5, 0.5, 0.0, 0.5]))
    assert policy_value(target, rewards, np.array([0.5, 0.5, 0.0, 0.5]), clip=0.25).ips == 1.5
