"""Beyond-accuracy metrics of top-K lists: popularity, exposure concentration, long tail, coverage.

Pure functions of ``ranked`` (users × K item indices, best first, ``-1`` for padding) and the
training popularity of every item; a metric never sees a model. They show what debiasing
changes besides accuracy: how popular the recommended items are and how evenly exposure is
spread over the catalog. Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

import math

import numpy as np

from siftrec.errors import SiftrecError

#: Share of the catalog (most popular items first) that forms the "head" for the long tail.
DEFAULT_HEAD_FRACTION = 0.2


def average_popularity(ranked: np.ndarray, popularity: np.ndarray) -> float:
    """Mean over users of the mean popularity of their recommended items (ARP).

    Users whose list is all padding are left out.
    """
    ranked, popularity = _check(ranked, popularity)
    valid = ranked >= 0
    sums = np.where(valid, popularity[np.where(valid, ranked, 0)], 0.0).sum(axis=1)
    counts = valid.sum(axis=1)
    has = counts > 0
    return float(np.mean(sums[has] / counts[has])) if has.any() else math.nan


def exposure_counts(ranked: np.ndarray, n_items: int) -> np.ndarray:
    """How many lists recommend each item (length ``n_items``)."""
    ranked = _check_ranked(ranked, n_items)
    return np.bincount(ranked[ranked >= 0], minlength=n_items)


def gini_index(ranked: np.ndarray, n_items: int) -> float:
    """Gini index of the item exposure counts over the whole catalog.

    0: every item recommended equally often; ``(n_items − 1)/n_items``: a single item gets every
    slot. Items never recommended count as 0 exposure. With ascending counts ``x_(j)``:
    ``G = Σ_j (2j − n − 1) x_(j) / (n Σ_j x_j)``.
    """
    counts = np.sort(exposure_counts(ranked, n_items)).astype(np.float64)
    total = counts.sum()
    if total == 0:
        return math.nan
    n = len(counts)
    j = np.arange(1, n + 1, dtype=np.float64)
    return float(np.sum((2 * j - n - 1) * counts) / (n * total))


def head_items(popularity: np.ndarray, head_fraction: float = DEFAULT_HEAD_FRACTION) -> np.ndarray:
    """Mask of the ``ceil(head_fraction · n_items)`` most popular items (ties: lower index)."""
    popularity = _check_popularity(popularity)
    if not 0 <= head_fraction <= 1:
        raise SiftrecError(f"head_fraction must be in [0, 1], got {head_fraction}")
    n_head = math.ceil(head_fraction * len(popularity))
    order = np.argsort(-popularity, kind="stable")
    mask = np.zeros(len(popularity), dtype=bool)
    mask[order[:n_head]] = True
    return mask


def long_tail_share(
    ranked: np.ndarray, popularity: np.ndarray, head_fraction: float = DEFAULT_HEAD_FRACTION
) -> float:
    """Mean over users of the fraction of their recommended items outside the popularity head."""
    ranked, popularity = _check(ranked, popularity)
    tail = ~head_items(popularity, head_fraction)
    valid = ranked >= 0
    in_tail = (valid & tail[np.where(valid, ranked, 0)]).sum(axis=1)
    counts = valid.sum(axis=1)
    has = counts > 0
    return float(np.mean(in_tail[has] / counts[has])) if has.any() else math.nan


def catalog_coverage(ranked: np.ndarray, n_items: int) -> float:
    """Distinct recommended items / ``n_items``."""
    return float(np.count_nonzero(exposure_counts(ranked, n_items)) / n_items)


def beyond_accuracy(
    ranked: np.ndarray,
    popularity: np.ndarray,
    k: int | None = None,
    head_fraction: float = DEFAULT_HEAD_FRACTION,
) -> dict[str, float]:
    """All four metrics of the top ``k`` (default: all columns) of ``ranked``.

    Keys: ``avg_popularity@K``, ``gini@K``, ``long_tail@K``, ``coverage@K``; the catalog is
    ``len(popularity)`` items (pass the training item counts).
    """
    ranked, popularity = _check(ranked, popularity)
    k = ranked.shape[1] if k is None else k
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 0 < k <= ranked.shape[1]:
        raise SiftrecError(f"k must be an integer in [1, {ranked.shape[1]}], got {k!r}")
    top, n_items = ranked[:, :k], len(popularity)
    return {
        f"avg_popularity@{k}": average_popularity(top, popularity),
        f"gini@{k}": gini_index(top, n_items),
        f"long_tail@{k}": long_tail_share(top, popularity, head_fraction),
        f"coverage@{k}": catalog_coverage(top, n_items),
    }


def _check(ranked: np.ndarray, popularity: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    popularity = _check_popularity(popularity)
    return _check_ranked(ranked, len(popularity)), popularity


def _check_popularity(popularity: np.ndarray) -> np.ndarray:
    arr = np.asarray(popularity, dtype=np.float64)
    if arr.ndim != 1 or arr.size == 0:
        raise SiftrecError(f"popularity must be a non-empty 1-d array, got shape {arr.shape}")
    if not np.all(np.isfinite(arr)) or (arr < 0).any():
        raise SiftrecError("popularity must be finite and non-negative")
    return arr


def _check_ranked(ranked: np.ndarray, n_items: int) -> np.ndarray:
    arr = np.asarray(ranked)
    if arr.ndim != 2 or arr.dtype.kind not in "iu":
        raise SiftrecError(f"ranked must be a 2-d integer array, got shape {arr.shape}")
    if n_items <= 0:
        raise SiftrecError(f"n_items must be positive, got {n_items}")
    if arr.size and (arr.min() < -1 or arr.max() >= n_items):
        raise SiftrecError(f"ranked item indices must lie in [0, {n_items}) or be -1 (padding)")
    return arr.astype(np.int64, copy=False)
