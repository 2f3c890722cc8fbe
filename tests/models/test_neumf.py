import numpy as np
import pytest
import torch

from siftrec.models import GMF, NeuMF
from siftrec.models import neumf as neumf_module
from siftrec.testing import contract_log as contract_data


def test_architecture_follows_the_reference():
    model = NeuMF(epochs=1, dropout=0.2).fit(contract_data())  # dim 32, 3 layers
    scorer = model.scorer_
    assert scorer.mlp_user.embedding_dim == 128
    assert [(m.in_features, m.out_features) for m in scorer.tower] == [
        (256, 128),
        (128, 64),
        (64, 32),
    ]
    assert scorer.predict.in_features == 64
    gmf = GMF(epochs=1).fit(contract_data()).scorer_
    assert not hasattr(gmf, "mlp_user") and gmf.predict.in_features == 32


@pytest.mark.parametrize("make", [lambda: GMF(epochs=1, dim=8), lambda: NeuMF(epochs=1, dim=8)])
def test_score_all_equals_pairwise_scores(make, monkeypatch):
    data = contract_data()
    model = make().fit(data)
    monkeypatch.setattr(neumf_module, "SCORE_BLOCK_ELEMENTS", 1000)  # several item chunks
    model.invalidate()
    users = np.array([0, 4, 9])
    scores = model.score(users)
    assert scores.shape == (3, data.n_items)
    scorer = model.scorer_.eval()
    items = torch.arange(data.n_items).expand(3, -1)
    with torch.no_grad():
        pairs = scorer.score_candidates(torch.from_numpy(users), items).numpy()
    np.testing.assert_allclose(scores, pairs, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("make", [GMF, NeuMF])
@pytest.mark.parametrize("objective", ["bce", "bpr"])
def test_training_reduces_the_loss(make, objective):
    model = make(epochs=6, dim=8, lr=0.05, batch_size=64, objective=objective)
    losses = [h["loss"] for h in model.fit(contract_data()).history_]
    assert losses[-1] < 0.8 * losses[0]


@pytest.mark.parametrize("training", [False, True])
def test_no_grad_scoring_splits_the_first_layer_exactly(training):
    scorer = NeuMF(epochs=1, dim=8, num_layers=2).fit(contract_data()).scorer_.train(training)
    generator = torch.Generator().manual_seed(0)
    users = torch.tensor([0, 4, 4, 9, 0])  # repeated users and items, as in PLD's pass
    items = torch.randint(0, 40, (5, 3), generator=generator)
    with torch.no_grad():
        split = scorer.score_candidates(users, items)
    full = scorer.score_candidates(users, items)  # autograd: the concatenated reference path
    assert full.requires_grad
    torch.testing.assert_close(split, full.detach(), rtol=1e-5, atol=1e-6)


def test_dropout_only_in_training_mode():
    model = NeuMF(epochs=1, dim=8, dropout=0.5).fit(contract_data())
    scorer = model.scorer_
    users, items = torch.arange(4), torch.arange(12).view(4, 3)
    with torch.no_grad():
        scorer.eval()
        assert torch.equal(
            scorer.score_candidates(users, items), scorer.score_candidates(users, items)
        )
        scorer.train()
        a, b = scorer.score_candidates(users, items), scorer.score_candidates(users, items)
    assert not torch.equal(a, b)


def test_l2_regularises_every_embedding_row_of_the_batch():
    scorer = NeuMF(epochs=1, dim=4, num_layers=1).fit(contract_data()).scorer_
    users, pos, neg = torch.tensor([0, 1]), torch.tensor([2, 3]), torch.tensor([[4], [5]])
    items = torch.tensor([[2, 4], [3, 5]])
    expected = (
        0.5
        * sum(
            t.weight[idx].square().sum()
            for t, idx in [
                (scorer.gmf_user, users),
                (scorer.gmf_item, items),
                (scorer.mlp_user, users),
                (scorer.mlp_item, items),
            ]
        )
        / 2
    )
    torch.testing.assert_close(scorer.regularization(users, pos, neg), expected)


def test_defaults_follow_the_reference():
    cfg = NeuMF().config
    assert (cfg.dim, cfg.num_layers, cfg.dropout, cfg.lr, cfg.batch_size, cfg.objective) == (
        32,
        3,
        0.0,
        1e-3,
        1024,
        "bce",
    )
