import numpy as np
import pytest
from scipy.stats import pearsonr

from siftrec import Interactions, SiftrecError
from siftrec.bias import popularity_propensities
from siftrec.bias.exposure import ExposureModel, fit_exposure_model
from siftrec.bias.propensity import PROPENSITY_METHODS, estimate_propensities
from siftrec.data.ids import IdMap
from siftrec.data.synthetic import generate


def log(users, items, n_users=4, n_items=5) -> Interactions:
    return Interactions(
        np.array(users),
        np.array(items),
        np.ones(len(users)),
        IdMap(np.arange(n_users)),
        IdMap(np.arange(n_items)),
    )


def test_propensities_are_the_logistic_prior_of_user_and_item_effects():
    model = ExposureModel(np.array([0.0, np.log(3.0)]), np.array([0.0, -np.log(3.0)]))
    np.testing.assert_allclose(model.propensities([0, 1, 1], [0, 0, 1]), [0.5, 0.75, 0.5])
    np.testing.assert_allclose(model.table(), [[0.5, 0.25], [0.75, 0.5]])


def test_more_clicks_mean_more_exposure_for_users_and_items():
    # user 0 clicks 4 items, user 3 one; item 0 is clicked by every user, item 4 by none
    train = log([0, 0, 0, 0, 1, 1, 2, 2, 3], [0, 1, 2, 3, 0, 1, 0, 2, 0])
    model = fit_exposure_model(train, dim=2, iterations=5)
    table = model.table()
    assert table.shape == (4, 5) and ((table > 0) & (table < 1)).all()
    assert table[0, 0] > table[3, 0]
    assert table[1, 0] > table[1, 3] > table[1, 4]


def test_fit_is_deterministic_for_a_seed():
    train = generate(n_users=50, n_items=40, noise_ratio=0.0, seed=3).interactions
    one = fit_exposure_model(train, iterations=3, seed=1)
    two = fit_exposure_model(train, iterations=3, seed=1)
    np.testing.assert_array_equal(one.user_logits, two.user_logits)
    np.testing.assert_array_equal(one.item_logits, two.item_logits)


def test_tracks_the_true_exposure_of_the_clicks_closer_than_the_power_law():
    data = generate(n_users=400, n_items=300, noise_ratio=0.0, seed=0)
    train = data.interactions
    truth = np.log(data.exposure[train.users, train.items])
    model = fit_exposure_model(train).propensities(train.users, train.items)
    power_law = popularity_propensities(train, 0.5, floor=0.001)[train.items]
    assert pearsonr(np.log(model), truth)[0] > pearsonr(np.log(power_law), truth)[0] + 0.02


def test_estimate_propensities_dispatches_and_clips():
    train = log([0, 0, 1, 2, 3], [0, 1, 0, 0, 2])
    np.testing.assert_allclose(
        estimate_propensities(train, "power-law", eta=1.0, floor=0.5),
        [1.0, 0.5, 1.0, 1.0, 0.5],  # item 0: 3 users, items 1 and 2: 1 user each
    )
    theta = estimate_propensities(train, "exposure-model", floor=0.2)
    expected = fit_exposure_model(train).propensities(train.users, train.items)
    np.testing.assert_allclose(theta, np.maximum(expected, 0.2))
    assert PROPENSITY_METHODS == ("power-law", "exposure-model")
    with pytest.raises(SiftrecError, match="propensity must be one of"):
        estimate_propensities(train, "popularity")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"dim": 0}, "dim must be a positive integer"),
        ({"iterations": 2.5}, "iterations must be a positive integer"),
        ({"lambda_y": 0.0}, "lambda_y must be a positive number"),
        ({"prior": float("nan")}, "prior must be a positive number"),
    ],
)
def test_bad_parameters_are_refused(kwargs, message):
    with pytest.raises(SiftrecError, match=message):
        fit_exposure_model(log([0], [0]), **kwargs)


def test_empty_logs_and_tables_beyond_memory_are_refused(monkeypatch):
    with pytest.raises(SiftrecError, match="empty"):
        fit_exposure_model(log([], []))
    monkeypatch.setattr("siftrec.resources.memory_limits", lambda: {"available memory": 100})
    with pytest.raises(SiftrecError, match="use propensity=power-law"):
        fit_exposure_model(log([0], [0]))
