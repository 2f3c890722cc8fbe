import numpy as np
import pytest
import torch

from siftrec.data.splits import split_interactions
from siftrec.evaluate import evaluate
from siftrec.models import MultDAE, MultVAE, load_model
from siftrec.testing import contract_log as contract_data

SMALL_VAE = {"hidden": 16, "latent": 8, "batch_size": 16}
SMALL_DAE = {"hidden": 12, "batch_size": 16}


def _dense_forward(scorer, rows: np.ndarray) -> torch.Tensor:
    """Evaluation-mode logits computed densely from the scorer's parameters (the reference)."""
    x = torch.from_numpy(rows).float()
    h = torch.nn.functional.normalize(x, dim=1) @ scorer.input_weight + scorer.input_bias
    for layer in scorer.encoder:
        h = layer(torch.tanh(h))
    h = h.chunk(2, dim=1)[0] if scorer.variational else torch.tanh(h)
    for i, layer in enumerate(scorer.decoder):
        h = layer(h) if i == len(scorer.decoder) - 1 else torch.tanh(layer(h))
    return h


def test_architectures():
    data = contract_data()
    vae = MultVAE(epochs=1).fit(data).scorer_
    assert tuple(vae.input_weight.shape) == (data.n_items, 600)
    assert [(m.in_features, m.out_features) for m in vae.encoder] == [(600, 400)]
    assert [(m.in_features, m.out_features) for m in vae.decoder] == [(200, 600), (600, 40)]
    dae = MultDAE(epochs=1).fit(data).scorer_
    assert tuple(dae.input_weight.shape) == (data.n_items, 200) and not len(dae.encoder)
    assert [(m.in_features, m.out_features) for m in dae.decoder] == [(200, 40)]


BOTH = pytest.mark.parametrize("cls, small", [(MultVAE, SMALL_VAE), (MultDAE, SMALL_DAE)])


@BOTH
def test_scores_equal_a_dense_reference_and_gradients_reach_the_input_layer(cls, small):
    data = contract_data()
    model = cls(epochs=1, **small).fit(data)
    users = np.arange(7)
    expected = _dense_forward(model.scorer_, data.binary[users].toarray())
    np.testing.assert_allclose(model.score(users), expected.detach().numpy(), rtol=1e-5, atol=1e-6)
    # the sparse input product's gradient equals the dense one (dropout off)
    scorer = model.scorer_
    scorer.input_dropout = 0.0
    rows = torch.from_numpy(data.binary[users].toarray())
    scorer.eval().zero_grad()
    logits, _ = scorer.forward_rows(torch.from_numpy(users), rows, step=0)
    logits.sum().backward()
    sparse_grad = scorer.input_weight.grad.clone()
    scorer.zero_grad()
    _dense_forward(scorer, rows.numpy()).sum().backward()
    torch.testing.assert_close(sparse_grad, scorer.input_weight.grad, rtol=1e-5, atol=1e-6)
    assert sparse_grad.abs().sum() > 0


def test_kl_annealing_schedule():
    scorer = MultVAE(epochs=1, **SMALL_VAE).fit(contract_data()).scorer_
    assert (scorer.anneal_cap, scorer.total_anneal_steps) == (0.2, 200_000)
    assert scorer.beta(0) == 0.0
    assert scorer.beta(1_000) == pytest.approx(0.005)
    assert scorer.beta(20_000) == pytest.approx(0.1)
    assert scorer.beta(40_000) == pytest.approx(0.2)
    assert scorer.beta(150_000) == pytest.approx(0.2)  # capped
    scorer.total_anneal_steps = 0
    assert scorer.beta(0) == pytest.approx(0.2)


def test_training_penalty_is_beta_at_the_step_times_kl():
    data = contract_data()
    scorer = MultVAE(epochs=1, dropout=0.0, **SMALL_VAE).fit(data).scorer_
    users = torch.arange(5)
    rows = torch.from_numpy(data.binary[:5].toarray())
    scorer.eval()
    with torch.no_grad():
        _, kl = scorer.forward_sparse(scorer.user_rows(users))
        scorer.train()  # z is sampled now, but the KL only depends on μ and log σ²
        for step in (0, 10_000, 30_000, 500_000):
            _, penalty = scorer.forward_rows(users, rows, step)
            torch.testing.assert_close(penalty, scorer.beta(step) * kl)
    assert kl > 0


def test_dae_weight_decay_penalty():
    data = contract_data()
    model = MultDAE(epochs=1, dropout=0.0, **SMALL_DAE).fit(data)
    scorer = model.scorer_
    assert model.config.l2 == pytest.approx(2e-5)  # the notebook's lam = 0.01 / batch 500
    weights = [scorer.input_weight, *(m.weight for m in scorer.decoder)]
    with torch.no_grad():
        _, penalty = scorer.forward_rows(
            torch.arange(3), torch.from_numpy(data.binary[:3].toarray()), 0
        )
    torch.testing.assert_close(penalty, 2e-5 * sum(w.square().sum() for w in weights))


@BOTH
def test_dropout_and_sampling_only_in_training_mode(cls, small):
    data = contract_data()
    model = cls(epochs=1, **small).fit(data)
    scorer = model.scorer_
    rows = scorer.user_rows(torch.arange(6))
    with torch.no_grad():
        scorer.train()
        a, b = scorer.forward_sparse(rows)[0], scorer.forward_sparse(rows)[0]
        assert not torch.equal(a, b)
        scorer.eval()
        c, d = scorer.forward_sparse(rows)[0], scorer.forward_sparse(rows)[0]
    assert torch.equal(c, d)
    np.testing.assert_allclose(c.numpy(), model.score(np.arange(6)), rtol=1e-6, atol=1e-7)


@BOTH
def test_fold_in_binarises_the_history_and_survives_save_load(cls, small, tmp_path):
    data = contract_data()
    model = cls(epochs=2, **small).fit(data)
    users = np.array([3, 0, 11])
    history = data.binary[users] * 3.0  # values are binarised: any positive weight is a click
    np.testing.assert_allclose(
        model.score_history(history), model.score(users), rtol=1e-5, atol=1e-6
    )
    loaded = load_model(model.save(tmp_path / "m"))
    np.testing.assert_allclose(
        loaded.score_history(history), model.score(users), rtol=1e-5, atol=1e-6
    )


def test_strong_generalisation_with_fold_in_and_validation_selection():
    data = contract_data(n_users=120)
    split = split_interactions(
        data, "strong", heldout_users=20, validation_ratio=0.1, fold_in_ratio=0.6, seed=1
    )

    def on_validation(model):
        return evaluate(
            model, split.validation, "ndcg@20", fold_in=split.validation_fold_in
        ).metrics

    model = MultVAE(epochs=3, metric="ndcg@20", **SMALL_VAE)
    model.fit(split.train, evaluator=on_validation)
    assert all("ndcg@20" in h for h in model.history_)
    assert model.best_epoch_ == max(model.history_, key=lambda h: h["ndcg@20"])["epoch"]
    result = evaluate(model, split.test, "recall@20,ndcg@20", fold_in=split.test_fold_in)
    assert result.n_users == 20
    assert 0.0 < result.metrics["ndcg@20"] <= 1.0


def test_training_reduces_the_loss():
    for model in (MultVAE(epochs=8, lr=0.01, **SMALL_VAE), MultDAE(epochs=8, lr=0.01, **SMALL_DAE)):
        losses = [h["loss"] for h in model.fit(contract_data()).history_]
        assert losses[-1] < losses[0]


def test_defaults_follow_the_notebook():
    vae, dae = MultVAE().config, MultDAE().config
    assert (vae.hidden, vae.latent, vae.dropout, vae.anneal_cap, vae.total_anneal_steps) == (
        600,
        200,
        0.5,
        0.2,
        200_000,
    )
    assert (vae.batch_size, vae.lr, vae.l2, vae.objective, vae.metric) == (
        500,
        1e-3,
        0.0,
        "multinomial",
        "ndcg@100",
    )
    assert (dae.hidden, dae.dropout, dae.batch_size) == (200, 0.5, 500)
