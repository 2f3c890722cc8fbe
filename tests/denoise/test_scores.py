import numpy as np
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.data.filters import burst_filter, dwell_filter
from siftrec.data.synthetic import generate
from siftrec.denoise import scores as scores_module
from siftrec.denoise.scores import (
    available_noise_scores,
    noise_scores,
    register_noise_score,
    within_user_percentile,
)
from siftrec.evaluate.detection import roc_auc
from siftrec.models import MF, ItemKNN, MultDAE, Popularity
from siftrec.testing import contract_log


@pytest.fixture(scope="module")
def data() -> Interactions:
    return contract_log(seed=4)


@pytest.fixture(scope="module")
def mf(data) -> MF:
    return MF(objective="bce", epochs=3, dim=8, batch_size=64, device="cpu").fit(data)


@pytest.fixture()
def registry(monkeypatch):
    """A private copy of the registry, so test registrations do not leak."""
    monkeypatch.setattr(scores_module, "_REGISTRY", dict(scores_module._REGISTRY))


def gathered(model, data: Interactions) -> np.ndarray:
    """Each row's score from the full score matrix (the slow reference path)."""
    return model.score(np.arange(data.n_users))[data.users, data.items].astype(np.float64)


def brute_force_rank(model, data: Interactions) -> np.ndarray:
    matrix = model.score(np.arange(data.n_users))
    out = []
    for u, i in zip(data.users, data.items, strict=True):
        row, s = matrix[u], matrix[u, i]
        out.append(((row > s).sum() + 0.5 * ((row == s).sum() - 1)) / (data.n_items - 1))
    return np.array(out)


def test_loss_of_a_logit_model_is_the_bce_positive_loss(mf, data):
    scores = noise_scores(mf, data, "loss")
    assert scores.dtype == np.float64 and scores.shape == (len(data),)
    np.testing.assert_allclose(scores, np.logaddexp(0, -gathered(mf, data)), rtol=1e-5)


def test_loss_of_an_auto_model_uses_the_chosen_objective(data):
    """objective="auto" is not an objective: the score reads the one the fit chose."""
    model = MF(objective="auto", auto_candidates="bce", epochs=2, dim=8, batch_size=64)
    model.fit(data)
    assert model.trained_objective in ("bpr", "bce")
    scores = noise_scores(model, data, "loss")
    np.testing.assert_allclose(scores, np.logaddexp(0, -gathered(model, data)), rtol=1e-5)


def test_loss_of_other_models_is_the_normalised_rank(data):
    model = Popularity().fit(data)  # many tied scores
    scores = noise_scores(model, data, "loss")
    np.testing.assert_allclose(scores, brute_force_rank(model, data))
    assert scores.min() >= 0 and scores.max() <= 1


def test_listwise_torch_models_use_ranks(data):
    model = MultDAE(epochs=2, hidden=16, batch_size=32, device="cpu").fit(data)
    np.testing.assert_allclose(
        noise_scores(model, data, "loss"), brute_force_rank(model, data), atol=1e-6
    )


def test_percentile_is_the_rank_within_the_user(mf, data):
    scores = noise_scores(mf, data, "percentile")
    loss = np.logaddexp(0, -gathered(mf, data))
    for u in range(data.n_users):
        rows = np.flatnonzero(data.users == u)
        own = loss[rows]
        below = np.array([(own < v).sum() + 0.5 * ((own == v).sum() - 1) for v in own])
        np.testing.assert_allclose(scores[rows], below / (len(rows) - 1), atol=1e-6)


def test_within_user_percentile_ties_and_singletons():
    values = np.array([3.0, 1.0, 1.0, 2.0, 7.0, 5.0])
    users = np.array([0, 0, 0, 0, 1, 2])
    np.testing.assert_allclose(
        within_user_percentile(values, users), [1.0, 1 / 6, 1 / 6, 2 / 3, 0.5, 0.5]
    )


def test_rows_are_matched_to_the_model_by_raw_id(mf, data):
    order = np.random.default_rng(0).permutation(len(data))
    shuffled = Interactions.from_raw(data.raw_users()[order], data.raw_items()[order])
    assert shuffled.user_map != data.user_map  # re-read logs get other maps
    np.testing.assert_allclose(
        noise_scores(mf, shuffled, "loss"), noise_scores(mf, data, "loss")[order]
    )


def test_unknown_ids_are_an_error(mf, data):
    other = Interactions.from_raw(np.array(["u0", "stranger"]), np.array([100, 101]))
    with pytest.raises(SiftrecError, match="1 of 2 interactions have a user or item unknown"):
        noise_scores(mf, other)


def test_model_needed_and_fitted(data):
    with pytest.raises(SiftrecError, match="needs a fitted model"):
        noise_scores(None, data, "loss")
    with pytest.raises(SiftrecError, match="not fitted"):
        noise_scores(Popularity(), data, "percentile")


def test_rule_scores_need_no_model():
    data = generate(n_users=80, n_items=60, seed=0).interactions
    np.testing.assert_array_equal(
        noise_scores(None, data, "dwell", item_quantile=0.3),
        dwell_filter(data, item_quantile=0.3)[1],
    )
    np.testing.assert_array_equal(
        noise_scores(None, data, "burst", window_seconds=30.0),
        burst_filter(data, window_seconds=30.0)[1],
    )


def test_registry_extension(registry, data):
    @register_noise_score("constant")
    def constant(model, train, value: float = 1.0):
        return np.full(len(train), value)

    assert "constant" in available_noise_scores()
    np.testing.assert_array_equal(noise_scores(None, data, "constant", value=2.0), 2.0)
    np.testing.assert_array_equal(noise_scores(None, data, "CONSTANT"), 1.0)
    with pytest.raises(RuntimeError, match="registered twice"):
        register_noise_score("constant")(lambda model, train: np.zeros(len(train)))
    with pytest.raises(SiftrecError, match=r"does not take colour .*options: value"):
        noise_scores(None, data, "constant", colour=1)


@pytest.mark.parametrize(
    ("result", "message"),
    [(np.zeros(3), "returned shape"), (None, "NaN")],
)
def test_bad_plugin_results(registry, data, result, message):
    values = np.full(len(data), np.nan) if result is None else result
    register_noise_score("broken")(lambda model, train: values)
    with pytest.raises(SiftrecError, match=message):
        noise_scores(None, data, "broken")


def test_unknown_method(data):
    with pytest.raises(SiftrecError, match=r"unknown noise score 'magic'; available: .*loss"):
        noise_scores(None, data, "magic")


def test_loss_detects_synthetic_noise():
    data = generate(seed=0).interactions
    model = ItemKNN().fit(data)
    assert roc_auc(noise_scores(model, data, "loss"), data.column("is_noise")) > 0.65
