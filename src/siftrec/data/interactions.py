"""The ``Interactions`` type: a user × item implicit-feedback log with aligned side columns.

One row per interaction (user index, item index, weight) plus optional per-interaction columns
(timestamp, rating, dwell_time, feedback, session, is_noise, ...), and the raw-id maps shared by
every split of the same data set. The CSR matrix view is built on demand.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import scipy.sparse as sp

from siftrec.data.ids import IdMap, normalize_ids
from siftrec.errors import SiftrecError

#: Side columns with a known meaning. Any other name is carried along unchanged.
KNOWN_COLUMNS = ("timestamp", "rating", "dwell_time", "feedback", "session", "is_noise")
#: Weights hashed at a time by :meth:`Interactions.fingerprint` when they are uniform.
_HASH_BLOCK = 1 << 20


def uniform_weights(n: int, value: float = 1.0) -> np.ndarray:
    """``n`` float32 weights all equal to ``value`` that take no memory: a read-only zero-stride
    view of one number, which numpy, scipy and polars read like any array (a log without a
    weight column holds its ones this way)."""
    return np.broadcast_to(np.float32(value), (n,))


@dataclass(frozen=True, eq=False)
class Interactions:
    """An implicit-feedback log.

    Attributes:
        users: int32 user index per interaction (row order = input order).
        items: int32 item index per interaction.
        weights: float32 value per interaction (1 for plain implicit feedback). Equal weights
            are kept as :func:`uniform_weights` (read-only, no memory): see ``uniform_weight``.
        user_map, item_map: raw id ↔ index maps; shared across splits of one data set.
        columns: extra per-interaction arrays aligned with ``users``.
    """

    users: np.ndarray
    items: np.ndarray
    weights: np.ndarray
    user_map: IdMap
    item_map: IdMap
    columns: Mapping[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        users = np.ascontiguousarray(self.users, dtype=np.int32)
        items = np.ascontiguousarray(self.items, dtype=np.int32)
        weights = _weights(self.weights)
        n = len(users)
        if len(items) != n or len(weights) != n:
            raise SiftrecError("users, items and weights must have the same length")
        if n and (users.min() < 0 or users.max() >= len(self.user_map)):
            raise SiftrecError("user index out of range of the user id map")
        if n and (items.min() < 0 or items.max() >= len(self.item_map)):
            raise SiftrecError("item index out of range of the item id map")
        columns = {}
        for name, values in self.columns.items():
            values = np.asarray(values)
            if len(values) != n:
                raise SiftrecError(f"column {name!r} has {len(values)} values for {n} interactions")
            columns[name] = values
        object.__setattr__(self, "users", users)
        object.__setattr__(self, "items", items)
        object.__setattr__(self, "weights", weights)
        object.__setattr__(self, "columns", columns)

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_raw(
        cls,
        users: np.ndarray | list,
        items: np.ndarray | list,
        weights: np.ndarray | list | None = None,
        columns: Mapping[str, np.ndarray] | None = None,
        user_map: IdMap | None = None,
        item_map: IdMap | None = None,
    ) -> Interactions:
        """Build from raw ids. With maps given, ids unknown to them extend the maps.

        Use :meth:`remap` afterwards to drop ids unknown to a training set instead.
        """
        users = normalize_ids(users, "user")
        items = normalize_ids(items, "item")
        if len(users) != len(items):
            raise SiftrecError("user and item columns have different lengths")
        if user_map is None:
            user_map, u_idx = IdMap.from_raw(users)
        else:
            user_map = user_map.extend(users)
            u_idx = user_map._lookup(users)
        if item_map is None:
            item_map, i_idx = IdMap.from_raw(items)
        else:
            item_map = item_map.extend(items)
            i_idx = item_map._lookup(items)
        if weights is None:
            w = uniform_weights(len(users))
        else:
            w = np.asarray(weights)
            if w.dtype.kind not in "iufb":
                raise SiftrecError(f"weight column is not numeric (dtype {w.dtype})")
            w = w.astype(np.float32)
        return cls(u_idx, i_idx, w, user_map, item_map, dict(columns or {}))

    @classmethod
    def from_csr(
        cls,
        matrix: sp.spmatrix | sp.sparray,
        user_map: IdMap | None = None,
        item_map: IdMap | None = None,
    ) -> Interactions:
        """Build from a user × item sparse matrix; explicit zeros are dropped."""
        if not sp.issparse(matrix):
            raise SiftrecError("expected a scipy sparse matrix")
        coo = sp.coo_matrix(matrix)
        coo.sum_duplicates()
        keep = coo.data != 0
        n_users, n_items = coo.shape
        user_map = user_map or IdMap(np.arange(n_users, dtype=np.int64))
        item_map = item_map or IdMap(np.arange(n_items, dtype=np.int64))
        if len(user_map) != n_users or len(item_map) != n_items:
            raise SiftrecError("id maps do not match the matrix shape")
        order = np.lexsort((coo.col[keep], coo.row[keep]))
        return cls(
            coo.row[keep][order], coo.col[keep][order], coo.data[keep][order], user_map, item_map
        )

    # ------------------------------------------------------------------ basic views
    def __len__(self) -> int:
        return len(self.users)

    @property
    def n_users(self) -> int:
        return len(self.user_map)

    @property
    def n_items(self) -> int:
        return len(self.item_map)

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n_users, self.n_items)

    @property
    def uniform_weight(self) -> float | None:
        """The weight of every interaction when all are equal (stored without memory, see
        :func:`uniform_weights`), else None; None for an empty log."""
        if len(self.weights) and self.weights.strides == (0,):
            return float(self.weights[0])
        return None

    @property
    def density(self) -> float:
        return len(self) / max(1, self.n_users * self.n_items)

    @cached_property
    def matrix(self) -> sp.csr_matrix:
        """User × item CSR (float32); duplicate (user, item) rows are summed."""
        m = sp.csr_matrix(
            (self.weights, (self.users, self.items)), shape=self.shape, dtype=np.float32
        )
        m.sum_duplicates()
        m.sort_indices()
        return m

    @cached_property
    def binary(self) -> sp.csr_matrix:
        """User × item CSR with a 1 for every observed pair (the 'seen' mask)."""
        m = self.matrix.copy()
        m.data[:] = 1.0
        return m

    def user_counts(self) -> np.ndarray:
        """Interactions per user index (length ``n_users``)."""
        return np.bincount(self.users, minlength=self.n_users)

    def item_counts(self) -> np.ndarray:
        """Interactions per item index (length ``n_items``)."""
        return np.bincount(self.items, minlength=self.n_items)

    def column(self, name: str) -> np.ndarray:
        """A side column by name, with a clear error when absent."""
        if name not in self.columns:
            have = ", ".join(sorted(self.columns)) or "none"
            raise SiftrecError(f"interactions have no {name!r} column (available: {have})")
        return self.columns[name]

    def has_column(self, name: str) -> bool:
        return name in self.columns

    # ------------------------------------------------------------------ derived logs
    def subset(self, mask_or_index: np.ndarray) -> Interactions:
        """Rows selected by a boolean mask or an index array; id maps are kept."""
        sel = np.asarray(mask_or_index)
        users = self.users[sel]
        return Interactions(
            users,
            self.items[sel],
            self._weights_of(sel, len(users)),
            self.user_map,
            self.item_map,
            {k: v[sel] for k, v in self.columns.items()},
        )

    def with_columns(self, **columns: np.ndarray) -> Interactions:
        """A copy with side columns added or replaced."""
        merged = dict(self.columns)
        merged.update(columns)
        return Interactions(
            self.users, self.items, self.weights, self.user_map, self.item_map, merged
        )

    def with_weights(self, weights: np.ndarray) -> Interactions:
        """A copy with new per-interaction weights."""
        return Interactions(
            self.users, self.items, weights, self.user_map, self.item_map, self.columns
        )

    def remap(self, user_map: IdMap, item_map: IdMap) -> tuple[Interactions, int]:
        """Re-index onto other id maps, dropping rows whose user or item is unknown there.

        Returns the re-indexed log and the number of dropped rows.
        """
        u = user_map._lookup(self.user_map.ids[self.users])
        i = item_map._lookup(self.item_map.ids[self.items])
        keep = (u >= 0) & (i >= 0)
        users = u[keep]
        out = Interactions(
            users,
            i[keep],
            self._weights_of(keep, len(users)),
            user_map,
            item_map,
            {k: v[keep] for k, v in self.columns.items()},
        )
        return out, int((~keep).sum())

    def _weights_of(self, sel: np.ndarray, n: int) -> np.ndarray:
        """The weights of the ``n`` rows ``sel`` selects (uniform ones stay memory-free)."""
        value = self.uniform_weight
        return self.weights[sel] if value is None else uniform_weights(n, value)

    def raw_users(self) -> np.ndarray:
        return self.user_map.ids[self.users]

    def raw_items(self) -> np.ndarray:
        return self.item_map.ids[self.items]

    def to_polars(self):  # -> polars.DataFrame (import kept lazy: polars is heavy to import)
        """A DataFrame with raw ``user``, ``item`` ids, ``weight`` and the side columns."""
        import polars as pl

        data = {"user": self.raw_users(), "item": self.raw_items(), "weight": self.weights}
        data.update(self.columns)
        return pl.DataFrame(data)

    def fingerprint(self) -> str:
        """SHA-256 over raw ids and weights: identifies the training data in ``model.json``."""
        h = hashlib.sha256()
        for arr in (self.raw_users(), self.raw_items()):
            if arr.dtype.kind == "U":
                try:
                    arr = arr.astype(np.bytes_)  # fast path: ASCII ids
                except UnicodeEncodeError:
                    arr = np.char.encode(arr, "utf-8")
            h.update(arr.tobytes())
        value = self.uniform_weight
        if value is None:
            h.update(self.weights.tobytes())
        else:  # the same bytes as the materialised weights, a block at a time
            block = np.full(min(len(self), _HASH_BLOCK), value, dtype=np.float32).tobytes()
            full, rest = divmod(len(self), _HASH_BLOCK)
            for _ in range(full):
                h.update(block)
            h.update(block[: rest * 4])
        return h.hexdigest()

    def __repr__(self) -> str:
        cols = ", ".join(self.columns) or "-"
        return (
            f"Interactions({len(self):,} interactions, {self.n_users:,} users × "
            f"{self.n_items:,} items, density {self.density:.4%}, columns: {cols})"
        )


def _weights(values: np.ndarray | list) -> np.ndarray:
    """float32 weights, finite; equal weights as :func:`uniform_weights` (any copy dropped)."""
    weights = np.asarray(values)
    if weights.ndim == 1 and len(weights) and weights.strides == (0,):  # uniform already
        value = np.float32(weights[0])
        if not np.isfinite(value):
            raise SiftrecError(f"weights contain {len(weights)} NaN/inf values")
        return uniform_weights(len(weights), value)
    weights = np.ascontiguousarray(weights, dtype=np.float32)
    if weights.ndim != 1:
        raise SiftrecError(f"weights must be one-dimensional, got shape {weights.shape}")
    if not len(weights):
        return weights
    lo, hi = weights.min(), weights.max()  # NaN propagates through both
    if not (np.isfinite(lo) and np.isfinite(hi)):
        raise SiftrecError(f"weights contain {int((~np.isfinite(weights)).sum())} NaN/inf values")
    # (zeros are left alone: 0.0 and -0.0 compare equal but hash apart in the fingerprint)
    return uniform_weights(len(weights), lo) if lo == hi != 0 else weights
