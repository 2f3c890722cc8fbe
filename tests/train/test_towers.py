"""Per-level towers: level blocks, their sum as one retrieval space, the training/scoring shapes."""

from __future__ import annotations

import pytest
import torch

from siftrec.errors import SiftrecError
from siftrec.train.towers import LevelTowers


def towers(k: int, normalize: bool) -> LevelTowers:
    module = LevelTowers("all" if normalize else "none")
    module.set_levels(k)
    return module


def test_level_scores_are_the_block_dot_products_and_sum_to_the_dot_product():
    g = torch.Generator().manual_seed(0)
    users, items = torch.randn(4, 7, generator=g), torch.randn(4, 5, 7, generator=g)
    scores = towers(3, False).level_scores(users, items)
    assert scores.shape == (4, 5, 3)
    # 7 dims in 3 blocks: [0, 1, 2), [3, 4), [5, 6) by floor(j * 3 / 7)
    blocks = [slice(0, 3), slice(3, 5), slice(5, 7)]
    for k, block in enumerate(blocks):
        want = (items[..., block] * users[:, None, block]).sum(-1)
        torch.testing.assert_close(scores[..., k], want)
    torch.testing.assert_close(scores.sum(-1), (items * users[:, None]).sum(-1))


def test_normalized_blocks_are_cosines_and_the_table_keeps_their_sum():
    g = torch.Generator().manual_seed(1)
    users, items = torch.randn(3, 8, generator=g) * 5, torch.randn(3, 2, 8, generator=g)
    module = towers(2, True)
    scores = module.level_scores(users, items)
    assert (scores.abs() <= 1 + 1e-6).all()
    cos = torch.nn.functional.cosine_similarity(users[:, None, 4:], items[..., 4:], dim=-1)
    torch.testing.assert_close(scores[..., 1], cos)
    table_dot = (module.table(items) * module.table(users)[:, None]).sum(-1)
    torch.testing.assert_close(scores.sum(-1), table_dot)


def test_candidates_are_per_level_only_in_training_with_autograd():
    module = towers(2, False)
    users, items = torch.randn(2, 4), torch.randn(2, 3, 4)
    assert module.candidates(users, items, training=True).shape == (2, 3, 2)
    assert module.candidates(users, items, training=False).shape == (2, 3)
    with torch.no_grad():  # a sampler scoring candidates between steps
        assert module.candidates(users, items, training=True).shape == (2, 3)


def test_levels_must_be_set_and_fit_the_dimension():
    with pytest.raises(SiftrecError, match="no levels"):
        LevelTowers().level_scores(torch.ones(1, 4), torch.ones(1, 1, 4))
    with pytest.raises(SiftrecError, match="dim"):
        towers(5, False).level_scores(torch.ones(1, 4), torch.ones(1, 1, 4))


def test_deep_normalisation_leaves_level_one_a_free_dot_product():
    g = torch.Generator().manual_seed(2)
    users, items = torch.randn(3, 6, generator=g) * 3, torch.randn(3, 4, 6, generator=g) * 3
    module = LevelTowers("deep")
    module.set_levels(2)
    scores = module.level_scores(users, items)
    torch.testing.assert_close(scores[..., 0], (items[..., :3] * users[:, None, :3]).sum(-1))
    cos = torch.nn.functional.cosine_similarity(users[:, None, 3:], items[..., 3:], dim=-1)
    torch.testing.assert_close(scores[..., 1], cos)
    with pytest.raises(SiftrecError, match="normalize"):
        LevelTowers("sometimes")
