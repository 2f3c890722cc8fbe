import numpy as np
import pytest

import siftrec.samplers.membership as membership
from siftrec import Interactions, SiftrecError
from siftrec.samplers import PositiveIndex, get_sampler


def random_log(seed=0, n_users=50, n_items=30, dense_users=3):
    """A random log where the first ``dense_users`` users saw all items but one or two."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(n_users):
        if u < dense_users:
            chosen = rng.choice(n_items, size=n_items - 1 - u % 2, replace=False)
        else:
            chosen = rng.choice(n_items, size=rng.integers(1, 10), replace=False)
        users += [u] * len(chosen)
        items += list(chosen)
    return Interactions.from_raw(np.array(users), np.array(items))


def run_epoch(sampler, train, seed=0, batch_size=64, epoch=0):
    sampler.setup(train, np.random.default_rng(seed))
    batches = list(sampler.epoch(epoch, batch_size))
    cat = {
        k: np.concatenate([getattr(b, k).numpy() for b in batches])
        for k in ("ids", "users", "pos", "neg")
    }
    return batches, cat


def test_without_exclusion_positives_do_appear():
    train = random_log()
    _, cat = run_epoch(get_sampler("uniform", n_negatives=5, exclude_positives=False), train)
    hits = np.asarray(train.binary[np.repeat(cat["users"], 5), cat["neg"].ravel()]).ravel()
    assert hits.sum() > 0


def test_dense_users_get_their_only_free_items():
    train = random_log()
    positives = train.binary.toarray().astype(bool)
    rng = np.random.default_rng(3)
    index = PositiveIndex(train.users, train.items, train.n_users, train.n_items)
    users = np.repeat(np.arange(3), 2000)
    items = index.sample_complement(users, rng)
    assert not positives[users, items].any()
    # user 1 has two free items: both drawn, about equally often
    free = np.flatnonzero(~positives[1])
    counts = np.array([(items[users == 1] == f).sum() for f in free])
    assert len(free) == 2 and counts.min() > 800


@pytest.mark.parametrize("hashed", [False, True])
def test_membership_exact_and_hashed(monkeypatch, hashed):
    if hashed:  # a 64-bit filter: many collisions, all resolved by the exact confirmation
        monkeypatch.setattr(membership, "EXACT_BITS", 1 << 6)
    train = random_log(seed=4)
    index = PositiveIndex(train.users, train.items, train.n_users, train.n_items)
    assert index.exact != hashed
    rng = np.random.default_rng(5)
    users = rng.integers(0, train.n_users, 20_000)
    items = rng.integers(0, train.n_items, 20_000)
    expected = np.asarray(train.binary[users, items]).ravel() > 0
    np.testing.assert_array_equal(index.contains(users, items), expected)


def test_popularity_frequencies_follow_count_power():
    rng = np.random.default_rng(6)
    n_items = 12
    counts = np.arange(1, n_items + 1) * 5
    items = np.repeat(np.arange(n_items), counts)
    users = rng.integers(0, 2000, len(items))
    train = Interactions.from_raw(users, items)
    sampler = get_sampler("popularity(beta=0.75)", exclude_positives=False)
    sampler.setup(train, np.random.default_rng(7))
    draws = sampler.draw_items(np.zeros(200_000, dtype=np.int64))
    observed = np.bincount(train.item_map.to_raw(draws), minlength=n_items)
    expected = counts**0.75 / (counts**0.75).sum() * len(draws)
    chi2 = ((observed - expected) ** 2 / expected).sum()
    assert chi2 < 35  # 11 degrees of freedom: p ≈ 0.0002
    # beta = 0 is uniform
    sampler = get_sampler("popularity(beta=0)", exclude_positives=False)
    sampler.setup(train, np.random.default_rng(7))
    flat = np.bincount(sampler.draw_items(np.zeros(120_000, dtype=np.int64)), minlength=n_items)
    assert ((flat - 10_000) ** 2 / 10_000).sum() < 35


def test_interactions_epoch_is_a_shuffled_pass():
    train = random_log()
    batches, cat = run_epoch(get_sampler("uniform"), train, batch_size=64)
    assert max(len(b) for b in batches) == 64
    np.testing.assert_array_equal(np.sort(cat["ids"]), np.arange(len(train)))
    assert not np.array_equal(cat["ids"], np.arange(len(train)))
    np.testing.assert_array_equal(cat["users"], train.users[cat["ids"]])
    np.testing.assert_array_equal(cat["pos"], train.items[cat["ids"]])


def test_users_epoch_draws_users_uniformly():
    train = random_log(dense_users=0)
    sampler = get_sampler("uniform", epoch_mode="users")
    sampler.setup(train, np.random.default_rng(8))
    users, ids = [], []
    for epoch in range(40):
        for b in sampler.epoch(epoch, 512):
            users.append(b.users.numpy())
            ids.append(b.ids.numpy())
    users, ids = np.concatenate(users), np.concatenate(ids)
    assert len(users) == 40 * len(train)
    np.testing.assert_array_equal(train.users[ids], users)
    observed = np.bincount(users, minlength=train.n_users)
    expected = len(users) / train.n_users
    assert ((observed - expected) ** 2 / expected).sum() < 90  # 49 dof: p ≈ 0.0003
    # interactions mode would follow the (very unequal) user degrees instead
    degree = train.user_counts()
    assert degree.max() > 3 * degree.min()


def test_errors():
    full = Interactions.from_raw([0, 0, 1], [0, 1, 0])
    get_sampler("uniform", exclude_positives=False).setup(full, np.random.default_rng(0))
    with pytest.raises(SiftrecError, match="given both"):
        get_sampler("popularity(n_negatives=2)", n_negatives=1)
    with pytest.raises(SiftrecError, match="unknown sampler"):
        get_sampler("pld2")
