"""Text formats: CSV/TSV tables, MovieLens ratings, LightGCN adjacency lists, DenoisingRec
files and id lists (one id per line or a CSV column)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siftrec.data.ids import IdMap, check_missing_ids
from siftrec.data.interactions import Interactions
from siftrec.data.readers.columns import ITEM_ALIASES, USER_ALIASES, find_column
from siftrec.data.readers.files import (
    head_lines,
    polars_error,
    read_bytes,
    read_lines,
    require_file,
    source,
)
from siftrec.errors import SiftrecError

_SEP_NAMES = {"\\t": "\t", "tab": "\t", "space": " ", "\\s": " ", "comma": ",", "pipe": "|"}


# ---------------------------------------------------------------------------- csv / tsv
def table_separator(path: str | Path, format: str = "csv", sep: str | None = None) -> str:
    """The field separator of a csv/tsv file as the readers use it.

    An explicit ``sep`` (names such as ``tab``, ``space``, ``comma``, ``pipe`` allowed; several
    characters such as ``::`` too), else the format's default (``,`` / tab), else — when the
    default does not occur in the first line — the separator that splits the first lines evenly.
    """
    path = Path(path)
    if sep is not None:
        sep = _SEP_NAMES.get(sep.lower(), sep)
        if not sep or "\n" in sep or "\r" in sep:
            raise SiftrecError(f"invalid separator {sep!r}")
        return sep
    default = "," if format == "csv" else "\t"
    lines = head_lines(path, max_lines=20)
    if not lines or default in lines[0]:
        return default
    for candidate in ("::", "\t", ",", ";", "|", " "):
        counts = {line.count(candidate) for line in lines}
        if len(counts) == 1 and counts.pop() > 0:
            return candidate
    return default


def read_table(
    path: Path, fmt: str, sep: str | None, header: bool | None, columns: Sequence[str] | None
) -> Any:
    """A csv/tsv file as an all-text polars DataFrame, named by its header or ``columns``."""
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    sep = table_separator(path, fmt, sep)
    has_header = columns is None if header is None else header
    data: Path | bytes = source(path)
    if len(sep.encode()) > 1:  # polars takes single-byte separators only
        text = data if isinstance(data, bytes) else read_bytes(path)
        data, sep = text.replace(sep.encode(), b"\x1f"), "\x1f"
    try:
        frame = pl.read_csv(data, separator=sep, has_header=has_header, infer_schema=False)
    except pl.exceptions.NoDataError:
        raise SiftrecError(f"{path.name} is empty") from None
    except pl.exceptions.PolarsError as exc:
        raise polars_error(path, fmt, exc) from None
    if columns is not None:
        columns = list(columns)
        if len(columns) != frame.width:
            raise SiftrecError(
                f"{len(columns)} column names given ({', '.join(columns)}) but {path.name} has "
                f"{frame.width} columns (separator {sep!r})"
            )
        if len(set(columns)) != len(columns):
            raise SiftrecError(f"duplicate names in columns: {', '.join(columns)}")
        frame = frame.rename(dict(zip(frame.columns, columns, strict=True)))
    return frame


# ---------------------------------------------------------------------------- movielens
def read_movielens(path: Path) -> Any:
    """``user item rating timestamp`` with ``::`` (ratings.dat) or tab (u.data) separators."""
    lines = head_lines(path, max_lines=5)
    if not lines:
        raise SiftrecError(f"{path.name} is empty")
    sep = "::" if "::" in lines[0] else "\t"
    if len(lines[0].split(sep)) != 4:
        raise SiftrecError(
            f"{path.name} is not a MovieLens ratings file (expected 4 fields "
            f"'user item rating timestamp' separated by tab or '::', got {lines[0]!r})"
        )
    return read_table(path, "tsv", sep, False, ["user", "item", "rating", "timestamp"])


# ---------------------------------------------------------------------------- lightgcn
def _split_whitespace(lines: Any) -> Any:
    """Lines → list of tokens (runs of spaces/tabs are one separator)."""
    return lines.str.replace_all(r"\s+", " ").str.split(" ")


def read_lightgcn(
    path: Path, user_map: IdMap | None = None, item_map: IdMap | None = None
) -> Interactions:
    """LightGCN/NGCF adjacency lists: one line ``user item item ...`` per user (0-based ids).

    Users listed without items are kept in the user map (so its size matches the data set's
    user count) but contribute no interactions. Parsing is vectorised: split, explode, cast.
    """
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    tokens = _split_whitespace(read_lines(path))
    frame = pl.DataFrame({"user": tokens.list.first(), "item": tokens.list.slice(1)})
    check_missing_ids(frame["user"], "user", path.name)
    line_users = _integer_tokens(frame["user"], path, "user")
    pairs = frame.with_row_index("row", offset=1).explode("item").drop_nulls("item")
    if pairs.height == 0:
        raise SiftrecError(f"{path.name} contains no interactions")
    check_missing_ids(pairs["item"], "item", path.name, rows=pairs["row"].to_numpy())
    users = _integer_tokens(pairs["user"], path, "user")
    items = _integer_tokens(pairs["item"], path, "item")
    user_map = IdMap.from_raw(line_users)[0] if user_map is None else user_map.extend(line_users)
    return Interactions.from_raw(users, items, user_map=user_map, item_map=item_map)


def _integer_tokens(tokens: Any, path: Path, what: str) -> np.ndarray:
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    values = tokens.cast(pl.Int64, strict=False)
    bad = values.is_null() & tokens.is_not_null()
    if bad.any():
        example = tokens.filter(bad)[0]
        raise SiftrecError(f"{path.name}: {what} id {example!r} is not an integer")
    return values.to_numpy()


# ---------------------------------------------------------------------------- denoisingrec
def read_denoisingrec(path: Path, columns: Sequence[str] | None) -> Any:
    """DenoisingRec-style tab-separated, header-less ``*.rating``/``*.noisy``/``*.negative`` files.

    Variants, told apart by content:

    - ``user item flag`` (DenoisingRec / SGDL ``*.train.rating``, ``*.valid.rating``): the third
      column holds only 0/1; 1 = clean, 0 = noisy positive, read as ``is_noise = flag == 0``.
      SGDL's ``*.test.negative`` (all 1) reads the same way: clean test positives.
    - ``user item rating`` (DeCA ``*.train.rating``, ``*.valid.*``, ``*.test.*``): any other
      values are ratings (1-5), kept as the ``rating`` side column.
    - ``user item rating timestamp`` (NCF ``*.rating``): four fields.
    - ``*.negative`` with more than three fields, or whose first field is ``(user,item)``
      (NCF/DenoisingRec Adressa): one test positive per line followed by sampled negative items.
      The negatives are dropped: siftrec ranks all items, so they are not interactions.

    ``columns`` overrides the names of the kept fields (e.g. ``["user", "item", "rating"]`` when
    a rating file happens to hold only 0/1); a field named ``flag`` becomes ``is_noise``.
    Weights are always 1: every row is an observed (implicit) positive.
    """
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    lines = read_lines(path)
    negatives = path.name.lower().removesuffix(".gz").endswith(".negative")
    if lines[0].startswith("("):
        pair = lines.str.extract_groups(r"^\(\s*([^,\s()]+)\s*,\s*([^,\s()]+)\s*\)")
        frame = pl.DataFrame({"user": pair.struct.field("1"), "item": pair.struct.field("2")})
        if frame["user"].null_count():
            row = int(frame["user"].is_null().arg_true()[0]) + 1
            raise SiftrecError(f"{path.name}: line {row} is not '(user,item)\\tnegatives...'")
    else:
        tokens = _split_whitespace(lines)
        n_fields = tokens.list.len()
        lo, hi = int(n_fields.min()), int(n_fields.max())
        if lo < 2 or (not negatives and (lo != hi or hi > 4)):
            raise SiftrecError(
                f"{path.name}: expected 2 to 4 tab-separated fields on every line "
                f"('user item [flag|rating [timestamp]]'), found {lo} to {hi}"
            )
        keep = 2 if negatives and (hi > 3 or lo == 2) else hi
        frame = pl.DataFrame({f"f{k}": tokens.list.get(k) for k in range(keep)})
    names = list(columns) if columns is not None else _denoisingrec_names(frame)
    if len(names) != frame.width:
        raise SiftrecError(
            f"{len(names)} column names given ({', '.join(names)}) but {path.name} has "
            f"{frame.width} fields to keep"
        )
    frame = frame.rename(dict(zip(frame.columns, names, strict=True)))
    if "flag" in frame.columns:
        flag = frame["flag"]
        bad = ~flag.is_in(["0", "1"])
        if bad.any():
            raise SiftrecError(
                f"{path.name}: the flag column must be 0 (noisy) or 1 (clean), "
                f"found {flag.filter(bad)[0]!r}"
            )
        frame = frame.with_columns(is_noise=pl.col("flag") == "0").drop("flag")
    return frame


def _denoisingrec_names(frame: Any) -> list[str]:
    """Default field names: the third field is a clean flag when it holds only 0/1."""
    names = ["user", "item", "rating", "timestamp"][: frame.width]
    if frame.width == 3 and frame[frame.columns[2]].is_in(["0", "1"]).all():
        names[2] = "flag"
    return names


# ---------------------------------------------------------------------------- id lists
def read_id_list(path: str | Path, what: str = "user") -> np.ndarray:
    """Raw ids (as text) from a CSV whose header names a ``what`` column, or one id per line.

    The column is found like :func:`read_interactions` finds it (``user``, ``user_id``, ...).
    Blank lines are skipped; a missing id (``NA``, ``null``, an empty cell, ...) is refused with
    the file, row and count. :meth:`IdMap.to_index` turns the text into indices.
    """
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    path = Path(path)
    require_file(path)
    lines = read_lines(path)
    aliases = {"user": USER_ALIASES, "item": ITEM_ALIASES}.get(what, (what,))
    header = [name.strip() for name in lines[0].split(",")]
    column = find_column(header, aliases)
    if column is None:
        check_missing_ids(lines, what, path.name)
        return lines.to_numpy().astype(str)
    try:
        frame = pl.read_csv(source(path), infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise polars_error(path, "csv", exc) from None
    frame = frame.rename({name: name.strip() for name in frame.columns})
    ids = frame[column].str.strip_chars().fill_null("")  # a null cell is an empty one
    check_missing_ids(ids, what, path.name, column)
    return ids.to_numpy().astype(str)
