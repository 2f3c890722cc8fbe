import json

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from siftrec import Interactions, SiftrecError
from siftrec.data.ids import IdMap
from siftrec.models import IALS, Popularity, load_model
from siftrec.testing import contract_log as contract_data
from tests.models.test_knn import ml100k_split, recall_at


def _weighted_log(seed: int = 3, n_users: int = 30, n_items: int = 12) -> Interactions:
    """A small log with integer weights 1..5 (counts) on about a third of the pairs."""
    rng = np.random.default_rng(seed)
    dense = (rng.random((n_users, n_items)) < 0.35) * rng.integers(1, 6, (n_users, n_items))
    return Interactions.from_csr(sp.csr_matrix(dense.astype(np.float32)))


def _factors(model: IALS) -> tuple[np.ndarray, np.ndarray]:
    return (
        model.user_factors_.cpu().numpy().astype(np.float64),
        model.item_factors_.cpu().numpy().astype(np.float64),
    )


def _dense_problem(data: Interactions, model: IALS):
    """Independent dense C, P and per-user / per-item λ from the model's hyperparameters."""
    cfg = model.config
    r = data.matrix.toarray().astype(np.float64)
    if cfg.binary:
        r = (r > 0).astype(np.float64)
    if cfg.confidence == "linear":
        c = 1.0 + cfg.alpha * r
    else:
        c = 1.0 + cfg.alpha * np.log1p(r / cfg.epsilon)
    if cfg.reg_scaling == "plain":
        lam_u = np.full(r.shape[0], cfg.regularization)
        lam_i = np.full(r.shape[1], cfg.regularization)
    else:
        lam_u = cfg.regularization * (r.shape[1] + (c - 1).sum(1)) ** cfg.reg_exponent
        lam_i = cfg.regularization * (r.shape[0] + (c - 1).sum(0)) ** cfg.reg_exponent
    return c, (r > 0).astype(np.float64), lam_u, lam_i


def _objective(data: Interactions, model: IALS) -> float:
    x, y = _factors(model)
    c, p, lam_u, lam_i = _dense_problem(data, model)
    return float((c * (p - x @ y.T) ** 2).sum() + lam_u @ (x**2).sum(1) + lam_i @ (y**2).sum(1))


@pytest.mark.parametrize("solver", ["cg", "cholesky"])
@pytest.mark.parametrize(
    "params",
    [{}, {"confidence": "log", "alpha": 3.0, "epsilon": 0.5}, {"reg_scaling": "frequency"}],
)
def test_loss_decreases_every_iteration_and_is_the_objective(solver, params):
    data = _weighted_log()
    model = IALS(
        solver=solver, factors=6, iterations=8, dtype="float64", regularization=0.05, **params
    ).fit(data)
    losses = np.array([h["loss"] for h in model.history_])
    assert [h["epoch"] for h in model.history_] == list(range(1, 9))
    assert all(h["seconds"] >= 0 for h in model.history_)
    assert np.all(np.diff(losses) < 0), losses
    np.testing.assert_allclose(losses[-1], _objective(data, model), rtol=1e-10)


def test_float32_loss_tracks_the_objective():
    data = _weighted_log()
    model = IALS(factors=6, iterations=10).fit(data)
    assert model.user_factors_.dtype == torch.float32
    np.testing.assert_allclose(model.history_[-1]["loss"], _objective(data, model), rtol=1e-5)


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"confidence": "log", "alpha": 2.0, "epsilon": 2.0},
        {"reg_scaling": "frequency", "reg_exponent": 0.5},
        {"binary": True, "alpha": 4.0},
    ],
)
def test_cholesky_solves_the_user_normal_equations(params):
    data = _weighted_log()
    model = IALS(
        solver="cholesky", factors=5, iterations=3, dtype="float64", regularization=0.1, **params
    ).fit(data)
    x, y = _factors(model)
    c, p, lam_u, _ = _dense_problem(data, model)
    for u in (0, 7, 19):
        a = y.T @ (c[u][:, None] * y) + lam_u[u] * np.eye(5)
        np.testing.assert_allclose(a @ x[u], y.T @ (c[u] * p[u]), rtol=1e-8, atol=1e-10)


def test_cg_with_many_steps_matches_cholesky():
    data = _weighted_log()
    common = {"factors": 6, "iterations": 4, "dtype": "float64", "regularization": 0.05}
    cg = IALS(solver="cg", cg_steps=12, **common).fit(data)
    exact = IALS(solver="cholesky", **common).fit(data)
    np.testing.assert_allclose(cg.score(np.arange(30)), exact.score(np.arange(30)), atol=1e-6)
    np.testing.assert_allclose(cg.history_[-1]["loss"], exact.history_[-1]["loss"], rtol=1e-9)


def test_few_cg_steps_differ_from_the_exact_solve():
    data = _weighted_log()
    common = {"factors": 6, "iterations": 2, "dtype": "float64"}
    cg = IALS(solver="cg", cg_steps=1, **common).fit(data)
    exact = IALS(solver="cholesky", **common).fit(data)
    assert np.abs(cg.score(np.arange(30)) - exact.score(np.arange(30))).max() > 1e-3


def test_confidence_variants_change_the_model():
    data = _weighted_log()
    linear = IALS(factors=4, iterations=3, alpha=2.0).fit(data).score(np.arange(5))
    log = IALS(factors=4, iterations=3, alpha=2.0, confidence="log").fit(data).score(np.arange(5))
    binary = IALS(factors=4, iterations=3, alpha=2.0, binary=True).fit(data).score(np.arange(5))
    ones = Interactions.from_csr(data.binary)
    unweighted = IALS(factors=4, iterations=3, alpha=2.0).fit(ones).score(np.arange(5))
    assert not np.allclose(linear, log, atol=1e-4)
    assert not np.allclose(linear, binary, atol=1e-4)
    np.testing.assert_allclose(binary, unweighted, rtol=1e-5, atol=1e-6)


def test_fold_in_reproduces_training_user_factors_with_cholesky():
    data = _weighted_log()
    model = IALS(solver="cholesky", factors=5, iterations=4, dtype="float64").fit(data)
    users = np.array([0, 3, 11, 29])
    np.testing.assert_allclose(
        model.score_history(data.matrix[users]), model.score(users), rtol=1e-9, atol=1e-12
    )
    items, _ = model.recommend_history(data.matrix[users], k=3)
    expected, _ = model.recommend(users, k=3)
    np.testing.assert_array_equal(items, expected)


def test_fold_in_is_the_exact_solve_for_cg_models():
    data = _weighted_log()
    model = IALS(solver="cg", factors=5, iterations=4, dtype="float64").fit(data)
    _, y = _factors(model)
    c, p, lam_u, _ = _dense_problem(data, model)
    x_new = np.linalg.solve(y.T @ (c[2][:, None] * y) + lam_u[2] * np.eye(5), y.T @ (c[2] * p[2]))
    np.testing.assert_allclose(model.score_history(data.matrix[[2]])[0], y @ x_new, rtol=1e-5)


def test_users_and_items_without_interactions_get_zero_factors():
    base = contract_data()
    users = IdMap(np.concatenate([base.user_map.ids, ["ghost"]]))
    items = IdMap(np.concatenate([base.item_map.ids, [999]]))
    data = Interactions(base.users, base.items, base.weights, users, items)
    for solver in ("cg", "cholesky"):
        model = IALS(factors=4, iterations=2, solver=solver).fit(data)
        x, y = _factors(model)
        assert np.all(x[-1] == 0) and np.all(y[-1] == 0)
        assert np.all(model.score([data.n_users - 1]) == 0)
        assert np.abs(x[:-1]).sum(1).min() > 0


def test_history_is_saved_in_model_json(tmp_path):
    model = IALS(factors=4, iterations=3, progress=True).fit(contract_data())
    model.save(tmp_path / "m")
    meta = json.loads((tmp_path / "m" / "model.json").read_text())
    assert [h["epoch"] for h in meta["history"]] == [1, 2, 3]
    assert all({"loss", "seconds"} <= set(h) for h in meta["history"])
    assert meta["params"]["solver"] == "cg"


def test_negative_weights_are_rejected():
    data = Interactions.from_raw([1, 2, 2], ["a", "a", "b"], weights=[1.0, -2.0, 1.0])
    with pytest.raises(SiftrecError, match="non-negative"):
        IALS(factors=2, iterations=1).fit(data)


def test_singular_exact_solve_is_reported():
    data = Interactions.from_raw([1, 2], ["a", "b"])
    with pytest.raises(SiftrecError, match="positive definite"):
        IALS(factors=4, iterations=1, regularization=0.0, solver="cholesky").fit(data)


def test_ml100k_beats_popularity(shared_data):
    train, test = ml100k_split(shared_data)
    popularity = recall_at(Popularity().fit(train), test)
    ials = recall_at(IALS(factors=16, iterations=6).fit(train), test)
    assert ials > 1.5 * popularity, (ials, popularity)


def test_device_and_progress_are_fit_options_not_hyperparameters(tmp_path, capsys):
    model = IALS(factors=4, iterations=2, device="cpu", progress=IALS.parse_param("progress", "1"))
    assert model.options.device == "cpu" and model.options.progress is True
    assert not {"device", "progress"} & set(model.get_params())
    assert not {"device", "progress"} & set(IALS.search_space)
    model.fit(contract_data())
    assert model.user_factors_.device == torch.device("cpu")
    params = json.loads((model.save(tmp_path / "new") / "model.json").read_text())["params"]
    assert not {"device", "progress"} & set(params)


def test_a_model_json_with_device_and_progress_in_params_still_loads(tmp_path):
    model = IALS(factors=4, iterations=2).fit(contract_data())
    saved = model.save(tmp_path / "old")
    meta = json.loads((saved / "model.json").read_text())
    # the params block as model.json recorded it while these were hyperparameters
    meta["params"] = {
        "factors": 4,
        "regularization": 0.01,
        "alpha": 1.0,
        "confidence": "linear",
        "epsilon": 1.0,
        "reg_scaling": "plain",
        "reg_exponent": 1.0,
        "iterations": 2,
        "solver": "cg",
        "cg_steps": 3,
        "init_std": 0.1,
        "binary": False,
        "seed": 0,
        "device": "cpu",
        "dtype": "float32",
        "progress": False,
    }
    (saved / "model.json").write_text(json.dumps(meta))
    loaded = load_model(saved)
    assert loaded.options.device == "cpu" and loaded.options.progress is False
    assert not {"device", "progress"} & set(loaded.get_params())
    np.testing.assert_array_equal(loaded.score([0, 1]), model.score([0, 1]))
