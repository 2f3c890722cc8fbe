import numpy as np
import pytest
import torch

from siftrec import Interactions, SiftrecError
from siftrec.denoise import noise_scores
from siftrec.models import MF, load_model
from siftrec.objectives import NBPO, Batch, get_objective
from siftrec.objectives.nbpo import FlipMF, _flip_backward, _flip_forward
from siftrec.testing.models import contract_log


def test_gradients_match_the_closed_forms_of_the_official_code():
    g = torch.Generator().manual_seed(0)
    x_pos, g_pos = torch.randn(5, generator=g) * 2, torch.randn(5, generator=g) * 2
    x_neg, g_neg = torch.randn(5, 3, generator=g) * 2, torch.randn(5, 3, generator=g) * 2
    leaves = [t.double().requires_grad_(True) for t in (x_pos, g_pos, x_neg, g_neg)]
    voted, unvoted = NBPO.pair_losses(*leaves)
    grads = torch.autograd.grad(voted.sum() + unvoted.sum(), leaves)
    s = torch.sigmoid
    xp, gp, xn, gn = (t.detach() for t in leaves)
    rho_p, rho_n = s(gp), s(gn)
    # the gradient table of Yu & Qin (SIGIR 2020): gradients of the maximised objective = minus ours
    torch.testing.assert_close(-grads[0], (1 - rho_p) * s(-xp))
    torch.testing.assert_close(-grads[1], -s(xp) * rho_p)
    torch.testing.assert_close(-grads[2], rho_n * s(-xn) - s(xn))
    torch.testing.assert_close(-grads[3], s(xn) * (1 - rho_n))


def flip_model(gamma_user, gamma_item):
    flip = FlipMF(2, 3, dim=1, init_scale=5.0, sparse=False, generator=torch.Generator())
    with torch.no_grad():
        flip.user_emb.weight.copy_(torch.tensor(gamma_user).view(-1, 1))
        flip.item_emb.weight.copy_(torch.tensor(gamma_item).view(-1, 1))
    return flip


def test_loss_value_against_hand_computation():
    flip = flip_model([1.0, -2.0], [0.5, 1.0, -1.0])  # γ_ui = P_u · Q_i
    nbpo = NBPO(dim=1, l2_flip=0.5)
    nbpo.bind(flip)
    users, items = torch.tensor([0, 1]), torch.tensor([[0, 2], [1, 0]])
    x_pos, x_neg = torch.tensor([1.0, -0.5]), torch.tensor([[0.3], [-1.2]])
    loss = nbpo(Batch.from_scores(x_pos, x_neg, users=users, items=items))
    s, ls = torch.sigmoid, torch.nn.functional.logsigmoid
    g_pos, g_neg = torch.tensor([0.5, -2.0]), torch.tensor([-1.0, -1.0])
    voted = -(s(-g_pos) * ls(x_pos) + s(x_pos) * ls(-g_pos))
    xn = x_neg[:, 0]
    unvoted = -(ls(-xn) + s(g_neg) * ls(xn) + s(xn) * ls(g_neg))
    # L2 of the distinct rows P_0, P_1 and Q_0, Q_1, Q_2 (Q_0 is met twice, counted once), ½, /B
    l2 = 0.5 * (1 + 4 + 0.25 + 1 + 1) / 2
    torch.testing.assert_close(loss, (voted.sum() + unvoted.sum()) / 2 + 0.5 * l2)


def test_voted_term_counts_once_per_negative():
    flip = flip_model([1.0, 1.0], [-1.0, -1.0, -1.0])
    nbpo = NBPO(dim=1, l2_flip=0.0)
    nbpo.bind(flip)
    users, x_pos = torch.tensor([0]), torch.tensor([0.7])
    one = nbpo(Batch.from_scores(x_pos, torch.zeros(1, 1), users, torch.tensor([[0, 1]])))
    two = nbpo(Batch.from_scores(x_pos, torch.zeros(1, 2), users, torch.tensor([[0, 1, 2]])))
    voted, unvoted = NBPO.pair_losses(
        x_pos, torch.tensor([-1.0]), torch.zeros(1, 1), -torch.ones(1, 1)
    )
    torch.testing.assert_close(one, voted.sum() + unvoted.sum())
    torch.testing.assert_close(two, 2 * (voted.sum() + unvoted.sum()))


def test_flip_l2_counts_each_row_once_per_batch():
    flip = flip_model([1.0, -2.0], [0.5, 1.0, -1.0])
    users, items = torch.tensor([0, 0, 0, 1]), torch.tensor([[0, 2], [0, 2], [0, 2], [0, 1]])
    penalty = flip.regularization(users, items)
    torch.testing.assert_close(penalty, torch.tensor(0.5 * (1 + 4 + 0.25 + 1 + 1) / 4))
    penalty.backward()
    # every touched row gets row / B, however often it occurs: a per-sample SGD step (lr·B)
    # shrinks it by 1 − lr·λ_Φ, never past zero for lr·λ_Φ < 1
    torch.testing.assert_close(flip.item_emb.weight.grad.view(-1), torch.tensor([0.5, 1, -1]) / 4)
    torch.testing.assert_close(flip.user_emb.weight.grad.view(-1), torch.tensor([1.0, -2]) / 4)


def test_extreme_logits_give_finite_losses_and_gradients():
    big = torch.tensor([-1e4, -50.0, 0.0, 50.0, 1e4], dtype=torch.float32)
    x_pos, g_pos = big.repeat_interleave(5), big.repeat(5)
    x_neg, g_neg = x_pos.view(-1, 1), g_pos.view(-1, 1)
    leaves = [t.clone().requires_grad_(True) for t in (x_pos, g_pos, x_neg, g_neg)]
    voted, unvoted = NBPO.pair_losses(*leaves)
    grads = torch.autograd.grad(voted.sum() + unvoted.sum(), leaves)
    assert torch.isfinite(voted).all() and torch.isfinite(unvoted).all()
    for grad in grads:
        assert torch.isfinite(grad).all() and grad.abs().max() <= 1.0


def popular_item_log(n_users: int = 300) -> Interactions:
    """Every user voted item 0 and four others of 40: item 0 is ~1/5 of every batch."""
    rng = np.random.default_rng(0)
    others = np.stack([rng.choice(np.arange(1, 40), 4, replace=False) for _ in range(n_users)])
    items = np.concatenate([np.zeros((n_users, 1), dtype=np.int64), others], axis=1)
    return Interactions.from_raw(np.repeat(np.arange(n_users), 5), items.reshape(-1))


def test_mf_default_lr_stays_finite_with_a_popular_item():
    # batches of 1024 meet item 0 ~200 times; an L2 per occurrence shrank its flip row by
    # 1 − 0.05·1·200 per batch and overflowed within a few epochs at MF's default lr 0.05
    model = MF(
        epochs=6, dim=8, batch_size=1024, objective="nbpo(dim=4)", n_negatives=4, device="cpu"
    ).fit(popular_item_log())
    assert model.config.lr == 0.05
    flip = model.scorer_.objective
    for table in (flip.user_emb.weight, flip.item_emb.weight):
        assert torch.isfinite(table).all() and table.abs().max() < 10
    assert all(np.isfinite(h["loss"]) for h in model.history_)


def test_default_flip_l2_is_the_leave_one_dataset_out_choice():
    # λ_Φ 0.1 (the authors' MovieLens setting is 1): see docs/benchmarks.md
    assert (NBPO().dim, NBPO().l2_flip, NBPO().init_scale) == (50, 0.1, 5.0)


def test_initial_flip_rate_is_near_zero():
    flip = NBPO().build(500, 400, torch.Generator().manual_seed(0), sparse=False)
    with torch.no_grad():
        gamma = flip.user_emb.weight @ flip.item_emb.weight.T
    assert gamma.mean().item() == pytest.approx(-6.25, abs=0.1)
    assert torch.sigmoid(gamma).mean().item() == pytest.approx(0.002, abs=0.001)


def test_errors():
    nbpo = NBPO()
    with pytest.raises(SiftrecError, match="flip model"):
        nbpo(Batch.from_scores(torch.zeros(1), torch.zeros(1, 1)))
    nbpo.bind(flip_model([1.0, 1.0], [1.0, 1.0, 1.0]))
    with pytest.raises(SiftrecError, match="users and items"):
        nbpo(Batch.from_scores(torch.zeros(1), torch.zeros(1, 1)))
    for spec in ("nbpo(dim=0)", "nbpo(l2_flip=-1)", "nbpo(init_scale=0)"):
        with pytest.raises(SiftrecError):
            get_objective(spec)


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_mf_trains_the_flip_model_and_round_trips(tmp_path, optimizer):
    data = contract_log()
    lr = 0.01 if optimizer == "adam" else 0.05
    model = MF(
        epochs=5,
        dim=8,
        batch_size=64,
        objective="nbpo(dim=4)",
        optimizer=optimizer,
        lr=lr,
        device="cpu",
    ).fit(data)
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[0]
    state = model._get_state()
    assert {"objective.user_emb.weight", "objective.item_emb.weight"} <= set(state)
    initial = model._new_scorer(data.n_users, data.n_items).state_dict()  # same seed
    for key in ("objective.user_emb.weight", "objective.item_emb.weight"):
        assert not np.allclose(state[key], initial[key].numpy())
    model.save(tmp_path / "nbpo")
    loaded = load_model(tmp_path / "nbpo")
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(loaded.score(users), model.score(users))
    np.testing.assert_array_equal(
        noise_scores(loaded, data, "nbpo"), noise_scores(model, data, "nbpo")
    )


def test_noise_score_is_the_probability_of_the_opposite_label():
    data = contract_log()
    model = MF(epochs=2, dim=8, batch_size=64, objective="nbpo(dim=4)", device="cpu").fit(data)
    scores = noise_scores(model, data, "nbpo")
    users = torch.from_numpy(data.users.astype(np.int64))
    items = torch.from_numpy(data.items.astype(np.int64))
    with torch.no_grad():
        x = model.scorer_.score_pairs(users, items).double()
        rho = torch.sigmoid(model.scorer_.objective.pair_logits(users, items).double())
    np.testing.assert_allclose(scores, (1 - torch.sigmoid(x) * (1 - rho)).numpy(), rtol=1e-6)
    bce = MF(epochs=1, dim=8, batch_size=64, objective="bce", device="cpu").fit(data)
    with pytest.raises(SiftrecError, match="objective=nbpo"):
        noise_scores(bce, data, "nbpo")


def dense_rows(grads, tables):
    """The ``RowGrad``s summed into dense tables shaped like ``tables``."""
    out = [torch.zeros_like(t) for t in tables]
    for grad, table, dense in zip(grads, tables, out, strict=True):
        assert grad.param is table
        dense.index_add_(0, grad.rows, grad.grad)
    return out


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])  # torch path, compiled path
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("l2_flip", [0.0, 0.7])
def test_fused_gradients_equal_autograd(dtype, weighted, l2_flip):
    g = torch.Generator().manual_seed(2)
    nbpo = NBPO(dim=5, l2_flip=l2_flip, init_scale=2.0)
    flip = nbpo.build(7, 9, g, sparse=False).to(dtype)
    nbpo.bind(flip)
    users = torch.randint(0, 7, (12,), generator=g)  # repeated users and items
    items = torch.randint(0, 9, (12, 4), generator=g)
    scores = torch.randn(12, 4, generator=g, dtype=dtype).requires_grad_(True)
    weights = torch.rand(12, generator=g, dtype=dtype) + 0.5 if weighted else None
    batch = Batch(None, users, items, scores, weights=weights)
    loss = nbpo(batch)
    tables = [flip.user_emb.weight, flip.item_emb.weight]
    expected = torch.autograd.grad(loss, [scores, *tables])
    fused_batch = Batch(None, users, items, scores.detach(), weights=weights)
    grads, rows = nbpo.fused_gradients(fused_batch, -3.0)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == torch.float32 else {}
    torch.testing.assert_close(grads.loss, loss.detach(), **tol)
    torch.testing.assert_close(grads.pos, expected[0][:, 0], **tol)
    torch.testing.assert_close(grads.neg, expected[0][:, 1:], **tol)
    # the flip rows' gradients, times the scale the trainer folds in (SGD's −lr·B)
    for got, want in zip(dense_rows(rows, tables), expected[1:], strict=True):
        torch.testing.assert_close(got, -3.0 * want, **tol)


def test_compiled_flip_loops_equal_torch():
    g = torch.Generator().manual_seed(4)
    P, Q = torch.randn(30, 16, generator=g), torch.randn(20, 16, generator=g)
    users, items = torch.randint(0, 30, (64,), generator=g), torch.randint(0, 20, (64, 3))
    user_decay, item_decay = torch.rand(64, generator=g), torch.rand(64, 3, generator=g)
    dgamma = torch.randn(64, 3, generator=g)
    forward = (P, Q, users, items, user_decay, item_decay)
    backward = (P, Q, users, items, dgamma, user_decay, item_decay)
    for loops, args in ((_flip_forward, forward), (_flip_backward, backward)):
        for got, want in zip(loops(*args, True), loops(*args, False), strict=True):
            torch.testing.assert_close(got, want)
