import numpy as np
import pytest

from siftrec import SiftrecError
from siftrec.data.splits import split_interactions
from siftrec.data.synthetic import (
    SyntheticConfig,
    SyntheticData,
    generate,
    true_relevance_test,
    with_exposure,
)


@pytest.fixture(scope="module")
def default() -> SyntheticData:
    return generate()


def small(**overrides) -> SyntheticData:
    return generate(SyntheticConfig(n_users=120, n_items=90), **overrides)


def test_shapes_and_columns(default):
    data = default.interactions
    cfg = default.config
    assert data.shape == (cfg.n_users, cfg.n_items)
    assert default.preference.shape == default.exposure.shape == (cfg.n_users, cfg.n_items)
    assert default.preference.dtype == default.exposure.dtype == np.float32
    assert set(np.unique(default.preference)) == {0.0, 1.0}
    assert data.user_map.ids.tolist() == list(range(cfg.n_users))
    assert data.columns["timestamp"].dtype == np.int64
    assert data.columns["session"].dtype.kind == "i"
    assert data.columns["dwell_time"].dtype.kind == "f"
    assert data.columns["is_noise"].dtype == bool
    assert 0.01 <= data.density <= 0.05


def test_deterministic_per_seed():
    a, b, c = small(seed=3), small(seed=3), small(seed=4)
    np.testing.assert_array_equal(a.interactions.items, b.interactions.items)
    np.testing.assert_array_equal(
        a.interactions.columns["timestamp"], b.interactions.columns["timestamp"]
    )
    np.testing.assert_array_equal(a.preference, b.preference)
    assert not np.array_equal(a.preference, c.preference)


@pytest.mark.parametrize("ratio", [0.0, 0.2, 0.4])
def test_noise_share(ratio):
    noise = small(noise_ratio=ratio).interactions.columns["is_noise"]
    assert noise.mean() == pytest.approx(ratio, abs=0.005)


def test_noise_dwell_is_shorter_but_overlaps(default):
    dwell = default.interactions.columns["dwell_time"]
    noise = default.interactions.columns["is_noise"]
    assert dwell[noise].mean() < dwell[~noise].mean() / 5
    assert (dwell[noise] > 20).any() and (dwell[~noise] < 20).any()


def test_every_user_has_enough_true_clicks(default):
    data = default.interactions
    true_clicks = np.bincount(data.users[~data.columns["is_noise"]], minlength=data.n_users)
    assert true_clicks.min() >= default.config.min_clicks


def test_clicks_agree_with_preference_and_exposure(default):
    data = default.interactions
    noise = data.columns["is_noise"]
    pref = default.preference[data.users, data.items]
    assert np.all(pref[~noise] == 1) and np.all(pref[noise] == 0)
    assert np.all(default.exposure > 0) and np.all(default.exposure <= 1)


def test_exposure_is_popularity_skewed(default):
    item_exposure = default.exposure.mean(axis=0)
    top, bottom = np.sort(item_exposure)[-80:], np.sort(item_exposure)[:80]
    assert top.mean() > 10 * bottom.mean()
    true = ~default.interactions.columns["is_noise"]
    clicks = np.bincount(default.interactions.items[true], minlength=default.config.n_items)
    assert np.corrcoef(clicks, item_exposure)[0, 1] > 0.5


def test_timestamps_and_sessions_increase_per_user(default):
    data = default.interactions
    same_user = data.users[1:] == data.users[:-1]
    assert np.all(np.diff(data.users) >= 0)
    assert np.all(np.diff(data.columns["timestamp"])[same_user] >= 0)
    assert np.all(np.diff(data.columns["session"])[same_user] >= 0)
    assert np.all(data.columns["timestamp"] >= default.config.start)


def test_noise_contains_click_bursts(default):
    data = default.interactions
    noise = data.columns["is_noise"]
    same_user = data.users[1:] == data.users[:-1]
    quick = same_user & (np.diff(data.columns["timestamp"]) <= 3) & noise[1:] & noise[:-1]
    quick_true = same_user & (np.diff(data.columns["timestamp"]) <= 3) & ~noise[1:] & ~noise[:-1]
    assert quick.sum() > 0.15 * noise.sum()
    assert quick_true.sum() < 0.01 * (~noise).sum()


def test_splits_work_on_default(default):
    split = split_interactions(default.interactions, "leave-last", k=1)
    assert len(split.test) == default.config.n_users


def test_overrides_and_validation():
    assert generate(n_users=30, n_items=20).interactions.n_users == 30
    with pytest.raises(SiftrecError, match="unknown synthetic parameter 'colour'"):
        generate(colour=1)
    with pytest.raises(SiftrecError, match="noise_ratio"):
        generate(noise_ratio=1.0)
    with pytest.raises(SiftrecError, match="n_items"):
        generate(n_items=5)
    with pytest.raises(SiftrecError, match="integer"):
        generate(n_users=10.5)
    with pytest.raises(SiftrecError, match="config"):
        generate({"n_users": 3})


def test_true_relevance_test_is_every_relevant_pair_outside_the_known_clicks():
    data = small(seed=1)
    split = split_interactions(data.interactions, "random", test_ratio=0.2, seed=1)
    test = true_relevance_test(data, [split.train])
    assert test.user_map is data.interactions.user_map
    assert np.all(data.preference[test.users, test.items] == 1)
    pairs = set(zip(test.users.tolist(), test.items.tolist(), strict=True))
    assert len(pairs) == len(test)
    assert not pairs & set(zip(split.train.users.tolist(), split.train.items.tolist(), strict=True))
    held_clean = split.test.subset(~split.test.column("is_noise"))
    assert set(zip(held_clean.users.tolist(), held_clean.items.tolist(), strict=True)) <= pairs
    train_relevant = data.preference[split.train.users, split.train.items].sum()
    assert len(test) == data.preference.sum() - train_relevant
    assert len(true_relevance_test(data)) == data.preference.sum()


def test_with_exposure_adds_the_true_propensity_of_each_pair():
    data = small(seed=2)
    log = data.interactions.subset(np.arange(0, len(data.interactions), 3))
    theta = with_exposure(data, log).column("propensity")
    np.testing.assert_allclose(theta, data.exposure[log.users, log.items])
    assert with_exposure(data, log).column("is_noise").tolist() == log.column("is_noise").tolist()


def test_truth_helpers_refuse_a_log_of_other_data():
    data = small()
    other = generate(n_users=30, n_items=20).interactions
    with pytest.raises(SiftrecError, match="not the synthetic data's 120 × 90"):
        true_relevance_test(data, other)
    with pytest.raises(SiftrecError, match="not the synthetic data's"):
        with_exposure(data, other)
