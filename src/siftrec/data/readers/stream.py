"""Read large csv/tsv/Parquet logs batch by batch, without a full-size text frame in memory.

:func:`stream_table` is what :func:`~siftrec.data.readers.read_interactions` tries first for
csv, tsv and Parquet files. Parquet is read through polars' lazy scan (``scan_parquet``,
``collect_batches``); csv/tsv text, plain or gzip (decompressed as a stream), is cut into
line-aligned blocks of :data:`TEXT_BLOCK` bytes that polars parses one at a time. Each batch's
columns go through the same conversions as the whole-frame path (:mod:`.columns`); its ids are
indexed at once on id maps grown batch by batch (first-seen order, as :meth:`IdMap.from_raw`)
and written into the final int32 arrays (float32 for weights; a log without a weight column
keeps none, see :func:`~siftrec.data.interactions.uniform_weights`): peak memory is the final
log plus one batch, instead of the whole file as text plus int64 ids.

The result equals the whole-frame path's. Whenever it could differ — a column whose type differs
between batches (say ids that are integers in one batch and text in another), a multi-character
separator, an id map of another id type — or when anything is wrong with the file, it returns
None and the caller reads the file the whole-frame way, which decides types over the whole
column and raises its usual one-line errors.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siftrec.data.ids import IdMap
from siftrec.data.interactions import Interactions, uniform_weights
from siftrec.data.readers.columns import (
    ITEM_ALIASES,
    SIDE_ALIASES,
    USER_ALIASES,
    WEIGHT_ALIASES,
    find_column,
)
from siftrec.data.readers.columns import _ids as id_values
from siftrec.data.readers.columns import _numeric as numeric_values
from siftrec.data.readers.columns import _side_values as side_values
from siftrec.data.readers.files import is_gzip
from siftrec.data.readers.text import table_separator
from siftrec.errors import SiftrecError

#: Formats read batch by batch (the others are small or need the whole file at once).
STREAMED_FORMATS = ("csv", "tsv", "parquet")
#: Rows per Parquet batch: large enough that per-batch costs (growing the id maps) stay small,
#: small enough that a batch's decoding and conversions are a small fraction of the log.
BATCH_ROWS = 1 << 18
#: Bytes of csv/tsv text parsed at a time. Polars' own lazy csv scan memory-maps the whole file,
#: whose pages then count in the RSS, and its parse of a block and the conversions of its columns
#: take several times the block: small blocks keep both bounded (docs/benchmarks.md, "20M
#: interactions on one machine": 8 MiB blocks took 75 MiB more than 2 MiB ones, no faster).
TEXT_BLOCK = 1 << 21


class _Fallback(Exception):
    """The batch-wise result could differ from the whole-frame one: read the whole frame."""


def stream_table(
    path: Path,
    fmt: str,
    sep: str | None,
    header: bool | None,
    columns: Sequence[str] | None,
    user_col: str,
    item_col: str,
    weight_col: str | None,
    user_map: IdMap | None,
    item_map: IdMap | None,
) -> Interactions | None:
    """The log of a csv/tsv/Parquet file read batch by batch; None when the whole-frame path
    must read it (see the module docstring)."""
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    try:
        batches = _batches(path, fmt, sep, header, columns)
        first = next(batches, None)
        if first is None:
            return None
        names = _resolve(first.columns, user_col, item_col, weight_col)
        capacity = _row_bound(path, fmt, header, columns, first.width)
        builder = _Builder(path.name, names, user_map, item_map, capacity)
        builder.add(first)
        del first
        for batch in batches:
            builder.add(batch)
        return builder.build()
    except (_Fallback, SiftrecError, pl.exceptions.PolarsError, OSError, EOFError, zlib.error):
        return None


# ---------------------------------------------------------------------------- batches
def _batches(
    path: Path, fmt: str, sep: str | None, header: bool | None, columns: Sequence[str] | None
) -> Iterator[Any]:
    """The file's rows as polars DataFrames (Parquet: :data:`BATCH_ROWS` rows, types as stored;
    csv/tsv: a :data:`TEXT_BLOCK` of text, all columns text, named as
    :func:`~siftrec.data.readers.text.read_table` names them)."""
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    gzipped = is_gzip(path)
    if path.name.lower().endswith(".gz") and not gzipped:
        raise _Fallback  # the whole-frame path names the problem
    if fmt == "parquet":
        if gzipped:
            raise _Fallback
        yield from pl.scan_parquet(path).collect_batches(chunk_size=BATCH_ROWS)
        return
    sep = table_separator(path, fmt, sep)
    if len(sep.encode()) > 1:
        raise _Fallback
    has_header = columns is None if header is None else header
    if columns is not None and len(set(columns)) != len(columns):
        raise _Fallback
    names = list(columns) if columns is not None else None
    for n, block in enumerate(_text_blocks(path, gzipped)):
        frame = pl.read_csv(
            block,
            separator=sep,
            has_header=has_header and n == 0,
            infer_schema=False,
            raise_if_empty=False,
        )
        if names is None:
            names = frame.columns
        if frame.height == 0:  # blank lines only
            continue
        if frame.width != len(names):
            raise _Fallback
        yield frame.rename(dict(zip(frame.columns, names, strict=True)))


def _row_bound(
    path: Path, fmt: str, header: bool | None, columns: Sequence[str] | None, width: int
) -> int:
    """At least the number of rows, as far as cheap to know ahead: Parquet metadata, the lines
    of a plain csv/tsv (a blank line or a quoted line break counts a row too many), and for
    gzip the decompressed size its trailer records over the shortest row of ``width`` columns
    (one character each, separated, a line end). The arrays are cut to size at the end without
    a copy, and memory never written takes none; a gzip file that records a wrong size (several
    members, or 4 GiB or more) grows the arrays."""
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    if fmt == "parquet":
        return int(pl.scan_parquet(path).select(pl.len()).collect().item())
    if is_gzip(path):
        with open(path, "rb") as stream:
            stream.seek(-4, 2)
            size = int.from_bytes(stream.read(4), "little")  # ISIZE: bytes modulo 2**32
        return size // (2 * width) + 1
    lines, last = 0, b"\n"
    with open(path, "rb") as stream:
        while block := stream.read(TEXT_BLOCK):
            lines, last = lines + block.count(b"\n"), block[-1:]
    has_header = columns is None if header is None else header
    return lines + (last != b"\n") - bool(has_header)


def _text_blocks(path: Path, gzipped: bool) -> Iterator[bytes]:
    """The (decompressed) text of a file in blocks of about :data:`TEXT_BLOCK` bytes, each
    ending at a line end (a quoted field spanning lines makes polars fail: then the whole-frame
    path reads the file)."""
    with gzip.open(path, "rb") if gzipped else open(path, "rb") as stream:
        rest = b""
        while chunk := stream.read(TEXT_BLOCK):
            chunk = rest + chunk
            cut = chunk.rfind(b"\n") + 1
            if cut == 0:
                rest = chunk
                continue
            rest = chunk[cut:]
            yield chunk[:cut]
        if rest:
            yield rest


# ---------------------------------------------------------------------------- columns
def _resolve(
    names: list[str], user_col: str, item_col: str, weight_col: str | None
) -> dict[str, str | None]:
    """``{"user": .., "item": .., "weight": ..}`` and each side column by its canonical name,
    as :func:`~siftrec.data.readers.columns.frame_to_interactions` resolves them."""
    user = find_column(names, user_col if user_col != "user" else USER_ALIASES)
    item = find_column(names, item_col if item_col != "item" else ITEM_ALIASES)
    if user is None or item is None or user == item:
        raise _Fallback
    rest = [name for name in names if name not in (user, item)]
    weight = find_column(rest, weight_col if weight_col is not None else WEIGHT_ALIASES)
    if weight is None and weight_col is not None:
        raise _Fallback
    if weight is not None:
        rest.remove(weight)
    resolved: dict[str, str | None] = {"user": user, "item": item, "weight": weight}
    sides: dict[str, str] = {}
    for name in rest:
        canonical = next(
            (k for k, aliases in SIDE_ALIASES.items() if name.lower() in aliases), name
        )
        if canonical in sides or (canonical != name and canonical in rest):
            canonical = name
        sides[canonical] = name
    if "level" in sides:  # ordinal levels merge rows per pair: the whole-frame path does that
        raise _Fallback
    return {**resolved, **{f"side:{key}": name for key, name in sides.items()}}


#: Integer ids spanning at most this many values per id (or :data:`DENSE_FLOOR` values) are
#: looked up in a table over their range: a gather instead of a binary search per row.
DENSE_SPAN = 8
DENSE_FLOOR = 1 << 20

#: The columns whose type is known before reading: int32 indices and float32 weights.
_FIXED = {"user": np.int32, "item": np.int32, "weight": np.float32}


class _Builder:
    """Accumulates batches: indexed ids (int32), float32 weights and side-column chunks.

    The fixed-type columns are written into their final arrays as batches come (``capacity``
    rows, cut to size at the end); side columns, whose type the data decide, are kept as chunks
    and joined at the end, one column at a time.
    """

    def __init__(
        self,
        source: str,
        names: dict[str, str | None],
        user_map: IdMap | None,
        item_map: IdMap | None,
        capacity: int,
    ) -> None:
        self.source = source
        self.names = names
        self.maps: dict[str, IdMap | None] = {"user": user_map, "item": item_map}
        self.filled = 0
        self.arrays = {
            key: np.empty(capacity, dtype=dtype)
            for key, dtype in _FIXED.items()
            if names[key] is not None
        }
        self.tables: dict[str, tuple[IdMap, int, np.ndarray | None]] = {}
        self.chunks: dict[str, list[np.ndarray]] = {
            key: [] for key, name in names.items() if name is not None and key not in self.arrays
        }

    def add(self, batch: Any) -> None:
        """Convert one batch's columns and index its ids."""
        lo, hi = self.filled, self.filled + batch.height
        if hi > len(self.arrays["user"]):
            self._grow(hi)
        for key, name in self.names.items():
            if name is None:
                continue
            series = batch[name]
            if key in ("user", "item"):
                values = self._index(key, id_values(series, self.source, key))
            elif key == "weight":
                values = numeric_values(series, self.source, "weight").astype(np.float32)
            else:
                values = side_values(series, self.source, key.removeprefix("side:"))
            if key in self.arrays:
                self.arrays[key][lo:hi] = values
                continue
            chunks = self.chunks[key]
            if chunks and not _same_type(chunks[0], values):
                raise _Fallback
            chunks.append(values)
        self.filled = hi

    def _grow(self, rows: int) -> None:
        """Room for at least ``rows`` rows (more rows than the bound: see :func:`_row_bound`)."""
        capacity = max(rows, 2 * len(self.arrays["user"]))
        for key, values in self.arrays.items():
            grown = np.empty(capacity, dtype=values.dtype)
            grown[: self.filled] = values[: self.filled]
            self.arrays[key] = grown

    def _index(self, what: str, raw: np.ndarray) -> np.ndarray:
        """Indices of ``raw`` on the growing ``what`` map (new ids appended in first-seen
        order, as :meth:`IdMap.extend`), as int32."""
        known = self.maps[what]
        if known is None or len(known) == 0:
            self.maps[what], index = IdMap.from_raw(raw)
            return index
        if raw.dtype.kind != known.ids.dtype.kind:
            raise _Fallback  # IdMap.extend converts between id types; leave that to it
        index = self._lookup(what, known, raw)
        new = index < 0
        if new.any():
            extra, extra_index = IdMap.from_raw(raw[new])
            index[new] = len(known) + extra_index
            self.maps[what] = IdMap(np.concatenate([known.ids, extra.ids]))
        return index.astype(np.int32)

    def _lookup(self, what: str, known: IdMap, raw: np.ndarray) -> np.ndarray:
        """``known._lookup(raw)`` (int64, −1 for an unknown id); integer ids through a table
        over their range where it is dense enough (:data:`DENSE_SPAN`), built once per map."""
        cached = self.tables.get(what)
        if cached is None or cached[0] is not known:
            cached = (known, *_range_table(known.ids))
            self.tables[what] = cached
        _, lo, table = cached
        if table is None or raw.dtype.kind != "i":
            return known._lookup(raw)
        inside = (raw >= lo) & (raw < lo + len(table))
        index = np.full(len(raw), -1, dtype=np.int64)
        index[inside] = table[raw[inside] - lo]
        return index

    def build(self) -> Interactions:
        """The log: each column's chunks joined one column at a time."""
        if self.filled == 0:
            raise _Fallback  # no rows: the whole-frame path says so
        for values in self.arrays.values():  # only this builder refers to them
            values.resize(self.filled, refcheck=False)  # in place: the tail goes back unused
        joined = {**self.arrays, **{key: self._join(key) for key in list(self.chunks)}}
        self.arrays = {}
        users, items = joined.pop("user"), joined.pop("item")
        weights = joined.pop("weight", None)
        if weights is None:  # no weight column: ones that take no memory
            weights = uniform_weights(len(users))
        columns = {key.removeprefix("side:"): values for key, values in joined.items()}
        user_map, item_map = self.maps["user"], self.maps["item"]
        assert user_map is not None and item_map is not None
        return Interactions(users, items, weights, user_map, item_map, columns)

    def _join(self, key: str) -> np.ndarray:
        chunks = self.chunks.pop(key)
        if len(chunks) == 1:
            return chunks[0]
        joined = np.concatenate(chunks)
        chunks.clear()
        return joined


def _range_table(ids: np.ndarray) -> tuple[int, np.ndarray | None]:
    """``(lo, table)`` with ``table[id - lo]`` the index of each integer id and −1 elsewhere;
    ``(0, None)`` for text ids or ids too sparse over their range."""
    if ids.dtype.kind != "i":
        return 0, None
    lo, hi = int(ids.min()), int(ids.max())
    if hi - lo >= max(DENSE_SPAN * len(ids), DENSE_FLOOR):
        return 0, None
    table = np.full(hi - lo + 1, -1, dtype=np.int32)
    table[ids - lo] = np.arange(len(ids), dtype=np.int32)
    return lo, table


def _same_type(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two chunks of a column join into what the whole column converts to: the same
    type (text widths may differ), or int64 and float64 numbers, which the whole column reads
    as float64 and joining promotes alike."""
    if a.dtype.kind == b.dtype.kind == "U" or a.dtype == b.dtype:
        return True
    return {a.dtype, b.dtype} == {np.dtype(np.int64), np.dtype(np.float64)}
