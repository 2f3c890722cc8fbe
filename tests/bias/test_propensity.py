import numpy as np
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.bias import (
    clip_propensities,
    diagnose_propensities,
    effective_sample_size,
    popularity_propensities,
    with_propensity,
)
from siftrec.data.ids import IdMap

ITEMS = IdMap(np.arange(10, 15))  # 5 items; indices 1 and 3 never clicked below


def log(users, items, n_users=4) -> Interactions:
    return Interactions(
        np.array(users), np.array(items), np.ones(len(users)), IdMap(np.arange(n_users)), ITEMS
    )


def test_power_law_counts_distinct_users_and_normalises_by_the_maximum():
    # item 0: users 0, 1, 2, 3 (user 0 twice); item 2: user 0; item 4: users 1, 2
    train = log([0, 0, 1, 2, 3, 0, 1, 2], [0, 0, 0, 0, 0, 2, 4, 4])
    theta = popularity_propensities(train, eta=0.5, floor=0.01)
    np.testing.assert_allclose(theta, [1.0, 0.01, 0.5, 0.01, np.sqrt(0.5)])


def test_zero_click_items_keep_their_place_and_get_the_floor():
    # Clicks only on items 2 and 4: a count array without zero-click items would put item 2's
    # propensity at index 0; ours has one entry per item of the map.
    train = log([0, 1, 2, 3, 0], [4, 4, 4, 4, 2])
    theta = popularity_propensities(train, eta=1.0, floor=0.05)
    assert theta.shape == (train.n_items,)
    np.testing.assert_allclose(theta, [0.05, 0.05, 0.25, 0.05, 1.0])
    np.testing.assert_allclose(theta[train.items], [1.0, 1.0, 1.0, 1.0, 0.25])


def test_eta_zero_gives_uniform_propensities_except_unclicked_items():
    theta = popularity_propensities(log([0, 1], [0, 2]), eta=0.0, floor=0.1)
    np.testing.assert_allclose(theta, [1.0, 0.1, 1.0, 0.1, 0.1])


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"eta": -1.0}, "eta"), ({"floor": 1.5}, "floor"), ({"floor": -0.1}, "floor")],
)
def test_power_law_rejects_bad_parameters(kwargs, message):
    with pytest.raises(SiftrecError, match=message):
        popularity_propensities(log([0], [0]), **kwargs)


def test_power_law_rejects_an_empty_log():
    with pytest.raises(SiftrecError, match="empty"):
        popularity_propensities(log([], []))


def test_with_propensity_per_item_and_per_pair():
    data = log([0, 1, 3], [4, 0, 2])
    per_item = np.array([0.1, 0.2, 0.3, 0.4, 0.5])
    np.testing.assert_allclose(
        with_propensity(data, per_item).column("propensity"), [0.5, 0.1, 0.3]
    )
    per_pair = np.arange(20, dtype=np.float64).reshape(4, 5) / 20
    out = with_propensity(data, per_pair, floor=0.2)
    np.testing.assert_allclose(out.column("propensity"), [0.2, 0.25, 0.85])
    assert out.column("propensity").dtype == np.float32


def test_with_propensity_rejects_bad_shapes_and_values():
    data = log([0], [1])
    with pytest.raises(SiftrecError, match="shape"):
        with_propensity(data, np.ones(4))
    with pytest.raises(SiftrecError, match=r"\[0, 1\]"):
        with_propensity(data, np.array([0.5, 1.5, 0.5, 0.5, 0.5]))
    with pytest.raises(SiftrecError, match=r"\[0, 1\]"):
        clip_propensities(np.array([np.nan]))


def test_clip_raises_small_values_only():
    np.testing.assert_allclose(
        clip_propensities(np.array([0.0, 0.005, 0.5]), 0.01), [0.01, 0.01, 0.5]
    )


def test_effective_sample_size():
    assert effective_sample_size(np.ones(7)) == pytest.approx(7.0)
    assert effective_sample_size(np.array([1.0, 2.0, 3.0])) == pytest.approx(36 / 14)
    assert effective_sample_size(np.array([5.0, 0.0, 0.0])) == pytest.approx(1.0)
    with pytest.raises(SiftrecError, match="non-negative"):
        effective_sample_size(np.array([1.0, -1.0]))


def test_diagnostics_report_quantiles_clipping_and_ess():
    theta = np.array([0.001, 0.1, 0.25, 0.5, 1.0])
    report = diagnose_propensities(theta, clip=0.01)
    assert report.n == 5
    assert report.quantiles["q0"] == pytest.approx(0.01)
    assert report.quantiles["q50"] == pytest.approx(0.25)
    assert report.quantiles["q100"] == pytest.approx(1.0)
    assert report.share_clipped == pytest.approx(0.2)
    assert report.max_weight == pytest.approx(100.0)
    w = np.array([100.0, 10.0, 4.0, 2.0, 1.0])
    assert report.ess == pytest.approx(w.sum() ** 2 / np.square(w).sum())
    assert report.ess_ratio == pytest.approx(report.ess / 5)
    assert set(report.to_dict()) >= {"quantiles", "ess", "ess_ratio"}


def test_diagnostics_need_a_clip_for_zero_propensities():
    with pytest.raises(SiftrecError, match="clip"):
        diagnose_propensities(np.array([0.0, 0.5]))
