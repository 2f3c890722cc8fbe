import pytest
import torch

from siftrec import SiftrecError
from siftrec.objectives import (
    BCE,
    BPR,
    Multinomial,
    SampledObjective,
    available_objectives,
    get_objective,
)


def scores(seed: int = 0, batch: int = 6, n_neg: int = 3):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randn(batch, generator=g, dtype=torch.float64)
    neg = torch.randn(batch, n_neg, generator=g, dtype=torch.float64)
    weights = torch.rand(batch, generator=g, dtype=torch.float64) + 0.5
    return pos, neg, weights


@pytest.mark.parametrize("name", ["bpr", "bce"])
@pytest.mark.parametrize("weighted", [False, True])
def test_sampled_gradient_matches_finite_differences(name, weighted):
    objective = get_objective(name)
    pos, neg, weights = scores()
    w = weights if weighted else None

    def loss(p, n):
        return objective(p, n, weights=w).loss

    assert torch.autograd.gradcheck(loss, (pos.requires_grad_(), neg.requires_grad_()))


@pytest.mark.parametrize("name", ["bpr", "bce"])
@pytest.mark.parametrize("weighted", [False, True])
def test_closed_form_score_gradients_equal_autograd(name, weighted):
    objective = get_objective(name)
    pos, neg, weights = scores(seed=1)
    w = weights if weighted else None
    out, dpos, dneg = objective.score_gradients(pos, neg, weights=w)
    ref_out, ref_dpos, ref_dneg = SampledObjective.score_gradients(objective, pos, neg, weights=w)
    torch.testing.assert_close(dpos, ref_dpos)
    torch.testing.assert_close(dneg, ref_dneg)
    torch.testing.assert_close(out.loss, ref_out.loss)
    torch.testing.assert_close(out.per_interaction, ref_out.per_interaction)


def test_multinomial_gradient_matches_finite_differences():
    g = torch.Generator().manual_seed(2)
    logits = torch.randn(4, 7, generator=g, dtype=torch.float64, requires_grad=True)
    targets = (torch.rand(4, 7, generator=g) < 0.4).double()
    weights = torch.rand(4, generator=g, dtype=torch.float64)

    def loss(x):
        return Multinomial()(x, targets, weights=weights).loss

    assert torch.autograd.gradcheck(loss, (logits,))


def test_bpr_values_and_per_interaction():
    pos = torch.tensor([2.0, 0.0])
    neg = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    out = BPR()(pos, neg)
    softplus = torch.nn.functional.softplus
    expected = torch.stack(
        [
            (softplus(torch.tensor(-2.0)) + softplus(torch.tensor(-1.0))) / 2,
            softplus(torch.tensor(0.0)),
        ]
    )
    torch.testing.assert_close(out.per_interaction, expected)
    torch.testing.assert_close(out.loss, expected.mean())
    assert not out.per_interaction.requires_grad


def test_bce_is_mean_over_all_labelled_samples():
    pos = torch.tensor([1.0, -1.0])
    neg = torch.tensor([[0.5], [2.0]])
    out = BCE()(pos, neg, weights=torch.tensor([2.0, 1.0]))
    labels = torch.tensor([1.0, 1.0, 0.0, 0.0])
    logits = torch.tensor([1.0, -1.0, 0.5, 2.0])
    each = torch.nn.functional.binary_cross_entropy_with_logits(logits, labels, reduction="none")
    torch.testing.assert_close(out.loss, (2 * each[0] + each[1] + each[2] + each[3]) / 4)
    torch.testing.assert_close(out.per_interaction, each[:2])


def test_stable_at_extreme_scores():
    pos = torch.tensor([-1000.0, 1000.0], requires_grad=True)
    neg = torch.tensor([[1000.0], [-1000.0]], requires_grad=True)
    for objective in (BPR(), BCE()):
        out = objective(pos, neg)
        out.loss.backward()
        assert torch.isfinite(out.loss) and torch.isfinite(pos.grad).all()
        _, dpos, dneg = objective.score_gradients(pos, neg)
        assert torch.isfinite(dpos).all() and torch.isfinite(dneg).all()
        pos.grad = neg.grad = None
    logits = torch.tensor([[1000.0, -1000.0]], requires_grad=True)
    assert torch.isfinite(Multinomial()(logits, torch.tensor([[0.0, 1.0]])).loss)


def test_registry_names_aliases_and_specs():
    assert {"bpr", "bce", "bpo", "multinomial"} <= set(available_objectives())
    assert isinstance(get_objective("BPO"), BCE)
    assert get_objective("bpr").kind == "pairwise"
    assert get_objective("bce").kind == "pointwise"
    assert get_objective("multinomial").kind == "listwise"
    with pytest.raises(SiftrecError, match="unknown objective 'nope'"):
        get_objective("nope")
    with pytest.raises(SiftrecError, match="unknown hyperparameter 'margin'"):
        get_objective("bpr(margin=1)")
    with pytest.raises(SiftrecError, match="bad component spec"):
        get_objective("bpr(")
