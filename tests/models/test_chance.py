"""The ``random`` model: seeded, stateless, uniform scores (the chance level of a protocol)."""

import numpy as np

from siftrec.data.synthetic import generate
from siftrec.models import RandomScores, get_model_class, load_model


def test_random_scores_are_seeded_uniform_and_survive_save_load(tmp_path):
    train = generate(n_users=60, n_items=50, seed=0).interactions
    model = get_model_class("random")(seed=3).fit(train)
    assert isinstance(model, RandomScores)
    scores = model.score(np.arange(60))
    assert scores.shape == (60, 50) and scores.dtype == np.float32
    assert 0 <= scores.min() and scores.max() < 1 and abs(scores.mean() - 0.5) < 0.02
    np.testing.assert_array_equal(model.score([7, 2]), scores[[7, 2]])  # batch-independent
    assert not np.array_equal(RandomScores(seed=4).fit(train).score(np.arange(60)), scores)
    # ranks are unrelated across users: the top item is spread over the catalogue
    assert len(np.unique(scores.argmax(axis=1))) > 25
    model.save(tmp_path / "m")
    np.testing.assert_array_equal(load_model(tmp_path / "m").score(np.arange(60)), scores)
