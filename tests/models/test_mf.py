import numpy as np
import pytest
import torch

from siftrec.models import MF
from siftrec.testing import contract_log as contract_data


def test_learns_block_structure():
    # two user groups, each only interacts within its own half of the catalog
    rng = np.random.default_rng(0)
    users, items = [], []
    for u in range(40):
        half = u % 2
        chosen = rng.choice(10, size=6, replace=False) + 10 * half
        users += [u] * 6
        items += list(chosen)
    from siftrec import Interactions

    data = Interactions.from_raw(np.array(users), np.array(items))
    model = MF(epochs=30, dim=4, batch_size=32, lr=0.05, device="cpu").fit(data)
    scores = model.score(np.arange(40))
    raw_items = data.item_map.ids
    same_half = (raw_items[None, :] // 10) == (data.user_map.ids[:, None] % 2)
    assert scores[same_half].mean() > scores[~same_half].mean() + 1.0


def test_string_params_from_the_cli_are_coerced():
    model = MF(
        objective="bpo", lr="0.02", dim="16", item_bias="true", sampler="popularity(beta=0.5)"
    )
    assert model.config.lr == 0.02 and model.config.dim == 16 and model.config.item_bias is True
    model.fit(contract_data())
    assert model.scorer_.bias is not None


def test_scores_are_dot_products_plus_bias():
    data = contract_data()
    model = MF(epochs=1, dim=4, item_bias=True, device="cpu").fit(data)
    p = model.scorer_.user_emb.weight.detach()
    q = model.scorer_.item_emb.weight.detach()
    b = model.scorer_.bias.weight.detach().T
    np.testing.assert_allclose(model.score([3, 5]), (p[[3, 5]] @ q.T + b).numpy(), rtol=1e-6)
    pairs = model.scorer_.score_pairs(torch.tensor([3, 5]), torch.tensor([1, 2]))
    np.testing.assert_allclose(
        pairs.detach().numpy(), model.score([3, 5])[[0, 1], [1, 2]], rtol=1e-6
    )


@pytest.fixture
def one_thread():
    """One torch thread: on an oversubscribed CPU, OpenMP workers spinning at every small op
    make multi-threaded epochs 5-30× slower (see docs/engine.md)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.slow
def test_bpr_mf_beats_popularity_on_ml1m(shared_data, one_thread):
    from siftrec.data.readers import read_interactions
    from siftrec.evaluate import evaluate
    from siftrec.models import Popularity

    root = shared_data / "ml-1m-diffrec" / "clean"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    train = read_interactions(root / "train_list.npy.gz", format="npy")
    maps = {"user_map": train.user_map, "item_map": train.item_map}
    valid = read_interactions(root / "valid_list.npy.gz", format="npy", **maps)
    test = read_interactions(root / "test_list.npy.gz", format="npy", **maps)
    mf = MF(epochs=5, device="cpu").fit(train)
    ours = evaluate(mf, test, "recall@20", exclude=valid).metrics["recall@20"]
    base = evaluate(Popularity().fit(train), test, "recall@20", exclude=valid).metrics["recall@20"]
    assert ours > 1.15 * base
