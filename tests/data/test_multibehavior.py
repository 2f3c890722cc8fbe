"""The Tmall splits rebuilt from our copy of the MBGCN release (skips without ../shared)."""

from __future__ import annotations

import numpy as np
import pytest

from siftrec.data.levels import filter_levels, levels_of
from siftrec.data.readers.multibehavior import mbgcn_split


@pytest.fixture(scope="module")
def tmall(shared_data):
    folder = shared_data / "tmall-mbgcn"
    if not folder.exists():
        pytest.skip(f"{folder} not found")
    return folder


def keys(log) -> np.ndarray:
    return log.users.astype(np.int64) * log.n_items + log.items


def test_the_crgcn_split_matches_the_literature(tmall):
    parts = mbgcn_split(tmall, "crgcn")
    train, test = parts["train"], parts["test"]
    assert set(parts) == {"train", "test"}
    assert train.shape == (41738, 11953)
    # their training purchases: train ∪ test of the release; their test: its validation
    assert len(filter_levels(train, 3)) == 255_586
    assert len(test) == 31_572 and np.unique(test.users).size == 29_310
    assert not np.isin(keys(test), keys(filter_levels(train, 3))).any()
    # every collect/cart pair is kept unless it was bought (collapsed to its deepest level)
    counts = np.bincount(levels_of(train), minlength=4)
    assert counts[3] == 255_586 and counts[1] + counts[2] + counts[3] == len(train)


def test_the_honest_split_has_a_disjoint_validation_part(tmall):
    parts = mbgcn_split(tmall, "honest")
    buys = filter_levels(parts["train"], 3)
    assert len(buys) == 181_428 and len(parts["validation"]) == 74_158
    assert not np.isin(keys(parts["validation"]), keys(buys)).any()
    assert not np.isin(keys(parts["test"]), keys(parts["validation"])).any()
