"""The RLMRec alignment term: value and gradients against hand formulas, and its use in fits."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from siftrec import Interactions, SiftrecError
from siftrec.models import MF, LightGCN, NeuMF, load_model
from siftrec.objectives.align import TextAlignment, info_nce
from siftrec.text import ItemText
from siftrec.train.engine import Batch, Scorer


def hand_info_nce(a: np.ndarray, b: np.ndarray, valid: np.ndarray, tau: float) -> float:
    a = a / np.linalg.norm(a, axis=1, keepdims=True)
    b = b / np.linalg.norm(b, axis=1, keepdims=True)
    total = []
    for x in np.flatnonzero(valid):
        cos = a[x] @ b[valid].T / tau
        total.append(-a[x] @ b[x] / tau + np.log(np.exp(cos).sum()))
    return float(np.mean(total))


def test_info_nce_matches_the_formula_and_finite_differences() -> None:
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    b = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    valid = torch.tensor([True, True, False, True, True])
    value = info_nce(a, b, valid, 0.3)
    expected = hand_info_nce(a.detach().numpy(), b.detach().numpy(), valid.numpy(), 0.3)
    assert value.item() == pytest.approx(expected, rel=1e-10)
    assert torch.autograd.gradcheck(lambda x, y: info_nce(x, y, valid, 0.3), (a, b))
    # the invalid row neither anchors nor serves as a negative: it gets no gradient
    value.backward()
    assert not a.grad[2].any() and not b.grad[2].any()
    assert info_nce(a, b, torch.zeros(5, dtype=torch.bool), 0.3).item() == 0.0


def test_aligned_embeddings_give_a_lower_term() -> None:
    text = torch.eye(4, dtype=torch.float64)
    valid = torch.ones(4, dtype=torch.bool)
    aligned = info_nce(text * 2, text, valid, 0.2)
    swapped = info_nce(text.flip(0), text, valid, 0.2)
    assert aligned < swapped


class TableScorer(Scorer):
    """User/item tables held as plain tensors (set by the test): ``embed`` returns their rows."""

    def __init__(self, users: torch.Tensor, items: torch.Tensor) -> None:
        super().__init__(len(users), len(items))
        self.users, self.items = users, items

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        return self.users[users] @ self.items.T

    def embed(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.users[users], self.items[items]


@pytest.mark.parametrize("mode", ["con", "gen"])
def test_alignment_term_gradient_matches_finite_differences(mode: str) -> None:
    gen = torch.Generator().manual_seed(2)
    users = torch.randn(6, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    items = torch.randn(7, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    user_text = torch.randn(6, 4, generator=gen)
    item_text = torch.randn(7, 4, generator=gen)
    item_text[5] = 0  # an item without text
    term = TextAlignment(user_text, item_text, 3, mode, 0.5, 0.2, 1.0, gen).double()
    batch = Batch(None, torch.tensor([0, 2, 2, 5]), torch.tensor([[1, 0], [3, 5], [6, 1], [2, 4]]))
    assert torch.autograd.gradcheck(lambda u, i: term(TableScorer(u, i), batch), (users, items))
    # the term is weight × (users' InfoNCE + items' InfoNCE) over the batch's distinct nodes,
    # nodes without text excluded (mask_ratio 1: gen masks every node)
    with torch.no_grad():
        u, i = [0, 2, 5], list(range(7))
        valid_i = torch.tensor([True] * 5 + [False, True])
        if mode == "con":
            parts = [
                info_nce(users[u], term.mlp(user_text[u].double()), torch.ones(3, dtype=bool), 0.2),
                info_nce(items[i], term.mlp(item_text[i].double()), valid_i, 0.2),
            ]
        else:
            parts = [
                info_nce(term.mlp(users[u]), user_text[u].double(), torch.ones(3, dtype=bool), 0.2),
                info_nce(term.mlp(items[i]), item_text[i].double(), valid_i, 0.2),
            ]
        value = term(TableScorer(users, items), batch)
        assert value.item() == pytest.approx(0.5 * (parts[0] + parts[1]).item())
        assert items.grad is None  # nothing above kept a graph


def clustered_log(seed: int = 0) -> tuple[Interactions, ItemText]:
    """Two user groups, each clicking its own half of 40 items; item text names the half."""
    rng = np.random.default_rng(seed)
    users, items = [], []
    for u in range(60):
        half = u % 2
        chosen = rng.choice(20, size=8, replace=False) + 20 * half
        users += [u] * 8
        items += chosen.tolist()
    words = ["western cowboy desert horse", "space alien rocket galaxy"]
    text = ItemText(np.arange(40), [f"{words[i // 20]} film {i}" for i in range(40)])
    return Interactions.from_raw(np.array(users), np.array(items)), text


@pytest.mark.parametrize("model_cls", [MF, LightGCN, NeuMF])
def test_fit_with_alignment_saves_a_model_that_loads_without_text(
    model_cls: type, tmp_path: Path
) -> None:
    train, text = clustered_log()
    model = model_cls(align="con", epochs=3, batch_size=64, dim=8, device="cpu")
    model.fit(train, item_text=text)
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")
    np.testing.assert_allclose(
        loaded.recommend(np.arange(5), k=5)[1], model.recommend(np.arange(5), k=5)[1], rtol=1e-5
    )
    assert loaded.config.align == "con"


def test_contrastive_alignment_pulls_embeddings_towards_their_text() -> None:
    """Clicks without structure, texts in two topics: with Con the item embeddings of one
    topic become more similar to each other than to the other topic's; without, they do not."""
    rng = np.random.default_rng(0)
    train = Interactions.from_raw(rng.integers(0, 60, 600), rng.integers(0, 40, 600))
    words = ["western cowboy desert horse", "space alien rocket galaxy"]
    raw_items = train.item_map.ids
    text = ItemText(raw_items, [f"{words[int(i) // 20]} film" for i in raw_items])
    topic = torch.as_tensor(raw_items // 20)
    separation = {}
    for align in ("none", "con"):
        model = MF(align=align, align_weight=1.0, epochs=10, batch_size=64, dim=8, device="cpu")
        model.fit(train, item_text=text)
        with torch.no_grad():
            emb = torch.nn.functional.normalize(model.scorer_.item_emb.weight, dim=1)
            sims = emb @ emb.T
            same = topic[:, None] == topic[None, :]
            separation[align] = (sims[same].mean() - sims[~same].mean()).item()
    assert separation["con"] > separation["none"] + 0.2


def test_alignment_needs_item_text_and_a_sampled_objective() -> None:
    train, text = clustered_log()
    with pytest.raises(SiftrecError, match="needs item text"):
        MF(align="con", epochs=1, device="cpu").fit(train)
    with pytest.raises(SiftrecError, match="align="):
        MF(align="both")
    base = MF(epochs=1, device="cpu").fit(train, item_text=text)  # align=none ignores the text
    assert base.is_fitted
