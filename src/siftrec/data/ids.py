"""Raw-id ↔ index maps for users and items (ids may be integers or strings).

Missing ids are defined once, here: a null, a float NaN, or a text cell that is empty or one of
:data:`MISSING_ID_SPELLINGS` (after stripping whitespace, any letter case). Every reader and every
lookup of raw ids refuses them with :func:`check_missing_ids`, so ``NA`` is never read as an id by
one path and as missing by another. Ids that merely contain these letters (``NAB``, ``nancy``) are
ordinary ids.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from siftrec.errors import SiftrecError

#: Text cells that mean "no id" (compared after stripping whitespace, case-insensitively).
MISSING_ID_SPELLINGS: tuple[str, ...] = ("", "na", "n/a", "nan", "null", "none", "nil")


def missing_ids(values: Any) -> np.ndarray:
    """Boolean mask of the missing ids in ``values`` (a numpy array, list or polars Series).

    Missing: null/None, float NaN, or text in :data:`MISSING_ID_SPELLINGS` once stripped and
    lower-cased. Integer and boolean values are never missing.
    """
    if type(values).__module__.startswith("polars"):
        return _missing_in_series(values)
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        return np.zeros(arr.shape, dtype=bool)
    if arr.dtype.kind == "f":
        return np.isnan(arr)
    if arr.dtype.kind in "US":
        return _missing_text(arr.astype(str, copy=False).reshape(-1)).reshape(arr.shape)
    flat = arr.reshape(-1)
    mask = np.fromiter((_missing_object(v) for v in flat), dtype=bool, count=len(flat))
    return mask.reshape(arr.shape)


_SPELLING_WIDTH = max(map(len, MISSING_ID_SPELLINGS))


def _ascii_keys(codes: np.ndarray) -> np.ndarray:
    """One integer per row of code points (7 bits each; ASCII only, so no collisions)."""
    keys = np.zeros(len(codes), dtype=np.int64)
    for column in range(codes.shape[1]):
        keys = (keys << 7) | codes[:, column].astype(np.int64)
    return keys


_SPELLING_KEYS = _ascii_keys(
    np.array([[ord(c) for c in s.ljust(_SPELLING_WIDTH, "\0")] for s in MISSING_ID_SPELLINGS])
)


def _missing_text(text: np.ndarray) -> np.ndarray:
    """:func:`missing_ids` for a 1-D str array, vectorised over code points.

    Lower-casing and stripping every id (``np.char``) costs seconds per million, so the first
    five code points of each id are compared instead: only ASCII letters spell a missing id, so
    folding A-Z to a-z there is exact. Only ids with a character other than printable ASCII at
    either end (possible whitespace) are stripped first.
    """
    if text.dtype.itemsize == 0 or len(text) == 0:  # no ids, or every id is empty
        return np.ones(len(text), dtype=bool)
    codes = _head_codes(text)
    lengths = np.char.str_len(text)
    last = text.view(np.uint32).reshape(len(text), -1)[
        np.arange(len(text)), np.maximum(lengths - 1, 0)
    ]
    edged = np.zeros(len(text), dtype=bool)
    for end in (codes[:, 0], last):
        edged |= (end - 33) > 126 - 33  # outside printable ASCII (unsigned wrap-around)
    if edged.any():
        codes[edged] = _head_codes(np.char.strip(text[edged]))
    codes += ((codes - ord("A")) < 26).astype(np.uint32) * (ord("a") - ord("A"))  # A-Z → a-z
    plain = (codes < 128).all(axis=1) & (codes[:, _SPELLING_WIDTH] == 0)
    return plain & np.isin(_ascii_keys(codes[:, :_SPELLING_WIDTH]), _SPELLING_KEYS)


def _head_codes(text: np.ndarray) -> np.ndarray:
    """The first ``_SPELLING_WIDTH + 1`` code points of each string (0 past its end)."""
    codes = np.zeros((len(text), _SPELLING_WIDTH + 1), dtype=np.uint32)
    if text.dtype.itemsize:
        points = np.ascontiguousarray(text).view(np.uint32).reshape(len(text), -1)
        width = min(codes.shape[1], points.shape[1])
        codes[:, :width] = points[:, :width]
    return codes


def _missing_object(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, float | np.floating):
        return bool(np.isnan(value))
    if isinstance(value, str | np.str_):
        return value.strip().lower() in MISSING_ID_SPELLINGS
    return False


def _missing_in_series(series: Any) -> np.ndarray:
    # lazy: polars is slow to import; a polars Series was passed, so it is loaded already
    import polars as pl

    if series.dtype.is_integer() or series.dtype == pl.Boolean:
        mask = series.is_null()
    elif series.dtype.is_float():
        mask = series.is_null() | series.is_nan()
    else:
        text = series.cast(pl.String).str.strip_chars().str.to_lowercase()
        mask = series.is_null() | text.is_in(MISSING_ID_SPELLINGS)
    return mask.fill_null(True).to_numpy()


def show_cell(value: object) -> str:
    """A cell value for an error message: ``'NA'``, ``empty``, ``null`` or ``NaN``."""
    if value is None:
        return "null"
    if isinstance(value, float | np.floating) and np.isnan(value):
        return "NaN"
    if isinstance(value, str | np.str_):
        return repr(str(value)) if str(value).strip() else "empty"
    return repr(value.item() if isinstance(value, np.generic) else value)


def check_missing_ids(
    values: Any,
    what: str = "",
    source: str | None = None,
    column: str | None = None,
    rows: np.ndarray | None = None,
) -> None:
    """Refuse ``values`` if any id is missing (see :func:`missing_ids`).

    The one-line error names the source (a file name), the column, the count and the first row
    (counted from 1, a header line not counted), e.g. ``ratings.csv: 3 rows have a missing user
    id in column 'user' (first at row 17: 'NA'); drop them or fill them``. ``rows`` gives each
    value's row number when values and rows are not one-to-one (several ids per line).
    """
    refuse_missing(values, f"{what} id" if what else "id", source, column, rows)


def refuse_missing(
    values: Any,
    noun: str,
    source: str | None = None,
    column: str | None = None,
    rows: np.ndarray | None = None,
) -> None:
    """Refuse ``values`` if any is missing by :func:`missing_ids`'s rule, naming it ``noun``.

    Shared by ids and by numeric columns (``weight``, ``rating``), so every missing cell of an
    input is reported the same way (see :func:`check_missing_ids`).
    """
    mask = missing_ids(values)
    if not mask.any():
        return
    count = int(mask.sum())
    first = int(np.argmax(mask))
    is_series = type(values).__module__.startswith("polars")
    cell = values[first] if is_series else np.asarray(values).reshape(-1)[first]
    row = first + 1 if rows is None else int(np.asarray(rows)[first])
    have = "1 row has" if count == 1 else f"{count:,} rows have"
    where = f" in column {column!r}" if column else ""
    prefix = f"{source}: " if source else ""
    raise SiftrecError(
        f"{prefix}{have} a missing {noun}{where} (first at row {row}: "
        f"{show_cell(cell)}); drop them or fill them"
    )


def normalize_ids(raw: np.ndarray | list, what: str = "id") -> np.ndarray:
    """Return ``raw`` as an int64 array if every id is integral, else as a str array.

    Refuses missing ids (:func:`check_missing_ids`) with a one-line error naming ``what``.
    """
    arr = np.asarray(raw).reshape(-1)
    check_missing_ids(arr, what)
    return _id_array(arr, what)


def _id_array(arr: np.ndarray, what: str) -> np.ndarray:
    """A flat array of ids as int64 when every id is integral, else as str (no missing check).

    :class:`IdMap` builds its ids with this alone, so a saved map loads whatever ids it holds.
    """
    if arr.dtype == object and len(arr):
        arr = np.asarray(arr.tolist())  # Python ints stay integers instead of becoming "1"
    if arr.dtype.kind == "u" and len(arr) and arr.max() > np.iinfo(np.int64).max:
        raise SiftrecError(f"{what} column has ids beyond the int64 range")
    if arr.dtype.kind in "iu":
        return arr.astype(np.int64, copy=False)
    if arr.dtype.kind == "b":
        raise SiftrecError(f"{what} column holds booleans, expected integer or string ids")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)):
            raise SiftrecError(f"{what} column has {int((~np.isfinite(arr)).sum())} non-finite ids")
        if np.all(arr == np.round(arr)):
            return arr.astype(np.int64)
        raise SiftrecError(
            f"{what} column has non-integer numeric ids (e.g. {arr[arr != np.round(arr)][0]})"
        )
    return arr.astype(str)


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
        ids = _id_array(np.asarray(self.ids).reshape(-1), "id")
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

    def to_index(self, raw: np.ndarray | list, missing: int = -1, what: str = "") -> np.ndarray:
        """Map raw ids to indices; ids not in the map become ``missing``.

        Missing ids (``NA``, empty, NaN, ...: :func:`missing_ids`) are refused, not looked up:
        they are gaps in the input, not unknown users or items. ``what`` names them in the error.
        """
        raw = np.asarray(raw)
        check_missing_ids(raw, what)
        return self._lookup(raw, missing)

    def _lookup(self, raw: np.ndarray, missing: int = -1) -> np.ndarray:
        """:meth:`to_index` without the missing-id check (for ids taken from a map)."""
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
        new = raw[self._lookup(raw) < 0]
        if len(new) == 0:
            return self
        extra, _ = IdMap.from_raw(new)
        ids = extra.ids if len(self.ids) == 0 else np.concatenate([self.ids, extra.ids])
        return IdMap(ids)
