"""Top-K ranking metrics as pure, vectorised functions of ranked item indices and held-out sets.

A metric never sees a model: it receives ``ranked`` (users × K item indices, best first, ``-1``
for padding) and ``truth`` (users × items CSR of held-out items). Definitions and the papers
that use each variant are in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from siftrec.errors import SiftrecError

#: Metric names understood by :func:`parse_metrics` (``coverage`` is catalog-level, the rest
#: are per user).
METRICS: tuple[str, ...] = (
    "recall",
    "recall_capped",
    "precision",
    "ndcg",
    "hit_rate",
    "mrr",
    "map",
    "coverage",
)


@dataclass(frozen=True)
class MetricSpec:
    """A metric name and its cut-off; ``str(spec)`` is the result key, e.g. ``"recall@20"``."""

    name: str
    k: int

    def __str__(self) -> str:
        return f"{self.name}@{self.k}"

    @property
    def per_user(self) -> bool:
        """Whether the metric has one value per user (every metric except ``coverage``)."""
        return self.name != "coverage"


def parse_metrics(spec: str | Sequence[str] | Sequence[MetricSpec]) -> list[MetricSpec]:
    """Parse ``"recall@20,ndcg@20"`` (or a list of such strings) into distinct specs, in order."""
    if isinstance(spec, str):
        parts = spec.split(",")
    else:
        parts = list(spec)
    out: list[MetricSpec] = []
    for part in parts:
        if isinstance(part, MetricSpec):
            parsed = _checked(part.name, part.k, str(part))
        else:
            parsed = _parse_one(str(part))
        if parsed not in out:
            out.append(parsed)
    if not out:
        raise SiftrecError("no metrics requested; use e.g. 'recall@20,ndcg@20'")
    return out


def _parse_one(text: str) -> MetricSpec:
    text = text.strip()
    if not text:
        raise SiftrecError("empty entry in the metric list; write e.g. 'recall@20,ndcg@20'")
    name, sep, k_text = text.partition("@")
    if not sep:
        raise SiftrecError(f"metric {text!r} has no cut-off; write it as name@K, e.g. 'recall@20'")
    try:
        k = int(k_text.strip())
    except ValueError:
        raise SiftrecError(f"metric {text!r}: cut-off {k_text!r} is not an integer") from None
    return _checked(name.strip().lower(), k, text)


def _checked(name: str, k: int, text: str) -> MetricSpec:
    if name not in METRICS:
        raise SiftrecError(f"unknown metric {name!r} in {text!r}; known: {', '.join(METRICS)}")
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0:
        raise SiftrecError(f"metric {text!r}: cut-off must be a positive integer, got {k!r}")
    return MetricSpec(name, int(k))


def ranking_metrics(
    ranked: np.ndarray,
    truth: sp.csr_matrix | sp.csr_array,
    specs: Sequence[MetricSpec],
    n_items: int | None = None,
) -> dict[str, np.ndarray]:
    """Evaluate ranked lists against held-out items.

    Args:
        ranked: (n_users, K_max) item indices, best first; ``-1`` pads lists shorter than K_max.
            K_max must be at least the largest ``k`` in ``specs``.
        truth: (n_users, n_items) sparse matrix; the stored non-zero entries of row ``i`` are the
            held-out items T_u of the user of ``ranked`` row ``i``.
        specs: metrics to compute (see :func:`parse_metrics`).
        n_items: catalog size for ``coverage`` (default ``truth.shape[1]``).

    Returns:
        ``{str(spec): values}``: a float64 array of shape (n_users,) for per-user metrics, with
        NaN for rows whose T_u is empty (undefined; ``np.nanmean`` then averages over users with
        held-out items, the library convention), and a 0-d float64 array for ``coverage@K``
        (distinct items in all top-K lists / n_items).
    """
    ranked, truth = check_metric_inputs(ranked, truth, specs)
    n_items = truth.shape[1] if n_items is None else int(n_items)
    if n_items <= 0:
        raise SiftrecError(f"n_items must be positive, got {n_items}")
    k_max = max(spec.k for spec in specs)
    top = ranked[:, :k_max]
    hits = _hits(top, truth)
    n_true = np.diff(truth.indptr).astype(np.float64)
    empty = n_true == 0
    cum_hits = np.cumsum(hits, axis=1, dtype=np.float64)  # H_u@k for every k ≤ K_max
    ranks = np.arange(1, k_max + 1, dtype=np.float64)
    discount = 1.0 / np.log2(ranks + 1.0)
    ideal = np.cumsum(discount)  # ideal[j] = IDCG with j + 1 relevant items
    # Precision@k at every hit position, summed cumulatively: the MAP numerator for every K.
    cum_precision_at_hits = np.cumsum(hits * (cum_hits / ranks), axis=1)
    first_hit = np.argmax(hits, axis=1)  # 0 when there is no hit; guarded by n_hits below

    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for spec in specs:
            k = spec.k
            if spec.name == "coverage":
                items = top[:, :k]
                seen = np.zeros(truth.shape[1], dtype=bool)
                seen[items[items >= 0]] = True
                out[str(spec)] = np.asarray(seen.sum() / n_items, dtype=np.float64)
                continue
            n_hits = cum_hits[:, k - 1]
            capped = np.minimum(n_true, k)
            if spec.name == "recall":
                value = n_hits / n_true
            elif spec.name == "recall_capped":
                value = n_hits / capped
            elif spec.name == "precision":
                value = n_hits / k
            elif spec.name == "ndcg":
                dcg = hits[:, :k] @ discount[:k]
                idcg = ideal[np.maximum(capped.astype(np.int64), 1) - 1]
                value = dcg / idcg
            elif spec.name == "hit_rate":
                value = (n_hits > 0).astype(np.float64)
            elif spec.name == "mrr":
                value = np.where(n_hits > 0, 1.0 / (first_hit + 1.0), 0.0)
            else:  # map
                value = cum_precision_at_hits[:, k - 1] / capped
            value = np.asarray(value, dtype=np.float64)
            value[empty] = np.nan
            out[str(spec)] = value
    return out


def check_metric_inputs(
    ranked: np.ndarray, truth: sp.csr_matrix | sp.csr_array, specs: Sequence[MetricSpec]
) -> tuple[np.ndarray, sp.csr_matrix]:
    """Validate shapes and values; return int64 ranked lists and a canonical binary CSR."""
    if not specs:
        raise SiftrecError("no metrics requested")
    ranked = np.asarray(ranked)
    if ranked.ndim != 2 or ranked.dtype.kind not in "iu":
        raise SiftrecError(
            f"ranked must be a 2-d integer array of item indices, got shape {ranked.shape} "
            f"and dtype {ranked.dtype}"
        )
    if not sp.issparse(truth):
        raise SiftrecError("truth must be a scipy sparse users × items matrix of held-out items")
    if truth.shape[0] != ranked.shape[0]:
        raise SiftrecError(
            f"ranked has {ranked.shape[0]} rows but truth has {truth.shape[0]}; rows must align"
        )
    k_max = max(spec.k for spec in specs)
    if ranked.shape[1] < k_max:
        raise SiftrecError(
            f"ranked lists have {ranked.shape[1]} columns, fewer than the largest cut-off {k_max}"
        )
    ranked = ranked.astype(np.int64, copy=False)
    n_items = truth.shape[1]
    if ranked.size and (ranked.min() < -1 or ranked.max() >= n_items):
        raise SiftrecError(f"ranked item indices must lie in [0, {n_items}) or be -1 (padding)")
    top = np.sort(ranked[:, :k_max], axis=1)
    if np.any((top[:, 1:] == top[:, :-1]) & (top[:, 1:] >= 0)):
        raise SiftrecError("ranked lists repeat an item within a row")
    truth = sp.csr_matrix(truth, copy=True)
    truth.sum_duplicates()
    truth.eliminate_zeros()
    truth.sort_indices()
    return ranked, truth


def _hits(top: np.ndarray, truth: sp.csr_matrix) -> np.ndarray:
    """Boolean (n_users, K) matrix: is ``top[u, j]`` one of the held-out items of row ``u``?

    Encodes (row, item) pairs as int64 keys ``row * n_items + item``; the truth keys of a CSR
    with sorted indices are sorted, so membership is a single ``searchsorted``.
    """
    n_rows, n_items = truth.shape
    if top.size == 0 or truth.nnz == 0:
        return np.zeros(top.shape, dtype=bool)
    truth_rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(truth.indptr))
    truth_keys = truth_rows * n_items + truth.indices
    keys = np.arange(n_rows, dtype=np.int64)[:, None] * n_items + top
    pos = np.minimum(np.searchsorted(truth_keys, keys), len(truth_keys) - 1)
    return (truth_keys[pos] == keys) & (top >= 0)
