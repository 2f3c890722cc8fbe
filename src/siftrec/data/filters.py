"""Rule-based clickstream cleaners (PHG-DIF, Liu et al., CIKM 2025): short dwells, click bursts.

Each filter returns ``(mask, score)`` aligned with the log's rows: ``mask`` says which
interactions look like noise under the rule, ``score`` ranks them (higher = more likely noise),
so a rule can be used both as a hard filter and as a noise score (``siftrec clean --rule``).
Both are vectorised: sorts, ``searchsorted`` and a doubling range-maximum, no per-user loop.
"""

from __future__ import annotations

import math

import numpy as np

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError

#: Dwell threshold (seconds) when none is given: the Adressa rule of Wang et al., WSDM 2021.
DEFAULT_MIN_DWELL = 10.0
#: Default burst rule: more than 2 clicks by one user within 10 seconds.
DEFAULT_BURST_CLICKS = 2
DEFAULT_BURST_WINDOW = 10.0


def dwell_filter(
    data: Interactions, min_seconds: float | None = None, item_quantile: float | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Flag clicks with a short ``dwell_time``: below ``min_seconds`` and/or below the
    ``item_quantile`` quantile of the item's own dwell times (both given: below either).

    Without either threshold, ``min_seconds`` = :data:`DEFAULT_MIN_DWELL`. The score is
    ``log1p(threshold) − log1p(dwell)`` with the (larger) applicable threshold: how far below
    the threshold the dwell is on a log scale, positive exactly for flagged clicks.
    The item quantile interpolates linearly between the item's sorted dwell times.
    """
    dwell = data.column("dwell_time")
    if dwell.dtype.kind not in "iuf":
        raise SiftrecError(f"dwell_time column is not numeric (dtype {dwell.dtype})")
    dwell = dwell.astype(np.float64)
    bad = ~np.isfinite(dwell)
    if bad.any():
        raise SiftrecError(f"dwell_time has {int(bad.sum())} missing or infinite values")
    if (dwell < 0).any():
        raise SiftrecError(f"dwell_time has {int((dwell < 0).sum())} negative values")
    if min_seconds is None and item_quantile is None:
        min_seconds = DEFAULT_MIN_DWELL
    threshold = np.zeros(len(dwell))
    if min_seconds is not None:
        if not math.isfinite(min_seconds) or min_seconds <= 0:
            raise SiftrecError(f"min_seconds must be a positive number, got {min_seconds}")
        threshold[:] = min_seconds
    if item_quantile is not None:
        if not 0 < item_quantile < 1:
            raise SiftrecError(f"item_quantile must be in (0, 1), got {item_quantile}")
        threshold = np.maximum(threshold, _group_quantile(data.items, dwell, item_quantile))
    score = np.log1p(threshold) - np.log1p(dwell)
    return score > 0, score


def burst_filter(
    data: Interactions,
    max_clicks: int = DEFAULT_BURST_CLICKS,
    window_seconds: float = DEFAULT_BURST_WINDOW,
) -> tuple[np.ndarray, np.ndarray]:
    """Flag clicks in a burst: more than ``max_clicks`` clicks by the same user within a
    time span of at most ``window_seconds`` (``timestamp`` column, seconds).

    The score of a click is its burst size: the largest number of the user's clicks in any
    window of length ``window_seconds`` that contains it (1 for an isolated click).
    """
    if isinstance(max_clicks, bool) or not isinstance(max_clicks, int | np.integer):
        raise SiftrecError(f"max_clicks must be an integer, got {max_clicks!r}")
    if max_clicks < 1:
        raise SiftrecError(f"max_clicks must be at least 1, got {max_clicks}")
    if not math.isfinite(window_seconds) or window_seconds < 0:
        raise SiftrecError(f"window_seconds must be a non-negative number, got {window_seconds}")
    stamps = data.column("timestamp")
    if stamps.dtype.kind not in "iuf":
        raise SiftrecError(f"timestamp column is not numeric (dtype {stamps.dtype})")
    stamps = stamps.astype(np.float64)
    if not np.isfinite(stamps).all():
        raise SiftrecError(f"timestamp has {int((~np.isfinite(stamps)).sum())} missing values")
    n = len(stamps)
    order = np.lexsort((stamps, data.users))
    users, times = data.users[order].astype(np.int64), stamps[order]
    # Exact (user, time) keys: times replaced by their rank among all times and window ends.
    distinct, rank = np.unique(np.concatenate([times, times + window_seconds]), return_inverse=True)
    click_keys = users * len(distinct) + rank[:n]
    end_keys = users * len(distinct) + rank[n:]
    position = np.arange(n)
    ends = np.searchsorted(click_keys, end_keys, side="right")  # window [t_j, t_j + w] = j..ends_j
    counts = ends - position
    first_cover = np.searchsorted(ends, position, side="right")  # windows j ≤ i with ends_j > i
    size = np.empty(n, dtype=np.float64)
    size[order] = _range_max(counts, first_cover)
    return size > max_clicks, size


def _group_quantile(groups: np.ndarray, values: np.ndarray, q: float) -> np.ndarray:
    """Per row, the ``q`` quantile (linear interpolation) of the values of its group."""
    order = np.lexsort((values, groups))
    sorted_groups, sorted_values = groups[order], values[order]
    starts = np.flatnonzero(np.r_[True, sorted_groups[1:] != sorted_groups[:-1]])
    sizes = np.diff(np.r_[starts, len(values)])
    where = q * (sizes - 1)
    below = np.floor(where).astype(np.int64)
    above = np.minimum(below + 1, sizes - 1)
    frac = where - below
    quantile = (1 - frac) * sorted_values[starts + below] + frac * sorted_values[starts + above]
    group_of_row = np.repeat(np.arange(len(starts)), sizes)
    out = np.empty(len(values))
    out[order] = quantile[group_of_row]
    return out


def _range_max(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """``max(values[starts[i] : i + 1])`` for every ``i`` (``starts[i] ≤ i``).

    A sparse table built one level at a time (level ``k`` holds maxima over ``2^k`` entries);
    each query is answered at the level of its range length from two overlapping blocks.
    """
    n = len(values)
    position = np.arange(n)
    level = np.frexp(position - starts + 1)[1].astype(np.int64) - 1  # ⌊log2(length)⌋, exact
    out = np.empty(n, dtype=values.dtype)
    table = values
    top = int(level.max()) if n else -1
    for k in range(top + 1):
        at = np.flatnonzero(level == k)
        out[at] = np.maximum(table[starts[at]], table[at - (1 << k) + 1])
        if k < top:
            table = np.maximum(table[: len(table) - (1 << k)], table[1 << k :])
    return out
