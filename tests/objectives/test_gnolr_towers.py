"""GNOLR on per-level towers: cumulative logits, the guard, and MF / LightGCN fits that rank by
the deepest level from one embedding space."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.models import get_model_class
from siftrec.objectives import GNOLR, Batch
from siftrec.objectives.gnolr import merged_levels
from siftrec.train.towers import LevelTowers


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def leveled_log(levels: list[int]) -> Interactions:
    n = len(levels)
    return Interactions.from_raw(np.arange(n), np.arange(n)).with_columns(level=np.asarray(levels))


def tower_objective(**params) -> GNOLR:
    objective = GNOLR(**params)
    objective.bind(objective.build(4, 4, torch.Generator(), False))
    objective.setup(leveled_log([1, 2, 2, 1]))  # K = 2, a = (0, ln 3) with one negative
    return objective


def test_nested_loss_on_cumulative_level_similarities():
    objective = tower_objective(scale=2.0, normalize="none")
    assert isinstance(objective.module, LevelTowers) and int(objective.module.levels) == 2
    a1, a2 = 0.0, math.log(3.0)
    # [B=2, 1 + n_neg = 2, K = 2]: s_1, s_2 per candidate
    s = [[[0.3, 0.1], [-0.2, 0.4]], [[0.5, 0.25], [0.1, -0.3]]]
    loss = objective(Batch(None, torch.arange(2), scores=torch.tensor(s, dtype=torch.float64),
                           levels=torch.tensor([1, 2]))).item()  # fmt: skip

    def p(s1: float, s2: float) -> tuple[float, float]:  # p_1, p_2 from z_k = S * cumsum
        return sig(2 * s1 - a1), sig(2 * (s1 + s2) - a2)

    p1, p2 = p(0.3, 0.1)
    n1, _ = p(-0.2, 0.4)
    q1, q2 = p(0.5, 0.25)
    m1, _ = p(0.1, -0.3)
    terms = [
        -math.log(p1) - math.log(p1 - p2),  # y = 1
        -2 * math.log(1 - n1),  # negative
        -math.log(q1) - math.log(q2),  # y = 2
        -2 * math.log(1 - m1),
    ]
    assert loss == pytest.approx(sum(terms) / 4, rel=1e-9)


def test_guard_when_the_deep_similarity_inverts_the_levels():
    # S * s_2 far above a_2 - a_1: p_2 > p_1, so P(y = 1) = p_1 - p_2 < 0 without the guard
    objective = tower_objective(variant="non_nested", normalize="none")
    scores = torch.tensor([[[0.0, 5.0], [0.0, 0.0]]], dtype=torch.float64, requires_grad=True)
    loss = objective(Batch(None, torch.arange(1), scores=scores, levels=torch.tensor([1])))
    (grad,) = torch.autograd.grad(loss, scores)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    assert grad[0, 0, 1] > 0  # the level-1 pair's deep similarity is pushed back down


def test_normalised_towers_keep_every_pair_nested():
    objective = tower_objective(normalize="all", scale=8.0)
    a = objective.fixed_cutpoints(Batch.from_scores(torch.zeros(1), torch.zeros(1, 1)))
    scales = objective.level_scales(a)
    assert scales[0] == 8.0 and 0 < scales[1] < a[1] - a[0]
    cosines = torch.rand(200, 2, 2, dtype=torch.float64) * 2 - 1  # any s_k in [-1, 1]
    z = objective.logits(Batch(None, torch.arange(200), scores=cosines), a)
    p = torch.sigmoid(z - a)
    assert (p[..., 0] > p[..., 1]).all()
    # the towers score by z_K / S
    torch.testing.assert_close(objective.module.weights[:2], (scales / 8.0).float())


def test_one_logit_per_pair_is_refused_with_towers():
    objective = tower_objective()
    with pytest.raises(SiftrecError, match="towers=false"):
        objective(Batch.from_scores(torch.zeros(2), torch.zeros(2, 1), levels=torch.ones(2)))


def graded_log(seed: int = 0) -> Interactions:
    """40 users × 30 items: each user engages with 8 items at levels 1..3."""
    rng = np.random.default_rng(seed)
    users = np.repeat(np.arange(40), 8)
    items = np.concatenate([rng.choice(30, 8, replace=False) for _ in range(40)])
    levels = rng.integers(1, 4, len(users))
    return Interactions.from_raw(users, items).with_columns(level=levels)


@pytest.mark.parametrize(
    ("model", "params"),
    [
        ("mf", {}),
        ("mf", {"objective": "gnolr(normalize=all, scale=2)", "item_bias": True}),
        ("lightgcn", {"layers": 2}),
        ("gmf", {"objective": "gnolr(normalize=all, scale=2)"}),
    ],
)
def test_fitted_towers_score_by_the_deepest_level_from_one_space(model, params):
    log = graded_log()
    settings = {"dim": 12, "epochs": 3, "objective": "gnolr", "seed": 0, **params}
    fitted = get_model_class(model)(**settings).fit(log)
    scorer = fitted.scorer_
    towers = scorer.level_towers()
    assert isinstance(towers, LevelTowers) and int(towers.levels) == 3
    users = torch.arange(5)
    items = torch.arange(30).expand(5, 30)
    scores = fitted.score(np.arange(5))
    # scoring = the sum of the level similarities = z_K / S, of the concatenated level tables
    scorer.train()
    levels = scorer.score_candidates(users, items)
    scorer.eval()
    assert levels.shape == (5, 30, 3)
    weighted = (levels * towers.weights[:3]).sum(-1).detach().numpy()  # z_K / S
    np.testing.assert_allclose(scores, weighted, rtol=1e-4, atol=1e-5)
    p, q, b = scorer.factors()
    table = (p[:5] @ q.T + (0 if b is None else b)).numpy()
    np.testing.assert_allclose(scores, table, rtol=1e-4, atol=1e-5)
    # the deepest level's probability is increasing in the score: recommend ranks by it
    objective = GNOLR(scale=2.0 if "scale=2" in settings["objective"] else 1.0)
    objective.setup(log)
    deep = objective.deepest_probability(torch.as_tensor(scores[0]), n_negatives=1).numpy()
    assert np.array_equal(np.argsort(-deep, kind="stable"), np.argsort(-scores[0], kind="stable"))


def test_a_model_without_user_and_item_towers_is_refused():
    with pytest.raises(SiftrecError, match="towers=false"):
        get_model_class("neumf")(dim=8, epochs=1, objective="gnolr").fit(graded_log())


def test_a_near_empty_middle_level_is_merged_into_the_shallower_one():
    # Tmall's shares: collect 43 %, cart 0.4 %, buy 56 %
    np.testing.assert_array_equal(merged_levels(np.array([1.0, 0.568, 0.564]), 0.01), [0, 1, 1, 2])
    np.testing.assert_array_equal(merged_levels(np.array([1.0, 0.995, 0.5]), 0.01), [0, 1, 1, 2])
    np.testing.assert_array_equal(merged_levels(np.array([1.0, 0.5, 0.2]), 0.01), [0, 1, 2, 3])
    objective = GNOLR()
    objective.bind(objective.build(4, 4, torch.Generator(), False))
    objective.setup(leveled_log([1] * 120 + [2] + [3] * 79))
    assert objective.n_levels == 2 and int(objective.module.levels) == 2
    np.testing.assert_allclose(objective.rates_, [1.0, 0.395])
    b = Batch(None, torch.arange(3), scores=torch.zeros(3, 2, 2), levels=torch.tensor([1, 2, 3]))
    assert objective.labels(b)[:, 0].tolist() == [1, 1, 2]
    shared = GNOLR(towers=False)
    shared.setup(leveled_log([1] * 120 + [2] + [3] * 79))
    assert shared.n_levels == 3  # the shared logit keeps every level
