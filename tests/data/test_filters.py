import numpy as np
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.data.filters import _range_max, burst_filter, dwell_filter
from siftrec.data.synthetic import generate
from siftrec.evaluate.detection import roc_auc


def log_with(**columns: np.ndarray) -> Interactions:
    n = len(next(iter(columns.values())))
    rng = np.random.default_rng(0)
    users = columns.pop("users", rng.integers(0, 5, n))
    items = columns.pop("items", rng.integers(0, 7, n))
    return Interactions.from_raw(users, items, columns=columns)


@pytest.fixture(scope="module")
def synthetic() -> Interactions:
    return generate(seed=1).interactions


# ---------------------------------------------------------------------------- dwell
def test_dwell_absolute_threshold():
    dwell = np.array([0.0, 3.0, 9.99, 10.0, 60.0, 5.0])
    mask, score = dwell_filter(log_with(dwell_time=dwell), min_seconds=10)
    np.testing.assert_array_equal(mask, [True, True, True, False, False, True])
    np.testing.assert_array_equal(mask, score > 0)
    np.testing.assert_allclose(score, np.log1p(10) - np.log1p(dwell))


def test_dwell_default_threshold_is_ten_seconds():
    data = log_with(dwell_time=np.array([9.0, 11.0]))
    np.testing.assert_array_equal(dwell_filter(data)[0], [True, False])


def test_dwell_item_quantile_matches_numpy_per_item():
    rng = np.random.default_rng(3)
    items = rng.integers(0, 6, 200)
    dwell = rng.exponential(30, 200)
    data = log_with(items=items, dwell_time=dwell)
    mask, score = dwell_filter(data, item_quantile=0.25)
    expected = np.array([np.quantile(dwell[items == i], 0.25) for i in items])
    np.testing.assert_allclose(score, np.log1p(expected) - np.log1p(dwell), rtol=1e-12)
    np.testing.assert_array_equal(mask, dwell < expected)


def test_dwell_both_thresholds_flag_below_either():
    items = np.array([0, 0, 0, 0, 1, 1])
    dwell = np.array([2.0, 20.0, 40.0, 80.0, 8.0, 12.0])
    data = log_with(items=items, dwell_time=dwell)
    by_item = dwell_filter(data, item_quantile=0.5)[0]
    by_seconds = dwell_filter(data, min_seconds=10)[0]
    both = dwell_filter(data, min_seconds=10, item_quantile=0.5)[0]
    np.testing.assert_array_equal(both, by_item | by_seconds)
    np.testing.assert_array_equal(both, [True, True, False, False, True, False])


@pytest.mark.parametrize(
    ("dwell", "kwargs", "message"),
    [
        (np.array([1.0, np.nan]), {}, "missing"),
        (np.array([1.0, -2.0]), {}, "negative"),
        (np.array([1.0, 2.0]), {"item_quantile": 1.0}, "item_quantile"),
        (np.array([1.0, 2.0]), {"min_seconds": 0.0}, "min_seconds"),
        (np.array(["a", "b"]), {}, "not numeric"),
    ],
)
def test_dwell_errors(dwell, kwargs, message):
    with pytest.raises(SiftrecError, match=message):
        dwell_filter(log_with(dwell_time=dwell), **kwargs)


def test_dwell_needs_the_column():
    with pytest.raises(SiftrecError, match="no 'dwell_time' column"):
        dwell_filter(Interactions.from_raw([1], [2]))


def test_dwell_separates_synthetic_noise(synthetic):
    _, score = dwell_filter(synthetic, min_seconds=10)
    assert roc_auc(score, synthetic.column("is_noise")) > 0.95


# ---------------------------------------------------------------------------- bursts
def brute_force_burst(users: np.ndarray, times: np.ndarray, window: float) -> np.ndarray:
    """Max clicks of the same user in any window [t_j, t_j + window] containing the click."""
    size = np.ones(len(times))
    for j in range(len(times)):
        inside = (users == users[j]) & (times >= times[j]) & (times <= times[j] + window)
        size[inside] = np.maximum(size[inside], inside.sum())
    return size


def test_burst_hand_example():
    users = np.array(["a"] * 6 + ["b"] * 2)
    times = np.array([0, 1, 2, 100, 200, 201, 0, 1])
    order = np.random.default_rng(0).permutation(8)  # rows in any order
    data = log_with(users=users[order], items=np.zeros(8, int), timestamp=times[order])
    mask, size = burst_filter(data, max_clicks=2, window_seconds=5)
    np.testing.assert_array_equal(size, np.array([3, 3, 3, 1, 2, 2, 2, 2])[order])
    np.testing.assert_array_equal(mask, size > 2)


def test_burst_window_is_inclusive_and_per_user():
    data = log_with(
        users=np.array([1, 1, 2]), items=np.zeros(3, int), timestamp=np.array([0, 5, 5])
    )
    np.testing.assert_array_equal(burst_filter(data, 1, window_seconds=5)[1], [2, 2, 1])
    np.testing.assert_array_equal(burst_filter(data, 1, window_seconds=4.9)[1], [1, 1, 1])


def test_burst_matches_brute_force_on_random_logs():
    rng = np.random.default_rng(7)
    for _ in range(5):
        n = 300
        users = rng.integers(0, 6, n)
        times = rng.integers(0, 400, n).astype(float) + rng.random(n) * (rng.random() < 0.5)
        data = log_with(users=users, items=rng.integers(0, 9, n), timestamp=times)
        window = float(rng.choice([0.0, 3.0, 12.5, 40.0]))
        raw_users = data.raw_users()
        np.testing.assert_array_equal(
            burst_filter(data, 2, window)[1], brute_force_burst(raw_users, times, window)
        )


def test_range_max_matches_naive():
    rng = np.random.default_rng(1)
    values = rng.integers(0, 100, 500)
    starts = np.maximum.accumulate(np.minimum(np.arange(500), rng.integers(0, 500, 500)))
    naive = [values[s : i + 1].max() for i, s in enumerate(starts)]
    np.testing.assert_array_equal(_range_max(values, starts), naive)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_clicks": 0}, "max_clicks"),
        ({"max_clicks": 2.5}, "max_clicks"),
        ({"window_seconds": -1.0}, "window_seconds"),
    ],
)
def test_burst_errors(kwargs, message):
    data = log_with(timestamp=np.arange(4))
    with pytest.raises(SiftrecError, match=message):
        burst_filter(data, **kwargs)


def test_burst_needs_timestamps():
    with pytest.raises(SiftrecError, match="no 'timestamp' column"):
        burst_filter(Interactions.from_raw([1], [2]))


def test_burst_finds_synthetic_bursts(synthetic):
    mask, size = burst_filter(synthetic, max_clicks=2, window_seconds=10)
    noise = synthetic.column("is_noise")
    assert noise[mask].mean() > 0.9  # flagged clicks are nearly all injected noise
    assert mask.sum() > 0.2 * noise.sum()  # and bursts are 30 % of the noise
    assert roc_auc(size, noise) > 0.6
