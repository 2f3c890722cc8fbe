import math

import numpy as np
import pytest
import torch

from siftrec import Interactions, SiftrecError
from siftrec.bias.propensity import estimate_propensities
from siftrec.data.ids import IdMap
from siftrec.data.synthetic import generate
from siftrec.models import MF
from siftrec.objectives import BPR, UBPR, Batch, SampledObjective, get_objective


def softplus(x: float) -> float:
    return math.log1p(math.exp(x))


def clicked_log() -> Interactions:
    """User 0 clicked items 0 (θ 0.5) and 1 (θ 0.2); user 1 clicked item 2 (θ 0.25); 4 items."""
    return Interactions(
        np.array([0, 0, 1]),
        np.array([0, 1, 2]),
        np.ones(3),
        IdMap(np.arange(2)),
        IdMap(np.arange(4)),
        {"propensity": np.array([0.5, 0.2, 0.25], dtype=np.float32)},
    )


def clicked_batch(pos=None, neg=None, **fields) -> Batch:
    """Row 0: user 0, positive item 0 vs items 1 (clicked) and 3; row 1: user 1, positive
    item 2 vs items 2 (the positive itself) and 0 (clicked by user 0 only)."""
    pos = torch.tensor([1.0, 0.0], dtype=torch.float64) if pos is None else pos
    neg = torch.tensor([[0.0, -1.0], [0.0, 2.0]], dtype=torch.float64) if neg is None else neg
    fields.setdefault("propensities", torch.tensor([0.5, 0.25], dtype=torch.float64))
    return Batch.from_scores(
        pos, neg, users=torch.tensor([0, 1]), items=torch.tensor([[0, 1, 3], [2, 2, 0]]), **fields
    )


def random_batch(seed: int = 0, size: int = 6, n_neg: int = 3):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(size, generator=g, dtype=torch.float64)
    neg = torch.randn(size, n_neg, generator=g, dtype=torch.float64)
    weights = torch.rand(size, generator=g, dtype=torch.float64) + 0.5
    theta = torch.rand(size, generator=g, dtype=torch.float64) * 0.9 + 0.05
    return pos, neg, weights, theta


def test_inverse_propensity_weights_on_the_positives_by_hand():
    pos = torch.tensor([0.5, -1.0], dtype=torch.float64)
    neg = torch.tensor([[2.0], [0.0]], dtype=torch.float64)
    theta = torch.tensor([0.25, 0.01], dtype=torch.float64)
    loss = UBPR(clip=0.05, normalize=False)(Batch.from_scores(pos, neg, propensities=theta))
    # 1/θ = 4 and 1/0.05 = 20 (the second clipped); softplus(s_j − s_i) = softplus(1.5), (1.0)
    assert loss.item() == pytest.approx((4 * softplus(1.5) + 20 * softplus(1.0)) / 2)


@pytest.mark.parametrize(
    ("beta", "clicked_term"),
    [(10.0, 2 * (1 - 1 / 0.2) * softplus(-1.0)), (1.0, -1.0), (0.0, 0.0)],
)
def test_clicked_sampled_items_weigh_negatively_down_to_minus_beta(beta, clicked_term):
    objective = UBPR(clip=0.1, beta=beta, normalize=False)
    objective.setup(clicked_log())
    loss = objective(clicked_batch())
    # row 0: (1/0.5)(1 − 1/0.2)·softplus(−1) capped at −beta, (1/0.5)·softplus(−2);
    # row 1: the positive itself counts 0, item 0 (unclicked by user 1) (1/0.25)·softplus(2)
    terms = [clicked_term, 2 * softplus(-2.0), 0.0, 4 * softplus(2.0)]
    assert loss.item() == pytest.approx(sum(terms) / 4)


def test_the_log_column_gives_the_clicked_items_propensity_and_wins():
    objective = UBPR(clip=0.3, beta=10.0, normalize=False)
    objective.setup(clicked_log())  # θ 0.2 of the clicked item 1 is clipped to 0.3
    assert objective.interaction_propensities(clicked_log()) is None
    terms = [2 * (1 - 1 / 0.3) * softplus(-1.0), 2 * softplus(-2.0), 0.0, 1 / 0.3 * softplus(2.0)]
    assert objective(clicked_batch()).item() == pytest.approx(sum(terms) / 4)


def test_reduces_to_bpr_with_propensity_one():
    pos, neg, weights, _ = random_batch(seed=2)
    ones = torch.ones_like(pos)
    for w in (None, weights):
        batch = Batch.from_scores(pos, neg, weights=w, propensities=ones)
        torch.testing.assert_close(UBPR(normalize=False)(batch), BPR()(batch))
        for got, ref in zip(
            UBPR(normalize=False).score_gradients(batch), BPR().score_gradients(batch), strict=True
        ):
            torch.testing.assert_close(got, ref)


@pytest.mark.parametrize("weighted", [False, True])
def test_gradient_matches_finite_differences(weighted):
    objective = UBPR(clip=0.1, beta=10.0)
    objective.setup(clicked_log())
    pos, neg = clicked_batch().pos_scores.clone(), clicked_batch().neg_scores.clone()
    w = torch.tensor([0.7, 1.3], dtype=torch.float64) if weighted else None

    def value(p, n):
        return objective(clicked_batch(p, n, weights=w))

    assert torch.autograd.gradcheck(value, (pos.requires_grad_(), neg.requires_grad_()))


@pytest.mark.parametrize("beta", [0.0, 0.3, 10.0])
@pytest.mark.parametrize("weighted", [False, True])
def test_closed_form_score_gradients_equal_autograd(beta, weighted):
    objective = UBPR(clip=0.1, beta=beta)
    objective.setup(clicked_log())
    w = torch.tensor([0.7, 1.3], dtype=torch.float64) if weighted else None
    batch = clicked_batch(weights=w)
    closed = objective.score_gradients(batch)
    autograd = SampledObjective.score_gradients(objective, batch)
    for got, ref in zip(closed, autograd, strict=True):
        torch.testing.assert_close(got, ref)


def test_gradients_stay_finite_for_extreme_scores_and_unclipped_propensities():
    objective = UBPR(clip=0.0, beta=5.0)
    objective.setup(clicked_log())
    plain = clicked_batch()
    batch = clicked_batch(
        plain.pos_scores * 1e4, plain.neg_scores * -1e4, propensities=plain.propensities * 1e-3
    )
    loss, dpos, dneg = objective.score_gradients(batch)
    assert torch.isfinite(loss) and torch.isfinite(dpos).all() and torch.isfinite(dneg).all()


def test_setup_estimates_propensities_without_a_column():
    log = clicked_log()
    bare = Interactions(log.users, log.items, log.weights, log.user_map, log.item_map)
    objective = UBPR(clip=0.05, eta=1.0)
    objective.setup(bare)
    expected = estimate_propensities(bare, "power-law", eta=1.0, floor=0.05)
    np.testing.assert_allclose(objective.interaction_propensities(bare), expected)
    np.testing.assert_allclose(expected, [1.0, 1.0, 1.0])  # every item has one click
    model_based = UBPR(propensity="exposure-model")
    model_based.setup(bare)
    theta = model_based.interaction_propensities(bare)
    assert theta.shape == (3,) and ((theta > 0) & (theta <= 1)).all()


def test_needs_propensities_and_valid_parameters():
    pos, neg, _, _ = random_batch()
    with pytest.raises(SiftrecError, match="propensit"):
        UBPR()(Batch.from_scores(pos, neg))
    with pytest.raises(SiftrecError, match="clip"):
        UBPR(clip=1.5)
    with pytest.raises(SiftrecError, match="beta"):
        UBPR(beta=-1.0)
    with pytest.raises(SiftrecError, match="eta"):
        UBPR(eta=float("nan"))
    with pytest.raises(SiftrecError, match="propensity must be one of"):
        get_objective("ubpr(propensity=guess)")
    with pytest.raises(SiftrecError, match="propensity 0"):
        UBPR(clip=0.0).setup(clicked_log().with_columns(propensity=np.zeros(3)))


def test_spec_and_defaults():
    objective = get_objective("ubpr(clip=0.2, beta=1, eta=0.7, propensity=exposure-model)")
    assert isinstance(objective, UBPR)
    assert (objective.clip, objective.beta, objective.eta, objective.propensity) == (
        0.2,
        1.0,
        0.7,
        "exposure-model",
    )
    defaults = UBPR()
    assert (defaults.kind, defaults.clip, defaults.beta, defaults.propensity) == (
        "pairwise",
        0.5,
        0.0,
        "power-law",
    )
    assert defaults.normalize


@pytest.mark.parametrize("exclude_positives", [True, False])
def test_trains_an_mf_with_and_without_clicked_sampled_items(exclude_positives):
    train = generate(n_users=60, n_items=40, noise_ratio=0.0, seed=1).interactions
    losses = {}
    for objective in ("bpr", "ubpr(clip=0.05)"):
        model = MF(
            objective=objective,
            dim=8,
            epochs=3,
            batch_size=64,
            seed=0,
            device="cpu",
            exclude_positives=exclude_positives,
        )
        losses[objective] = model.fit(train).history_[-1]["loss"]
    assert all(np.isfinite(v) for v in losses.values())
    assert losses["ubpr(clip=0.05)"] != pytest.approx(losses["bpr"])


def test_normalize_divides_the_weights_by_their_mean_over_the_training_clicks():
    train = clicked_log()
    plain, normalized = UBPR(clip=0.01, normalize=False), UBPR(clip=0.01)
    plain.setup(train)
    normalized.setup(train)
    # θ of the three clicks 0.5, 0.2, 0.25: 1/θ = 2, 5, 4, mean 11/3
    batch = clicked_batch()
    assert normalized(batch).item() == pytest.approx(plain(batch).item() * 3 / 11)
    with pytest.raises(SiftrecError, match="setup"):
        UBPR()(batch)
    grads, normalized_grads = plain.score_gradients(batch), normalized.score_gradients(batch)
    torch.testing.assert_close(normalized_grads.neg, grads.neg * 3 / 11)
    torch.testing.assert_close(normalized_grads.pos, grads.pos * 3 / 11)
