"""A table's columns → :class:`Interactions`: id, weight and side columns found by their aliases.

The rules (names, aliases, types) are those of the package docstring of
:mod:`siftrec.data.readers`; every table-like format and :func:`from_dataframe` go through
:func:`frame_to_interactions`, so they resolve columns and word their errors alike.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from siftrec.data.ids import IdMap, check_missing_ids, refuse_missing
from siftrec.data.interactions import Interactions
from siftrec.data.levels import LEVEL, check_levels, collapse_levels
from siftrec.errors import SiftrecError

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


def find_column(names: list[str], wanted: str | Sequence[str]) -> str | None:
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
    found = find_column(frame.columns, given if given != name else aliases)
    if found is not None:
        return found
    have = ", ".join(frame.columns)
    looked = repr(given) if given != name else f"(looked for {'/'.join(aliases)})"
    hint = ""
    if all(c.lstrip("-").replace(".", "", 1).isdigit() for c in frame.columns):
        hint = (
            "; the file seems to have no header line: give the columns argument "
            "(e.g. columns=['user', 'item', 'rating'])"
        )
    raise SiftrecError(f"{source}: no {name} column {looked}; found columns: {have}{hint}")


def frame_to_interactions(
    frame: Any,
    source: str,
    user_col: str = "user",
    item_col: str = "item",
    weight_col: str | None = None,
    user_map: IdMap | None = None,
    item_map: IdMap | None = None,
) -> Interactions:
    """Resolve the id, weight and side columns of a polars DataFrame and build the log.

    ``source`` names the frame in errors (a file name, or "DataFrame").
    """
    if frame.height == 0:
        raise SiftrecError(f"{source} contains no interactions")
    user = _id_column(frame, source, "user", user_col, USER_ALIASES)
    item = _id_column(frame, source, "item", item_col, ITEM_ALIASES)
    if user == item:
        raise SiftrecError(f"{source}: user and item both resolve to column {user!r}")
    rest = [c for c in frame.columns if c not in (user, item)]
    if weight_col is not None:
        weight = find_column(rest, weight_col)
        if weight is None:
            raise SiftrecError(
                f"{source}: no weight column {weight_col!r}; found columns: {', '.join(rest)}"
            )
    else:
        weight = find_column(rest, WEIGHT_ALIASES)
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
    if LEVEL in columns:  # ordinal feedback: one row per pair, at its deepest level
        columns[LEVEL] = check_levels(columns[LEVEL], source)
    log = Interactions.from_raw(
        _ids(frame[user], source, "user"),
        _ids(frame[item], source, "item"),
        weights,
        columns,
        user_map=user_map,
        item_map=item_map,
    )
    return collapse_levels(log)


def _plain_ints(series: Any) -> Any | None:
    """Int64 view of a text column whose values are all plain decimal integers, else None.

    ``7`` and ``-3`` qualify; ``07`` and ``+7`` do not (as ids they must stay distinct strings).
    """
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

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
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    for text in (series, series.str.strip_chars()):
        for dtype in (pl.Int64, pl.Float64):
            values = text.cast(dtype, strict=False)
            if values.null_count() == series.null_count():
                return values
    return None


def _ids(series: Any, source: str, what: str) -> np.ndarray:
    """Integer ids when every value is a plain integer, else strings; missing ids are errors."""
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

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
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

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
    """Convert one side column by its canonical meaning (see the package docstring)."""
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

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
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

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
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

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
