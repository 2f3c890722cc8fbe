"""Raw-id ↔ index maps for users and items (ids may be integers or strings)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from siftrec.errors import SiftrecError


def normalize_ids(raw: np.ndarray | list, what: str = "id") -> np.ndarray:
    """Return ``raw`` as an int64 array if every id is integral, else as a str array.

    Rejects missing (None/NaN/empty) ids with a one-line error naming ``what``.
    """
    arr = np.asarray(raw)
    if arr.ndim != 1:
        arr = arr.reshape(-1)
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "b":
        raise SiftrecError(f"{what} column holds booleans, expected integer or string ids")
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr)
        if bad.any():
            raise SiftrecError(f"{what} column has {int(bad.sum())} missing (NaN) values")
        if np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        raise SiftrecError(
            f"{what} column has non-integer numeric ids (e.g. {arr[arr != np.round(arr)][0]})"
        )
    # strings / objects
    strs = arr.astype(str)
    empty = (strs == "") | (strs == "None") | (strs == "nan")
    if empty.any():
        raise SiftrecError(f"{what} column has {int(empty.sum())} missing or empty ids")
    return strs


@dataclass(frozen=True)
class IdMap:
    """Bijection between raw ids (int64 or str array, position = index) and dense indices."""

    ids: np.ndarray
    _sorter: np.ndarray = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        ids = normalize_ids(self.ids)
        object.__setattr__(self, "ids", ids)
        sorter = np.argsort(ids, kind="stable")
        if len(ids) > 1 and np.any(ids[sorter][1:] == ids[sorter][:-1]):
            raise SiftrecError("id map has duplicate ids")
        object.__setattr__(self, "_sorter", sorter)

    @classmethod
    def from_raw(cls, raw: np.ndarray) -> tuple[IdMap, np.ndarray]:
        """Build a map from the distinct values of ``raw`` (first-seen order) and index ``raw``."""
        raw = normalize_ids(raw)
        uniq, first, inverse = np.unique(raw, return_index=True, return_inverse=True)
        order = np.argsort(first, kind="stable")  # first-appearance order
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return cls(uniq[order]), rank[inverse].astype(np.int32)

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def is_integer(self) -> bool:
        return self.ids.dtype.kind == "i"

    def to_index(self, raw: np.ndarray | list, missing: int = -1) -> np.ndarray:
        """Map raw ids to indices; ids not in the map become ``missing``."""
        raw = np.asarray(raw)
        if len(self.ids) == 0:
            return np.full(len(raw), missing, dtype=np.int64)
        if self.is_integer:
            if raw.dtype.kind not in "iuf":
                try:
                    raw = raw.astype(np.int64)
                except ValueError:
                    return np.full(len(raw), missing, dtype=np.int64)
            raw = raw.astype(np.int64, copy=False)
        else:
            raw = raw.astype(str)
        sorted_ids = self.ids[self._sorter]
        pos = np.searchsorted(sorted_ids, raw)
        pos = np.clip(pos, 0, len(sorted_ids) - 1)
        found = sorted_ids[pos] == raw
        return np.where(found, self._sorter[pos], missing).astype(np.int64)

    def to_raw(self, index: np.ndarray) -> np.ndarray:
        """Map indices back to raw ids."""
        return self.ids[np.asarray(index)]

    def extend(self, raw: np.ndarray) -> IdMap:
        """Return a map with the ids of ``raw`` not yet known appended (first-seen order)."""
        raw = normalize_ids(raw)
        if len(self.ids) and raw.dtype.kind != self.ids.dtype.kind:
            raw = raw.astype(self.ids.dtype) if self.is_integer else raw.astype(str)
        new = raw[self.to_index(raw) < 0]
        if len(new) == 0:
            return self
        extra, _ = IdMap.from_raw(new)
        ids = extra.ids if len(self.ids) == 0 else np.concatenate([self.ids, extra.ids])
        return IdMap(ids)
