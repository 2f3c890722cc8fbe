"""Unbiased offline evaluation: IPS / SNIPS ranking metrics and the missing-at-random protocols.

Held-out clicks from a missing-not-at-random log over-represent well-exposed items. With the
exposure propensity ``θ_ui`` of every held-out pair, a hit on item ``i`` is counted ``1/θ_ui``
instead of 1 (IPS), or with weights rescaled to average 1 over the user's held-out items
(self-normalised IPS, SNIPS). On a missing-at-random test set (Coat, Yahoo! R3: items assigned
at random) plain metrics are already unbiased; :func:`evaluate_mar_all` and
:func:`evaluate_mar_rated` are the two protocols used on them (:func:`evaluate_mar` runs both
under one metric list). Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Literal

import numpy as np
import scipy.sparse as sp

from siftrec.data.interactions import Interactions
from siftrec.data.preprocess import rating_threshold
from siftrec.errors import SiftrecError
from siftrec.evaluate.metrics import MetricSpec, check_metric_inputs
from siftrec.evaluate.protocol import (
    EvaluationResult,
    check_protocol_args,
    evaluable_heldout,
    evaluate,
    exclusion_matrix,
)
from siftrec.models.base import Recommender

#: Metrics with IPS / SNIPS versions.
UNBIASED_METRICS: tuple[str, ...] = ("recall", "dcg", "ndcg")
Estimator = Literal["ips", "snips"]
ESTIMATORS: tuple[str, ...] = ("ips", "snips")
#: Metrics of the rated-items protocol (:func:`evaluate_mar_rated`).
MAR_RATED_METRICS: tuple[str, ...] = ("dcg", "recall", "map")
#: Prefix of a metric of the all-items protocol in :func:`evaluate_mar` (``"all:ndcg@5"``).
MAR_ALL_PREFIX = "all:"


def parse_unbiased_metrics(spec: str | Sequence[str]) -> list[MetricSpec]:
    """Parse ``"recall@5,dcg@5,ndcg@5"`` into distinct specs of :data:`UNBIASED_METRICS`."""
    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[MetricSpec] = []
    for part in parts:
        text = str(part).strip()
        name, sep, k_text = text.partition("@")
        name = name.strip().lower()
        if name not in UNBIASED_METRICS:
            raise SiftrecError(
                f"unknown unbiased metric {text!r}; known: {', '.join(UNBIASED_METRICS)}"
            )
        k_text = k_text.strip()
        if not sep or not k_text.isdigit() or int(k_text) <= 0:
            raise SiftrecError(f"metric {text!r} needs a positive integer cut-off, e.g. 'dcg@5'")
        parsed = MetricSpec(name, int(k_text))
        if parsed not in out:
            out.append(parsed)
    if not out:
        raise SiftrecError("no metrics requested; use e.g. 'recall@5,ndcg@5'")
    return out


def parse_estimator_metric(text: str) -> tuple[Estimator, str]:
    """``"snips-dcg@5"`` → ``("snips", "dcg@5")``: an estimator and one unbiased metric."""
    estimator, sep, metric = str(text).strip().partition("-")
    if not sep or estimator.lower() not in ESTIMATORS:
        raise SiftrecError(
            f"{text!r} is not an IPS/SNIPS metric; write e.g. 'snips-dcg@5' or 'ips-recall@5'"
        )
    (spec,) = parse_unbiased_metrics([metric])
    return estimator.lower(), str(spec)  # type: ignore[return-value]


def parse_mar_metrics(metrics: Sequence[str]) -> tuple[list[int], list[str]]:
    """Split :func:`evaluate_mar` metric names into the rated-items cut-offs and the all-items
    metrics (prefix stripped): ``["dcg@5", "map@3", "all:ndcg@5"]`` → ``([3, 5], ["ndcg@5"])``."""
    from siftrec.evaluate.metrics import parse_metrics

    ks: set[int] = set()
    every: list[str] = []
    for text in metrics:
        name = str(text).strip()
        if name.startswith(MAR_ALL_PREFIX):
            (spec,) = parse_metrics([name.removeprefix(MAR_ALL_PREFIX)])
            if MAR_ALL_PREFIX + str(spec) != name:
                raise SiftrecError(f"write MAR metric {name!r} as {MAR_ALL_PREFIX}{spec}")
            every.append(str(spec))
            continue
        metric, sep, k = name.partition("@")
        canonical = sep and k.isdigit() and int(k) > 0 and str(int(k)) == k
        if metric not in MAR_RATED_METRICS or not canonical:
            raise SiftrecError(
                f"unknown MAR metric {name!r}; use {'/'.join(MAR_RATED_METRICS)}@K (rated items) "
                f"or {MAR_ALL_PREFIX}<metric>@K (all items), e.g. 'dcg@5', 'all:ndcg@5'"
            )
        ks.add(int(k))
    return sorted(ks), every


def ips_ranking_metrics(
    ranked: np.ndarray,
    truth: sp.csr_matrix | sp.csr_array,
    specs: str | Sequence[str] | Sequence[MetricSpec],
    propensities: np.ndarray | sp.spmatrix | sp.sparray,
    estimator: Estimator = "snips",
) -> dict[str, np.ndarray]:
    """IPS or SNIPS Recall/DCG/NDCG of ranked lists against held-out items.

    Args:
        ranked: (n_users, K_max) item indices, best first, ``-1`` for padding.
        truth: (n_users, n_items) sparse matrix whose stored entries are the held-out items.
        specs: metrics, e.g. ``"recall@5,dcg@5,ndcg@5"``.
        propensities: ``θ`` per item (shape ``(n_items,)``) or per pair (a sparse matrix shaped
            like ``truth`` with a value at every held-out entry); must be in (0, 1] there.
        estimator: ``"ips"`` (a hit on ``i`` counts ``w_i = 1/θ_ui``) or ``"snips"`` (counts
            ``w_i · |T_u| / Σ_{j∈T_u} w_j``, weights averaging 1 over the user's held-out items).

    Returns:
        ``{str(spec): (n_users,) float64}``, NaN for rows without held-out items. With the
        weighted hits ``ŵ``: ``recall = Σ_{hits ≤ K} ŵ / |T_u|``, ``dcg = Σ_{hits ≤ K} ŵ /
        log2(rank + 1)``, ``ndcg = dcg / IDCG(min(K, |T_u|))``. Uniform propensities make SNIPS
        equal the plain metric.
    """
    if estimator not in ESTIMATORS:
        raise SiftrecError(f"estimator must be 'ips' or 'snips', got {estimator!r}")
    if not isinstance(specs, str) and all(isinstance(s, MetricSpec) for s in specs):
        specs = [str(s) for s in specs]
    specs = parse_unbiased_metrics(specs)
    ranked, truth = check_metric_inputs(ranked, truth, specs)
    theta = _entry_propensities(truth, propensities)
    n_rows, n_items = truth.shape
    k_max = max(s.k for s in specs)
    top = ranked[:, :k_max]

    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(truth.indptr))
    weights = 1.0 / theta
    n_true = np.diff(truth.indptr).astype(np.float64)
    if estimator == "snips":
        mass = np.bincount(rows, weights=weights, minlength=n_rows)
        weights = weights * (n_true / np.where(mass > 0, mass, 1.0))[rows]
    hit_weight = np.zeros(top.shape)
    if truth.nnz and top.size:
        keys_true = rows * n_items + truth.indices
        keys = np.arange(n_rows, dtype=np.int64)[:, None] * n_items + top
        pos = np.minimum(np.searchsorted(keys_true, keys), truth.nnz - 1)
        hit = (keys_true[pos] == keys) & (top >= 0)
        hit_weight = np.where(hit, weights[pos], 0.0)

    ranks = np.arange(1, k_max + 1, dtype=np.float64)
    discount = 1.0 / np.log2(ranks + 1.0)
    ideal = np.cumsum(discount)
    empty = n_true == 0
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for spec in specs:
            k = spec.k
            if spec.name == "recall":
                value = hit_weight[:, :k].sum(axis=1) / n_true
            else:
                value = hit_weight[:, :k] @ discount[:k]
                if spec.name == "ndcg":
                    capped = np.minimum(n_true, k).astype(np.int64)
                    value = value / ideal[np.maximum(capped, 1) - 1]
            value = np.asarray(value, dtype=np.float64)
            value[empty] = np.nan
            out[str(spec)] = value
    return out


def _entry_propensities(
    truth: sp.csr_matrix, propensities: np.ndarray | sp.spmatrix | sp.sparray
) -> np.ndarray:
    """θ of every stored entry of the canonical ``truth`` (in its storage order)."""
    if sp.issparse(propensities):
        if propensities.shape != truth.shape:
            raise SiftrecError(
                f"per-pair propensities have shape {propensities.shape}, truth {truth.shape}"
            )
        table = sp.csr_matrix(propensities)
        table.sort_indices()
        rows = np.repeat(np.arange(truth.shape[0], dtype=np.int64), np.diff(table.indptr))
        keys = rows * truth.shape[1] + table.indices
        if np.any(keys[1:] == keys[:-1]):
            raise SiftrecError("per-pair propensities hold duplicate (user, item) entries")
        true_rows = np.repeat(np.arange(truth.shape[0], dtype=np.int64), np.diff(truth.indptr))
        wanted = true_rows * truth.shape[1] + truth.indices
        pos = np.minimum(np.searchsorted(keys, wanted), max(len(keys) - 1, 0))
        found = (keys[pos] == wanted) if len(keys) else np.zeros(len(wanted), dtype=bool)
        if not found.all():
            raise SiftrecError(
                f"{int((~found).sum())} held-out pairs have no propensity in the per-pair matrix"
            )
        theta = np.asarray(table.data, dtype=np.float64)[pos]
    else:
        arr = np.asarray(propensities, dtype=np.float64)
        if arr.shape != (truth.shape[1],):
            raise SiftrecError(
                f"per-item propensities have shape {arr.shape}; expected ({truth.shape[1]},)"
            )
        theta = arr[truth.indices]
    bad = ~np.isfinite(theta) | (theta <= 0) | (theta > 1)
    if bad.any():
        raise SiftrecError(
            f"{int(bad.sum())} held-out pairs have a propensity outside (0, 1]; clip them first "
            "(siftrec.bias.clip_propensities)"
        )
    return theta


def evaluate_ips(
    model: Recommender,
    test: Interactions,
    metrics: str | Sequence[str] = "ndcg@5",
    propensities: np.ndarray | None = None,
    *,
    estimator: Estimator = "snips",
    exclude: Interactions | Sequence[Interactions] | None = None,
    exclude_seen: bool = True,
    drop_cold_items: bool = True,
    batch_size: int = 2048,
) -> EvaluationResult:
    """Full-ranking IPS/SNIPS evaluation on a missing-not-at-random held-out log.

    The protocol of :func:`siftrec.evaluate.evaluate` (all items ranked, training items and
    ``exclude`` masked, cold items dropped), scored by :func:`ips_ranking_metrics`.
    ``propensities``: per item (length ``model.n_items``); None takes the test log's
    ``propensity`` column (per pair). Use it to tune on an MNAR validation split (e.g. Rel-MF's
    clip), never on the test set.
    """
    start = time.perf_counter()
    specs = parse_unbiased_metrics(metrics)
    check_protocol_args(model, test, exclude, None, batch_size)
    if propensities is None and not test.has_column("propensity"):
        raise SiftrecError(
            "evaluate_ips needs propensities: pass per-item values or give the test log a "
            "'propensity' column"
        )
    held, n_dropped = test.remap(model.user_map_, model.item_map_)
    held, truth, users, cold, n_dropped = evaluable_heldout(
        model, held, n_dropped, len(test), drop_cold_items
    )
    if propensities is None:
        keys = held.users.astype(np.int64) * held.n_items + held.items
        _, first = np.unique(keys, return_index=True)
        theta = sp.csr_matrix(
            (held.column("propensity")[first], (held.users[first], held.items[first])),
            shape=held.shape,
        )[users]
    else:
        theta = np.asarray(propensities)
        if theta.shape != (model.n_items,):
            raise SiftrecError(
                f"propensities have shape {theta.shape}; expected ({model.n_items},) per item"
            )
    k = max(s.k for s in specs)
    ranked, _ = model.recommend(
        users,
        k=k,
        exclude_seen=exclude_seen,
        exclude=exclusion_matrix(model, exclude),
        exclude_items=cold if cold.size else None,
        batch_size=batch_size,
    )
    values = ips_ranking_metrics(ranked, truth[users], specs, theta, estimator)
    return EvaluationResult(
        metrics={str(s): float(np.mean(values[str(s)])) for s in specs},
        n_users=len(users),
        n_skipped_users=int(np.unique(test.users).size) - len(users),
        n_dropped_interactions=n_dropped,
        users=users,
        per_user=values,
        seconds=time.perf_counter() - start,
    )


def validation_propensities(
    train: Interactions, validation: Interactions, eta: float = 0.5
) -> np.ndarray | None:
    """What to weigh MNAR validation clicks by in :func:`evaluate_ips` (e.g. to tune Rel-MF).

    None (the validation log's own per-pair ``propensity`` column, e.g. Coat's shipped values)
    when it has one, else the item-popularity power law ``(n_i / max n)^eta`` of ``train``
    (Saito et al.'s choice, eta 0.5).
    """
    from siftrec.bias import popularity_propensities

    if validation.has_column("propensity"):
        return None
    return popularity_propensities(train, eta)


def evaluate_mar_all(
    model: Recommender,
    test: Interactions,
    metrics: str | Sequence[str] = "recall@5,ndcg@5",
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
    model: Recommender,
    test: Interactions,
    ks: Sequence[int] = (1, 3, 5),
    *,
    threshold: float = 4.0,
    rating_column: str = "rating",
    epsilon: float = 0.001,
    batch_size: int = 2048,
) -> EvaluationResult:
    """Saito et al.'s protocol: rank only each user's rated test items (methods.md §5.7).

    Relevance ``rel = ε + (1 − ε)·[rating >= threshold]`` (ε = 0.001); the user's rated items
    are sorted by score (ties: lower item index first) and, with ``disc(1) = disc(2) = 1``,
    ``disc(r) = 1/log2(r)`` after:

    - ``dcg@K = Σ_{r ≤ K} rel_r · disc(r)`` (not normalised);
    - ``recall@K = Σ_{r ≤ K} rel_r / Σ_r rel_r`` (a user without a relevant item gets
      ``K / n_rated``, as in the authors' code);
    - ``map@K = Σ_{r ≤ K, relevant} (Σ_{j ≤ r} rel_j) / r`` (not normalised).

    Every test user known to the model is averaged, with or without a relevant item. Keys of
    ``metrics``: ``dcg@K``, ``recall@K``, ``map@K``.
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
    width = max(int(counts.max()), max(ks))
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
        gathered = np.take_along_axis(block, np.where(mask, items[lo:hi], 0), axis=1)
        scores[lo:hi] = np.where(mask, gathered, -np.inf)
    # best score first; ties by lower item index; padding (score -inf, item -1 → last) at the end
    tie_key = np.where(items >= 0, items, np.iinfo(np.int64).max)
    ranking = np.lexsort((tie_key, -scores), axis=-1)
    rel_flag = np.take_along_axis(relevant, ranking, axis=1)
    padding = np.take_along_axis(items, ranking, axis=1) < 0
    rel = np.where(padding, 0.0, epsilon + (1.0 - epsilon) * rel_flag)

    positions = np.arange(width, dtype=np.float64)
    discount = 1.0 / np.log2(np.maximum(positions, 1.0) + 1.0)  # ranks 1 and 2 → 1
    cum_rel = np.cumsum(rel, axis=1)
    ap_terms = np.cumsum(np.where(rel_flag & ~padding, cum_rel / (positions + 1.0), 0.0), axis=1)
    dcg = np.cumsum(rel * discount, axis=1)
    total = cum_rel[:, -1]
    per_user: dict[str, np.ndarray] = {}
    for k in ks:
        per_user[f"dcg@{k}"] = dcg[:, k - 1]
        # ε = 0 leaves users without a relevant item with recall 0/0: NaN, left out of the mean
        per_user[f"recall@{k}"] = np.divide(
            cum_rel[:, k - 1], total, out=np.full(len(users), np.nan), where=total > 0
        )
        per_user[f"map@{k}"] = ap_terms[:, k - 1]
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
    model: Recommender,
    test: Interactions,
    metrics: Sequence[str] = ("dcg@5", "recall@5", "map@5"),
    *,
    threshold: float = 4.0,
    batch_size: int = 2048,
) -> EvaluationResult:
    """Both MAR protocols under one metric list (names as in :func:`parse_mar_metrics`).

    ``dcg@K``/``recall@K``/``map@K`` come from :func:`evaluate_mar_rated`, ``all:<metric>`` from
    :func:`evaluate_mar_all` (training items masked, users without a relevant test item
    skipped). Per-user values cover the union of both protocols' users; a user one protocol
    skips has NaN there, and each metric is the mean over its own protocol's users.
    """
    start = time.perf_counter()
    wanted = [str(m).strip() for m in metrics]
    ks, every = parse_mar_metrics(wanted)
    parts: list[tuple[EvaluationResult, str]] = []
    if ks:
        rated = evaluate_mar_rated(model, test, ks, threshold=threshold, batch_size=batch_size)
        parts.append((rated, ""))
    if every:
        result = evaluate_mar_all(model, test, every, threshold=threshold, batch_size=batch_size)
        parts.append((result, MAR_ALL_PREFIX))
    users = np.unique(np.concatenate([part.users for part, _ in parts]))
    values: dict[str, float] = {}
    per_user: dict[str, np.ndarray] = {}
    for part, prefix in parts:
        rows = np.searchsorted(users, part.users)
        for name in part.metrics:
            if prefix + name not in wanted:
                continue
            values[prefix + name] = part.metrics[name]
            if name in part.per_user:  # catalog-level metrics (coverage) have no per-user values
                per_user[prefix + name] = np.full(len(users), np.nan)
                per_user[prefix + name][rows] = part.per_user[name]
    return EvaluationResult(
        metrics={name: values[name] for name in wanted},
        n_users=len(users),
        n_skipped_users=int(np.unique(test.users).size) - len(users),
        n_dropped_interactions=max(part.n_dropped_interactions for part, _ in parts),
        users=users,
        per_user={name: per_user[name] for name in wanted if name in per_user},
        seconds=time.perf_counter() - start,
    )


def _check_ks(ks: Sequence[int]) -> list[int]:
    values = list(ks)
    if not values or any(
        isinstance(k, bool) or not isinstance(k, int | np.integer) or k <= 0 for k in values
    ):
        raise SiftrecError(f"cut-offs must be positive integers, got {ks!r}")
    return sorted({int(k) for k in values})
