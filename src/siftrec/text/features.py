"""Text embeddings of every user and item of a training log (what RLMRec aligns with)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.text.cache import EmbeddingCache
from siftrec.text.encoders import TextEncoder, get_encoder
from siftrec.text.sources import ItemText, user_profiles


@dataclass(frozen=True)
class TextFeatures:
    """Unit text vectors of users ``[n_users, t]`` and items ``[n_items, t]``; rows without text
    are zero and marked False in ``user_mask`` / ``item_mask``."""

    users: np.ndarray
    items: np.ndarray
    user_mask: np.ndarray
    item_mask: np.ndarray

    @property
    def dim(self) -> int:
        return self.items.shape[1]

    def shuffled(self, seed: int) -> TextFeatures:
        """The same vectors given to random other users and items (the shuffled-profile
        ablation: same text statistics, no link between a node and its text)."""
        rng = np.random.default_rng(seed)
        users, items = rng.permutation(len(self.users)), rng.permutation(len(self.items))
        return TextFeatures(
            self.users[users], self.items[items], self.user_mask[users], self.item_mask[items]
        )


def build_text_features(
    train: Interactions,
    item_text: ItemText,
    encoder: str | TextEncoder = "tfidf",
    *,
    cache: EmbeddingCache | str | Path | None = None,
    max_profile_items: int = 20,
    seed: int = 0,
) -> TextFeatures:
    """Embed the texts of ``train``'s items and the templated profiles of its users.

    An encoder that learns from its corpus (``tfidf``) is fitted on the item texts of ``train``.
    """
    texts, item_mask = item_text.for_items(train.item_map)
    if not item_mask.any():
        raise SiftrecError("the item text names none of the training items")
    if isinstance(encoder, str):
        encoder = get_encoder(encoder, seed=seed)
    encoder.fit([t for t, known in zip(texts, item_mask, strict=True) if known])
    profiles = user_profiles(train, texts, max_profile_items)
    if not isinstance(cache, EmbeddingCache):
        cache = EmbeddingCache(cache)
    vectors = cache.embed(encoder, texts + profiles)
    items, users = vectors[: len(texts)], vectors[len(texts) :]
    user_mask = np.array([bool(p) for p in profiles])
    items[~item_mask] = 0.0
    users[~user_mask] = 0.0
    return TextFeatures(users, items, user_mask, item_mask)
