"""``objective="auto"``: candidates, budget, validation carve, refit, record, persistence."""

from __future__ import annotations

import json

import numpy as np
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.data.splits import split_interactions
from siftrec.models import MF, get_model_class, load_model
from siftrec.objectives.bpr import BPR
from siftrec.objectives.truncated import TruncatedBCE
from siftrec.testing.models import contract_log
from siftrec.train.auto import AUTO_CANDIDATES, CARVE_RATIO, auto_candidates

TINY = {"epochs": 6, "dim": 8, "batch_size": 64, "device": "cpu"}


def popularity_data(seed: int = 0, n_users: int = 80, n_items: int = 40) -> Interactions:
    """Ten items per user drawn in proportion to a steep popularity law."""
    rng = np.random.default_rng(seed)
    weights = 1.0 / np.arange(1, n_items + 1) ** 1.2
    users, items = [], []
    for u in range(n_users):
        users += [u] * 10
        items += list(rng.choice(n_items, size=10, replace=False, p=weights / weights.sum()))
    return Interactions.from_raw(np.array(users), np.array(items))


@pytest.fixture(scope="module")
def split():
    return split_interactions(popularity_data(), "random", seed=1, test_ratio=0.2)


def _scores(model) -> np.ndarray:
    return model.score(np.arange(model.n_users))


def _curve(model) -> list[tuple]:
    return [(h["epoch"], h["loss"], h.get("ndcg@20")) for h in model.history_]


def test_picks_the_candidate_that_is_clearly_best(split):
    # the held-out items are the popular ones; negatives drawn ∝ popularity³ push exactly those
    # down, so the plain objective with that sampler loses to BPR with uniform negatives
    model = MF(
        objective="auto",
        sampler="popularity(beta=3)",
        auto_candidates="bce,bpr+uniform",
        **{**TINY, "epochs": 10},
    ).fit(split.train, validation=split.test)
    record = model.auto_
    labels = [(c["objective"], c["sampler"]) for c in record["candidates"]]
    assert labels == [
        ("bpr", "popularity(beta=3)"),
        ("bce", "popularity(beta=3)"),
        ("bpr", "uniform"),
    ]
    assert (record["chosen"]["objective"], record["chosen"]["sampler"]) == ("bpr", "uniform")
    best = max(c["score"] for c in record["candidates"])
    assert record["chosen"]["score"] == best > record["candidates"][0]["score"] + 0.2
    assert record["validation"] == {"source": "given"} and record["refit"] is None
    # with a given validation the chosen candidate is kept as trained
    alone = MF(sampler="uniform", **{**TINY, "epochs": 10})
    alone.fit(split.train, validation=split.test)
    np.testing.assert_array_equal(_scores(model), _scores(alone))
    assert _curve(model) == _curve(alone)
    assert model.best_epoch_ == alone.best_epoch_ and model.best_score_ == alone.best_score_


def test_never_worse_than_plain_on_validation(split):
    model = MF(objective="auto", **TINY).fit(split.train, validation=split.test)
    plain = MF(**TINY).fit(split.train, validation=split.test)
    candidates = model.auto_["candidates"]
    assert [(c["objective"], c["sampler"]) for c in candidates] == [
        ("bpr", "uniform"),
        ("bce", "uniform"),
        ("tce", "uniform"),
        ("rce", "uniform"),
        ("nbpo", "uniform"),
        ("bpr", "pld"),
    ]
    assert candidates[0]["score"] == plain.best_score_
    assert model.auto_["chosen"]["score"] >= plain.best_score_
    assert model.best_score_ == model.auto_["chosen"]["score"]


def test_carved_validation_is_recorded_and_the_choice_refit_on_all_of_train():
    data = contract_log()
    model = MF(objective="auto", auto_candidates="bce", seed=3, **TINY).fit(data)
    record = model.auto_
    carve = split_interactions(data, "random", seed=3, test_ratio=CARVE_RATIO).test
    assert record["validation"] == {
        "source": "carved",
        "scheme": "random",
        "ratio": CARVE_RATIO,
        "seed": 3,
        "n_interactions": len(carve),
        "n_users": int(np.unique(carve.users).size),
    }
    epochs = record["chosen"]["best_epoch"]
    assert record["refit"]["epochs"] == epochs and len(model.history_) == epochs
    assert model.seen_.nnz == len(data)  # the final model saw every training interaction
    chosen = record["chosen"]
    refit = MF(
        objective=chosen["objective"],
        sampler=chosen["sampler"],
        seed=3,
        **{**TINY, "epochs": epochs},
    )
    np.testing.assert_array_equal(_scores(model), _scores(refit.fit(data)))
    assert model.config.objective == "auto"  # the next fit chooses again


def test_same_seed_gives_the_same_choice_and_scores():
    data = contract_log()

    def fit():
        return MF(objective="auto", auto_candidates="bce,rce,bpr+pld", **TINY).fit(data)

    first, second = fit(), fit()

    def without_seconds(record):
        text = json.dumps(record)
        return [
            {k: v for k, v in c.items() if k != "fit_seconds"}
            for c in json.loads(text)["candidates"]
        ], json.loads(text)["chosen"]

    assert without_seconds(first.auto_) == without_seconds(second.auto_)
    np.testing.assert_array_equal(_scores(first), _scores(second))


def test_saved_auto_model_loads_and_scores_the_same(tmp_path, split):
    model = MF(objective="auto", auto_candidates="nbpo", **TINY).fit(split.train)
    model.save(tmp_path / "auto")
    meta = json.loads((tmp_path / "auto" / "model.json").read_text())
    chosen = meta["auto"]["chosen"]
    assert meta["params"]["objective"] == chosen["objective"] != "auto"
    assert meta["params"]["sampler"] == chosen["sampler"]
    assert all(np.isfinite(c["score"]) for c in meta["auto"]["candidates"])
    assert {c["objective"] for c in meta["auto"]["candidates"]} == {"bpr", "nbpo"}
    loaded = load_model(tmp_path / "auto")
    np.testing.assert_array_equal(_scores(loaded), _scores(model))
    assert loaded.get_params()["objective"] == chosen["objective"]


def test_budget_caps_every_candidate():
    model = MF(objective="auto", auto_candidates="bce", auto_budget=6, **{**TINY, "epochs": 20})
    model.fit(contract_log())
    budget = model.auto_["budget"]
    assert budget["epochs_per_candidate"] == 3 and budget["max_epochs"] == 6
    assert all(c["epochs"] <= 3 for c in model.auto_["candidates"])
    assert budget["epochs_trained"] == sum(c["epochs"] for c in model.auto_["candidates"])
    # no early stopping unless asked: every candidate trains its whole share
    assert budget["patience"] is None
    assert all(c["epochs"] == 3 for c in model.auto_["candidates"])
    # an explicit patience is kept: each candidate stops one epoch after its best
    stopped = MF(objective="auto", auto_candidates="bce", patience=1, **TINY).fit(contract_log())
    assert stopped.auto_["budget"]["patience"] == 1
    for candidate in stopped.auto_["candidates"]:
        assert candidate["epochs"] == min(TINY["epochs"], candidate["best_epoch"] + 1)


def test_a_failing_candidate_is_recorded_and_skipped(monkeypatch):
    def diverge(self, *args, **kwargs):
        raise SiftrecError("training diverged: the loss is nan at epoch 1")

    monkeypatch.setattr(TruncatedBCE, "__call__", diverge)
    monkeypatch.setattr(TruncatedBCE, "score_gradients", diverge)
    model = MF(objective="auto", auto_candidates="tce", **TINY).fit(contract_log())
    failed = model.auto_["candidates"][1]
    assert failed["objective"] == "tce" and "diverged" in failed["error"]
    assert model.auto_["chosen"]["objective"] == "bpr"
    monkeypatch.setattr(BPR, "__call__", diverge)
    monkeypatch.setattr(BPR, "score_gradients", diverge)
    with pytest.raises(
        SiftrecError, match="every candidate failed; bpr\\+uniform: training diverged"
    ):
        MF(objective="auto", auto_candidates="tce", **TINY).fit(contract_log())


@pytest.mark.parametrize(
    ("name", "plain", "params"),
    [
        ("gmf", "bce", {"epochs": 2, "dim": 4}),
        ("neumf", "bce", {"epochs": 2, "dim": 4, "num_layers": 1}),
        ("lightgcn", "bpr", {"epochs": 2, "dim": 4, "layers": 1, "batch_size": 64}),
    ],
)
def test_every_sampled_model_supports_auto(tmp_path, name, plain, params):
    model = get_model_class(name)(
        objective="auto", auto_candidates="bpr,tce", device="cpu", **params
    )
    data = contract_log()
    model.fit(data)
    assert model.auto_["candidates"][0]["objective"] == plain
    assert len(model.auto_["candidates"]) == 3 - (plain == "bpr")
    model.save(tmp_path / name)
    np.testing.assert_array_equal(_scores(load_model(tmp_path / name)), _scores(model))


def test_refusals():
    with pytest.raises(SiftrecError, match="multvae trains with the listwise 'multinomial' only"):
        get_model_class("multvae")(objective="auto")
    with pytest.raises(SiftrecError, match="auto_candidates entry 'foo': unknown objective 'foo'"):
        MF(objective="auto", auto_candidates="bpr,foo")
    with pytest.raises(SiftrecError, match="entry 'multinomial': 'multinomial' is listwise"):
        MF(objective="auto", auto_candidates="multinomial")
    with pytest.raises(SiftrecError, match="entry 'bpr\\+nope': unknown sampler 'nope'"):
        MF(objective="auto", auto_candidates="bpr+nope")
    with pytest.raises(SiftrecError, match="expected 'objective' or 'objective\\+sampler'"):
        MF(objective="auto", auto_candidates="bpr+pld+uniform")
    with pytest.raises(SiftrecError, match="entry 'auto'"):
        MF(objective="auto", auto_candidates="auto")
    with pytest.raises(SiftrecError, match="auto_candidates is empty"):
        MF(objective="auto", auto_candidates=" ")
    with pytest.raises(SiftrecError, match="less than one epoch for each of the 6 candidates"):
        MF(objective="auto", auto_budget=5)
    with pytest.raises(SiftrecError, match="auto_budget must be at least 1"):
        MF(auto_budget=0)
    with pytest.raises(SiftrecError, match="eval_every must be at least 1"):
        MF(objective="auto", eval_every=0)
    one_each = Interactions.from_raw(np.arange(5), np.arange(5))
    with pytest.raises(SiftrecError, match=r"cannot carve a validation part.*pass a validation"):
        MF(objective="auto", **TINY).fit(one_each)


def test_candidates_are_canonical_and_deduplicated():
    config = MF(objective="auto", auto_candidates="BPO, bpr+uniform, t-ce(drop_rate=0.1)").config
    labels = [c.label for c in auto_candidates(config)]
    assert labels == ["bpr+uniform", "bce+uniform", "tce(drop_rate=0.1)+uniform"]
    assert MF().config.auto_candidates == ",".join(AUTO_CANDIDATES)
