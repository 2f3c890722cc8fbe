"""Torch models build their trainer: validation, fit options (not hyperparameters), loading."""

import json

import numpy as np
import pytest
import torch

from siftrec import Interactions, SiftrecError
from siftrec.models import MF, FitOptions, Popularity, Recommender, load_model
from siftrec.testing.models import contract_log


@pytest.fixture(scope="module")
def data() -> Interactions:
    return contract_log(seed=1, n_users=80, n_items=50)


def test_validation_with_evaluate_every_n_epochs(data):
    rng = np.random.default_rng(0)
    held = rng.random(len(data)) < 0.2
    train, validation = data.subset(~held), data.subset(held)
    model = MF(epochs=5, eval_every=2, metric="recall@10", dim=8)
    model.fit(train, validation=validation)
    evaluated = [r["epoch"] for r in model.history_ if "recall@10" in r]
    assert evaluated == [2, 4, 5]  # every 2 epochs, and the last one
    assert all(0 <= r["recall@10"] <= 1 for r in model.history_ if "recall@10" in r)
    assert model.best_epoch_ in evaluated
    with pytest.raises(SiftrecError, match="not the selection metric 'ndcg@20'"):
        MF(epochs=1).fit(train, evaluator=lambda m: {"recall@10": 0.0})
    with pytest.raises(SiftrecError, match="metric"):
        MF(epochs=1, metric="auc@5").fit(train, validation=validation)
    with pytest.raises(SiftrecError, match="validation must be Interactions"):
        MF(epochs=1).fit(train, validation="valid.csv")


def test_the_evaluator_sees_the_model(data):
    seen = []
    MF(epochs=2, dim=4).fit(data, evaluator=lambda m: seen.append(m) or {"ndcg@20": 0.1})
    assert len(seen) == 2 and all(isinstance(m, MF) for m in seen)


def test_whether_a_model_uses_validation_is_declared(data):
    assert MF.uses_validation and not Popularity.uses_validation
    with pytest.raises(SiftrecError, match="popularity does not use a validation set"):
        Popularity().fit(data, validation=data)


def test_fit_options_are_not_hyperparameters(data, tmp_path, capsys):
    model = MF(epochs=2, dim=4, device="cpu", progress="true")
    assert model.options == FitOptions(device="cpu", progress=True)
    assert "device" not in model.get_params() and "progress" not in model.get_params()
    model.fit(data)
    assert "epochs" in capsys.readouterr().err  # the progress bar
    assert model.device_ == torch.device("cpu")
    quiet = MF(epochs=1, dim=4).fit(data, options=FitOptions(device="cpu"))
    # progress None: bars only when stderr is a terminal, which it is not under pytest
    assert quiet.options.progress is None and "epochs" not in capsys.readouterr().err
    params = json.loads((model.save(tmp_path / "mf") / "model.json").read_text())["params"]
    assert "device" not in params and "progress" not in params
    with pytest.raises(SiftrecError, match="unknown hyperparameter 'device'"):
        Popularity(device="cpu")
    with pytest.raises(SiftrecError, match="options must be FitOptions"):
        MF(epochs=1).fit(data, options={"device": "cpu"})


def test_a_model_saved_with_device_and_progress_params_still_loads(data, tmp_path):
    model = MF(epochs=1, dim=4).fit(data)
    path = model.save(tmp_path / "old")
    meta = json.loads((path / "model.json").read_text())
    meta["params"].update(device="cpu", progress=False)  # how model.json recorded them before
    (path / "model.json").write_text(json.dumps(meta))
    loaded = load_model(path)
    assert loaded.options == FitOptions(device="cpu", progress=False)
    np.testing.assert_array_equal(loaded.score([0, 1]), model.score([0, 1]))


def test_loading_by_name_and_by_class(data, tmp_path):
    path = MF(epochs=1, dim=4).fit(data).save(tmp_path / "mf")
    assert isinstance(Recommender.load(path), MF) and isinstance(MF.load(path), MF)
    with pytest.raises(SiftrecError, match="holds a mf model, not popularity"):
        Popularity.load(path)
    with pytest.raises(SiftrecError, match="not a model directory"):
        load_model(tmp_path)
