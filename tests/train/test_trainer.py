"""The training loop on its own: a toy scorer, built objectives and samplers, no model."""

import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from torch import nn

from siftrec import Interactions, SiftrecError
from siftrec.models import MF
from siftrec.objectives import BPR, Batch, get_objective
from siftrec.samplers import UniformSampler, get_sampler
from siftrec.testing.models import contract_log
from siftrec.train import Scorer, TrainConfig, Trainer, plot_history


class ToyScorer(Scorer):
    """Ten lines: a dot product of user and item rows, trained by autograd."""

    def __init__(self, n_users, n_items, seed=0):
        super().__init__(n_users, n_items)
        g = torch.Generator().manual_seed(seed)
        self.user = nn.Parameter(torch.randn(n_users, 4, generator=g) * 0.1)
        self.item = nn.Parameter(torch.randn(n_items, 4, generator=g) * 0.1)

    def score_candidates(self, users, items):
        return (self.user[users].unsqueeze(1) * self.item[items]).sum(-1)

    def score_all(self, users):
        return self.user[users] @ self.item.T


@pytest.fixture(scope="module")
def data() -> Interactions:
    return contract_log(seed=1, n_users=80, n_items=50)


def train(data, objective="bpr", sampler="uniform", evaluate=None, changed=None, **config):
    """A fresh toy scorer trained by a Trainer; returns (scorer, result)."""
    scorer = ToyScorer(data.n_users, data.n_items)
    settings = {"optimizer": "adam", "lr": 0.05, "batch_size": 64, "epochs": 3, **config}
    cfg = TrainConfig(**settings)
    objective = get_objective(objective) if isinstance(objective, str) else objective
    if isinstance(sampler, str):
        sampler = get_sampler(sampler, n_negatives=cfg.n_negatives)
    trainer = Trainer(scorer, objective, sampler, cfg, changed=changed, evaluate=evaluate)
    return scorer, trainer.fit(data)


def test_loss_decreases_and_history_is_recorded(data):
    _, result = train(data, epochs=8)
    losses = [r["loss"] for r in result.history]
    assert losses[-1] < 0.8 * losses[0]
    assert [r["epoch"] for r in result.history] == list(range(1, 9))
    assert all(0 <= r["sample_seconds"] <= r["seconds"] for r in result.history)
    assert result.best_epoch is None and result.best_score is None


def test_history_times_the_sampler_within_the_epoch(data, monkeypatch):
    original = UniformSampler.epoch

    def slow_epoch(self, epoch, batch_size):
        time.sleep(0.05)  # time spent producing batches, not training on them
        yield from original(self, epoch, batch_size)

    monkeypatch.setattr(UniformSampler, "epoch", slow_epoch)
    _, result = train(data, epochs=2)
    assert all(0.05 <= r["sample_seconds"] <= r["seconds"] for r in result.history)


def test_same_seed_same_parameters_other_seed_differs(data):
    a, _ = train(data, n_negatives=2)
    b, _ = train(data, n_negatives=2)
    c, _ = train(data, n_negatives=2, seed=1)
    torch.testing.assert_close(a.user, b.user, rtol=0, atol=0)
    assert not torch.allclose(a.user, c.user)


def test_early_stopping_restores_best_epoch_and_reports_changes(data):
    scores = iter([0.1, 0.5, 0.4, 0.3, 0.2, 0.1])
    snapshots, changes = {}, []
    scorer = ToyScorer(data.n_users, data.n_items)

    def evaluate():
        snapshots[len(snapshots) + 1] = scorer.user.detach().clone()
        return {"ndcg@20": next(scores)}

    config = TrainConfig(optimizer="adam", lr=0.05, batch_size=64, epochs=6, patience=2)
    trainer = Trainer(
        scorer,
        BPR(),
        get_sampler("uniform"),
        config,
        changed=lambda: changes.append(len(snapshots)),
        evaluate=evaluate,
    )
    result = trainer.fit(data)
    assert [r["epoch"] for r in result.history] == [1, 2, 3, 4] and result.stopped_early
    assert (result.best_epoch, result.best_score) == (2, 0.5)
    assert [r["ndcg@20"] for r in result.history] == [0.1, 0.5, 0.4, 0.3]
    torch.testing.assert_close(scorer.user.detach(), snapshots[2], rtol=0, atol=0)
    assert changes == [0, 1, 2, 3, 4]  # before every epoch, and after the restore


@pytest.mark.parametrize(
    ("tolerance", "best_epoch", "epochs_run"),
    [(None, 1, 4), (0.0, 1, 4), (0.01, 4, 6), (0.2, 6, 6)],
)
def test_tolerance_keeps_the_latest_epoch_on_the_best_plateau(
    data, tolerance, best_epoch, epochs_run
):
    # a noisy, flat validation curve: the strict maximum is epoch 1, epoch 4 is within 1 % of it
    # and epoch 6 within 2 %
    curve = [0.500, 0.470, 0.480, 0.497, 0.460, 0.494]
    scores, snapshots = iter(curve), {}
    scorer = ToyScorer(data.n_users, data.n_items)

    def evaluate():
        snapshots[len(snapshots) + 1] = scorer.user.detach().clone()
        return {"ndcg@20": next(scores)}

    config = TrainConfig(
        optimizer="adam", lr=0.05, batch_size=64, epochs=6, patience=3, tolerance=tolerance
    )
    result = Trainer(scorer, BPR(), get_sampler("uniform"), config, evaluate=evaluate).fit(data)
    assert len(result.history) == epochs_run  # an epoch on the plateau resets the patience
    assert (result.best_epoch, result.best_score) == (best_epoch, curve[best_epoch - 1])
    torch.testing.assert_close(scorer.user.detach(), snapshots[best_epoch], rtol=0, atol=0)


def test_evaluates_every_n_epochs_and_after_the_last(data):
    calls = []
    _, result = train(
        data, epochs=5, eval_every=2, evaluate=lambda: calls.append(1) or {"ndcg@20": 0.3}
    )
    assert [r["epoch"] for r in result.history if "ndcg@20" in r] == [2, 4, 5]
    assert len(calls) == 3 and all(r["eval_seconds"] >= 0 for r in result.history[1::2])
    with pytest.raises(SiftrecError, match="not the selection metric 'ndcg@20'"):
        train(data, epochs=1, evaluate=lambda: {"recall@10": 0.0})


def test_the_selection_metric_is_matched_by_its_canonical_name(data):
    _, result = train(data, epochs=2, metric="NDCG@020", evaluate=lambda: {"ndcg@20": 0.3})
    assert (result.best_epoch, result.best_score) == (1, 0.3)
    _, result = train(data, epochs=1, metric=" Recall @ 10", evaluate=lambda: {"RECALL@10": 0.2})
    assert result.history[0]["recall@10"] == 0.2 and result.best_score == 0.2
    # an evaluator's own value outside the metric grammar is matched as written
    _, result = train(data, epochs=1, metric="neg_val_loss", evaluate=lambda: {"neg_val_loss": -2})
    assert result.best_score == -2.0


def test_divergence_is_reported(data):
    with pytest.raises(SiftrecError, match="training diverged"):
        train(data, optimizer="sgd", lr=1e30, epochs=3)


def test_the_objective_reads_one_batch_with_everything_it_may_use(data):
    seen = []

    class Recording(BPR):
        def __call__(self, batch: Batch) -> torch.Tensor:
            seen.append(batch)
            return super().__call__(batch)

    weighted = data.with_weights(np.arange(len(data), dtype=np.float32)).with_columns(
        propensity=np.full(len(data), 0.25)
    )
    train(weighted, Recording(), epochs=2, use_weights=True, n_negatives=2)
    assert [b.step for b in seen] == list(range(len(seen)))
    assert {b.epoch for b in seen} == {0, 1}
    assert all(b.scores.shape == b.items.shape == (len(b), 3) for b in seen)
    assert all(torch.all(b.propensities == 0.25) for b in seen)
    # the weights are those of the batch's interaction ids: here the ids themselves
    assert all(torch.equal(b.weights, b.ids.float()) for b in seen)
    ids = torch.cat([b.ids for b in seen if b.epoch == 0])
    assert sorted(ids.tolist()) == list(range(len(data)))
    users = torch.from_numpy(data.users.astype(np.int64))
    assert all(torch.equal(b.users, users[b.ids]) for b in seen)


def test_samplers_that_want_scores_get_the_current_parameters(data):
    checks = []

    class Scoring(UniformSampler):
        wants_scores = True

        def epoch(self, epoch, batch_size):
            checks.append(self.score_fn(torch.arange(3), torch.tensor([[0, 1], [2, 3], [4, 5]])))
            yield from super().epoch(epoch, batch_size)

    scorer, _ = train(data, sampler=Scoring(), epochs=2)
    # epoch 0 scored with the initial parameters, epoch 1 with those after one epoch
    initial = ToyScorer(data.n_users, data.n_items)
    items = torch.tensor([[0, 1], [2, 3], [4, 5]])
    torch.testing.assert_close(checks[0], initial.score_candidates(torch.arange(3), items))
    assert not torch.allclose(checks[1], checks[0])
    assert not torch.allclose(scorer.score_candidates(torch.arange(3), items), checks[1])


class RowScorer(Scorer):
    """A listwise toy: logits = training row @ W (an item-item model)."""

    supported_kinds = frozenset({"listwise"})

    def __init__(self, n_items):
        super().__init__(0, n_items)
        g = torch.Generator().manual_seed(0)
        self.weight = nn.Parameter(torch.randn(n_items, n_items, generator=g) * 0.01)

    def forward_rows(self, users, rows, step):
        return rows @ self.weight, torch.zeros(())

    def score_all(self, users):
        raise NotImplementedError


def test_listwise_training_and_kind_checks(data):
    config = TrainConfig(epochs=8, batch_size=16, lr=0.05)
    scorer = RowScorer(data.n_items)
    result = Trainer(scorer, get_objective("multinomial"), None, config).fit(data)
    losses = [r["loss"] for r in result.history]
    assert losses[-1] < losses[0]
    with pytest.raises(SiftrecError, match="'bpr' is pairwise; RowScorer supports: listwise"):
        Trainer(scorer, BPR(), get_sampler("uniform"), config)
    with pytest.raises(SiftrecError, match="'multinomial' takes no sampler"):
        Trainer(scorer, get_objective("multinomial"), get_sampler("uniform"), config)
    with pytest.raises(SiftrecError, match="'bpr' needs a sampler"):
        Trainer(ToyScorer(3, 3), BPR(), None, config)


def test_progress_bar(data, capsys):
    scorer = ToyScorer(data.n_users, data.n_items)
    config = TrainConfig(epochs=2, batch_size=64)
    Trainer(scorer, BPR(), get_sampler("uniform"), config, progress=True).fit(data)
    assert "epochs" in capsys.readouterr().err


def test_the_engine_imports_no_model_objective_or_sampler():
    code = (
        "import sys, siftrec.train; "
        "print(sorted(m for m in sys.modules if m.startswith(('siftrec.models', "
        "'siftrec.objectives', 'siftrec.samplers'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# ---------------------------------------------------------------- through a model
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


def test_history_plot(tmp_path):
    history = [{"epoch": 1, "loss": 0.5, "seconds": 0.1, "ndcg@20": 0.2}]
    path = plot_history(history, tmp_path / "plots" / "history.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    plot_history([{"epoch": 1, "loss": 0.5, "seconds": 0.1}], tmp_path / "loss.png")
    with pytest.raises(SiftrecError, match="history is empty"):
        plot_history([], tmp_path / "none.png")


def test_config_validation():
    with pytest.raises(SiftrecError, match="epochs must be at least 1"):
        TrainConfig(epochs=0)
    with pytest.raises(SiftrecError, match="lr must be positive"):
        TrainConfig(lr=0)
    with pytest.raises(SiftrecError, match="patience must be at least 1"):
        TrainConfig(patience=0)
    with pytest.raises(SiftrecError, match=r"tolerance must be in \[0, 1\)"):
        TrainConfig(tolerance=1.0)
    with pytest.raises(SiftrecError, match="sparse_adam has no weight decay"):
        TrainConfig(optimizer="sparse_adam", weight_decay=0.1)
    with pytest.raises(SiftrecError, match="optimizer must be"):
        TrainConfig(optimizer="lbfgs")
