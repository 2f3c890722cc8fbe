"""LLMRec-style augmented edges as an option of LightGCN and MF (``augment_*`` fields)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.models import MF, LightGCN, load_model
from siftrec.text import ItemText


@pytest.fixture(scope="module")
def log() -> tuple[Interactions, ItemText]:
    """60 users, 30 items in three topics; users mostly click one topic."""
    rng = np.random.default_rng(0)
    users, items = [], []
    for user in range(60):
        topic = user % 3
        chosen = rng.choice(10, size=5, replace=False) * 3 + topic
        users += [user] * 5
        items += chosen.tolist()
    topics = ["space alien rocket", "western horse desert", "romance love wedding"]
    texts = ItemText(np.arange(30), [f"{topics[i % 3]} film {i}" for i in range(30)])
    return Interactions.from_raw(users, items), texts


def fit(cls: type, log: tuple[Interactions, ItemText], **params: object):
    train, texts = log
    return cls(epochs=2, device="cpu", **params).fit(train, item_text=texts)


@pytest.mark.parametrize("cls", [LightGCN, MF])
def test_augmented_fit_is_seeded_and_changes_the_model(
    cls: type, log: tuple[Interactions, ItemText]
) -> None:
    base = fit(cls, log)
    first = fit(cls, log, augment_k=3, augment_weight=1.0)
    second = fit(cls, log, augment_k=3, augment_weight=1.0)
    users = np.arange(60)
    assert np.array_equal(first.score(users), second.score(users))
    assert not np.allclose(first.score(users), base.score(users))
    pruned = fit(cls, log, augment_k=3, augment_weight=1.0, augment_prune=0.9)
    assert not np.allclose(pruned.score(users), first.score(users))


def test_augmentation_pulls_users_towards_their_topic(log: tuple[Interactions, ItemText]) -> None:
    train, _ = log
    seen = train.binary.toarray() > 0
    topic = (np.arange(30)[None, :] % 3) == (np.arange(60)[:, None] % 3)

    def unseen_topic_margin(model: LightGCN) -> float:
        scores = model.score(np.arange(60))
        same, other = topic & ~seen, ~topic
        return float(scores[same].mean() - scores[other].mean())

    base = fit(LightGCN, log, lr=0.01)
    augmented = fit(LightGCN, log, lr=0.01, augment_k=5, augment_weight=2.0, augment_prune=0.0)
    assert unseen_topic_margin(augmented) > unseen_topic_margin(base)


def test_augmentation_with_alignment_and_pairs(log, tmp_path: Path) -> None:
    model = fit(LightGCN, log, augment_k=2, augment_source="text-pairs", align="con")
    model.save(tmp_path / "m")
    loaded = load_model(tmp_path / "m")  # scoring needs no text
    assert loaded.config.augment_k == 2 and loaded.config.augment_source == "text-pairs"
    users = np.arange(60)
    assert np.allclose(loaded.score(users), model.score(users))


def test_augment_errors(log: tuple[Interactions, ItemText]) -> None:
    train, _ = log
    with pytest.raises(SiftrecError, match="augment_k needs item text"):
        LightGCN(epochs=1, augment_k=2, device="cpu").fit(train)
    with pytest.raises(SiftrecError, match="augment_prune must be in"):
        LightGCN(augment_prune=1.0)
    with pytest.raises(SiftrecError, match="augment_k must be non-negative"):
        MF(augment_k=-1)
    with pytest.raises(SiftrecError, match="no augmented-edge term"):
        MF(backend="numba", augment_k=2)
    with pytest.raises(SiftrecError, match="unknown augment source"):
        fit(LightGCN, log, augment_k=2, augment_source="gpt")
