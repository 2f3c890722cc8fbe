"""Candidate edges from side information: the text-similarity backend and the registry."""

from __future__ import annotations

import numpy as np
import pytest

from siftrec import Interactions, SiftrecError
from siftrec.data.ids import IdMap
from siftrec.text import ItemText, TextFeatures
from siftrec.text.augment import (
    AugmentInput,
    CandidateEdges,
    TextSimilarityAugmenter,
    available_augmenters,
    candidate_edges,
    get_augmenter,
    register_augmenter,
)


def unit(rows: list[list[float]]) -> np.ndarray:
    matrix = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    return np.divide(matrix, norms, out=np.zeros_like(matrix), where=norms > 0)


@pytest.fixture
def data() -> AugmentInput:
    """3 users × 6 items. User 0 saw item 0, user 1 saw items 3 and 4, user 2 saw item 5 and
    has no profile; item 2 has no text."""
    train = Interactions.from_raw([0, 1, 1, 2], [0, 3, 4, 5], item_map=IdMap(np.arange(6)))
    items = unit([[1, 0], [0.9, 0.1], [0, 0], [0.5, 0.5], [0.1, 0.9], [0, 1]])
    users = unit([[1, 0], [0, 1], [0, 0]])
    features = TextFeatures(users, items, np.array([True, True, False]), items.any(axis=1))
    texts = ["a", "b", "", "c", "d", "e"]
    return AugmentInput(train, texts, ["p0", "p1", ""], features)


def edges_of(edges: CandidateEdges) -> list[tuple[int, int]]:
    return list(zip(edges.users.tolist(), edges.pos.tolist(), strict=True))


def test_text_similarity_proposes_the_most_similar_unseen_items(data: AugmentInput) -> None:
    edges = TextSimilarityAugmenter().propose(data, k=2, seed=0)
    # user 0 (profile [1, 0]): items by similarity 0 (seen), 1, 3, 4, 5; item 2 has no text
    # user 1 (profile [0, 1]): 5, 4 (seen), 3 (seen), 1, 0; user 2 has no profile
    assert edges_of(edges) == [(0, 1), (0, 3), (1, 5), (1, 1)]
    assert edges.neg is None
    # k beyond the eligible items gives every eligible item once
    edges = TextSimilarityAugmenter().propose(data, k=10, seed=0)
    assert sorted(edges.pos[edges.users == 1].tolist()) == [0, 1, 5]
    assert 2 not in edges.pos.tolist() and 2 not in edges.users.tolist()


def test_pairs_take_the_least_similar_eligible_item_as_negative(data: AugmentInput) -> None:
    # a pool far larger than the catalogue draws every item: the negative is the least
    # similar item with text, outside the user's training items, other than the positive
    edges = TextSimilarityAugmenter(pairs=True, negative_pool=300).propose(data, k=2, seed=3)
    negatives = dict(zip(edges_of(edges), edges.neg.tolist(), strict=True))
    assert negatives == {(0, 1): 5, (0, 3): 5, (1, 5): 0, (1, 1): 0}
    again = TextSimilarityAugmenter(pairs=True, negative_pool=2).propose(data, k=2, seed=3)
    other = TextSimilarityAugmenter(pairs=True, negative_pool=2).propose(data, k=2, seed=3)
    assert np.array_equal(again.neg, other.neg)  # seeded
    seen = set(zip(data.train.users.tolist(), data.train.items.tolist(), strict=True))
    for user, pos, neg in zip(again.users, again.pos, again.neg, strict=True):
        assert neg != pos and (user, neg) not in seen and neg != 2


def test_candidate_edges_validate_their_arrays() -> None:
    with pytest.raises(SiftrecError, match="differ in length"):
        CandidateEdges(np.array([0, 1]), np.array([0]))
    with pytest.raises(SiftrecError, match="integer index arrays"):
        CandidateEdges(np.array([0.5]), np.array([0]))
    edges = CandidateEdges(np.array([0, 3]), np.array([1, 1]), np.array([2, 9]))
    with pytest.raises(SiftrecError, match=r"user outside 0\.\.2"):
        edges.check(3, 10)
    with pytest.raises(SiftrecError, match=r"item outside 0\.\.8"):
        edges.check(4, 9)
    edges.check(4, 10)


class FixedAugmenter:
    """A stand-in for an LLM backend: proposes item 2 for every user with a profile."""

    def propose(self, data: AugmentInput, k: int, seed: int) -> CandidateEdges:
        users = np.flatnonzero([bool(p) for p in data.user_profiles])
        return CandidateEdges(users, np.full(len(users), 2), np.full(len(users), 0))


def test_a_registered_backend_is_asked_with_texts_and_profiles() -> None:
    register_augmenter("fixed-test", FixedAugmenter)
    assert "fixed-test" in available_augmenters()
    train = Interactions.from_raw([1, 1, 2], [10, 20, 30])
    item_text = ItemText(np.array([10, 20, 30]), ["ten", "twenty", "thirty"])
    features = TextFeatures(
        np.ones((2, 1), np.float32), np.ones((3, 1), np.float32), np.ones(2, bool), np.ones(3, bool)
    )
    edges = candidate_edges(train, item_text, features, "fixed-test", k=1, seed=0)
    assert edges.users.tolist() == [0, 1] and edges.pos.tolist() == [2, 2]
    register_augmenter("fixed-test", lambda: FixedAugmenter())  # re-registering replaces


def test_registry_errors_are_one_line() -> None:
    with pytest.raises(SiftrecError, match="unknown augment source 'nope'"):
        get_augmenter("nope")
    with pytest.raises(SiftrecError, match="built in"):
        register_augmenter("text", FixedAugmenter)
    register_augmenter("no-propose-test", object)
    with pytest.raises(SiftrecError, match="no propose"):
        get_augmenter("no-propose-test")
    register_augmenter("bad-index-test", lambda: _OutOfRange())
    train = Interactions.from_raw([0], [0])
    features = TextFeatures(
        np.ones((1, 1), np.float32), np.ones((1, 1), np.float32), np.ones(1, bool), np.ones(1, bool)
    )
    with pytest.raises(SiftrecError, match="item outside"):
        candidate_edges(train, ItemText(np.array([0]), ["x"]), features, "bad-index-test", 1, 0)


class _OutOfRange:
    def propose(self, data: AugmentInput, k: int, seed: int) -> CandidateEdges:
        return CandidateEdges(np.array([0]), np.array([5]))
