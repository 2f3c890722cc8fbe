import subprocess
import sys

import numpy as np
import pytest
import scipy.sparse as sp
import torch

from siftrec import Interactions
from siftrec.data.ids import IdMap
from siftrec.models import LightGCN
from siftrec.models.lightgcn import normalized_adjacency
from siftrec.testing import contract_log as contract_data


def _dense_reference(seen: sp.csr_matrix, e0: np.ndarray, layers: int) -> np.ndarray:
    """Mean of ``Âᵏ E⁽⁰⁾``, ``k = 0..K``, with a dense float64 ``Â`` built from scratch."""
    r = (seen.toarray() > 0).astype(np.float64)
    n_users, n_items = r.shape
    a = np.zeros((n_users + n_items, n_users + n_items))
    a[:n_users, n_users:] = r
    a[n_users:, :n_users] = r.T
    degree = a.sum(axis=1)
    scale = np.divide(1.0, np.sqrt(degree), out=np.zeros_like(degree), where=degree > 0)
    a_hat = scale[:, None] * a * scale[None, :]
    layer, total = e0, e0.copy()
    for _ in range(layers):
        layer = a_hat @ layer
        total += layer
    return total / (layers + 1)


def _with_cold_item(data: Interactions) -> Interactions:
    """The same log on an item map with one extra item that has no interaction."""
    items = IdMap(np.concatenate([data.item_map.ids, [10_000]]))
    return Interactions(data.users, data.items, data.weights, data.user_map, items)


def test_normalized_adjacency_handles_isolated_nodes():
    data = _with_cold_item(contract_data())
    adj = normalized_adjacency(data.binary)
    assert adj.shape == (data.n_users + data.n_items,) * 2
    assert adj[data.n_users + data.n_items - 1].nnz == 0  # the cold item: a zero row, no NaN
    assert np.all(np.isfinite(adj.data))
    np.testing.assert_allclose((adj - adj.T).toarray(), 0.0)


@pytest.mark.parametrize("layers", [0, 1, 3])
def test_propagation_equals_dense_reference(layers: int):
    data = _with_cold_item(contract_data())
    model = LightGCN(epochs=1, layers=layers, dim=8, batch_size=64).fit(data)
    scorer = model.scorer_
    e0 = torch.cat([scorer.user_emb, scorer.item_emb]).detach().double().numpy()
    expected = _dense_reference(data.binary, e0, layers)
    # evaluation mode: the cached full propagation and the scores built from it
    final = scorer.propagate().numpy()
    np.testing.assert_allclose(final, expected, rtol=1e-5, atol=1e-6)
    users = np.arange(5)
    np.testing.assert_allclose(
        model.score(users),
        expected[users] @ expected[data.n_users :].T,
        rtol=1e-4,
        atol=1e-6,
    )
    # training mode: the batch rows (last layer restricted to them) agree too
    scorer.train()
    nodes = torch.tensor([0, 3, 3, data.n_users, data.n_users + 5, 1])
    with torch.no_grad():
        scorer.prepare()
        rows = scorer.node_embeddings(nodes).numpy()
    np.testing.assert_allclose(rows, expected[nodes.numpy()], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("layers", [1, 3])
def test_gradient_equals_dense_reference(layers: int):
    data = contract_data()
    model = LightGCN(epochs=1, layers=layers, dim=4, batch_size=64).fit(data)
    scorer = model.scorer_.train()
    n_nodes = data.n_users + data.n_items
    nodes = torch.tensor([2, 2, 7, data.n_users + 1, data.n_users + 9, n_nodes - 1])
    weights = torch.randn(len(nodes), 4, generator=torch.Generator().manual_seed(0))
    scorer.zero_grad()
    scorer.prepare()
    (scorer.node_embeddings(nodes) * weights).sum().backward()
    got = torch.cat([scorer.user_emb.grad, scorer.item_emb.grad]).numpy()

    e0 = torch.cat([scorer.user_emb, scorer.item_emb]).detach().double().requires_grad_(True)
    r = torch.from_numpy(data.binary.toarray()).double()
    a = torch.zeros(n_nodes, n_nodes, dtype=torch.float64)
    a[: data.n_users, data.n_users :] = r
    a[data.n_users :, : data.n_users] = r.T
    scale = a.sum(1).rsqrt()
    a_hat = scale[:, None] * a * scale[None, :]
    layer, total = e0, e0
    for _ in range(layers):
        layer = a_hat @ layer
        total = total + layer
    ((total / (layers + 1))[nodes] * weights.double()).sum().backward()
    np.testing.assert_allclose(got, e0.grad.numpy(), rtol=1e-5, atol=1e-7)


def test_stale_cache_is_recomputed_after_a_parameter_change():
    model = LightGCN(epochs=1, dim=8, batch_size=64).fit(contract_data())
    before = model.score([0])
    with torch.no_grad():
        model.scorer_.user_emb.mul_(2.0)  # no invalidate(): the version counters catch it
        model.scorer_.item_emb.mul_(2.0)
    np.testing.assert_allclose(model.score([0]), 4.0 * before, rtol=1e-5, atol=1e-6)


def test_training_mode_scores_propagate_once_per_parameter_version():
    scorer = LightGCN(epochs=1, dim=8, batch_size=64).fit(contract_data()).scorer_
    scorer.train()
    users = torch.arange(3)
    with torch.no_grad():
        first = scorer.score_all(users)
        again = scorer.score_all(users)
        assert again.data_ptr() != first.data_ptr()  # fresh arrays, one cached propagation
        torch.testing.assert_close(again, first)
        assert scorer.propagate() is scorer.propagate()
        scorer.user_emb.mul_(2.0)
        scorer.item_emb.mul_(2.0)
        torch.testing.assert_close(scorer.score_all(users), 4.0 * first)


def test_training_reduces_the_loss_with_bpr_and_bce():
    data = contract_data()
    for objective in ("bpr", "bce"):
        model = LightGCN(epochs=8, dim=16, batch_size=64, lr=0.01, objective=objective).fit(data)
        losses = [h["loss"] for h in model.history_]
        assert losses[-1] < losses[0]


def test_defaults_follow_the_reference_code():
    cfg = LightGCN().config
    assert (cfg.dim, cfg.layers, cfg.lr, cfg.l2, cfg.batch_size) == (64, 3, 1e-3, 1e-4, 2048)
    assert (cfg.optimizer, cfg.objective, cfg.epoch_mode, cfg.init_std) == (
        "adam",
        "bpr",
        "users",
        0.1,
    )


_FIT_SCRIPT = """
import sys

import numpy as np
import torch

torch.set_num_threads(int(sys.argv[1]))
from siftrec import Interactions
from siftrec.models import LightGCN

rng = np.random.default_rng(0)
popularity = 1.0 / np.arange(1, 301)  # popular items repeat within a batch
users = rng.integers(0, 400, 12_000)
items = rng.choice(300, size=12_000, p=popularity / popularity.sum())
model = LightGCN(epochs=2, dim=16, batch_size=2048, seed=3).fit(Interactions.from_raw(users, items))
scorer = model.scorer_
np.savez(
    sys.argv[2],
    user_emb=scorer.user_emb.detach().numpy(),
    item_emb=scorer.item_emb.detach().numpy(),
    scores=model.score(np.arange(400)),
)
"""


def _fit_in_subprocess(tmp_path, threads: int, name: str) -> dict[str, np.ndarray]:
    """Train the same seeded LightGCN in a fresh interpreter with ``threads`` torch threads."""
    out = tmp_path / f"{name}.npz"
    subprocess.run(
        [sys.executable, "-c", _FIT_SCRIPT, str(threads), str(out)], check=True, timeout=300
    )
    with np.load(out) as arrays:
        return dict(arrays)


def test_training_is_bit_identical_across_thread_counts(tmp_path):
    one = _fit_in_subprocess(tmp_path, 1, "one")
    two = _fit_in_subprocess(tmp_path, 2, "two")
    two_again = _fit_in_subprocess(tmp_path, 2, "two_again")
    for name in ("user_emb", "item_emb", "scores"):
        np.testing.assert_array_equal(two[name], one[name], err_msg=f"{name}: 2 vs 1 threads")
        np.testing.assert_array_equal(two_again[name], two[name], err_msg=f"{name}: 2 vs 2")
