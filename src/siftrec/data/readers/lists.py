"""Per-user item lists: NBPO's ``*_data.json``."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from siftrec.data.ids import IdMap, check_missing_ids
from siftrec.data.interactions import Interactions
from siftrec.data.readers.files import polars_error, read_bytes
from siftrec.errors import SiftrecError


def read_userlists(
    path: Path, user_map: IdMap | None = None, item_map: IdMap | None = None
) -> Interactions:
    """NBPO ``*_data.json``: one JSON array whose element ``u`` is the list of user ``u``'s items.

    The user id is the list position, so users with an empty list stay in the user map (train,
    validation and test files then share user ids). Polars parses the JSON natively; anything
    but integer item ids in a list per user is an error.
    """
    import polars as pl  # lazy: slow to import, and `siftrec --help` loads this module

    # A JSON document holds no raw line breaks inside strings, so it fits on one NDJSON line.
    text = read_bytes(path).replace(b"\r", b" ").replace(b"\n", b" ").strip()
    if not text:
        raise SiftrecError(f"{path.name} is empty")
    what = "a JSON array of per-user item lists"
    try:
        column = pl.read_ndjson(io.BytesIO(b'{"items": ' + text + b"}"))["items"]
    except pl.exceptions.PolarsError as exc:
        raise polars_error(path, what, exc) from None
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
