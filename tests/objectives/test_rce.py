import numpy as np
import pytest
import torch
from torch.nn.functional import softplus

from siftrec import SiftrecError
from siftrec.models import MF, load_model
from siftrec.objectives import Batch, ReweightedBCE, get_objective
from siftrec.testing.models import contract_log

POS = torch.tensor([1.0, -1.0], dtype=torch.float64)
NEG = torch.tensor([[0.5], [2.0]], dtype=torch.float64)


def test_value_against_hand_computation():
    loss = ReweightedBCE(beta=0.5)(Batch.from_scores(POS, NEG))
    s = torch.sigmoid
    expected = (
        s(POS[0]) ** 0.5 * softplus(-POS[0])
        + s(POS[1]) ** 0.5 * softplus(-POS[1])
        + s(-NEG[0, 0]) ** 0.5 * softplus(NEG[0, 0])
        + s(-NEG[1, 0]) ** 0.5 * softplus(NEG[1, 0])
    ) / 4
    torch.testing.assert_close(loss, expected)


def test_positive_only_weighting_and_interaction_weights():
    w = torch.tensor([2.0, 1.0], dtype=torch.float64)
    loss = ReweightedBCE(beta=0.5, weight_negatives=False)(Batch.from_scores(POS, NEG, weights=w))
    s = torch.sigmoid
    expected = (
        2 * s(POS[0]) ** 0.5 * softplus(-POS[0])
        + s(POS[1]) ** 0.5 * softplus(-POS[1])
        + softplus(NEG).sum()
    ) / 4
    torch.testing.assert_close(loss, expected)


def test_defaults_weigh_negatives_as_the_official_code_with_the_study_s_beta():
    # β 0.05 (official 0.2): the leave-one-dataset-out choice in docs/benchmarks.md
    assert ReweightedBCE().beta == 0.05 and ReweightedBCE().weight_negatives


def test_weights_are_constants_in_the_gradient():
    pos = POS.clone().requires_grad_(True)
    neg = NEG.clone().requires_grad_(True)
    ReweightedBCE(beta=0.5)(Batch.from_scores(pos, neg)).backward()
    s = torch.sigmoid
    torch.testing.assert_close(pos.grad, -(s(POS) ** 0.5) * s(-POS) / 4)
    torch.testing.assert_close(neg.grad, s(-NEG) ** 0.5 * s(NEG) / 4)


def test_bad_beta():
    with pytest.raises(SiftrecError, match="beta"):
        get_objective("rce(beta=-1)")


def test_mf_trains_and_round_trips(tmp_path):
    data = contract_log()
    model = MF(
        epochs=6, dim=8, batch_size=64, objective="rce", optimizer="adam", lr=0.01, device="cpu"
    ).fit(data)
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]
    model.save(tmp_path / "rce")
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(load_model(tmp_path / "rce").score(users), model.score(users))
