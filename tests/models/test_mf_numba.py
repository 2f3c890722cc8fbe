"""MF with ``backend="numba"``: the model contract, accuracy beside the torch path, the trainer's
validation loop, persistence and the configurations it refuses."""

import numpy as np
import pytest

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.evaluate import evaluate
from siftrec.models import MF, load_model
from siftrec.testing import ModelCase, contract_log, learning_split, parametrize_model_checks

pytestmark = pytest.mark.usefixtures("one_numba_thread")


NUMBA_CASE = ModelCase(
    params={"backend": "numba", "epochs": 3, "dim": 8},
    learn_params={"backend": "numba", "epochs": 20, "dim": 8},
    ndcg_floor=0.29,
    bad_params=[
        {"backend": "jax"},
        {"optimizer": "adam"},
        {"objective": "tce"},
        {"sampler": "popularity"},
        {"weight_decay": 0.1},
    ],
    variants={
        "bce_bias": {"objective": "bce", "item_bias": True, "n_negatives": 2},
        "rce_users": {"objective": "rce", "epoch_mode": "users"},
    },
)


@parametrize_model_checks({"mf": NUMBA_CASE})
def test_numba_backend_contract(check):
    check()


@pytest.mark.parametrize("objective", ["bpr", "bce"])
def test_recall_comparable_to_the_torch_path(objective):
    train, test = learning_split()
    recall = {}
    for backend in ("torch", "numba"):
        model = MF(
            backend=backend, objective=objective, epochs=20, dim=16, seed=1, device="cpu"
        ).fit(train)
        recall[backend] = evaluate(model, test, "recall@20").metrics["recall@20"]
    assert recall["numba"] > 0.8 * recall["torch"]
    assert recall["numba"] > 0.2  # well above chance on this log


def test_validation_early_stopping_and_restore():
    train, valid = learning_split()
    model = MF(
        backend="numba", epochs=8, dim=8, lr=0.3, metric="recall@20", patience=2, device="cpu"
    )
    model.fit(train, validation=valid)
    history = model.history_
    assert [r["epoch"] for r in history] == list(range(1, len(history) + 1))
    assert all(np.isfinite(r["loss"]) and "recall@20" in r for r in history)
    best = max(r["recall@20"] for r in history)
    assert model.best_score_ == best
    # the restored parameters are the best epoch's
    assert evaluate(model, valid, "recall@20").metrics["recall@20"] == pytest.approx(best)


def test_same_seed_same_model_and_save_load(tmp_path):
    data = contract_log()
    first = MF(backend="numba", epochs=3, dim=8, item_bias=True).fit(data)
    second = MF(backend="numba", epochs=3, dim=8, item_bias=True).fit(data)
    np.testing.assert_array_equal(first.score(np.arange(10)), second.score(np.arange(10)))
    other = MF(backend="numba", epochs=3, dim=8, item_bias=True, seed=1).fit(data)
    assert not np.array_equal(first.score(np.arange(10)), other.score(np.arange(10)))
    loaded = load_model(first.save(tmp_path / "mf"))
    assert loaded.config.backend == "numba"
    np.testing.assert_array_equal(loaded.score(np.arange(10)), first.score(np.arange(10)))


def test_numba_trains_the_tables_in_place():
    data = contract_log()
    model = MF(backend="numba", epochs=1, dim=8, item_bias=True, device="cpu").fit(data)
    untrained = MF(backend="numba", epochs=1, dim=8, item_bias=True, device="cpu")
    scorer = untrained._new_scorer(data.n_users, data.n_items)
    assert not np.allclose(
        model.scorer_.user_emb.weight.detach().numpy(), scorer.user_emb.weight.detach().numpy()
    )
    assert np.abs(model.scorer_.bias.weight.detach().numpy()).max() > 0


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"optimizer": "sparse_adam"}, "optimizer"),
        ({"objective": "nbpo"}, "objective"),
        ({"objective": "tce"}, "objective"),
        ({"sampler": "pld"}, "sampler"),
        ({"backend": "cuda"}, "backend"),
    ],
)
def test_refuses_what_has_no_per_sample_form(params, named):
    with pytest.raises(SiftrecError, match=named):
        MF(**{"backend": "numba", "epochs": 1, "dim": 4, **params}).fit(contract_log())


@pytest.mark.parametrize("backend", ["numba", "torch"])
def test_uniform_weights_train_as_materialised_ones(backend):
    """A log without weights holds its ones as a zero-stride view; a weighted fit on it equals
    the fit on the same ones held as an ordinary array (the numba kernel's unweighted path, the
    torch trainer's expanded tensor)."""
    log = contract_log()
    assert log.weights.strides == (0,)
    ones = Interactions(log.users, log.items, log.weights, log.user_map, log.item_map)
    object.__setattr__(ones, "weights", np.ones(len(log), dtype=np.float32))
    params = {"backend": backend, "epochs": 2, "dim": 8, "use_weights": True, "device": "cpu"}
    scores = [MF(**params).fit(data).score(np.arange(10)) for data in (log, ones)]
    np.testing.assert_array_equal(*scores)
