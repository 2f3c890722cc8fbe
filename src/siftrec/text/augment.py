"""Candidate interactions proposed from side information (LLMRec's augmentation, without an LLM).

LLMRec (Wei et al., WSDM 2024) asks an LLM, for each user, which item among some candidates the
user would like and which not, and trains on the resulting ``(user, pos, neg)`` triples next to
the observed ones, pruning the augmented triples whose loss is largest (they are likely noise).
Here the proposer is an :class:`EdgeAugmenter`: given the training log, the item texts, the
templated user profiles and their embeddings, it returns :class:`CandidateEdges`; the training
side (sampling and pruning the triples) is ``siftrec.objectives.augment``.

Built in: :class:`TextSimilarityAugmenter` (source ``text``, and ``text-pairs`` with explicit
negatives). A model config names its source by a string (``augment_source``) so that it stays
serialisable; another backend is plugged in with :func:`register_augmenter`. siftrec ships no
remote (LLM) backend: one is a class with a ``propose`` method that prompts a model with
``data.user_profiles[u]`` and the texts of candidate items (e.g. a
``TextSimilarityAugmenter(...).propose`` shortlist), parses the chosen item positions, and
returns them as ``CandidateEdges``; register it under a name before the fit
(``register_augmenter("my-llm", MyLLMAugmenter)``) and fit with ``augment_source="my-llm"``.
Its answers should be cached by the backend itself, since a fit may be repeated.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.text.features import TextFeatures
from siftrec.text.sources import ItemText, user_profiles

#: Users whose similarity rows are computed at once (bounds memory to chunk × n_items floats).
USER_CHUNK = 1024


@dataclass(frozen=True)
class AugmentInput:
    """What an augmenter sees: the training log, every item's text (``""``: none), every
    user's templated profile (from training items only) and their unit embeddings."""

    train: Interactions
    item_texts: list[str]
    user_profiles: list[str]
    features: TextFeatures


@dataclass(frozen=True)
class CandidateEdges:
    """Proposed interactions as index arrays: ``users[j]`` likely likes ``pos[j]`` (and, when
    ``neg`` is given, prefers it to ``neg[j]``)."""

    users: np.ndarray
    pos: np.ndarray
    neg: np.ndarray | None = None

    def __post_init__(self) -> None:
        arrays = [self.users, self.pos] + ([] if self.neg is None else [self.neg])
        arrays = [np.asarray(a) for a in arrays]
        if any(a.ndim != 1 or a.dtype.kind not in "iu" for a in arrays):
            raise SiftrecError("candidate edges must be 1-d integer index arrays")
        if len({len(a) for a in arrays}) != 1:
            raise SiftrecError("candidate edges: users, pos and neg differ in length")
        object.__setattr__(self, "users", arrays[0].astype(np.int64))
        object.__setattr__(self, "pos", arrays[1].astype(np.int64))
        if self.neg is not None:
            object.__setattr__(self, "neg", arrays[2].astype(np.int64))

    def __len__(self) -> int:
        return len(self.users)

    def check(self, n_users: int, n_items: int) -> None:
        """Refuse indices outside ``[0, n_users)`` / ``[0, n_items)``."""
        items = [self.pos] + ([] if self.neg is None else [self.neg])
        if len(self) and (self.users.min() < 0 or self.users.max() >= n_users):
            raise SiftrecError(f"candidate edges name a user outside 0..{n_users - 1}")
        if len(self) and any(a.min() < 0 or a.max() >= n_items for a in items):
            raise SiftrecError(f"candidate edges name an item outside 0..{n_items - 1}")


@runtime_checkable
class EdgeAugmenter(Protocol):
    """Proposes up to ``k`` new positive items per user (items not in the user's training
    interactions), optionally each with a negative item."""

    def propose(self, data: AugmentInput, k: int, seed: int) -> CandidateEdges:
        """Candidate edges for ``data``; ``seed`` fixes any randomness."""
        ...


class TextSimilarityAugmenter:
    """Per user, the ``k`` unseen items whose text embedding is most similar (cosine) to the
    user's profile embedding.

    Users without a profile and items without text get no candidates. With ``pairs`` each
    candidate also gets a negative: of ``negative_pool`` items drawn uniformly (seeded) among
    those with text, outside the user's training items and other than the positive, the one
    least similar to the profile (a candidate whose draws are all excluded is dropped).
    Without ``pairs`` the trainer draws negatives uniformly, as for observed pairs.
    """

    def __init__(self, pairs: bool = False, negative_pool: int = 20) -> None:
        if negative_pool < 1:
            raise SiftrecError(f"negative_pool must be at least 1, got {negative_pool}")
        self.pairs, self.negative_pool = pairs, negative_pool

    def propose(self, data: AugmentInput, k: int, seed: int) -> CandidateEdges:
        if k < 1:
            raise SiftrecError(f"k must be at least 1, got {k}")
        features, seen = data.features, data.train.binary.tocsr()
        n_items = features.items.shape[0]
        k = min(k, n_items)
        rng = np.random.default_rng(seed)
        keys = _pair_keys(data.train, n_items)
        with_text = np.flatnonzero(features.item_mask)
        parts: list[tuple[np.ndarray, ...]] = []
        rows_with_text = np.flatnonzero(features.user_mask)
        for start in range(0, len(rows_with_text), USER_CHUNK):
            rows = rows_with_text[start : start + USER_CHUNK]
            sims = features.users[rows] @ features.items.T
            sims[:, ~features.item_mask] = -np.inf
            sub = seen[rows]
            sims[np.repeat(np.arange(len(rows)), np.diff(sub.indptr)), sub.indices] = -np.inf
            top = np.argpartition(-sims, k - 1, axis=1)[:, :k]
            values = np.take_along_axis(sims, top, axis=1)
            order = np.argsort(-values, axis=1, kind="stable")
            top, values = np.take_along_axis(top, order, 1), np.take_along_axis(values, order, 1)
            keep = np.isfinite(values)
            users, pos = np.repeat(rows, k).reshape(-1, k)[keep], top[keep]
            if self.pairs and len(with_text):
                users, pos, neg = self._negatives(features, users, pos, with_text, keys, rng)
                parts.append((users, pos, neg))
            else:
                parts.append((users, pos))
        if not parts:
            empty = np.zeros(0, dtype=np.int64)
            return CandidateEdges(empty, empty, empty if self.pairs else None)
        users, pos = np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])
        neg = np.concatenate([p[2] for p in parts]) if self.pairs else None
        return CandidateEdges(users, pos, neg)

    def _negatives(
        self,
        features: TextFeatures,
        users: np.ndarray,
        pos: np.ndarray,
        with_text: np.ndarray,
        keys: np.ndarray,
        rng: np.random.Generator,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The least profile-similar of ``negative_pool`` random eligible items per candidate."""
        n_items = features.items.shape[0]
        pool = with_text[rng.integers(0, len(with_text), (len(users), self.negative_pool))]
        sims = np.einsum("nt,npt->np", features.users[users], features.items[pool])
        drawn = users[:, None].astype(np.int64) * n_items + pool
        position = np.minimum(np.searchsorted(keys, drawn), max(len(keys) - 1, 0))
        excluded = (pool == pos[:, None]) | (
            keys[position] == drawn if len(keys) else np.zeros_like(pool, dtype=bool)
        )
        sims[excluded] = np.inf
        best = sims.argmin(axis=1)
        ok = np.isfinite(sims[np.arange(len(users)), best])
        return users[ok], pos[ok], pool[np.arange(len(users)), best][ok]


def candidate_edges(
    train: Interactions,
    item_text: ItemText,
    features: TextFeatures,
    source: str,
    k: int,
    seed: int,
    max_profile_items: int = 20,
) -> CandidateEdges:
    """Ask the augmenter registered as ``source`` for up to ``k`` candidates per user of
    ``train`` (profiles templated from ``train`` only) and check its answer's indices."""
    texts, _ = item_text.for_items(train.item_map)
    profiles = user_profiles(train, texts, max_profile_items)
    edges = get_augmenter(source).propose(AugmentInput(train, texts, profiles, features), k, seed)
    if not isinstance(edges, CandidateEdges):
        raise SiftrecError(f"augmenter {source!r} returned {type(edges).__name__}, not edges")
    edges.check(train.n_users, train.n_items)
    return edges


def _pair_keys(train: Interactions, n_items: int) -> np.ndarray:
    """Sorted ``user · n_items + item`` of the training pairs (membership by binary search)."""
    return np.unique(train.users.astype(np.int64) * n_items + train.items)


_AUGMENTERS: dict[str, Callable[[], EdgeAugmenter]] = {
    "text": TextSimilarityAugmenter,
    "text-pairs": lambda: TextSimilarityAugmenter(pairs=True),
}


def register_augmenter(name: str, factory: Callable[[], EdgeAugmenter]) -> None:
    """Make ``augment_source=name`` build its augmenter with ``factory()`` (replaces a
    previous registration of ``name``; the built-in names cannot be replaced)."""
    if name in ("text", "text-pairs"):
        raise SiftrecError(f"augmenter {name!r} is built in and cannot be replaced")
    if not name or not callable(factory):
        raise SiftrecError("register_augmenter needs a non-empty name and a callable factory")
    _AUGMENTERS[name] = factory


def available_augmenters() -> list[str]:
    """Names ``get_augmenter`` accepts (built-in and registered)."""
    return sorted(_AUGMENTERS)


def get_augmenter(name: str) -> EdgeAugmenter:
    """The augmenter registered as ``name``."""
    if name not in _AUGMENTERS:
        raise SiftrecError(
            f"unknown augment source {name!r}; choose {', '.join(available_augmenters())} "
            "or register one (siftrec.text.augment.register_augmenter)"
        )
    augmenter = _AUGMENTERS[name]()
    if not isinstance(augmenter, EdgeAugmenter):
        raise SiftrecError(f"augmenter {name!r} has no propose(data, k, seed) method")
    return augmenter
