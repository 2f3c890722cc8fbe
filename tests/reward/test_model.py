"""Reward models on the semi-synthetic world: they learn engagement from noisy, position-biased
clicks; the world's oracle, logs and accuracy measure behave as documented; saving round-trips."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siftrec import SiftrecError
from siftrec.reward import (
    RewardModel,
    TextRewardModel,
    best_of_n,
    log_clicks,
    make_world,
    pairwise_accuracy,
)


@pytest.fixture(scope="module")
def world():
    return make_world(n_contexts=1500, n_candidates=8, seed=0)


def test_world_truth_and_log(world) -> None:
    assert world.candidates.shape == (1500, 9, 16) and world.engagement.shape == (1500, 9)
    # bait raises clicks and lowers engagement: clickability is never below engagement
    assert (world.clickable >= world.engagement).all()
    log = log_clicks(world, n_shown=4, eta=1.0, flip=0.0, seed=1)
    assert len(log.click) == 1500 * 4
    assert (np.bincount(log.context) == 4).all()
    # position bias: clicks fall with the position as 1/k on top of the clickability
    shown = world.clickable[log.context, log.candidate]
    by_position = [
        log.click[log.position == k].mean() / shown[log.position == k].mean() for k in (1, 4)
    ]
    assert by_position[0] > 2 * by_position[1]
    np.testing.assert_allclose(log.examination, 1.0 / log.position)


def test_pairwise_accuracy_of_the_oracle_and_of_its_reverse(world) -> None:
    assert pairwise_accuracy(world.engagement, world.engagement) == 1.0
    assert pairwise_accuracy(-world.engagement, world.engagement) == 0.0
    noise = np.random.default_rng(0).random(world.engagement.shape)
    assert 0.45 < pairwise_accuracy(noise, world.engagement) < 0.55


@pytest.mark.parametrize(("objective", "ips"), [("bce", False), ("bpr", True)])
def test_reward_model_learns_engagement_from_clicks(world, objective: str, ips: bool) -> None:
    log = log_clicks(world, n_shown=6, seed=2)
    rows = log.context < 1200
    model = RewardModel(objective=objective, ips=ips, epochs=15, device="cpu").fit(
        world.contexts[log.context[rows]],
        world.candidates[log.context[rows], log.candidate[rows]],
        log.click[rows],
        log.context[rows],
        log.examination[rows],
    )
    test = np.arange(1200, 1500)
    m = world.n_candidates
    pred = model.score(
        np.repeat(world.contexts[test], m, axis=0), world.candidates[test].reshape(-1, 16)
    ).reshape(len(test), m)
    assert pairwise_accuracy(pred, world.engagement[test]) > 0.56
    chosen = best_of_n(pred)
    random_pick = world.engagement[test].mean()
    assert world.engagement[test, chosen].mean() > random_pick + 0.02


def test_reward_model_errors() -> None:
    x = np.zeros((4, 3))
    with pytest.raises(SiftrecError, match="objective"):
        RewardModel(objective="nbpo")
    with pytest.raises(SiftrecError, match="clicked and unclicked"):
        RewardModel(device="cpu").fit(x, x, np.ones(4), np.arange(4))
    with pytest.raises(SiftrecError, match="propensities"):
        RewardModel(ips=True, device="cpu").fit(x, x, np.array([1, 0, 1, 0]), np.zeros(4))
    with pytest.raises(SiftrecError, match="not fitted"):
        RewardModel().score(x, x)


def test_text_reward_model_round_trips(tmp_path: Path) -> None:
    contexts = ["lost cat near the park"] * 4 + ["street fair on saturday"] * 4
    candidates = [
        "Have you seen this cat?", "Urgent: lost cat", "Weather today", "Buy shoes now",
        "Street fair this weekend", "Saturday street fair", "Lost keys", "Click here",
    ]  # fmt: skip
    clicks = np.array([1, 1, 0, 0, 1, 1, 0, 0])
    groups = np.repeat([0, 1], 4)
    model = TextRewardModel("tfidf:4", device="cpu").fit(contexts, candidates, clicks, groups)
    model.save(tmp_path / "reward")
    loaded = TextRewardModel.load(tmp_path / "reward", device="cpu")
    np.testing.assert_allclose(
        loaded.score(contexts, candidates), model.score(contexts, candidates), rtol=1e-6
    )
    with pytest.raises(SiftrecError, match="not a reward model directory"):
        TextRewardModel.load(tmp_path)
