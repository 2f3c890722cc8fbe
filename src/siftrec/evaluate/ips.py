"""IPS / SNIPS ranking metrics and their full-ranking protocol on missing-not-at-random logs.

Held-out clicks from a missing-not-at-random log over-represent well-exposed items. With the
exposure propensity ``θ_ui`` of every held-out pair, a hit on item ``i`` is counted ``1/θ_ui``
instead of 1 (IPS), or with weights rescaled to average 1 over the user's held-out items
(self-normalised IPS, SNIPS). Metric names carry the estimator (``snips-dcg@5``); a name without
one takes the call's ``estimator``. Definitions: ``docs/metrics.md``.
"""

from __future__ import annotations

import time
from collections.abc import Sequence

import numpy as np
import scipy.sparse as sp

from siftrec.bias.propensity import popularity_propensities
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.evaluate.metrics import (
    ESTIMATORS,
    Estimator,
    Metric,
    check_metric_inputs,
    metric_names,
    require_family,
)
from siftrec.evaluate.protocol import (
    EvaluationResult,
    check_protocol_args,
    evaluable_heldout,
    exclusion_matrix,
)
from siftrec.evaluate.ranker import Ranker


def ips_ranking_metrics(
    ranked: np.ndarray,
    truth: sp.csr_matrix | sp.csr_array,
    specs: str | Metric | Sequence[str | Metric],
    propensities: np.ndarray | sp.spmatrix | sp.sparray,
    estimator: Estimator = "snips",
) -> dict[str, np.ndarray]:
    """IPS or SNIPS Recall/DCG/NDCG of ranked lists against held-out items.

    Args:
        ranked: (n_users, K_max) item indices, best first, ``-1`` for padding.
        truth: (n_users, n_items) sparse matrix whose stored entries are the held-out items.
        specs: metrics, e.g. ``"recall@5,dcg@5,ndcg@5"``, ``"ips-dcg@5"`` or
            ``[NDCG(5, estimator="ips")]``; one without an estimator takes ``estimator``.
        propensities: ``θ`` per item (shape ``(n_items,)``) or per pair (a sparse matrix shaped
            like ``truth`` with a value at every held-out entry); must be in (0, 1] there.
        estimator: ``"ips"`` (a hit on ``i`` counts ``w_i = 1/θ_ui``) or ``"snips"`` (counts
            ``w_i · |T_u| / Σ_{j∈T_u} w_j``, weights averaging 1 over the user's held-out items).

    Returns:
        ``{key: (n_users,) float64}`` (keys as in :func:`~siftrec.evaluate.metrics.metric_names`),
        NaN for rows without held-out items. With the weighted hits ``ŵ``: ``recall = Σ_{hits ≤ K}
        ŵ / |T_u|``, ``dcg = Σ_{hits ≤ K} ŵ / log2(rank + 1)``, ``ndcg = dcg / IDCG(min(K,
        |T_u|))``. Uniform propensities make SNIPS equal the plain metric.
    """
    if estimator not in ESTIMATORS:
        raise SiftrecError(f"estimator must be 'ips' or 'snips', got {estimator!r}")
    named = metric_names(specs, estimator=estimator)
    require_family(named, "ips", "ips_ranking_metrics")
    ranked, truth = check_metric_inputs(ranked, truth, list(named.values()))
    theta = _entry_propensities(truth, propensities)
    n_rows, n_items = truth.shape
    k_max = max(m.k for m in named.values())
    top = ranked[:, :k_max]

    rows = np.repeat(np.arange(n_rows, dtype=np.int64), np.diff(truth.indptr))
    n_true = np.diff(truth.indptr).astype(np.float64)
    hit = np.zeros(top.shape, dtype=bool)
    pos = np.zeros(top.shape, dtype=np.int64)
    if truth.nnz and top.size:
        keys_true = rows * n_items + truth.indices
        keys = np.arange(n_rows, dtype=np.int64)[:, None] * n_items + top
        pos = np.minimum(np.searchsorted(keys_true, keys), truth.nnz - 1)
        hit = (keys_true[pos] == keys) & (top >= 0)
    hit_weights = {
        name: _hit_weight(name, theta, rows, n_true, hit, pos)
        for name in {m.estimator for m in named.values()}  # type: ignore[attr-defined]
    }

    ranks = np.arange(1, k_max + 1, dtype=np.float64)
    discount = 1.0 / np.log2(ranks + 1.0)
    ideal = np.cumsum(discount)
    empty = n_true == 0
    out: dict[str, np.ndarray] = {}
    with np.errstate(divide="ignore", invalid="ignore"):
        for key, metric in named.items():
            k = metric.k
            hit_weight = hit_weights[metric.estimator]  # type: ignore[attr-defined]
            if metric.name == "recall":
                value = hit_weight[:, :k].sum(axis=1) / n_true
            else:
                value = hit_weight[:, :k] @ discount[:k]
                if metric.name == "ndcg":
                    capped = np.minimum(n_true, k).astype(np.int64)
                    value = value / ideal[np.maximum(capped, 1) - 1]
            value = np.asarray(value, dtype=np.float64)
            value[empty] = np.nan
            out[key] = value
    return out


def _hit_weight(
    estimator: str,
    theta: np.ndarray,
    rows: np.ndarray,
    n_true: np.ndarray,
    hit: np.ndarray,
    pos: np.ndarray,
) -> np.ndarray:
    """The weight ``ŵ`` of every ranked position under ``estimator`` (0 where it is no hit)."""
    weights = 1.0 / theta
    if estimator == "snips":
        mass = np.bincount(rows, weights=weights, minlength=len(n_true))
        weights = weights * (n_true / np.where(mass > 0, mass, 1.0))[rows]
    if not weights.size:
        return np.zeros(hit.shape)
    return np.where(hit, weights[pos], 0.0)


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
    model: Ranker,
    test: Interactions,
    metrics: str | Metric | Sequence[str | Metric] = "ndcg@5",
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
    ``exclude`` masked, cold items dropped), scored by :func:`ips_ranking_metrics`; a metric
    without an estimator in its name takes ``estimator``. ``propensities``: per item (length
    ``model.n_items``); None takes the test log's ``propensity`` column (per pair). Use it to
    tune on an MNAR validation split (e.g. Rel-MF's clip), never on the test set.
    """
    start = time.perf_counter()
    if estimator not in ESTIMATORS:
        raise SiftrecError(f"estimator must be 'ips' or 'snips', got {estimator!r}")
    named = metric_names(metrics, estimator=estimator)
    require_family(named, "ips", "evaluate_ips")
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
    k = max(m.k for m in named.values())
    ranked, _ = model.recommend(
        users,
        k=k,
        exclude_seen=exclude_seen,
        exclude=exclusion_matrix(model, exclude),
        exclude_items=cold if cold.size else None,
        batch_size=batch_size,
    )
    values = ips_ranking_metrics(ranked, truth[users], list(named), theta, estimator)
    return EvaluationResult(
        metrics={key: float(np.mean(values[key])) for key in named},
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
    if validation.has_column("propensity"):
        return None
    return popularity_propensities(train, eta)
