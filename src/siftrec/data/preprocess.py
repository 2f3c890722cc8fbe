"""Cleaning steps applied to a log before splitting: deduplication, rating threshold, k-core.

Each step returns a new :class:`Interactions` and keeps the id maps (so a cleaned log stays
comparable with files indexed on the same maps); :func:`compact` drops ids left without
interactions when a dense re-indexing is wanted. All steps are vectorised.
"""

from __future__ import annotations

import numpy as np

from siftrec.data.ids import IdMap
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError

DEDUPLICATE_KEEP = ("first", "last", "sum", "max")


def _pair_keys(data: Interactions) -> np.ndarray:
    """One int64 key per row identifying its (user, item) pair."""
    return data.users.astype(np.int64) * max(1, data.n_items) + data.items


def deduplicate(data: Interactions, keep: str = "first") -> tuple[Interactions, int]:
    """Collapse repeated (user, item) rows into one; returns ``(deduplicated, n_removed)``.

    ``keep`` picks the surviving row and its weight:

    - ``first`` / ``last``: the first / last row of the pair in file order, as it is.
    - ``sum``: the first row, with the pair's weights summed (e.g. repeated plays).
    - ``max``: the row with the largest weight (the first of tied rows).

    Side columns always come from the surviving row. Surviving rows keep their original order.
    """
    if keep not in DEDUPLICATE_KEEP:
        raise SiftrecError(f"keep={keep!r}; expected one of {', '.join(DEDUPLICATE_KEEP)}")
    n = len(data)
    if n == 0:
        return data, 0
    keys = _pair_keys(data)
    if keep == "last":
        _, first_rev = np.unique(keys[::-1], return_index=True)
        rows = np.sort(n - 1 - first_rev)
    elif keep == "max":
        order = np.lexsort((np.arange(n), -data.weights.astype(np.float64), keys))
        sorted_keys = keys[order]
        starts = np.r_[True, sorted_keys[1:] != sorted_keys[:-1]]
        rows = np.sort(order[starts])
    else:
        _, rows, inverse = np.unique(keys, return_index=True, return_inverse=True)
        if keep == "sum":
            totals = np.bincount(inverse, weights=data.weights, minlength=len(rows))
            by_row = np.argsort(rows)
            rows = rows[by_row]
            out = data.subset(rows).with_weights(totals[by_row])
            return out, n - len(rows)
        rows = np.sort(rows)
    return data.subset(rows), n - len(rows)


def rating_threshold(data: Interactions, threshold: float, column: str = "rating") -> Interactions:
    """Keep the rows whose ``column`` value is ``>= threshold`` (e.g. ratings ≥ 4 as positives)."""
    values = data.column(column)
    if values.dtype.kind not in "iufb":
        raise SiftrecError(f"column {column!r} is not numeric (dtype {values.dtype})")
    return data.subset(values >= threshold)


def k_core(data: Interactions, user_k: int = 1, item_k: int = 1) -> Interactions:
    """The largest sub-log where every user has ≥ ``user_k`` and every item ≥ ``item_k`` rows.

    Rows are counted as they are (run :func:`deduplicate` first to count distinct pairs).
    Filtering repeats until nothing changes, since dropping users can push items below the
    threshold and vice versa. Id maps are kept; use :func:`compact` to drop emptied ids.
    """
    for name, k in (("user_k", user_k), ("item_k", item_k)):
        if isinstance(k, bool) or not isinstance(k, int | np.integer) or k < 0:
            raise SiftrecError(f"{name} must be a non-negative integer, got {k!r}")
    users, items = data.users, data.items
    alive = np.ones(len(data), dtype=bool)
    while True:
        user_counts = np.bincount(users[alive], minlength=data.n_users)
        item_counts = np.bincount(items[alive], minlength=data.n_items)
        keep = alive & (user_counts[users] >= user_k) & (item_counts[items] >= item_k)
        if keep.sum() == alive.sum():
            break
        alive = keep
    return data.subset(alive)


def compact(data: Interactions) -> Interactions:
    """Re-index on maps that hold only the users and items with interactions (order kept)."""
    user_map, users = _compact_map(data.user_map, data.users)
    item_map, items = _compact_map(data.item_map, data.items)
    return Interactions(users, items, data.weights, user_map, item_map, data.columns)


def _compact_map(id_map: IdMap, index: np.ndarray) -> tuple[IdMap, np.ndarray]:
    present = np.zeros(len(id_map), dtype=bool)
    present[index] = True
    if present.all():
        return id_map, index  # nothing to drop: keep sharing the map
    new_index = np.cumsum(present) - 1
    return IdMap(id_map.ids[present]), new_index[index]
