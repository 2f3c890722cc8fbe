import numpy as np
import pytest
import scipy.sparse as sp

from siftrec import Interactions, SiftrecError
from siftrec.data.ids import IdMap
from siftrec.data.noise import add_popular_noise, add_random_noise, clean_only, natural_noise
from siftrec.data.synthetic import generate


@pytest.fixture(scope="module")
def log() -> Interactions:
    """Synthetic clicks without the generator's own noise, with its side columns."""
    data = generate(n_users=150, n_items=120, seed=2).interactions
    return data.subset(~data.column("is_noise")).with_columns(
        rating=np.arange(len(data) - int(data.column("is_noise").sum())) % 5 + 1
    )


def pair_keys(data: Interactions) -> np.ndarray:
    return data.users.astype(np.int64) * data.n_items + data.items


@pytest.mark.parametrize("protocol", [add_random_noise, add_popular_noise])
def test_flags_exactly_the_added_rows(log, protocol):
    n = len(log)
    noisy = protocol(log, 0.5, seed=3)
    flags = noisy.column("is_noise")
    assert flags.dtype == bool
    assert not flags[:n].any() and flags[n:].all()
    np.testing.assert_array_equal(noisy.users[:n], log.users)
    np.testing.assert_array_equal(noisy.items[:n], log.items)
    for name, values in log.columns.items():
        np.testing.assert_array_equal(noisy.column(name)[:n], values)
        assert noisy.column(name).dtype == values.dtype
    np.testing.assert_array_equal(noisy.weights[n:], 1.0)
    # ⌊ratio · n_u⌋ new, distinct items per user, none of them already the user's
    added = noisy.subset(flags)
    np.testing.assert_array_equal(added.user_counts(), np.floor(0.5 * log.user_counts()))
    keys = pair_keys(added)
    assert len(np.unique(keys)) == len(keys)
    assert not np.isin(keys, pair_keys(log)).any()
    assert noisy.user_map == log.user_map and noisy.item_map == log.item_map


def test_added_rows_copy_side_columns_of_the_same_user(log):
    noisy = add_random_noise(log, 1.0, seed=0)
    added = noisy.subset(noisy.column("is_noise"))
    own = set(zip(log.users.tolist(), log.column("timestamp").tolist(), strict=True))
    stamps = added.column("timestamp").tolist()
    assert all(pair in own for pair in zip(added.users.tolist(), stamps, strict=True))


def test_seeded(log):
    a, b = add_random_noise(log, 0.3, seed=1), add_random_noise(log, 0.3, seed=1)
    np.testing.assert_array_equal(a.items, b.items)
    assert not np.array_equal(a.items, add_random_noise(log, 0.3, seed=2).items)


def test_existing_flags_are_kept(log):
    flagged = log.with_columns(is_noise=np.arange(len(log)) % 7 == 0)
    noisy = add_random_noise(flagged, 0.2, seed=0)
    np.testing.assert_array_equal(noisy.column("is_noise")[: len(log)], flagged.column("is_noise"))


def test_zero_ratio_adds_nothing(log):
    noisy = add_popular_noise(log, 0.0)
    assert len(noisy) == len(log) and not noisy.column("is_noise").any()


def many_users_log(n_users: int) -> Interactions:
    """``n_users`` users holding items 0 and 1, one more user clicking items 2..5 once, twice,
    three and four times, and item 6 that nobody clicked."""
    users = np.r_[np.repeat(np.arange(n_users), 2), np.full(10, n_users)]
    items = np.r_[np.tile([0, 1], n_users), [2, 3, 3, 4, 4, 4, 5, 5, 5, 5]]
    return Interactions(
        users,
        items,
        np.ones(len(users)),
        IdMap(np.arange(n_users + 1)),
        IdMap(np.arange(7)),
    )


@pytest.mark.parametrize(
    ("protocol", "expected"),
    [
        (lambda d: add_random_noise(d, 0.5, seed=5), np.array([1, 1, 1, 1, 1]) / 5),
        (lambda d: add_popular_noise(d, 0.5, seed=5), np.array([1, 2, 3, 4, 0]) / 10),
        (lambda d: add_popular_noise(d, 0.5, seed=5, beta=2.0), np.array([1, 4, 9, 16, 0]) / 30),
        (lambda d: add_popular_noise(d, 0.5, seed=5, beta=0.0), np.array([1, 1, 1, 1, 0]) / 4),
    ],
)
def test_item_distribution(protocol, expected):
    """Each of 40,000 users draws one unseen item: uniform, or ∝ count^beta (never item 6)."""
    n_users = 40_000
    noisy = protocol(many_users_log(n_users))
    added = noisy.subset(noisy.column("is_noise") & (noisy.users < n_users))
    counts = np.bincount(added.items, minlength=7)
    assert counts[:2].sum() == 0 and counts.sum() == n_users
    observed = counts[2:] / n_users
    sigma = np.sqrt(expected * (1 - expected) / n_users)
    assert np.all(np.abs(observed - expected) <= 5 * sigma + 1e-12), observed


def test_popular_noise_exact_for_a_user_needing_every_unseen_item():
    """Sampling is exact, not rejection-bound: a user whose wanted count equals their number of
    unseen items gets each of them once."""
    user_map, item_map = IdMap(np.array([0, 1])), IdMap(np.arange(40))
    users = np.r_[np.zeros(40), np.ones(20)]
    items = np.r_[np.arange(40) % 20, np.arange(20, 40)]  # user 0: items 0..19 twice
    noisy = add_popular_noise(Interactions(users, items, np.ones(60), user_map, item_map), 0.5)
    added = noisy.subset(noisy.column("is_noise"))
    np.testing.assert_array_equal(np.sort(added.items[added.users == 0]), np.arange(20, 40))
    assert np.isin(added.items[added.users == 1], np.arange(20)).all()
    assert (added.users == 1).sum() == 10


def test_capped_at_the_unseen_items():
    matrix = sp.csr_matrix(np.array([[1, 1, 1, 0], [1, 0, 0, 0]], dtype=np.float32))
    data = Interactions.from_csr(matrix)
    noisy = add_random_noise(data, 5.0, seed=0)
    assert not noisy.column("is_noise")[: len(data)].any()
    added = noisy.subset(noisy.column("is_noise"))
    np.testing.assert_array_equal(added.user_counts(), [1, 3])


@pytest.mark.parametrize("ratio", [-0.1, float("nan"), float("inf"), True])
def test_bad_ratio(log, ratio):
    with pytest.raises(SiftrecError, match="ratio"):
        add_random_noise(log, ratio)


def test_bad_beta(log):
    with pytest.raises(SiftrecError, match="beta"):
        add_popular_noise(log, 0.1, beta=-1.0)
    with pytest.raises(SiftrecError, match="weights vanish"):
        add_popular_noise(log, 3.0, beta=400.0)  # rare items are beyond float64's reach


def test_natural_noise_flags_low_ratings_and_keeps_rows(log):
    flagged = natural_noise(log, threshold=4.0)
    assert len(flagged) == len(log)
    np.testing.assert_array_equal(flagged.column("is_noise"), log.column("rating") < 4)
    clean = clean_only(flagged)
    assert len(clean) == int((log.column("rating") >= 4).sum())
    assert (clean.column("rating") >= 4).all()


def test_natural_noise_keeps_existing_flags(log):
    before = log.with_columns(is_noise=log.column("rating") == 5)
    after = natural_noise(before, threshold=2.0)
    np.testing.assert_array_equal(
        after.column("is_noise"), (log.column("rating") == 5) | (log.column("rating") < 2)
    )


def test_natural_noise_errors(log):
    with pytest.raises(SiftrecError, match="no 'stars' column"):
        natural_noise(log, column="stars")
    with pytest.raises(SiftrecError, match="not numeric"):
        natural_noise(log.with_columns(rating=np.full(len(log), "x")))
    with pytest.raises(SiftrecError, match="no 'is_noise' column"):
        clean_only(Interactions.from_raw([1, 2], [3, 4]))
