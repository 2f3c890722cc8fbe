import numpy as np
import pytest
import torch
from torch.nn.functional import softplus

from siftrec import SiftrecError
from siftrec.models import MF, load_model
from siftrec.objectives import BCE, ReweightedBCE, SampledObjective, get_objective
from tests.contract import contract_data

POS = torch.tensor([1.0, -1.0], dtype=torch.float64)
NEG = torch.tensor([[0.5], [2.0]], dtype=torch.float64)


def test_value_against_hand_computation():
    out = ReweightedBCE(beta=0.5)(POS, NEG)
    s = torch.sigmoid
    expected = (
        s(POS[0]) ** 0.5 * softplus(-POS[0])
        + s(POS[1]) ** 0.5 * softplus(-POS[1])
        + s(-NEG[0, 0]) ** 0.5 * softplus(NEG[0, 0])
        + s(-NEG[1, 0]) ** 0.5 * softplus(NEG[1, 0])
    ) / 4
    torch.testing.assert_close(out.loss, expected)
    torch.testing.assert_close(out.per_interaction, softplus(-POS))


def test_positive_only_weighting_and_interaction_weights():
    w = torch.tensor([2.0, 1.0], dtype=torch.float64)
    out = ReweightedBCE(beta=0.5, weight_negatives=False)(POS, NEG, weights=w)
    s = torch.sigmoid
    expected = (
        2 * s(POS[0]) ** 0.5 * softplus(-POS[0])
        + s(POS[1]) ** 0.5 * softplus(-POS[1])
        + softplus(NEG).sum()
    ) / 4
    torch.testing.assert_close(out.loss, expected)


def test_beta_zero_is_bce_and_default_is_the_official_one():
    g = torch.Generator().manual_seed(0)
    pos, neg = torch.randn(5, generator=g), torch.randn(5, 3, generator=g)
    torch.testing.assert_close(ReweightedBCE(beta=0.0)(pos, neg).loss, BCE()(pos, neg).loss)
    assert ReweightedBCE().beta == 0.2 and ReweightedBCE().weight_negatives


def test_weights_are_constants_in_the_gradient():
    pos = POS.clone().requires_grad_(True)
    neg = NEG.clone().requires_grad_(True)
    ReweightedBCE(beta=0.5)(pos, neg).loss.backward()
    s = torch.sigmoid
    torch.testing.assert_close(pos.grad, -(s(POS) ** 0.5) * s(-POS) / 4)
    torch.testing.assert_close(neg.grad, s(-NEG) ** 0.5 * s(NEG) / 4)


@pytest.mark.parametrize("spec", ["rce", "rce(beta=0.3, weight_negatives=false)"])
def test_closed_form_gradients_equal_autograd(spec):
    g = torch.Generator().manual_seed(4)
    pos = torch.randn(6, generator=g, dtype=torch.float64)
    neg = torch.randn(6, 3, generator=g, dtype=torch.float64)
    w = torch.rand(6, generator=g, dtype=torch.float64)
    rce = get_objective(spec)
    out, dpos, dneg = rce.score_gradients(pos, neg, weights=w)
    ref, ref_dpos, ref_dneg = SampledObjective.score_gradients(rce, pos, neg, weights=w)
    torch.testing.assert_close(out.loss, ref.loss)
    torch.testing.assert_close(dpos, ref_dpos)
    torch.testing.assert_close(dneg, ref_dneg)


def test_stable_at_extreme_scores():
    pos = torch.tensor([-1000.0, 1000.0], requires_grad=True)
    neg = torch.tensor([[1000.0], [-1000.0]], requires_grad=True)
    out = ReweightedBCE()(pos, neg)
    out.loss.backward()
    assert torch.isfinite(out.loss) and torch.isfinite(pos.grad).all()


def test_bad_beta():
    with pytest.raises(SiftrecError, match="beta"):
        get_objective("rce(beta=-1)")


def test_mf_trains_and_round_trips(tmp_path):
    data = contract_data()
    model = MF(
        epochs=6, dim=8, batch_size=64, objective="rce", optimizer="adam", lr=0.01, device="cpu"
    ).fit(data)
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]
    model.save(tmp_path / "rce")
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(load_model(tmp_path / "rce").score(users), model.score(users))
