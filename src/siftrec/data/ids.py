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
    if arr.dtype == object and len(arr):
        arr = np.asarray(arr.tolist())  # Python ints stay integers instead of becoming "1"
    if arr.dtype.kind == "u" and len(arr) and arr.max() > np.iinfo(np.int64).max:
        raise SiftrecError(f"{what} column has ids beyond the int64 range")
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


def _parse_int_strings(raw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer values of decimal strings (``"7"``, ``"-3"``) and a mask of which ones parsed."""
    raw = raw.astype(str)
    unsigned = np.where(np.char.startswith(raw, "-"), np.char.replace(raw, "-", "", 1), raw)
    length = np.char.str_len(unsigned)
    ok = np.char.isdecimal(unsigned) & (length > 0) & (length <= 18)  # 18 digits fit int64
    values = np.zeros(len(raw), dtype=np.int64)
    values[ok] = raw[ok].astype(np.int64)
    return values, ok


@dataclass(frozen=True, eq=False)
class IdMap:
    """Bijection between raw ids (int64 or str array, position = index) and dense indices.

    Two maps are equal when they hold the same ids in the same order.
    """

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
        uniq, inverse = np.unique(raw, return_inverse=True)
        first = np.full(len(uniq), len(raw), dtype=np.int64)
        np.minimum.at(first, inverse, np.arange(len(raw)))  # faster than return_index's sort
        order = np.argsort(first)  # first-appearance order (first positions are distinct)
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        return cls(uniq[order]), rank[inverse].astype(np.int32)

    def __len__(self) -> int:
        return len(self.ids)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, IdMap):
            return NotImplemented
        return self.ids.dtype.kind == other.ids.dtype.kind and np.array_equal(self.ids, other.ids)

    def __hash__(self) -> int:
        return hash((self.ids.dtype.kind, len(self.ids), tuple(self.ids[:8].tolist())))

    @property
    def is_integer(self) -> bool:
        return self.ids.dtype.kind == "i"

    def to_index(self, raw: np.ndarray | list, missing: int = -1) -> np.ndarray:
        """Map raw ids to indices; ids not in the map become ``missing``."""
        raw = np.asarray(raw)
        if len(self.ids) == 0:
            return np.full(len(raw), missing, dtype=np.int64)
        valid = np.ones(len(raw), dtype=bool)
        if self.is_integer:
            if raw.dtype.kind == "f":
                valid = np.isfinite(raw) & (raw == np.round(raw))
                raw = np.where(valid, raw, 0).astype(np.int64)
            elif raw.dtype.kind not in "iu":
                raw, valid = _parse_int_strings(raw)
            raw = raw.astype(np.int64, copy=False)
        else:
            raw = raw.astype(str)
        sorted_ids = self.ids[self._sorter]
        pos = np.searchsorted(sorted_ids, raw)
        pos = np.clip(pos, 0, len(sorted_ids) - 1)
        found = (sorted_ids[pos] == raw) & valid
        return np.where(found, self._sorter[pos], missing).astype(np.int64)

    def to_raw(self, index: np.ndarray) -> np.ndarray:
        """Map indices back to raw ids."""
        return self.ids[np.asarray(index)]

    def extend(self, raw: np.ndarray) -> IdMap:
        """Return a map with the ids of ``raw`` not yet known appended (first-seen order)."""
        raw = normalize_ids(raw)
        if len(self.ids) and raw.dtype.kind != self.ids.dtype.kind:
            if self.is_integer:
                values, ok = _parse_int_strings(raw)
                if not ok.all():
                    raise SiftrecError(
                        f"id {str(raw[~ok][0])!r} is not an integer but the id map has integer ids"
                    )
                raw = values
            else:
                raw = raw.astype(str)
        new = raw[self.to_index(raw) < 0]
        if len(new) == 0:
            return self
        extra, _ = IdMap.from_raw(new)
        ids = extra.ids if len(self.ids) == 0 else np.concatenate([self.ids, extra.ids])
        return IdMap(ids)
