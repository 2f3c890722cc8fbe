import time

import numpy as np
import pytest
import torch
from torch import nn

from siftrec import Interactions, SiftrecError
from siftrec.models import MF
from siftrec.models.torch_base import Scorer, TorchRecommender
from siftrec.objectives import BPR
from siftrec.objectives.base import objectives
from siftrec.samplers import UniformSampler
from siftrec.samplers.base import samplers
from siftrec.train import TrainConfig, plot_history
from tests.contract import contract_data


@pytest.fixture(scope="module")
def data() -> Interactions:
    return contract_data(seed=1, n_users=80, n_items=50)


def factors(model: MF) -> tuple[np.ndarray, np.ndarray]:
    s = model.scorer_
    return s.user_emb.weight.detach().numpy().copy(), s.item_emb.weight.detach().numpy().copy()


def test_loss_decreases(data):
    model = MF(epochs=15, dim=8, batch_size=64, lr=0.2, device="cpu").fit(data)
    losses = [r["loss"] for r in model.history_]
    assert losses[-1] < 0.7 * losses[0]
    assert [r["epoch"] for r in model.history_] == list(range(1, 16))
    assert all(r["seconds"] >= 0 for r in model.history_)


def test_history_times_the_sampler_within_the_epoch(data, monkeypatch):
    original = UniformSampler.epoch

    def slow_epoch(self, epoch, batch_size):
        time.sleep(0.05)  # time spent producing batches, not training on them
        yield from original(self, epoch, batch_size)

    monkeypatch.setattr(UniformSampler, "epoch", slow_epoch)
    history = MF(epochs=2, dim=8, batch_size=64, device="cpu").fit(data).history_
    assert all(0.05 <= r["sample_seconds"] <= r["seconds"] for r in history)


def test_same_seed_same_factors_other_seed_differs(data):
    kw = dict(epochs=3, dim=8, batch_size=50, device="cpu", n_negatives=2)
    for optimizer in ("sgd", "sparse_adam", "adam"):
        a = factors(MF(optimizer=optimizer, **kw).fit(data))
        b = factors(MF(optimizer=optimizer, **kw).fit(data))
        c = factors(MF(optimizer=optimizer, seed=1, **kw).fit(data))
        np.testing.assert_array_equal(a[0], b[0])
        np.testing.assert_array_equal(a[1], b[1])
        assert not np.allclose(a[0], c[0])


@pytest.mark.parametrize("optimizer", ["sgd", "adagrad", "sparse_adam"])
@pytest.mark.parametrize("objective", ["bpr", "bce"])
def test_fused_path_equals_autograd(data, optimizer, objective):
    kw = dict(
        epochs=2,
        dim=6,
        batch_size=40,
        n_negatives=2,
        l2=0.1,
        item_bias=True,
        use_weights=True,
        optimizer=optimizer,
        objective=objective,
        lr=0.05,
        device="cpu",
    )
    weighted = data.with_weights(np.linspace(0.5, 2.0, len(data)))
    fused = MF(fused=True, **kw).fit(weighted)
    plain = MF(fused=False, **kw).fit(weighted)
    assert fused.scorer_.user_emb.weight.grad is None  # really took the fused path
    assert plain.scorer_.user_emb.weight.grad is not None
    for name, value in plain.scorer_.state_dict().items():
        torch.testing.assert_close(fused.scorer_.state_dict()[name], value, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        [r["loss"] for r in fused.history_], [r["loss"] for r in plain.history_], rtol=1e-5
    )


def test_early_stopping_restores_best_epoch(data):
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.1])
    snapshots = {}

    def evaluator(model):
        snapshots[len(snapshots) + 1] = factors(model)[0]
        return {"ndcg@20": next(scores)}

    model = MF(epochs=6, dim=4, batch_size=64, patience=2, device="cpu")
    model.fit(data, evaluator=evaluator)
    assert [r["epoch"] for r in model.history_] == [1, 2, 3, 4]
    assert model.best_epoch_ == 2
    assert [r["ndcg@20"] for r in model.history_] == [0.1, 0.5, 0.4, 0.3]
    np.testing.assert_array_equal(factors(model)[0], snapshots[2])
    assert not np.array_equal(snapshots[4], snapshots[2])

    kept = MF(epochs=3, dim=4, batch_size=64, restore_best=False, device="cpu")
    scores = iter([0.1, 0.5, 0.4])
    snapshots.clear()
    kept.fit(data, evaluator=evaluator)
    np.testing.assert_array_equal(factors(kept)[0], snapshots[3])


def test_validation_with_evaluate_every_n_epochs(data):
    rng = np.random.default_rng(0)
    held = rng.random(len(data)) < 0.2
    train, validation = data.subset(~held), data.subset(held)
    model = MF(epochs=5, eval_every=2, metric="recall@10", dim=8, device="cpu")
    model.fit(train, validation=validation)
    evaluated = [r["epoch"] for r in model.history_ if "recall@10" in r]
    assert evaluated == [2, 4, 5]  # every 2 epochs, and the last one
    assert all(
        0 <= r["recall@10"] <= 1 and r["eval_seconds"] >= 0
        for r in model.history_
        if "recall@10" in r
    )
    assert model.best_epoch_ in evaluated
    with pytest.raises(SiftrecError, match="not the selection metric 'ndcg@20'"):
        MF(epochs=1, device="cpu").fit(train, evaluator=lambda m: {"recall@10": 0.0})
    with pytest.raises(SiftrecError, match="metric"):
        MF(epochs=1, metric="auc@5", device="cpu").fit(train, validation=validation)
    with pytest.raises(SiftrecError, match="validation must be Interactions"):
        MF(epochs=1, device="cpu").fit(train, validation="valid.csv")


def test_divergence_is_reported(data):
    with pytest.raises(SiftrecError, match="training diverged"):
        MF(optimizer="sgd", lr=1e30, epochs=3, device="cpu").fit(data)


def test_history_plot_and_progress(data, tmp_path, capsys):
    model = MF(epochs=3, dim=4, progress=True, device="cpu")
    model.fit(data, evaluator=lambda m: {"ndcg@20": 0.5, "recall@20": 0.4})
    assert "epochs" in capsys.readouterr().err
    path = plot_history(model.history_, tmp_path / "plots" / "history.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_history([{"epoch": 1, "loss": 0.5, "seconds": 0.1}], tmp_path / "loss.png")
    with pytest.raises(SiftrecError, match="history is empty"):
        plot_history([], tmp_path / "none.png")


# ---------------------------------------------------------------- hooks for later components
@pytest.fixture
def recording_components():
    """A loss-aware sampler and an objective that records what the trainer hands them."""

    @samplers.register("test_recording")
    class Recording(UniformSampler):
        wants_losses = True
        wants_scores = True

        def setup(self, train, rng):
            super().setup(train, rng)
            self.reported, self.score_checks = [], []

        def epoch(self, epoch, batch_size):
            users = torch.arange(3)
            items = torch.tensor([[0, 1], [2, 3], [4, 5]])
            self.score_checks.append(self.score_fn(users, items))
            yield from super().epoch(epoch, batch_size)

        def update_losses(self, ids, losses):
            self.reported.append((ids.copy(), losses.copy()))

    @objectives.register("test_recording")
    class RecordingBPR(BPR):
        def __call__(self, pos, neg, **kw):
            self.seen.append(kw)
            return super().__call__(pos, neg, **kw)

    RecordingBPR.seen = []
    yield Recording, RecordingBPR
    for registry in (samplers, objectives):
        registry._classes.pop("test_recording")


def test_sampler_and_objective_hooks(data, recording_components):
    _, objective_cls = recording_components
    weighted = data.with_weights(np.arange(len(data), dtype=np.float32)).with_columns(
        propensity=np.full(len(data), 0.25)
    )
    model = MF(
        epochs=2,
        batch_size=64,
        sampler="test_recording",
        objective="test_recording",
        use_weights=True,
        optimizer="adam",
        device="cpu",
    ).fit(weighted)
    assert len(model.history_) == 2
    calls = objective_cls.seen
    assert [c["step"] for c in calls] == list(range(len(calls)))
    assert {c["epoch"] for c in calls} == {0, 1}
    assert all(torch.all(c["propensities"] == 0.25) for c in calls)
    # weights are the interaction weights of the batch's ids: i.e. the ids themselves here
    assert sorted(torch.cat([c["weights"] for c in calls if c["epoch"] == 0]).tolist()) == list(
        map(float, range(len(data)))
    )


def test_loss_feedback_and_score_fn(data, recording_components):
    sampler_cls, _ = recording_components
    instances = []
    original_setup = sampler_cls.setup

    def setup(self, train, rng):
        instances.append(self)
        original_setup(self, train, rng)

    sampler_cls.setup = setup
    model = MF(epochs=2, batch_size=64, sampler="test_recording", device="cpu").fit(data)
    sampler = instances[0]
    ids = np.concatenate([ids for ids, _ in sampler.reported])
    losses = np.concatenate([loss for _, loss in sampler.reported])
    assert len(ids) == 2 * len(data) and np.all(np.bincount(ids) == 2)
    assert losses.shape == ids.shape and np.all(losses > 0)
    # score_fn scored with the parameters of the time: epoch 0 = the initial state
    assert len(sampler.score_checks) == 2 and not torch.equal(*sampler.score_checks)
    final = model.scorer_.score_candidates(torch.arange(3), torch.tensor([[0, 1], [2, 3], [4, 5]]))
    assert not torch.allclose(final, sampler.score_checks[1])


# ---------------------------------------------------------------- listwise path
class RowScorer(Scorer):
    """Test-only listwise scorer: logits = training row @ W (an item-item model)."""

    supported_kinds = frozenset({"listwise"})

    def __init__(self, seen, generator):
        super().__init__(*seen.shape)
        self.seen = seen
        self.weight = nn.Parameter(
            torch.randn(self.n_items, self.n_items, generator=generator) * 0.01
        )

    def forward_rows(self, users, rows, step):
        return rows @ self.weight, torch.zeros(())

    def score_all(self, users):
        rows = torch.from_numpy(self.seen[users.numpy()].toarray())
        return rows @ self.weight


class RowModel(TorchRecommender):
    def build_scorer(self, n_users, n_items, generator):
        return RowScorer(self.seen_, generator)


def test_listwise_training_and_kind_check(data):
    model = RowModel(objective="multinomial", epochs=8, batch_size=16, lr=0.05, device="cpu")
    model.fit(data)
    losses = [r["loss"] for r in model.history_]
    assert losses[-1] < losses[0]
    assert model.score([0, 1]).shape == (2, data.n_items)
    with pytest.raises(SiftrecError, match="'bpr' is pairwise; RowScorer supports: listwise"):
        RowModel(objective="bpr", epochs=1).fit(data)


def test_config_validation():
    with pytest.raises(SiftrecError, match="epochs must be at least 1"):
        TrainConfig(epochs=0)
    with pytest.raises(SiftrecError, match="lr must be positive"):
        TrainConfig(lr=0)
    with pytest.raises(SiftrecError, match="patience must be at least 1"):
        TrainConfig(patience=0)
    with pytest.raises(SiftrecError, match="sparse_adam has no weight decay"):
        TrainConfig(optimizer="sparse_adam", weight_decay=0.1)
    with pytest.raises(SiftrecError, match="optimizer must be"):
        TrainConfig(optimizer="lbfgs")
