"""On-disk cache of text embeddings keyed by (encoder fingerprint, SHA-256 of the text).

One ``<fingerprint>.npz`` per encoder holds the text hashes and their vectors; new vectors are
merged in and the file is replaced atomically, so a crash or a concurrent reader never sees a
half-written cache (concurrent writers may drop each other's additions, never corrupt them).
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from siftrec.atomic import atomic_path
from siftrec.data.location import user_cache_dir
from siftrec.text.encoders import TextEncoder


def text_hashes(texts: Sequence[str]) -> np.ndarray:
    """SHA-256 of each text (UTF-8) as 32-byte strings."""
    return np.array([hashlib.sha256(t.encode("utf-8")).digest() for t in texts], dtype="S32")


class EmbeddingCache:
    """Embeddings of texts by an encoder, computed once per distinct text.

    Args:
        directory: where the cache files live (default: siftrec's user cache ``/embeddings``).

    ``hits`` and ``misses`` count the texts found in and added to the cache by this object.
    """

    def __init__(self, directory: str | Path | None = None) -> None:
        default = user_cache_dir() / "embeddings"
        self.directory = Path(directory) if directory is not None else default
        self.hits = 0
        self.misses = 0

    def path(self, encoder: TextEncoder) -> Path:
        """The cache file of ``encoder``."""
        return self.directory / f"{encoder.fingerprint}.npz"

    def embed(self, encoder: TextEncoder, texts: Sequence[str]) -> np.ndarray:
        """``encoder.encode(texts)``, reading cached vectors and encoding only the others."""
        texts = list(texts)
        keys = text_hashes(texts)
        path = self.path(encoder)
        stored_keys = np.zeros(0, dtype="S32")
        stored = np.zeros((0, encoder.dim), dtype=np.float32)
        if path.is_file():
            with np.load(path) as archive:
                stored_keys, stored = archive["keys"], archive["vectors"]
        hit = np.zeros(len(keys), dtype=bool)
        found = np.zeros(len(keys), dtype=np.int64)
        if len(stored_keys):
            order = np.argsort(stored_keys)
            position = np.minimum(np.searchsorted(stored_keys[order], keys), len(order) - 1)
            found = order[position]
            hit = stored_keys[found] == keys
        out = np.empty((len(texts), encoder.dim), dtype=np.float32)
        out[hit] = stored[found[hit]]
        missing = np.flatnonzero(~hit)
        self.hits += int(hit.sum())
        self.misses += len(missing)
        if len(missing):
            new_keys, first = np.unique(keys[missing], return_index=True)
            vectors = encoder.encode([texts[i] for i in missing[first]])
            lookup = np.searchsorted(new_keys, keys[missing])
            out[missing] = vectors[lookup]
            self.directory.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp, tmp.open("wb") as handle:
                np.savez(
                    handle,
                    keys=np.concatenate([stored_keys, new_keys]),
                    vectors=np.concatenate([stored, vectors]),
                )
        return out
