"""Ordinal feedback levels: graded and multi-behaviour implicit feedback in one log.

A log may carry an integer ``level`` side column (:data:`LEVEL`): the depth of commitment of each
interaction, higher = deeper (e.g. 1 collect, 2 cart, 3 buy; a rating; a play-count bucket).
Level 0 is an observed pair without engagement (an exposure); sampled negatives are level 0 too.
When the levels come from named behaviours, the ``feedback`` side column keeps each row's
behaviour name, so :func:`level_names` recovers the name of every level from the log itself
(through any subset, split or remap).

Assumption (documented in ``docs/data.md``): one pair has one level, the **deepest** reached.
Real multi-behaviour logs are mostly *not* nested — in the Tmall release only 18,299 of the
221,514 collected pairs were also bought — so the cumulative indicators ``y_k = 1{level ≥ k}``
that ordinal objectives (GNOLR) need are derived from the deepest level per pair, i.e. a
purchase is taken to imply the shallower behaviours. :func:`collapse_levels` enforces this.
Every objective other than the ordinal ones ignores the column: each row is a positive.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError

#: The side column holding each interaction's ordinal level.
LEVEL = "level"
#: The side column holding each interaction's behaviour name (readers map ``behavior`` to it).
BEHAVIOR = "feedback"

#: Commitment rank of common behaviour names, used when no order is declared: browsing, then
#: saving, then carting, then buying. Levels are the dense ranks of the behaviours present.
KNOWN_BEHAVIORS: Mapping[str, int] = {
    **dict.fromkeys(("view", "pv", "click", "impression", "browse"), 1),
    **dict.fromkeys(("collect", "fav", "favorite", "favourite", "like", "save"), 2),
    **dict.fromkeys(("cart", "add_to_cart", "addtocart", "add-to-cart", "addtocard"), 3),
    **dict.fromkeys(("buy", "purchase", "pay", "order", "transaction"), 4),
}


def check_levels(values: np.ndarray, source: str = "log") -> np.ndarray:
    """``values`` as int16 levels ≥ 0; a non-integer or negative level is a one-line error."""
    values = np.asarray(values)
    if values.dtype.kind == "b":
        values = values.astype(np.int16)
    if values.dtype.kind not in "iuf":
        raise SiftrecError(f"{source}: the level column must hold integers, found {values.dtype}")
    if values.dtype.kind == "f":
        bad = ~np.isfinite(values) | (values != np.round(values))
        if bad.any():
            raise SiftrecError(
                f"{source}: levels must be integers (higher = deeper commitment), "
                f"found {values[bad][0]!r}"
            )
    if values.size and values.min() < 0:
        raise SiftrecError(f"{source}: levels must be >= 0, found {int(values.min())}")
    if values.size and values.max() > np.iinfo(np.int16).max:
        raise SiftrecError(f"{source}: level {int(values.max())} is too large")
    return values.astype(np.int16)


def has_levels(log: Interactions) -> bool:
    """Whether ``log`` carries a ``level`` column."""
    return log.has_column(LEVEL)


def levels_of(log: Interactions) -> np.ndarray:
    """The int16 level of every interaction (1 for each row of a log without levels)."""
    if not has_levels(log):
        return np.ones(len(log), dtype=np.int16)
    return check_levels(log.column(LEVEL))


def n_levels(log: Interactions) -> int:
    """``K``, the deepest level in ``log`` (1 without a level column)."""
    levels = levels_of(log)
    return int(levels.max()) if levels.size else 1


def collapse_levels(log: Interactions) -> Interactions:
    """One row per (user, item): the row of the deepest level reached (first on ties), in the
    order the kept rows had; side columns come from the kept row. Without levels: ``log``."""
    if not has_levels(log) or len(log) == 0:
        return log
    levels = levels_of(log)
    keys = log.users.astype(np.int64) * log.n_items + log.items
    # sort by key, deepest level first, then input order: the first row per key is kept
    order = np.lexsort((np.arange(len(log)), -levels.astype(np.int32), keys))
    first = np.ones(len(order), dtype=bool)
    first[1:] = keys[order][1:] != keys[order][:-1]
    kept = np.sort(order[first])
    if len(kept) == len(log):
        return log.with_columns(**{LEVEL: levels})
    out = log.subset(kept)
    return out.with_columns(**{LEVEL: levels[kept]})


def level_names(log: Interactions) -> dict[int, str]:
    """``{level: behaviour name}`` from the ``level`` and ``feedback`` columns (empty when the
    log has no behaviour names); a level carried by two names is an error."""
    if not (has_levels(log) and log.has_column(BEHAVIOR)):
        return {}
    levels, names = levels_of(log), np.asarray(log.column(BEHAVIOR)).astype(str)
    pairs = np.unique(np.stack([levels.astype(str), names]), axis=1)
    out: dict[int, str] = {}
    for level, name in zip(pairs[0], pairs[1], strict=True):
        if int(level) in out:
            raise SiftrecError(f"level {level} is named both {out[int(level)]!r} and {name!r}")
        out[int(level)] = str(name)
    return dict(sorted(out.items()))


def behavior_order(names: Sequence[str], order: Sequence[str] | None = None) -> list[str]:
    """The behaviours ``names`` from shallowest to deepest: as ``order`` declares them, else by
    :data:`KNOWN_BEHAVIORS`. A behaviour the order does not place is a one-line error."""
    present = sorted({str(n) for n in names})
    if order is not None:
        declared = [str(o).strip() for o in order]
        if len(set(declared)) != len(declared):
            raise SiftrecError(f"the behaviour order repeats a name: {', '.join(declared)}")
        missing = [n for n in present if n not in declared]
        if missing:
            raise SiftrecError(
                f"behaviours {', '.join(missing)} are not in the declared order "
                f"{' < '.join(declared)}"
            )
        return [n for n in declared if n in present]
    unknown = [n for n in present if n.lower() not in KNOWN_BEHAVIORS]
    if unknown:
        raise SiftrecError(
            f"no commitment order known for behaviours {', '.join(unknown)}; declare one, "
            "e.g. format 'multibehavior:collect,cart,buy' (shallowest first)"
        )
    ranks = [KNOWN_BEHAVIORS[n.lower()] for n in present]
    if len(set(ranks)) != len(ranks):
        raise SiftrecError(
            f"behaviours {', '.join(present)} share a commitment rank; declare their order"
        )
    return [n for _, n in sorted(zip(ranks, present, strict=True))]


def levels_from_behaviors(log: Interactions, order: Sequence[str] | None = None) -> Interactions:
    """Levels ``1..K`` from the ``feedback`` (behaviour) column by ``order`` (shallowest first,
    see :func:`behavior_order`), collapsed to the deepest level per pair."""
    names = np.asarray(log.column(BEHAVIOR)).astype(str)
    ordered = behavior_order(np.unique(names).tolist(), order)
    lookup = np.asarray(ordered)
    idx = np.searchsorted(np.sort(lookup), names)
    rank = np.argsort(lookup)  # position in ``ordered`` of each sorted name
    levels = (rank[idx] + 1).astype(np.int16)
    return collapse_levels(log.with_columns(**{LEVEL: levels, BEHAVIOR: names}))


def levels_from_thresholds(
    values: np.ndarray, thresholds: Sequence[float], source: str = "values"
) -> np.ndarray:
    """Level ``k`` = the number of ``thresholds`` (strictly increasing) that ``value ≥``; e.g.
    ratings with thresholds ``(5,)`` give GNOLR's ML-1M label ``rating > 4``, and ``(1, 2, 3,
    4, 5)`` keep the rating itself as the level."""
    cuts = np.asarray(thresholds, dtype=np.float64)
    if cuts.ndim != 1 or not len(cuts) or np.any(np.diff(cuts) <= 0):
        raise SiftrecError(f"level thresholds must increase strictly, got {list(thresholds)}")
    values = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(values)):
        raise SiftrecError(f"{source}: cannot grade non-finite values into levels")
    return np.searchsorted(cuts, values, side="right").astype(np.int16)


def rating_levels(log: Interactions, thresholds: Sequence[float] | None = None) -> Interactions:
    """Ratings as levels: the ``rating`` column graded by ``thresholds`` (default: the rating
    itself, rounded), collapsed per pair. Rows below the first threshold get level 0 (observed,
    not engaged)."""
    ratings = np.asarray(log.column("rating"), dtype=np.float64)
    if thresholds is None:
        levels = check_levels(np.round(ratings), "rating")
    else:
        levels = levels_from_thresholds(ratings, thresholds, "rating")
    return collapse_levels(log.with_columns(**{LEVEL: levels}))


def quantile_levels(values: np.ndarray, n: int) -> np.ndarray:
    """Counts (play counts, watch time) bucketed into levels ``1..n`` by quantiles.

    The cut-points are the ``1/n, …, (n−1)/n`` quantiles of ``values``; level ``k`` holds the
    values ≥ the ``(k−1)``-th cut-point. Ties at a cut-point all go up, and repeated cut-points
    (heavy ties, e.g. most counts equal 1) merge buckets, so fewer than ``n`` levels may appear;
    the levels are then renumbered densely from 1.
    """
    if n < 1:
        raise SiftrecError(f"the number of levels must be at least 1, got {n}")
    values = np.asarray(values, dtype=np.float64)
    if not values.size:
        return np.zeros(0, dtype=np.int16)
    if not np.all(np.isfinite(values)):
        raise SiftrecError("cannot bucket non-finite values into levels")
    cuts = np.unique(np.quantile(values, np.arange(1, n) / n)) if n > 1 else np.zeros(0)
    raw = np.searchsorted(cuts, values, side="right")
    _, dense = np.unique(raw, return_inverse=True)
    return (dense + 1).astype(np.int16)


def count_levels(log: Interactions, n: int = 3, column: str | None = None) -> Interactions:
    """Play counts as ``n`` quantile levels (:func:`quantile_levels`) of ``column`` (default:
    the weights, where readers put ``count``/``plays``), collapsed per pair."""
    values = log.weights if column is None else np.asarray(log.column(column))
    return collapse_levels(log.with_columns(**{LEVEL: quantile_levels(values, n)}))


def filter_levels(log: Interactions, min_level: int) -> Interactions:
    """The rows at ``min_level`` or deeper (e.g. purchases only from a multi-behaviour log)."""
    return log.subset(levels_of(log) >= min_level)


def cumulative_indicators(levels: np.ndarray, k: int) -> np.ndarray:
    """``[n, k]`` booleans ``y_j = 1{level ≥ j}`` for ``j = 1..k`` (nested by construction)."""
    return np.asarray(levels)[:, None] >= np.arange(1, k + 1)[None, :]
