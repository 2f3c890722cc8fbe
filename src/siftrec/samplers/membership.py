"""Fast vectorised "is (user, item) a training positive?" tests for negative sampling.

Pairs are encoded as int64 keys ``user · n_items + item``. A bitset answers most queries with one
memory access: it is exact when the key space is small (≤ 2^28 pairs, a 32 MiB bitset at most),
otherwise a hashed filter whose hits (true positives plus a few collisions) are confirmed by
``searchsorted`` on the sorted keys. A binary search on every query is far slower than the
bitset's one access, which is why the filter comes first.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

#: Largest key space stored as an exact bitset (bits).
EXACT_BITS = 1 << 28
#: Hashed filter size: the next power of two ≥ this many bits per positive (≈1.5 % collisions).
BITS_PER_KEY = 64
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


class PositiveIndex:
    """Sorted unique (user, item) keys of a training log with a bitset membership filter."""

    def __init__(self, users: np.ndarray, items: np.ndarray, n_users: int, n_items: int) -> None:
        self.n_users, self.n_items = n_users, n_items
        keys = _sorted_unique(users.astype(np.int64) * n_items + items.astype(np.int64))
        self.keys = keys
        #: Row pointers of the unique positives per user (a CSR over ``keys``).
        self.indptr = np.searchsorted(keys, np.arange(n_users + 1, dtype=np.int64) * n_items)
        space = n_users * n_items
        self.exact = space <= EXACT_BITS
        if self.exact:
            self._shift = None
            n_bits = space
        else:
            n_bits = min(EXACT_BITS, 1 << int(np.ceil(np.log2(BITS_PER_KEY * max(1, len(keys))))))
            self._shift = np.uint64(64 - int(np.log2(n_bits)))
        self.bits = _bitset(_sorted_unique(self._slot(keys)), n_bits)

    @property
    def counts(self) -> np.ndarray:
        """Distinct positive items per user."""
        return np.diff(self.indptr)

    def _slot(self, keys: np.ndarray) -> np.ndarray:
        if self._shift is None:
            return keys
        # views, not copies: keys are non-negative, and slots < 2^63 after the shift
        return ((keys.view(np.uint64) * _GOLDEN) >> self._shift).view(np.int64)

    def contains(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        """Boolean mask: is ``(users[k], items[k])`` a training positive."""
        keys = np.asarray(users, dtype=np.int64) * self.n_items + items
        slot = self._slot(keys)
        hit = ((self.bits[slot >> 3] >> (slot & 7).astype(np.uint8)) & 1).astype(bool)
        if self.exact:
            return hit
        idx = np.flatnonzero(hit)
        pos = np.minimum(np.searchsorted(self.keys, keys[idx]), len(self.keys) - 1)
        hit[idx] = self.keys[pos] == keys[idx]
        return hit

    def sample_complement(self, users: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One item per entry of ``users``, uniform over that user's non-positive items.

        Exact and rejection-free: draw a rank ``r`` among the user's non-positives and map it to
        the item ``r + #{positives p_k with p_k − k ≤ r}`` (``p_k`` the user's k-th positive).
        Every user must have at least one non-positive item.
        """
        users = users.astype(np.int64)
        row_start = self.indptr[users]
        free = self.n_items - (self.indptr[users + 1] - row_start)
        ranks = np.floor(rng.random(len(users)) * free).astype(np.int64)
        queries = users * self.n_items + ranks
        before = np.searchsorted(self._adjusted, queries, side="right") - row_start
        return ranks + before

    @cached_property
    def _adjusted(self) -> np.ndarray:
        """``user·n_items + (p_k − k)`` per positive: sorted like the keys."""
        within = np.arange(len(self.keys), dtype=np.int64) - np.repeat(
            self.indptr[:-1], np.diff(self.indptr)
        )
        return self.keys - within


def _sorted_unique(values: np.ndarray) -> np.ndarray:
    """``np.unique`` by sorting (numpy 2's default hash-based unique is much slower here)."""
    values = np.sort(values)
    return values[np.r_[True, values[1:] != values[:-1]]] if len(values) else values


def _bitset(slots: np.ndarray, n_bits: int) -> np.ndarray:
    """A little-endian bitset of ``n_bits`` bits with the (sorted, unique) ``slots`` set."""
    bits = np.zeros((n_bits + 7) // 8, dtype=np.uint8)
    if len(slots):
        byte = slots >> 3
        starts = np.flatnonzero(np.r_[True, byte[1:] != byte[:-1]])
        bits[byte[starts]] = np.add.reduceat(np.left_shift(1, slots & 7), starts).astype(np.uint8)
    return bits
