import math

import numpy as np
import pytest
import torch

from siftrec import SiftrecError
from siftrec.bias import ideal_loss, ips_loss, naive_loss, pointwise_risk


def world(seed: int = 0, shape=(4, 6)):
    """Logits, relevance probabilities γ and exposure propensities θ of a tiny example."""
    rng = np.random.default_rng(seed)
    gamma = rng.uniform(0.05, 0.95, size=shape)
    scores = np.log(gamma / (1 - gamma)) + 0.3 * rng.normal(size=shape)  # a decent model
    theta = rng.uniform(0.05, 1.0, size=shape)
    return scores, gamma, theta


def test_local_losses_at_zero():
    assert pointwise_risk(np.zeros(3), np.array([0.0, 1.0, 0.5]), "log") == pytest.approx(
        math.log(2)
    )
    assert pointwise_risk(np.zeros(2), np.array([0.0, 1.0]), "squared") == pytest.approx(0.25)
    # squared: relevant pair with logit s → (1 − σ(s))²
    s = 1.3
    expected = (1 - 1 / (1 + math.exp(-s))) ** 2
    assert pointwise_risk(np.array([s]), np.array([1.0]), "squared") == pytest.approx(expected)


@pytest.mark.parametrize("loss", ["log", "squared"])
def test_ips_is_unbiased_for_the_ideal_loss_monte_carlo(loss):
    scores, gamma, theta = world()
    ideal = ideal_loss(scores, gamma, loss)
    rng = np.random.default_rng(1)
    draws = 1500
    clicks = (rng.random((draws, *gamma.shape)) < theta) & (
        rng.random((draws, *gamma.shape)) < gamma
    )
    ips = np.array([ips_loss(scores, y, theta, loss) for y in clicks.astype(np.float64)])
    naive = np.array([naive_loss(scores, y, loss) for y in clicks.astype(np.float64)])
    se = ips.std() / math.sqrt(draws)
    assert abs(ips.mean() - ideal) < 4 * se
    # the naive estimator is far off: clicks under-count relevance by the factor θ
    assert abs(naive.mean() - ideal) > 20 * naive.std() / math.sqrt(draws)


@pytest.mark.parametrize("loss", ["log", "squared"])
def test_expectations_in_closed_form(loss):
    # All estimators are linear in Y, so E[L(Y)] = L(E[Y]) with E[Y] = θγ.
    scores, gamma, theta = world(seed=2)
    expected_clicks = theta * gamma
    ideal = ideal_loss(scores, gamma, loss)
    assert ips_loss(scores, expected_clicks, theta, loss) == pytest.approx(ideal)
    # clipped bias: (1/|D|) Σ_{θ<M} γ (θ/M − 1)(δ1 − δ0)
    clip = 0.5
    s = torch.as_tensor(scores)
    if loss == "log":
        d1, d0 = torch.nn.functional.softplus(-s), torch.nn.functional.softplus(s)
    else:
        d1, d0 = torch.sigmoid(-s) ** 2, torch.sigmoid(s) ** 2
    low = theta < clip
    bias = np.sum((gamma * (theta / clip - 1) * (d1 - d0).numpy())[low]) / gamma.size
    clipped = ips_loss(scores, expected_clicks, theta, loss, clip=clip)
    assert clipped - ideal == pytest.approx(bias)
    assert abs(bias) > 1e-3  # the example does exercise the clip


def test_naive_equals_ideal_under_full_exposure():
    scores, gamma, _ = world(seed=3)
    assert naive_loss(scores, gamma, "log") == pytest.approx(ideal_loss(scores, gamma, "log"))
    ones = np.ones_like(gamma)
    assert ips_loss(scores, gamma, ones, "log") == pytest.approx(ideal_loss(scores, gamma, "log"))


def test_estimator_errors():
    scores, gamma, theta = world()
    with pytest.raises(SiftrecError, match="loss"):
        pointwise_risk(scores, gamma, "hinge")
    with pytest.raises(SiftrecError, match="shape"):
        ideal_loss(scores, gamma[:, :2])
    with pytest.raises(SiftrecError, match="shape"):
        ips_loss(scores, gamma, theta[:2])
    clicks = np.zeros_like(gamma)
    clicks[0, 0] = 1
    zero = theta.copy()
    zero[0, 0] = 0.0
    with pytest.raises(SiftrecError, match="propensity 0"):
        ips_loss(scores, clicks, zero)
    assert math.isfinite(ips_loss(scores, clicks, zero, clip=0.1))
    with pytest.raises(SiftrecError, match=r"\[0, 1\]"):
        ips_loss(scores, clicks, theta + 1.0)
