"""The two evaluation protocols of a missing-at-random (MAR) test set (Coat, Yahoo! R3).

The test items were assigned at random, so plain metrics are unbiased there. ``rated:`` metrics
(Saito et al.'s protocol, :func:`evaluate_mar_rated`) rank only each user's rated test items;
``all:`` metrics (:func:`evaluate_mar_all`) rank all items against the test items rated
``>= threshold``. :func:`evaluate_mar` runs both under one metric list, where a name without a
scope is a rated-items metric (``dcg@5`` = ``rated:dcg@5``). The arithmetic of the rated-items
metrics is the pure kernel :func:`rated_metrics`. Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np

from siftrec.data.interactions import Interactions
from siftrec.data.preprocess import rating_threshold
from siftrec.errors import SiftrecError
from siftrec.evaluate.metrics import (
    Metric,
    RatedDCG,
    RatedMAP,
    RatedRecall,
    metric_names,
    require_family,
)
from siftrec.evaluate.protocol import EvaluationResult, check_protocol_args, evaluate
from siftrec.evaluate.ranker import Ranker


def rated_metrics(
    items: np.ndarray,
    scores: np.ndarray,
    relevant: np.ndarray,
    metrics: str | Metric | Sequence[str | Metric] = "dcg@5,recall@5,map@5",
    epsilon: float = 0.001,
) -> dict[str, np.ndarray]:
    """Saito et al.'s rated-items DCG / Recall / MAP of each row (user): arrays in, values out.

    Args:
        items: (n_users, width) the user's rated item indices, ``-1`` padding at any position.
        scores: (n_users, width) the model's score of each rated item (ignored at padding).
        relevant: (n_users, width) whether the user rated the item ``>= threshold``.
        metrics: ``rated:`` metrics; a name without a scope is one (``"dcg@5,map@3"``).
        epsilon: relevance of a rated item that is not relevant.

    Each row's items are sorted by score, ties by lower item index. Relevance
    ``rel = ε + (1 − ε)·relevant``; with ``disc(1) = disc(2) = 1``, ``disc(r) = 1/log2(r)``:
    ``dcg@K = Σ_{r ≤ K} rel_r · disc(r)``, ``recall@K = Σ_{r ≤ K} rel_r / Σ_r rel_r`` (NaN for a
    row whose relevance sums to 0) and ``map@K = Σ_{r ≤ K, relevant} (Σ_{j ≤ r} rel_j) / r``.

    Returns:
        ``{key: (n_users,) float64}``, keys as in :func:`~siftrec.evaluate.metrics.metric_names`.
    """
    named = metric_names(metrics, scope="rated")
    require_family(named, "rated", "rated_metrics")
    items, scores, relevant = np.asarray(items), np.asarray(scores), np.asarray(relevant)
    if items.ndim != 2 or items.dtype.kind not in "iu":
        raise SiftrecError(f"items must be a 2-d integer array, got shape {items.shape}")
    if scores.shape != items.shape or relevant.shape != items.shape:
        raise SiftrecError(
            f"items {items.shape}, scores {scores.shape} and relevant {relevant.shape} must have "
            "one shape"
        )
    if not 0 <= epsilon < 1:
        raise SiftrecError(f"epsilon must be in [0, 1), got {epsilon}")
    k_max = max(m.k for m in named.values())
    if items.shape[1] < k_max:  # pad: a cut-off past a user's rated items adds nothing
        extra = ((0, 0), (0, k_max - items.shape[1]))
        items = np.pad(items, extra, constant_values=-1)
        scores = np.pad(scores.astype(np.float64), extra)
        relevant = np.pad(relevant, extra)
    width = items.shape[1]
    scores = np.where(items >= 0, scores, -np.inf)
    # best score first; ties by lower item index; padding (score -inf, item -1 → last) at the end
    tie_key = np.where(items >= 0, items, np.iinfo(np.int64).max)
    ranking = np.lexsort((tie_key, -scores), axis=-1)
    rel_flag = np.take_along_axis(relevant.astype(bool), ranking, axis=1)
    padding = np.take_along_axis(items, ranking, axis=1) < 0
    rel = np.where(padding, 0.0, epsilon + (1.0 - epsilon) * rel_flag)

    positions = np.arange(width, dtype=np.float64)
    discount = 1.0 / np.log2(np.maximum(positions, 1.0) + 1.0)  # ranks 1 and 2 → 1
    cum_rel = np.cumsum(rel, axis=1)
    ap_terms = np.cumsum(np.where(rel_flag & ~padding, cum_rel / (positions + 1.0), 0.0), axis=1)
    dcg = np.cumsum(rel * discount, axis=1)
    total = cum_rel[:, -1]
    out: dict[str, np.ndarray] = {}
    for key, metric in named.items():
        k = metric.k
        if isinstance(metric, RatedDCG):
            out[key] = dcg[:, k - 1]
        elif isinstance(metric, RatedRecall):
            # ε = 0 leaves users without a relevant item with recall 0/0: NaN, out of the mean
            out[key] = np.divide(
                cum_rel[:, k - 1], total, out=np.full(len(items), np.nan), where=total > 0
            )
        else:
            out[key] = ap_terms[:, k - 1]
    return out


def evaluate_mar_all(
    model: Ranker,
    test: Interactions,
    metrics: str | Metric | Sequence[str | Metric] = "recall@5,ndcg@5",
    *,
    threshold: float = 4.0,
    rating_column: str = "rating",
    exclude: Interactions | Sequence[Interactions] | None = None,
    batch_size: int = 2048,
) -> EvaluationResult:
    """All-item ranking on a missing-at-random test set.

    The relevant items of a user are the test items rated ``>= threshold``; every item is a
    candidate except the user's training items (and ``exclude``). Users without a relevant test
    item are skipped (library convention). Random assignment of the test items makes the plain
    metrics unbiased here.
    """
    relevant = rating_threshold(test, threshold, rating_column)
    if len(relevant) == 0:
        raise SiftrecError(f"no test rating is >= {threshold}; nothing is relevant")
    return evaluate(model, relevant, metrics, exclude=exclude, batch_size=batch_size)


def evaluate_mar_rated(
    model: Ranker,
    test: Interactions,
    ks: Sequence[int] = (1, 3, 5),
    *,
    threshold: float = 4.0,
    rating_column: str = "rating",
    epsilon: float = 0.001,
    batch_size: int = 2048,
) -> EvaluationResult:
    """Saito et al.'s protocol: rank only each user's rated test items (:func:`rated_metrics`).

    Every test user known to the model is averaged, with or without a relevant item. Keys of
    ``metrics``: ``dcg@K``, ``recall@K``, ``map@K`` for every K of ``ks``.
    """
    start = time.perf_counter()
    check_protocol_args(model, test, None, None, batch_size)
    ks = _check_ks(ks)
    if not 0 <= epsilon < 1:
        raise SiftrecError(f"epsilon must be in [0, 1), got {epsilon}")
    ratings = test.column(rating_column)
    if ratings.dtype.kind not in "iuf":
        raise SiftrecError(f"column {rating_column!r} is not numeric (dtype {ratings.dtype})")
    held, n_dropped = test.remap(model.user_map_, model.item_map_)
    if len(held) == 0:
        raise SiftrecError("no test interaction has a user and item known to the model")
    order = np.lexsort((held.items, held.users))
    users_all, items_all = held.users[order].astype(np.int64), held.items[order].astype(np.int64)
    keys = users_all * held.n_items + items_all
    if np.any(keys[1:] == keys[:-1]):
        raise SiftrecError("the test log rates some (user, item) pair twice; deduplicate it first")
    relevant_all = held.column(rating_column)[order] >= threshold

    users, starts, counts = np.unique(users_all, return_index=True, return_counts=True)
    width = int(counts.max())
    slot = np.arange(len(users_all)) - np.repeat(starts, counts)
    row = np.repeat(np.arange(len(users)), counts)
    items = np.full((len(users), width), -1, dtype=np.int64)
    items[row, slot] = items_all
    relevant = np.zeros((len(users), width), dtype=bool)
    relevant[row, slot] = relevant_all
    scores = np.full((len(users), width), -np.inf)
    for lo in range(0, len(users), batch_size):
        hi = min(lo + batch_size, len(users))
        block = model.score(users[lo:hi])
        mask = items[lo:hi] >= 0
        scores[lo:hi] = np.take_along_axis(block, np.where(mask, items[lo:hi], 0), axis=1)
    wanted = [metric(k) for k in ks for metric in (RatedDCG, RatedRecall, RatedMAP)]
    values = rated_metrics(items, scores, relevant, wanted, epsilon)
    per_user = {f"{m.name}@{m.k}": values[m.label] for m in wanted}
    return EvaluationResult(
        metrics={name: float(np.nanmean(v)) for name, v in per_user.items()},
        n_users=len(users),
        n_skipped_users=int(np.unique(test.users).size) - len(users),
        n_dropped_interactions=n_dropped,
        users=users,
        per_user=per_user,
        seconds=time.perf_counter() - start,
    )


def evaluate_mar(
    model: Ranker,
    test: Interactions,
    metrics: str | Metric | Sequence[str | Metric] = ("dcg@5", "recall@5", "map@5"),
    *,
    threshold: float = 4.0,
    batch_size: int = 2048,
) -> EvaluationResult:
    """Both MAR protocols under one metric list.

    ``dcg@K``/``recall@K``/``map@K`` (``rated:`` implied) come from :func:`evaluate_mar_rated`,
    ``all:<metric>@K`` from :func:`evaluate_mar_all` (training items masked, users without a
    relevant test item skipped). Per-user values cover the union of both protocols' users; a
    user one protocol skips has NaN there, and each metric is the mean over its own protocol's
    users.
    """
    start = time.perf_counter()
    named = mar_metric_names(metrics)
    rated = {key: m for key, m in named.items() if m.family == "rated"}
    every = {key: m for key, m in named.items() if m.family == "ranking"}
    parts: list[tuple[EvaluationResult, dict[str, str]]] = []
    if rated:
        ks = sorted({m.k for m in rated.values()})
        result = evaluate_mar_rated(model, test, ks, threshold=threshold, batch_size=batch_size)
        parts.append((result, {key: f"{m.name}@{m.k}" for key, m in rated.items()}))
    if every:
        wanted = list(every.values())
        result = evaluate_mar_all(model, test, wanted, threshold=threshold, batch_size=batch_size)
        parts.append((result, {key: m.label for key, m in every.items()}))
    users = np.unique(np.concatenate([part.users for part, _ in parts]))
    values: dict[str, float] = {}
    per_user: dict[str, np.ndarray] = {}
    for part, names in parts:
        rows = np.searchsorted(users, part.users)
        for key, name in names.items():
            values[key] = part.metrics[name]
            if name in part.per_user:  # catalog-level metrics (coverage) have no per-user values
                per_user[key] = np.full(len(users), np.nan)
                per_user[key][rows] = part.per_user[name]
    return EvaluationResult(
        metrics={key: values[key] for key in named},
        n_users=len(users),
        n_skipped_users=int(np.unique(test.users).size) - len(users),
        n_dropped_interactions=max(part.n_dropped_interactions for part, _ in parts),
        users=users,
        per_user={key: per_user[key] for key in named if key in per_user},
        seconds=time.perf_counter() - start,
    )


def mar_metric_names(metrics: str | Metric | Sequence[str | Metric]) -> dict[str, Metric]:
    """Metrics of a MAR test set by result key: a name without a scope is a ``rated:`` one;
    IPS/SNIPS metrics are refused (the test items were assigned at random)."""
    named = metric_names(metrics, scope="rated")
    for key, metric in named.items():
        if metric.family == "ips":
            raise SiftrecError(
                f"MAR metric {key!r}: a missing-at-random test set needs no propensities; "
                "write dcg@K, recall@K, map@K (rated items) or all:<metric>@K"
            )
    return named


def _check_ks(ks: Sequence[int]) -> list[int]:
    values = list(ks)
    if not values or any(
        isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0 for k in values
    ):
        raise SiftrecError(f"cut-offs must be positive integers, got {ks!r}")
    return sorted({int(k) for k in values})
