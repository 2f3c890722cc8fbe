"""GNOLR and the multitask baseline: hand-computed losses, gradients, the guard, the ablations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.objectives import BCE, GNOLR, Batch, MultiTask, get_objective
from siftrec.objectives.gnolr import base_cutpoints, level_rates


def leveled_log(levels: list[int]) -> Interactions:
    n = len(levels)
    log = Interactions.from_raw(np.arange(n), np.arange(n))
    return log.with_columns(level=np.asarray(levels))


def sig(x: float) -> float:
    return 1.0 / (1.0 + math.exp(-x))


def batch(scores: list[list[float]], levels: list[int] | None) -> Batch:
    s = torch.tensor(scores, dtype=torch.float64)
    lv = None if levels is None else torch.tensor(levels)
    return Batch(None, torch.arange(len(s)), scores=s, levels=lv)


def test_cutpoints_are_minus_log_odds_of_the_base_rates():
    rates = level_rates(leveled_log([1, 2, 2, 1]))
    np.testing.assert_allclose(rates, [1.0, 0.5])
    # one negative per positive: pi = (0.5, 0.25), a = -ln(pi / (1 - pi)) = (0, ln 3)
    np.testing.assert_allclose(base_cutpoints(rates, 1), [0.0, math.log(3.0)])


def test_nested_loss_equals_the_hand_computed_value():
    objective = GNOLR(towers=False)
    objective.setup(leveled_log([1, 2, 2, 1]))  # K = 2, a = (0, ln 3) with one negative
    a1, a2 = 0.0, math.log(3.0)
    scores = [[0.3, -0.2], [1.0, 0.5]]
    loss = objective(batch(scores, [1, 2])).item()

    def p(s: float, a: float) -> float:
        return sig(s - a)

    terms = [
        # y = 1: NLL_1 = -ln p1, NLL_2 = -ln(p1 - p2)
        -math.log(p(0.3, a1)) - math.log(p(0.3, a1) - p(0.3, a2)),
        # y = 0 (negative): -ln(1 - p1) in both truncations
        -2 * math.log(1 - p(-0.2, a1)),
        # y = 2: NLL_1 = -ln p1, NLL_2 = -ln p2
        -math.log(p(1.0, a1)) - math.log(p(1.0, a2)),
        -2 * math.log(1 - p(0.5, a1)),
    ]
    assert loss == pytest.approx(sum(terms) / 4, rel=1e-9)


def test_ablations_are_the_full_likelihood_and_per_level_bce():
    log = leveled_log([1, 2, 2, 1])
    a2 = math.log(3.0)
    scores = [[0.3, -0.2], [1.0, 0.5]]
    non_nested = GNOLR(variant="non_nested", towers=False)
    naive = GNOLR(variant="naive", towers=False)
    for objective in (non_nested, naive):
        objective.setup(log)
    got = non_nested(batch(scores, [1, 2])).item()
    want = (
        -math.log(sig(0.3) - sig(0.3 - a2))
        - math.log(1 - sig(-0.2))
        - math.log(sig(1.0 - a2))
        - math.log(1 - sig(0.5))
    ) / 4
    assert got == pytest.approx(want, rel=1e-9)
    got = naive(batch(scores, [1, 2])).item()
    want = (
        -math.log(sig(0.3)) - math.log(1 - sig(0.3 - a2))
        - math.log(1 - sig(-0.2)) - math.log(1 - sig(-0.2 - a2))
        - math.log(sig(1.0)) - math.log(sig(1.0 - a2))
        - math.log(1 - sig(0.5)) - math.log(1 - sig(0.5 - a2))
    ) / 4  # fmt: skip
    assert got == pytest.approx(want, rel=1e-9)


def test_censored_levels_score_reaching_the_level_not_stopping_there():
    log = leveled_log([1, 2, 2, 1])
    a2 = math.log(3.0)
    scores = [[0.3, -0.2], [1.0, 0.5]]
    # the level-2 row and the negatives are as uncensored; the level-1 row adds ln p1 per truncation
    rest = (
        -2 * math.log(1 - sig(-0.2))
        - math.log(sig(1.0)) - math.log(sig(1.0 - a2))
        - 2 * math.log(1 - sig(0.5))
    )  # fmt: skip
    nested = GNOLR(towers=False, censored=True)
    non_nested = GNOLR(variant="non_nested", towers=False, censored=True)
    naive = GNOLR(variant="naive", towers=False, censored=True)
    for objective in (nested, non_nested, naive):
        objective.setup(log)
    got = nested(batch(scores, [1, 2])).item()
    assert got == pytest.approx((-2 * math.log(sig(0.3)) + rest) / 4, rel=1e-9)
    got = non_nested(batch(scores, [1, 2])).item()
    want = (
        -math.log(sig(0.3)) - math.log(1 - sig(-0.2))
        - math.log(sig(1.0 - a2)) - math.log(1 - sig(0.5))
    ) / 4  # fmt: skip
    assert got == pytest.approx(want, rel=1e-9)
    got = naive(batch(scores, [1, 2])).item()
    want = (
        -math.log(sig(0.3))  # the level-2 indicator of the level-1 row is unknown
        - math.log(1 - sig(-0.2)) - math.log(1 - sig(-0.2 - a2))
        - math.log(sig(1.0)) - math.log(sig(1.0 - a2))
        - math.log(1 - sig(0.5)) - math.log(1 - sig(0.5 - a2))
    ) / 4  # fmt: skip
    assert got == pytest.approx(want, rel=1e-9)
    # censoring raises a stopped level's score where the uncensored loss lowers it
    for censored, sign in ((True, -1.0), (False, 1.0)):
        objective = GNOLR(towers=False, censored=censored)
        objective.setup(log)
        s = torch.tensor([[2.0, -1.0]], dtype=torch.float64, requires_grad=True)
        objective(Batch(None, torch.arange(1), scores=s, levels=torch.tensor([1]))).backward()
        assert sign * s.grad[0, 0].item() > 0, censored


def test_one_level_is_bce_shifted_by_the_base_rate_cutpoint():
    log = leveled_log([1, 1, 1])
    scores = torch.randn(5, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    a = float(base_cutpoints(level_rates(log), 3)[0])
    want = BCE()(Batch.from_scores(scores[:, 0] - a, scores[:, 1:] - a)).item()
    for variant in ("nested", "non_nested", "naive"):
        objective = GNOLR(variant=variant, towers=False)
        objective.setup(log)
        got = objective(Batch.from_scores(scores[:, 0], scores[:, 1:])).item()
        assert got == pytest.approx(want, rel=1e-9), variant


def test_gradients_push_deep_positives_up_and_negatives_down():
    objective = GNOLR(towers=False)
    objective.setup(leveled_log([1, 2, 3, 3, 1]))
    b = batch([[0.0, 0.0, 0.0]] * 3, [1, 2, 3])
    grads = objective.score_gradients(b)
    assert (grads.neg > 0).all()
    # deeper positives are pushed up harder at the same score
    assert grads.pos[2] < grads.pos[1] < grads.pos[0] < 0
    # a small step against the gradient lowers the loss
    scores = b.scores.clone()
    scores[:, 0] -= 0.1 * grads.pos
    scores[:, 1:] -= 0.1 * grads.neg
    assert objective(batch(scores.tolist(), [1, 2, 3])) < grads.loss


def test_guard_keeps_the_loss_finite_with_equal_cutpoints_and_huge_scores():
    # levels 1 and 2 have the same rate (nobody stops at level 1): a_1 == a_2, p1 - p2 == 0
    objective = GNOLR(variant="non_nested", towers=False)
    objective.setup(leveled_log([2, 2, 2]))
    scores = torch.tensor([[1e4, -1e4], [-1e4, 1e4]], dtype=torch.float64, requires_grad=True)
    loss = objective(Batch(None, torch.arange(2), scores=scores, levels=torch.tensor([1, 1])))
    (grad,) = torch.autograd.grad(loss, scores)
    assert torch.isfinite(loss) and torch.isfinite(grad).all()
    assert loss.item() <= -math.log(objective.eps) + 1e-6 + 1e4  # floored at ln eps, not -inf


def test_learned_cutpoints_start_at_the_base_rates_and_stay_ordered():
    objective = get_objective("gnolr(learn_cutpoints=true, towers=false)")
    module = objective.build(3, 3, torch.Generator(), False)
    objective.bind(module)
    objective.setup(leveled_log([1, 2, 3, 3]))
    b = batch([[0.5, -0.5]], [3])
    a = objective.cutpoints(b).detach()
    torch.testing.assert_close(a, objective.fixed_cutpoints(b), atol=1e-6, rtol=1e-6)
    with torch.no_grad():
        module.log_gaps.fill_(-50.0)  # gaps exp(-50): ordered, and the guard floors them
    loss = objective(b)
    assert torch.isfinite(loss)
    assert (torch.diff(objective.cutpoints(b)) >= 0).all()


def test_deepest_probability_ranks_as_the_logit():
    objective = GNOLR(scale=2.0, towers=False)
    objective.setup(leveled_log([1, 2, 3]))
    logits = torch.randn(50, generator=torch.Generator().manual_seed(3))
    prob = objective.deepest_probability(logits, n_negatives=1)
    assert torch.equal(torch.argsort(prob), torch.argsort(logits))
    assert ((prob > 0) & (prob < 1)).all()


def test_multitask_heads_start_calibrated_and_train_each_level():
    objective = MultiTask()
    objective.bind(objective.build(3, 3, torch.Generator(), False).double())
    objective.setup(leveled_log([1, 2, 2, 1]))
    b = batch([[0.0, 0.0]], [2])
    loss = objective(b)
    # heads start at the base rates: sigma(b_k) = pi_k = (0.5, 0.25)
    bias = objective.module.bias[:2].detach()
    torch.testing.assert_close(torch.sigmoid(bias), torch.tensor([0.5, 0.25], dtype=bias.dtype))
    want = (-math.log(0.5) - math.log(0.25) - math.log(0.5) - math.log(0.75)) / 4
    assert loss.item() == pytest.approx(want, rel=1e-6)


@pytest.mark.parametrize(
    "spec",
    [
        "gnolr(variant=other)",
        "gnolr(scale=0)",
        "gnolr(levels=99)",
        "gnolr(eps=0.5)",
        "gnolr(censored=true)",
    ],
)
def test_bad_parameters_are_one_line_errors(spec):
    with pytest.raises(SiftrecError):
        get_objective(spec)


def test_a_batch_before_setup_is_refused():
    with pytest.raises(SiftrecError, match="setup"):
        GNOLR(towers=False)(batch([[0.0, 0.0]], [1]))
