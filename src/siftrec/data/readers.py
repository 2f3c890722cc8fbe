"""Read interaction logs from files, DataFrames and scipy matrices into :class:`Interactions`.

Every reader parses with polars or numpy (vectorised, no Python loop per interaction). The
table-like formats (csv, tsv, parquet, movielens, denoisingrec) share one column-resolution step
with :func:`from_dataframe`, so aliases, side columns and error messages behave the same.
Gzipped input (any format) is detected by its magic bytes and decompressed in memory.

Column rules (CSV/TSV/Parquet/DataFrames), names matched case-insensitively:

- user column: ``user``, ``user_id``, ``userid`` (``userId``), ``uid`` — or ``user_col``.
- item column: ``item``, ``item_id``, ``itemid``, ``iid``, ``movie_id``, ``movieid``,
  ``artist_id`` — or ``item_col``.
- weights: the column named by ``weight_col``; without it, the first of ``weight``, ``value``,
  ``count``, ``plays`` that is present (in that order). Otherwise every weight is 1. ``rating`` is
  never used as a weight implicitly: it stays a side column for :func:`preprocess.rating_threshold`.
  The weight column is consumed (not also kept as a side column).
- known side columns (canonical name ← aliases): ``timestamp``, ``rating``, ``dwell_time`` ←
  ``dwell``, ``feedback`` ← ``behavior``/``behaviour``/``event``/``type``, ``session`` ←
  ``session_id``, ``is_noise`` ← ``noise``. Any other column is carried unchanged.

Types: ids are integers when every id is a plain decimal integer (no leading zeros), else
strings. ``rating``, ``dwell_time`` and weights must be numeric; ``is_noise`` must be boolean
(``0/1``, ``true/false``); ``timestamp`` must be numeric or a date/time (converted to Unix
seconds). Other text columns become numbers when every value parses as one.
"""

from __future__ import annotations

import gzip
import io
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from siftrec.data.ids import IdMap, check_missing_ids, refuse_missing
from siftrec.data.interactions import Interactions
from siftrec.data.manifest import check_split_part
from siftrec.errors import SiftrecError

FORMATS: tuple[str, ...] = (
    "csv",
    "tsv",
    "parquet",
    "movielens",
    "lightgcn",
    "denoisingrec",
    "npy",
    "userlists",
)

USER_ALIASES = ("user", "user_id", "userid", "uid")
ITEM_ALIASES = ("item", "item_id", "itemid", "iid", "movie_id", "movieid", "artist_id")
WEIGHT_ALIASES = ("weight", "value", "count", "plays")
SIDE_ALIASES: dict[str, tuple[str, ...]] = {
    "timestamp": ("timestamp",),
    "rating": ("rating",),
    "dwell_time": ("dwell_time", "dwell"),
    "feedback": ("feedback", "behavior", "behaviour", "event", "type"),
    "session": ("session", "session_id"),
    "is_noise": ("is_noise", "noise"),
}

_GZIP_MAGIC = b"\x1f\x8b"
_SEP_NAMES = {"\\t": "\t", "tab": "\t", "space": " ", "\\s": " ", "comma": ",", "pipe": "|"}
_DENOISINGREC_SUFFIXES = (".rating", ".negative", ".noisy")


# ---------------------------------------------------------------------------- format inference
def infer_format(path: str | Path) -> str:
    """The reader format of ``path``, from its name (a ``.gz`` suffix is ignored).

    ``.csv``/``.tsv``/``.parquet`` by extension; ``u.data``/``ratings.dat`` → movielens;
    ``*.rating``/``*.negative``/``*.noisy`` → denoisingrec; ``*.npy`` → npy; ``*.txt`` →
    lightgcn when the content is whitespace-separated integer adjacency lists (``user item
    item ...``). Anything else, ``*.json`` included (NBPO's per-user lists: ``userlists``), is
    an error asking for an explicit format.
    """
    path = Path(path)
    name = path.name.lower().removesuffix(".gz")
    for ext, fmt in ((".csv", "csv"), (".tsv", "tsv"), (".parquet", "parquet"), (".npy", "npy")):
        if name.endswith(ext):
            return fmt
    if name in ("u.data", "ratings.dat"):
        return "movielens"
    if name.endswith(_DENOISINGREC_SUFFIXES):
        return "denoisingrec"
    hint = f"pass --format (one of {', '.join(FORMATS)})"
    if name.endswith(".txt"):
        _require_file(path)
        if _looks_like_adjacency(_head_lines(path)):
            return "lightgcn"
        raise SiftrecError(
            f"{path.name} is not a LightGCN adjacency list (lines of equal length ≥ 3 look like "
            f"a 'user item value' table); {hint}, e.g. --format tsv --columns user,item,weight"
        )
    raise SiftrecError(f"cannot infer the format of {path.name!r} from its name; {hint}")


def _looks_like_adjacency(lines: list[str]) -> bool:
    """Whether the first lines are ``user item item ...`` lists rather than a fixed table.

    Integer tokens only; varying token counts, or exactly two per line (plain ``user item``
    pairs, which parse identically), mean adjacency lists.
    """
    counts = set()
    for line in lines:
        tokens = line.split()
        if not tokens:
            continue
        if not all(t.lstrip("-").isdigit() for t in tokens):
            return False
        counts.add(len(tokens))
    return bool(counts) and (len(counts) > 1 or counts <= {1, 2})


# ---------------------------------------------------------------------------- public readers
def read_interactions(
    path: str | Path,
    format: str | None = None,
    *,
    sep: str | None = None,
    header: bool | None = None,
    columns: Sequence[str] | None = None,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = None,
    user_map: IdMap | None = None,
    item_map: IdMap | None = None,
) -> Interactions:
    """Read an interaction log (any of :data:`FORMATS`, optionally gzipped).

    Args:
        path: the file.
        format: one of :data:`FORMATS`; inferred from the name by :func:`infer_format` if None.
        sep: csv/tsv field separator (default ``,`` / tab, sniffed from the first line when the
            default does not occur); multi-character separators such as ``::`` work too.
        header: csv/tsv only; whether the first line names the columns. Default: True unless
            ``columns`` is given.
        columns: column names for header-less csv/tsv (one per field, e.g.
            ``["user", "item", "rating", "timestamp"]``), or for the fields of a denoisingrec
            file (``["user", "item", "rating"]`` or ``["user", "item", "flag"]``).
        user_col, item_col, weight_col: see the module docstring (``weight_col="rating"``
            turns MovieLens/DeCA ratings into weights).
        user_map, item_map: index the log on these maps, extending them with unknown ids.

    Format notes:
        movielens: ``u.data`` (tab) or ``ratings.dat`` (``::``), fields ``user item rating
        timestamp``; weights 1, rating and timestamp kept as side columns.
        lightgcn / npy / userlists: see :func:`_read_lightgcn`, :func:`_read_npy` and
        :func:`_read_userlists`.
        denoisingrec: see :func:`_read_denoisingrec`.
    """
    path = Path(path)
    _require_file(path)
    check_split_part(path)
    fmt = infer_format(path) if format is None else format.lower()
    if fmt not in FORMATS:
        raise SiftrecError(f"unknown format {format!r}; choose one of {', '.join(FORMATS)}")
    if fmt not in ("csv", "tsv"):
        if sep is not None:
            raise SiftrecError(f"--sep applies to csv/tsv files only, not to {fmt}")
        if header:
            raise SiftrecError(f"--header applies to csv/tsv files only, not to {fmt}")
        if columns is not None and fmt != "denoisingrec":
            raise SiftrecError(f"--columns applies to csv/tsv/denoisingrec files, not to {fmt}")
    maps = {"user_map": user_map, "item_map": item_map}
    if fmt in _FIXED_READERS:
        if (user_col, item_col, weight_col) != ("user", "item", None):
            raise SiftrecError(
                f"{fmt} files have fixed (user, item) fields; drop the column options"
            )
        return _FIXED_READERS[fmt](path, **maps)
    if fmt in ("csv", "tsv"):
        frame = _read_table(path, fmt, sep, header, columns)
    elif fmt == "parquet":
        frame = _read_parquet(path)
    elif fmt == "movielens":
        frame = _read_movielens(path)
    else:
        frame = _read_denoisingrec(path, columns)
    return _frame_to_interactions(frame, path.name, user_col, item_col, weight_col, **maps)


def from_dataframe(
    df: Any,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = None,
    user_map: IdMap | None = None,
    item_map: IdMap | None = None,
) -> Interactions:
    """Build :class:`Interactions` from a pandas or polars DataFrame (column rules as above)."""
    import polars as pl

    if not isinstance(df, pl.DataFrame):
        try:
            import pandas as pd
        except ImportError:  # pragma: no cover - pandas is optional
            pd = None
        if pd is None or not isinstance(df, pd.DataFrame):
            raise SiftrecError(f"expected a pandas or polars DataFrame, got {type(df).__name__}")
        df = pl.from_pandas(df.reset_index(drop=True))
    return _frame_to_interactions(
        df, "DataFrame", user_col, item_col, weight_col, user_map=user_map, item_map=item_map
    )


def from_scipy(
    matrix: Any, user_map: IdMap | None = None, item_map: IdMap | None = None
) -> Interactions:
    """Build from a user × item scipy sparse matrix (see :meth:`Interactions.from_csr`)."""
    return Interactions.from_csr(matrix, user_map=user_map, item_map=item_map)


def read_id_list(path: str | Path, what: str = "user") -> np.ndarray:
    """Raw ids (as text) from a CSV whose header names a ``what`` column, or one id per line.

    The column is found like :func:`read_interactions` finds it (``user``, ``user_id``, ...).
    Blank lines are skipped; a missing id (``NA``, ``null``, an empty cell, ...) is refused with
    the file, row and count. :meth:`IdMap.to_index` turns the text into indices.
    """
    import polars as pl

    path = Path(path)
    _require_file(path)
    lines = _read_lines(path)
    aliases = {"user": USER_ALIASES, "item": ITEM_ALIASES}.get(what, (what,))
    header = [name.strip() for name in lines[0].split(",")]
    column = _find_column(header, aliases)
    if column is None:
        check_missing_ids(lines, what, path.name)
        return lines.to_numpy().astype(str)
    try:
        frame = pl.read_csv(_source(path), infer_schema=False)
    except pl.exceptions.PolarsError as exc:
        raise _polars_error(path, "csv", exc) from None
    frame = frame.rename({name: name.strip() for name in frame.columns})
    ids = frame[column].str.strip_chars().fill_null("")  # a null cell is an empty one
    check_missing_ids(ids, what, path.name, column)
    return ids.to_numpy().astype(str)


# ---------------------------------------------------------------------------- file access
def _require_file(path: Path) -> None:
    if not path.exists():
        raise SiftrecError(f"file does not exist: {path}")
    if not path.is_file():
        raise SiftrecError(f"not a file: {path}")


def _is_gzip(path: Path) -> bool:
    with open(path, "rb") as f:
        return f.read(2) == _GZIP_MAGIC


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it is gzip-compressed (by magic bytes, not by name)."""
    raw = path.read_bytes()
    if raw[:2] == _GZIP_MAGIC:
        try:
            return gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            raise SiftrecError(f"{path.name} is a corrupt gzip file ({exc})") from None
    if path.name.lower().endswith(".gz"):
        raise SiftrecError(f"{path.name} is named .gz but is not gzip-compressed")
    return raw


def _source(path: Path) -> Path | bytes:
    """What to hand to polars: the path itself, or the gunzipped bytes."""
    if _is_gzip(path) or path.name.lower().endswith(".gz"):
        return _read_bytes(path)
    return path


def _head_lines(path: Path, n_bytes: int = 1 << 16, max_lines: int = 200) -> list[str]:
    """The first complete lines of a (possibly gzipped) text file."""
    opener = gzip.open if _is_gzip(path) else open
    try:
        with opener(path, "rb") as f:
            chunk = f.read(n_bytes)
    except (gzip.BadGzipFile, EOFError, zlib.error) as exc:
        raise SiftrecError(f"{path.name} is a corrupt gzip file ({exc})") from None
    lines = chunk.decode("utf-8", errors="replace").splitlines()
    if len(chunk) == n_bytes and len(lines) > 1:
        lines = lines[:-1]  # the last line may be cut
    return [line for line in lines if line.strip()][:max_lines]


def _polars_error(path: Path, what: str, exc: Exception) -> SiftrecError:
    message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return SiftrecError(f"cannot read {path.name} as {what}: {message}")


# ---------------------------------------------------------------------------- csv / tsv
def _resolve_sep(path: Path, fmt: str, sep: str | None) -> str:
    """An explicit separator (names like ``tab`` allowed), else the default or a sniffed one."""
    if sep is not None:
        sep = _SEP_NAMES.get(sep.lower(), sep)
        if not sep or "\n" in sep or "\r" in sep:
            raise SiftrecError(f"invalid separator {sep!r}")
        return sep
    default = "," if fmt == "csv" else "\t"
    lines = _head_lines(path, max_lines=20)
    if not lines or default in lines[0]:
        return default
    for candidate in ("::", "\t", ",", ";", "|", " "):
        counts = {line.count(candidate) for line in lines}
        if len(counts) == 1 and counts.pop() > 0:
            return candidate
    return default


def _read_table(
    path: Path, fmt: str, sep: str | None, header: bool | None, columns: Sequence[str] | None
) -> Any:
    """A csv/tsv file as an all-text polars DataFrame, named by its header or ``columns``."""
    import polars as pl

    sep = _resolve_sep(path, fmt, sep)
    has_header = columns is None if header is None else header
    source: Path | bytes = _source(path)
    if len(sep.encode()) > 1:  # polars takes single-byte separators only
        data = source if isinstance(source, bytes) else _read_bytes(path)
        source, sep = data.replace(sep.encode(), b"\x1f"), "\x1f"
    try:
        frame = pl.read_csv(source, separator=sep, has_header=has_header, infer_schema=False)
    except pl.exceptions.NoDataError:
        raise SiftrecError(f"{path.name} is empty") from None
    except pl.exceptions.PolarsError as exc:
        raise _polars_error(path, fmt, exc) from None
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


def _read_parquet(path: Path) -> Any:
    import polars as pl

    source = _source(path)
    try:
        return pl.read_parquet(io.BytesIO(source) if isinstance(source, bytes) else source)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise _polars_error(path, "parquet", exc) from None


def _read_lines(path: Path) -> Any:
    """Non-blank lines of a text file as a polars String Series (stripped of surrounding space)."""
    import polars as pl

    try:
        frame = pl.read_csv(
            _source(path), has_header=False, separator="\x1f", quote_char=None, infer_schema=False
        )
    except pl.exceptions.NoDataError:
        raise SiftrecError(f"{path.name} is empty") from None
    except pl.exceptions.PolarsError as exc:
        raise _polars_error(path, "text lines", exc) from None
    if frame.width != 1:
        raise SiftrecError(f"{path.name} contains the control character \\x1f; not a text log")
    lines = frame.to_series().str.strip_chars()
    lines = lines.filter(lines.is_not_null() & (lines != ""))
    if lines.len() == 0:
        raise SiftrecError(f"{path.name} is empty")
    return lines


# ---------------------------------------------------------------------------- movielens
def _read_movielens(path: Path) -> Any:
    """``user item rating timestamp`` with ``::`` (ratings.dat) or tab (u.data) separators."""
    lines = _head_lines(path, max_lines=5)
    if not lines:
        raise SiftrecError(f"{path.name} is empty")
    sep = "::" if "::" in lines[0] else "\t"
    if len(lines[0].split(sep)) != 4:
        raise SiftrecError(
            f"{path.name} is not a MovieLens ratings file (expected 4 fields "
            f"'user item rating timestamp' separated by tab or '::', got {lines[0]!r})"
        )
    return _read_table(path, "tsv", sep, False, ["user", "item", "rating", "timestamp"])


# ---------------------------------------------------------------------------- lightgcn
def _split_whitespace(lines: Any) -> Any:
    """Lines → list of tokens (runs of spaces/tabs are one separator)."""
    return lines.str.replace_all(r"\s+", " ").str.split(" ")


def _read_lightgcn(
    path: Path, user_map: IdMap | None = None, item_map: IdMap | None = None
) -> Interactions:
    """LightGCN/NGCF adjacency lists: one line ``user item item ...`` per user (0-based ids).

    Users listed without items are kept in the user map (so its size matches the data set's
    user count) but contribute no interactions. Parsing is vectorised: split, explode, cast.
    """
    import polars as pl

    tokens = _split_whitespace(_read_lines(path))
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
    import polars as pl

    values = tokens.cast(pl.Int64, strict=False)
    bad = values.is_null() & tokens.is_not_null()
    if bad.any():
        example = tokens.filter(bad)[0]
        raise SiftrecError(f"{path.name}: {what} id {example!r} is not an integer")
    return values.to_numpy()


# ---------------------------------------------------------------------------- denoisingrec
def _read_denoisingrec(path: Path, columns: Sequence[str] | None) -> Any:
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
    import polars as pl

    lines = _read_lines(path)
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


# ---------------------------------------------------------------------------- npy
def _read_npy(
    path: Path, user_map: IdMap | None = None, item_map: IdMap | None = None
) -> Interactions:
    """DiffRec ``*.npy`` (optionally ``.gz``): an integer array of shape (n, 2) = (user, item)."""
    try:
        array = np.load(io.BytesIO(_read_bytes(path)), allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise SiftrecError(f"cannot read {path.name} as a NumPy .npy array: {exc}") from None
    if not isinstance(array, np.ndarray) or array.ndim != 2 or array.shape[1] != 2:
        shape = getattr(array, "shape", None)
        raise SiftrecError(f"{path.name}: expected an array of shape (n, 2), got {shape}")
    if array.dtype.kind == "f":  # NaN marks a missing id
        check_missing_ids(array[:, 0], "user", path.name)
        check_missing_ids(array[:, 1], "item", path.name)
    if array.dtype.kind not in "iu":
        raise SiftrecError(f"{path.name}: expected integer (user, item) ids, got {array.dtype}")
    if len(array) == 0:
        raise SiftrecError(f"{path.name} contains no interactions")
    return Interactions.from_raw(array[:, 0], array[:, 1], user_map=user_map, item_map=item_map)


# ---------------------------------------------------------------------------- userlists
def _read_userlists(
    path: Path, user_map: IdMap | None = None, item_map: IdMap | None = None
) -> Interactions:
    """NBPO ``*_data.json``: one JSON array whose element ``u`` is the list of user ``u``'s items.

    The user id is the list position, so users with an empty list stay in the user map (train,
    validation and test files then share user ids). Polars parses the JSON natively; anything
    but integer item ids in a list per user is an error.
    """
    import polars as pl

    # A JSON document holds no raw line breaks inside strings, so it fits on one NDJSON line.
    text = _read_bytes(path).replace(b"\r", b" ").replace(b"\n", b" ").strip()
    if not text:
        raise SiftrecError(f"{path.name} is empty")
    what = "a JSON array of per-user item lists"
    try:
        column = pl.read_ndjson(io.BytesIO(b'{"items": ' + text + b"}"))["items"]
    except pl.exceptions.PolarsError as exc:
        raise _polars_error(path, what, exc) from None
    if column.dtype in (pl.List(pl.Null), pl.List(pl.List(pl.Null))):
        raise SiftrecError(f"{path.name} contains no interactions")
    not_ids = SiftrecError(
        f"{path.name} is not {what} (integer item ids): parsed as {column.dtype}"
    )
    if column.dtype not in (pl.List(pl.List(pl.Int64)), pl.List(pl.List(pl.String))):
        raise not_ids
    lists = column[0]
    items = lists.explode(empty_as_null=False)  # a null list gives one null item
    rows = np.repeat(np.arange(1, lists.len() + 1), lists.list.len().fill_null(1).to_numpy())
    check_missing_ids(items, "item", path.name, rows=rows)
    if items.dtype != pl.Int64:
        raise not_ids
    positions = np.arange(lists.len(), dtype=np.int64)
    users = np.repeat(positions, lists.list.len().to_numpy())
    user_map = IdMap.from_raw(positions)[0] if user_map is None else user_map.extend(positions)
    return Interactions.from_raw(users, items.to_numpy(), user_map=user_map, item_map=item_map)


_FIXED_READERS = {"lightgcn": _read_lightgcn, "npy": _read_npy, "userlists": _read_userlists}


# ---------------------------------------------------------------------------- columns → log
def _find_column(names: list[str], wanted: str | Sequence[str]) -> str | None:
    """The first name matching ``wanted`` (exact first, then case-insensitive)."""
    candidates = [wanted] if isinstance(wanted, str) else list(wanted)
    lowered = {name.lower(): name for name in reversed(names)}
    for candidate in candidates:
        if candidate in names:
            return candidate
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    return None


def _id_column(frame: Any, source: str, name: str, given: str, aliases: tuple[str, ...]) -> str:
    found = _find_column(frame.columns, given if given != name else aliases)
    if found is not None:
        return found
    have = ", ".join(frame.columns)
    looked = repr(given) if given != name else f"(looked for {'/'.join(aliases)})"
    hint = ""
    if all(c.lstrip("-").replace(".", "", 1).isdigit() for c in frame.columns):
        hint = "; the file seems to have no header line: pass --columns (e.g. user,item,rating)"
    raise SiftrecError(f"{source}: no {name} column {looked}; found columns: {have}{hint}")


def _frame_to_interactions(
    frame: Any,
    source: str,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = None,
    user_map: IdMap | None = None,
    item_map: IdMap | None = None,
) -> Interactions:
    """Resolve the id, weight and side columns of a polars DataFrame and build the log."""
    if frame.height == 0:
        raise SiftrecError(f"{source} contains no interactions")
    user = _id_column(frame, source, "user", user_col, USER_ALIASES)
    item = _id_column(frame, source, "item", item_col, ITEM_ALIASES)
    if user == item:
        raise SiftrecError(f"{source}: user and item both resolve to column {user!r}")
    rest = [c for c in frame.columns if c not in (user, item)]
    if weight_col is not None:
        weight = _find_column(rest, weight_col)
        if weight is None:
            raise SiftrecError(
                f"{source}: no weight column {weight_col!r}; found columns: {', '.join(rest)}"
            )
    else:
        weight = _find_column(rest, WEIGHT_ALIASES)
    weights = None
    if weight is not None:
        weights = _numeric(frame[weight], source, "weight")
        rest.remove(weight)
    columns: dict[str, np.ndarray] = {}
    for name in rest:
        canonical = next(
            (k for k, aliases in SIDE_ALIASES.items() if name.lower() in aliases), name
        )
        if canonical in columns or (canonical != name and canonical in rest):
            canonical = name  # a second alias of a taken name keeps its own name
        columns[canonical] = _side_values(frame[name], source, canonical)
    return Interactions.from_raw(
        _ids(frame[user], source, "user"),
        _ids(frame[item], source, "item"),
        weights,
        columns,
        user_map=user_map,
        item_map=item_map,
    )


def _plain_ints(series: Any) -> Any | None:
    """Int64 view of a text column whose values are all plain decimal integers, else None.

    ``7`` and ``-3`` qualify; ``07`` and ``+7`` do not (as ids they must stay distinct strings).
    """
    import polars as pl

    ints = series.cast(pl.Int64, strict=False)
    if ints.null_count() != series.null_count():
        return None
    text = series.str
    odd = (
        text.starts_with("+")
        | text.starts_with("-0")
        | (text.starts_with("0") & (text.len_bytes() > 1))
    )
    return None if odd.any() else ints


def _parse_numbers(series: Any) -> Any | None:
    """A text column as Int64 (all integers) or Float64; None if some value is not a number."""
    import polars as pl

    for text in (series, series.str.strip_chars()):
        for dtype in (pl.Int64, pl.Float64):
            values = text.cast(dtype, strict=False)
            if values.null_count() == series.null_count():
                return values
    return None


def _ids(series: Any, source: str, what: str) -> np.ndarray:
    """Integer ids when every value is a plain integer, else strings; missing ids are errors."""
    import polars as pl

    if series.dtype == pl.String:
        if not series.null_count() and (ints := _plain_ints(series)) is not None:
            return ints.to_numpy()
        series = series.str.strip_chars().fill_null("")  # a null text cell is an empty one
    check_missing_ids(series, what, source, series.name)
    if series.dtype == pl.String:
        ints = _plain_ints(series)
        return ints.to_numpy() if ints is not None else series.to_numpy().astype(str)
    if series.dtype.is_numeric():
        return series.to_numpy()
    return series.cast(pl.String).to_numpy().astype(str)


def _numeric(series: Any, source: str, name: str) -> np.ndarray:
    """A numeric column without missing or infinite values; text must parse as numbers.

    Missing cells follow the id rule (empty, ``NA``, ``NaN``, null, ...: ``ids.missing_ids``).
    """
    import polars as pl

    text = series.fill_null("") if series.dtype == pl.String else series
    refuse_missing(text, name, source, series.name)
    values = series
    if series.dtype == pl.String:
        values = _parse_numbers(series)
        if values is None:
            bad = series.str.strip_chars().cast(pl.Float64, strict=False).is_null()
            example = series.filter(bad & series.is_not_null())[0]
            raise SiftrecError(
                f"{source}: column {series.name!r} ({name}) is not numeric (e.g. {example!r})"
            )
    elif series.dtype == pl.Boolean:
        values = series.cast(pl.Int8)
    elif not series.dtype.is_numeric():
        raise SiftrecError(
            f"{source}: column {series.name!r} ({name}) is not numeric (dtype {series.dtype})"
        )
    if values.dtype.is_float() and (infinite := values.is_infinite()).any():
        count, first = int(infinite.sum()), int(infinite.arg_true()[0])
        have = "1 row has" if count == 1 else f"{count:,} rows have"
        raise SiftrecError(
            f"{source}: {have} an infinite {name} in column {series.name!r} "
            f"(first at row {first + 1}: {series[first]!r})"
        )
    return values.to_numpy()


def _side_values(series: Any, source: str, name: str) -> np.ndarray:
    """Convert one side column by its canonical meaning (see the module docstring)."""
    import polars as pl

    if name in ("rating", "dwell_time"):
        return _numeric(series, source, name)
    if name == "is_noise":
        return _booleans(series, source)
    if name == "timestamp":
        return _timestamps(series, source)
    if series.dtype == pl.String:
        numbers = None if series.null_count() else _parse_numbers(series)
        if numbers is not None:
            return numbers.to_numpy()
        return series.fill_null("").to_numpy().astype(str)
    values = series.to_numpy()
    return values.astype(str) if values.dtype == object else values


def _booleans(series: Any, source: str) -> np.ndarray:
    import polars as pl

    if series.dtype == pl.Boolean and not series.null_count():
        return series.to_numpy()
    text = series.cast(pl.String).str.strip_chars().str.to_lowercase()
    true, false = text.is_in(["1", "true", "1.0"]), text.is_in(["0", "false", "0.0"])
    bad = ~(true | false).fill_null(False)
    if bad.any():
        example = series.filter(bad)[0]
        raise SiftrecError(
            f"{source}: is_noise column {series.name!r} must be 0/1 or true/false "
            f"(found {example!r})"
        )
    return true.to_numpy()


def _timestamps(series: Any, source: str) -> np.ndarray:
    """Numbers as they are; dates/times (typed or text) as Unix seconds."""
    import polars as pl

    text = series.fill_null("") if series.dtype == pl.String else series
    refuse_missing(text, "timestamp", source, series.name)
    if series.dtype == pl.String:
        numbers = _parse_numbers(series)
        if numbers is not None:
            return _numeric(numbers, source, "timestamp")
        try:
            parsed = series.str.strip_chars().str.to_datetime(strict=False)
        except pl.exceptions.PolarsError:  # no date format fits the first values
            parsed = None
        if parsed is None or parsed.null_count() != series.null_count():
            bad = series.is_not_null() if parsed is None else parsed.is_null()
            example = series.filter(bad & series.is_not_null())[0]
            raise SiftrecError(
                f"{source}: timestamp column {series.name!r} is neither numeric nor a "
                f"date/time (e.g. {example!r})"
            )
        series = parsed
    if series.dtype == pl.Date or isinstance(series.dtype, pl.Datetime):
        return series.cast(pl.Datetime("us")).dt.epoch("s").to_numpy()
    return _numeric(series, source, "timestamp")
