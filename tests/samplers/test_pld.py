import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy.stats import chisquare

from siftrec import Interactions, SiftrecError
from siftrec.models import GMF, MF, LightGCN, NeuMF, load_model
from siftrec.models.lightgcn import LightGCNScorer
from siftrec.models.mf import MFScorer
from siftrec.samplers import PLDSampler, get_sampler
from siftrec.testing.models import contract_log


def log(degrees, n_items=40, seed=0):
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u, d in enumerate(degrees):
        users += [u] * d
        items += list(rng.choice(n_items - 5, size=d, replace=False))
    return Interactions.from_raw(np.array(users), np.array(items))


def table_score_fn(table, calls=None):
    def score(users, items):
        if calls is not None:
            calls.append(items.shape)
        return table[users.unsqueeze(1), items]

    return score


def test_pools_are_the_users_own_interactions():
    train = log([2, 5, 12, 30], n_items=100)
    sampler = PLDSampler(pool_size=5)
    sampler.setup(train, np.random.default_rng(0))
    users = np.repeat(np.arange(4), 2000)
    pools = sampler.pools(users)
    assert pools.shape == (8000, 5)
    np.testing.assert_array_equal(train.users[pools], users[:, None].repeat(5, axis=1))
    big = users >= 1  # at least pool_size interactions: without replacement
    assert all(len(set(row)) == 5 for row in pools[big])
    assert any(len(set(row)) < 5 for row in pools[~big])  # with replacement, duplicates kept
    # Floyd's algorithm: every interaction of a 12-item user is in the pool w.p. 5/12
    counts = np.bincount(pools[users == 2].ravel(), minlength=len(train))
    ids = np.flatnonzero(train.users == 2)
    assert chisquare(counts[ids]).pvalue > 0.001
    assert counts[ids].sum() == 2000 * 5


def test_sampling_distribution_is_the_softmax_of_personal_losses():
    train = log([3] * 50, n_items=20, seed=1)  # pool = the user's 3 interactions
    torch.manual_seed(0)
    table = torch.randn(train.n_users, train.n_items) * 0.3
    tau = 0.2
    sampler = PLDSampler(pool_size=3, temperature=tau, warmup_epochs=0, losses="batch")
    sampler.setup(train, np.random.default_rng(0))
    sampler.score_fn = table_score_fn(table)
    ids, negs = [], []
    for epoch in range(40):
        for batch in sampler.epoch(epoch, 64):
            ids.append(batch.ids.numpy())
            negs.append(batch.neg.numpy()[:, 0])
            np.testing.assert_array_equal(batch.pos.numpy(), train.items[batch.ids.numpy()])
            np.testing.assert_array_equal(batch.users.numpy(), train.users[batch.ids.numpy()])
    ids, negs = np.concatenate(ids), np.concatenate(negs)
    users = train.users[ids]
    # expected: for each drawn (user, negative), softmax(−softplus(s_j − s_i)/τ) over the pool
    own = np.stack([np.flatnonzero(train.users == u) for u in range(train.n_users)])
    s_pool = table[torch.from_numpy(users).unsqueeze(1), torch.from_numpy(train.items[own[users]])]
    s_neg = table[torch.from_numpy(users), torch.from_numpy(negs)]
    expected = torch.softmax(-torch.nn.functional.softplus(s_neg[:, None] - s_pool) / tau, 1)
    chosen = (own[users] == ids[:, None]).argmax(axis=1)
    for u in range(0, train.n_users, 10):
        rows = users == u
        observed = np.bincount(chosen[rows], minlength=3)
        f_exp = expected[rows].double().sum(0).numpy()
        assert chisquare(observed, f_exp * observed.sum() / f_exp.sum()).pvalue > 1e-3
    # and it is not uniform: low-loss (high-score) items are preferred overall
    assert (expected.numpy()[np.arange(len(chosen)), chosen]).mean() > 0.4


def test_epoch_losses_draw_from_the_softmax_of_the_snapshot():
    train = log([3] * 50, n_items=20, seed=1)  # pool = the user's 3 interactions
    torch.manual_seed(0)
    table = torch.randn(train.n_users, train.n_items)
    tau = 0.5
    sampler = PLDSampler(pool_size=3, temperature=tau, warmup_epochs=0, losses="epoch")
    sampler.setup(train, np.random.default_rng(0))
    sampler.score_fn = table_score_fn(table)
    own = np.stack([np.flatnonzero(train.users == u) for u in range(train.n_users)])
    scores = table[torch.from_numpy(train.users), torch.from_numpy(train.items)]
    observed = np.zeros(len(train))
    expected = np.zeros(len(train))
    for epoch in range(60):
        for batch in sampler.epoch(epoch, 64):
            ids, users = batch.ids.numpy(), batch.users.numpy()
            np.testing.assert_array_equal(batch.pos.numpy(), train.items[ids])
            np.testing.assert_array_equal(users, train.users[ids])
            observed += np.bincount(ids, minlength=len(train))
            # each example: softmax(−softplus(s_j − s_i)/τ) over the pool, against its negative
            s_neg = table[batch.users, batch.neg[:, 0]]
            losses = F.softplus(s_neg[:, None] - scores[torch.from_numpy(own[users])])
            np.add.at(expected, own[users], torch.softmax(-losses / tau, 1).double().numpy())
        torch.testing.assert_close(sampler.snapshot, scores[sampler.csr_ids])  # this epoch's
    for u in range(0, train.n_users, 5):
        assert chisquare(observed[own[u]], expected[own[u]]).pvalue > 1e-3
    assert chisquare(observed, expected).pvalue > 1e-3
    # and not uniform: the draws follow the losses
    assert chisquare(observed, np.full(len(train), observed.sum() / len(train))).pvalue < 1e-6


def test_epoch_losses_snapshot_is_recomputed_every_epoch():
    train = log([3] * 20, n_items=20)
    own = np.stack([np.flatnonzero(train.users == u) for u in range(20)])
    first, last = own[:, 0], own[:, 2]
    tables = []
    for favourite in (first, last):  # pointwise scores +5 on one interaction per user, else −5
        table = torch.full((20, train.n_items), -5.0)
        table[train.users[favourite], train.items[favourite]] = 5.0
        tables.append(table)
    calls = []
    current = {}
    sampler = PLDSampler(pool_size=3, temperature=0.05, warmup_epochs=0, loss="pointwise")
    sampler.setup(train, np.random.default_rng(0))
    sampler.score_fn = lambda users, items: table_score_fn(current["table"], calls)(users, items)
    for epoch, (table, favourite) in enumerate(zip(tables * 2, [first, last] * 2, strict=True)):
        current["table"] = table
        calls.clear()
        ids = np.concatenate([b.ids.numpy() for b in sampler.epoch(epoch, 16)])
        assert calls == [(len(train), 1)]  # one pass per epoch (pointwise: no negatives)
        np.testing.assert_array_equal(np.sort(ids), np.sort(np.repeat(favourite, 3)))


@pytest.mark.parametrize("losses", ["batch", "epoch"])
def test_both_variants_are_seeded(losses):
    train = log([2, 5, 12, 30], n_items=100)
    table = torch.randn(4, train.n_items, generator=torch.Generator().manual_seed(0))

    def run(seed):
        sampler = PLDSampler(warmup_epochs=1, losses=losses, n_negatives=2)
        sampler.setup(train, np.random.default_rng(seed))
        sampler.score_fn = table_score_fn(table)
        return [torch.cat([b.ids, b.items.ravel()]) for e in range(3) for b in sampler.epoch(e, 8)]

    same, other = run(0), run(1)
    assert all(torch.equal(a, b) for a, b in zip(run(0), same, strict=True))
    assert not all(torch.equal(a, b) for a, b in zip(other, same, strict=True))


def test_pointwise_loss_and_temperature_limits():
    sampler = PLDSampler(pool_size=3, loss="pointwise", temperature=0.5)
    pos, neg = torch.tensor([[2.0, 0.0, -1.0]]), torch.tensor([[5.0]])
    expected = torch.softmax(-torch.nn.functional.softplus(-pos) / 0.5, dim=1)
    torch.testing.assert_close(torch.softmax(sampler.pool_logits(pos, None), dim=1), expected)
    hot = torch.softmax(PLDSampler(pool_size=3, temperature=1e6).pool_logits(pos, neg), dim=1)
    torch.testing.assert_close(hot, torch.full((1, 3), 1 / 3), atol=1e-5, rtol=0)
    cold = torch.softmax(PLDSampler(pool_size=3, temperature=1e-4).pool_logits(pos, neg), dim=1)
    torch.testing.assert_close(cold, torch.tensor([[1.0, 0.0, 0.0]]))


def test_warmup_epochs_are_plain_and_do_not_score():
    train = log([4, 6, 8])
    calls = []
    for losses in ("batch", "epoch"):
        sampler = PLDSampler(warmup_epochs=2, n_negatives=2, losses=losses)
        sampler.setup(train, np.random.default_rng(0))
        calls.clear()
        sampler.score_fn = table_score_fn(torch.zeros(3, train.n_items), calls)
        assert sum(len(b) for b in sampler.epoch(1, 4)) == len(train) and not calls
        batches = list(sampler.epoch(2, 4))
        assert sum(len(b) for b in batches) == len(train)
        if losses == "batch":  # every batch scores its pools and negatives
            assert calls == [(len(b), 5 + 2) for b in batches]
        else:  # one pass: every interaction, then every example's negatives
            assert calls == [(len(train), 1), (len(train), 2)]
        for b in batches:  # negatives are never the user's positives
            negatives = b.neg.numpy()
            users = np.repeat(b.users.numpy(), 2)
            assert not sampler.index.contains(users, negatives.ravel()).any()


def test_users_epoch_mode_draws_users_uniformly():
    train = log([1, 20, 1, 20])
    sampler = PLDSampler(warmup_epochs=0, epoch_mode="users")
    sampler.setup(train, np.random.default_rng(0))
    counts = np.bincount(sampler.epoch_users(), minlength=4)
    assert counts.sum() == len(train) and chisquare(counts).pvalue > 1e-3
    interactions = PLDSampler()
    interactions.setup(train, np.random.default_rng(0))
    np.testing.assert_array_equal(np.bincount(interactions.epoch_users()), [1, 20, 1, 20])


def test_errors():
    sampler = PLDSampler(warmup_epochs=0)
    sampler.setup(log([3, 3]), np.random.default_rng(0))
    with pytest.raises(SiftrecError, match="score_fn"):
        next(sampler.epoch(0, 8))
    bad = ("pool_size=0", "temperature=0", "warmup_epochs=-1", "loss=x", "losses=step")
    for spec in bad:
        with pytest.raises(SiftrecError):
            get_sampler(f"pld({spec})")
    with pytest.raises(SiftrecError, match="losses must be 'epoch' or 'batch'"):
        PLDSampler(losses="epochs")


@pytest.mark.parametrize("losses", ["batch", "epoch"])
def test_mf_trains_with_pld_and_round_trips(tmp_path, losses):
    data = contract_log()
    model = MF(
        epochs=6,
        dim=8,
        batch_size=64,
        sampler=f"pld(warmup_epochs=2, losses={losses})",
        optimizer="adam",
        lr=0.01,
        device="cpu",
    ).fit(data)
    losses = [h["loss"] for h in model.history_]
    assert losses[-1] < losses[2]  # decreases after the warm-up too
    model.save(tmp_path / "pld")
    users = np.arange(data.n_users)
    np.testing.assert_array_equal(load_model(tmp_path / "pld").score(users), model.score(users))


def test_epoch_losses_propagate_lightgcn_once_per_snapshot(monkeypatch):
    data = contract_log()
    prepares = []
    original = LightGCNScorer.prepare
    monkeypatch.setattr(LightGCNScorer, "prepare", lambda self: prepares.append(original(self)))
    counts = {}
    for losses in ("batch", "epoch"):
        prepares.clear()
        LightGCN(
            epochs=2, dim=8, batch_size=64, sampler=f"pld(warmup_epochs=0, losses={losses})"
        ).fit(data)
        counts[losses] = len(prepares)
    n_batches = -(-len(data) // 64)
    # every training step propagates; the snapshot once per epoch, "batch" once per batch
    assert counts == {"epoch": 2 * (n_batches + 1), "batch": 2 * 2 * n_batches}


@pytest.mark.parametrize("loss", ["pairwise", "pointwise"])
@pytest.mark.parametrize(
    ("model_cls", "params"), [(MF, {"item_bias": True}), (MF, {}), (LightGCN, {}), (GMF, {})]
)
def test_factor_scores_equal_gathered_scores(model_cls, params, loss):
    data = contract_log()
    model = model_cls(epochs=1, dim=8, batch_size=64, device="cpu", **params).fit(data)
    scorer = model.scorer_
    scorer.train()  # as during training (LightGCN: last layer computed per call)
    generator = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for param in scorer.parameters():
            param.normal_(generator=generator)  # scores of order 1
    sampler = PLDSampler(warmup_epochs=0, n_negatives=2, loss=loss, epoch_mode="users")
    sampler.setup(data, np.random.default_rng(0))
    sampler.score_fn = torch.no_grad()(scorer.score_candidates)
    users = sampler.epoch_users()
    negatives = sampler.negatives(users)
    gathered = sampler.snapshot_scores(users, negatives)
    factor_calls = []
    sampler.factors_fn = lambda: factor_calls.append(1) or torch.no_grad()(scorer.factors)()
    compiled = sampler.snapshot_scores(users, negatives)
    assert factor_calls == [1]
    # user-grouped order: entry p is interaction csr_ids[p]
    by_id = scorer.score_pairs(torch.from_numpy(data.users), torch.from_numpy(data.items))
    torch.testing.assert_close(compiled[0], by_id.detach()[sampler.csr_ids])
    assert compiled[0].shape == (len(data),) and compiled[0].std() > 0.1
    torch.testing.assert_close(compiled[0], gathered[0])
    if loss == "pairwise":
        assert compiled[1].shape == negatives.shape
        torch.testing.assert_close(compiled[1], gathered[1])
    else:
        assert compiled[1] is None and gathered[1] is None


def test_scorers_without_a_dot_product_have_no_factors():
    data = contract_log()
    neumf = NeuMF(epochs=1, dim=8, num_layers=1, batch_size=64, device="cpu").fit(data)
    assert neumf.scorer_.factors() is None  # PLD scores it through score_fn


def test_trainer_gives_the_sampler_factors(monkeypatch):
    data = contract_log()
    calls = []
    original = MFScorer.factors
    monkeypatch.setattr(MFScorer, "factors", lambda self: calls.append(1) or original(self))
    MF(epochs=3, dim=8, batch_size=64, sampler="pld(warmup_epochs=1)", device="cpu").fit(data)
    assert len(calls) == 2  # one pass per resampling epoch


def test_defaults_resample_from_epoch_ten_at_temperature_0_3(monkeypatch):
    # τ 0.3 and 10 warm-up epochs: the leave-one-dataset-out choice in docs/benchmarks.md
    assert PLDSampler().temperature == 0.3
    data = contract_log()
    calls = []
    original = MFScorer.factors
    monkeypatch.setattr(MFScorer, "factors", lambda self: calls.append(1) or original(self))
    MF(epochs=12, dim=8, batch_size=64, sampler="pld", device="cpu").fit(data)
    assert len(calls) == 2  # epochs 11 and 12 resample


def test_choose_draws_from_the_softmax_and_never_a_zero_weight_column():
    sampler = PLDSampler()
    sampler.setup(log([3, 3]), np.random.default_rng(0))
    probs = torch.tensor([0.2, 0.0, 0.5, 0.3])
    choice = sampler.choose(probs.log().expand(40_000, 4).contiguous())
    counts = np.bincount(choice.numpy(), minlength=4)
    assert counts[1] == 0
    assert chisquare(counts[[0, 2, 3]], 40_000 * probs[[0, 2, 3]].numpy()).pvalue > 1e-3
