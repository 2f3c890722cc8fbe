"""Metric objects, the one grammar of metric names, and the pure top-K ranking-metric kernel.

A metric never sees a model: the kernels receive ``ranked`` (users × K item indices, best first,
``-1`` for padding) and ``truth`` (users × items CSR of held-out items). Every metric name reads

    [all:|rated:][ips-|snips-]NAME@K

and parses into a small frozen object: ``"recall@20"`` → ``Recall(20)``, ``"snips-ndcg@5"`` →
``NDCG(5, estimator="snips")``, ``"rated:dcg@5"`` → ``RatedDCG(5)``; ``metric.label`` is the
canonical name. ``ips-``/``snips-`` weigh hits by inverse propensities (:mod:`.ips`); ``rated:``
names Saito et al.'s metrics over each user's rated items of a missing-at-random test set
(:mod:`.mar`), ``all:`` full ranking over all items (the default). A call may fill in what a name
leaves out: :func:`siftrec.evaluate.ips.evaluate_ips` its ``estimator``, the MAR protocols the
``rated:`` scope. Definitions and the papers that use each variant are in ``docs/metrics.md``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp

from siftrec.errors import SiftrecError

Estimator = Literal["ips", "snips"]
#: Propensity estimators a metric name may carry (``snips-dcg@5``).
ESTIMATORS: tuple[str, ...] = ("ips", "snips")
Scope = Literal["all", "rated"]
#: Item scopes a metric name may carry: full ranking (``all:``) or a user's rated items.
SCOPES: tuple[str, ...] = ("all", "rated")
#: The grammar of a metric name, quoted by every parse error.
GRAMMAR = "[all:|rated:][ips-|snips-]NAME@K"


@dataclass(frozen=True)
class Metric:
    """One metric at cut-off ``k``; ``label`` (also ``str(metric)``) is its canonical name."""

    k: int
    #: NAME in the grammar.
    name: ClassVar[str]
    #: Which kernel computes it: ``"ranking"`` (:func:`ranking_metrics`), ``"ips"`` or ``"rated"``.
    family: ClassVar[str] = "ranking"
    #: Whether it has one value per user (every metric except ``coverage``).
    per_user: ClassVar[bool] = True

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int | np.integer) or self.k <= 0:
            raise SiftrecError(f"{self.name}: cut-off must be a positive integer, got {self.k!r}")
        object.__setattr__(self, "k", int(self.k))

    @property
    def label(self) -> str:
        """The canonical name, e.g. ``recall@20``, ``snips-ndcg@5``, ``rated:dcg@5``."""
        return f"{self.name}@{self.k}"

    def __str__(self) -> str:
        return self.label


@dataclass(frozen=True)
class _Weighted(Metric):
    """A metric with IPS/SNIPS versions: ``estimator`` None is the plain metric."""

    estimator: Estimator | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.estimator is not None and self.estimator not in ESTIMATORS:
            raise SiftrecError(
                f"{self.name}: estimator must be one of {', '.join(ESTIMATORS)} or None, "
                f"got {self.estimator!r}"
            )

    @property
    def family(self) -> str:  # type: ignore[override]
        return "ranking" if self.estimator is None else "ips"

    @property
    def label(self) -> str:
        prefix = f"{self.estimator}-" if self.estimator else ""
        return f"{prefix}{self.name}@{self.k}"


@dataclass(frozen=True)
class Recall(_Weighted):
    """``H_u / |T_u|`` (IPS/SNIPS: weighted hits over ``|T_u|``)."""

    name: ClassVar[str] = "recall"


@dataclass(frozen=True)
class NDCG(_Weighted):
    """``DCG / IDCG(min(K, |T_u|))`` with binary gains (IPS/SNIPS: weighted gains)."""

    name: ClassVar[str] = "ndcg"


@dataclass(frozen=True)
class DCG(_Weighted):
    """IPS/SNIPS ``Σ_{hits ≤ K} ŵ / log2(rank + 1)``; full-ranking DCG needs an estimator."""

    name: ClassVar[str] = "dcg"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.estimator is None:
            raise SiftrecError(
                f"dcg@{self.k} is an IPS/SNIPS metric (ips-dcg@{self.k}, snips-dcg@{self.k}) or, "
                f"on a MAR test set, a rated-items metric (rated:dcg@{self.k}); use ndcg@{self.k} "
                "for full ranking"
            )


@dataclass(frozen=True)
class RecallCapped(Metric):
    """``H_u / min(K, |T_u|)``."""

    name: ClassVar[str] = "recall_capped"


@dataclass(frozen=True)
class Precision(Metric):
    """``H_u / K``."""

    name: ClassVar[str] = "precision"


@dataclass(frozen=True)
class HitRate(Metric):
    """``1{H_u > 0}``."""

    name: ClassVar[str] = "hit_rate"


@dataclass(frozen=True)
class MRR(Metric):
    """``1 / rank of the first hit`` (0 without a hit in the top K)."""

    name: ClassVar[str] = "mrr"


@dataclass(frozen=True)
class MAP(Metric):
    """``(1/min(K, |T_u|)) Σ_{k≤K} hit_k · Precision@k``."""

    name: ClassVar[str] = "map"


@dataclass(frozen=True)
class Coverage(Metric):
    """Distinct items in all top-K lists / candidate items (catalog-level, not per user)."""

    name: ClassVar[str] = "coverage"
    per_user: ClassVar[bool] = False


@dataclass(frozen=True)
class HitRatePairs(Metric):
    """Per test *pair*: ``Σ_u H_u / Σ_u |T_u|``, the share of held-out pairs ranked in the top K
    (MuLe's / HGIB's HR@K, which iterates test pairs: a user with several counts several times).
    """

    name: ClassVar[str] = "hit_rate_pairs"
    per_user: ClassVar[bool] = False


@dataclass(frozen=True)
class NDCGPairs(Metric):
    """Per test *pair*: ``Σ_u Σ_{hits ≤ K} 1/log2(rank + 1) / Σ_u |T_u|`` — each pair's NDCG
    with that one item relevant, averaged over pairs (MuLe's / HGIB's NDCG@K)."""

    name: ClassVar[str] = "ndcg_pairs"
    per_user: ClassVar[bool] = False


@dataclass(frozen=True)
class _Rated(Metric):
    """Saito et al.'s metric over each user's rated items of a MAR test set (:mod:`.mar`)."""

    family: ClassVar[str] = "rated"

    @property
    def label(self) -> str:
        return f"rated:{self.name}@{self.k}"


@dataclass(frozen=True)
class RatedDCG(_Rated):
    """``Σ_{r ≤ K} rel_r · disc(r)``, not normalised."""

    name: ClassVar[str] = "dcg"


@dataclass(frozen=True)
class RatedRecall(_Rated):
    """``Σ_{r ≤ K} rel_r / Σ_r rel_r``."""

    name: ClassVar[str] = "recall"


@dataclass(frozen=True)
class RatedMAP(_Rated):
    """``Σ_{r ≤ K, relevant} (Σ_{j ≤ r} rel_j) / r``, not normalised."""

    name: ClassVar[str] = "map"


_ALL_ITEMS: dict[str, type[Metric]] = {
    cls.name: cls
    for cls in (
        Recall,
        RecallCapped,
        Precision,
        NDCG,
        DCG,
        HitRate,
        MRR,
        MAP,
        Coverage,
        HitRatePairs,
        NDCGPairs,
    )
}
_RATED_ITEMS: dict[str, type[Metric]] = {cls.name: cls for cls in (RatedDCG, RatedRecall, RatedMAP)}

#: Metric names :func:`ranking_metrics` computes (``coverage`` is catalog-level, the rest are per
#: user).
METRICS: tuple[str, ...] = (
    "recall",
    "recall_capped",
    "precision",
    "ndcg",
    "hit_rate",
    "mrr",
    "map",
    "coverage",
    "hit_rate_pairs",
    "ndcg_pairs",
)


def MetricSpec(name: str, k: int) -> Metric:
    """The full-ranking metric ``name@k``, e.g. ``MetricSpec("recall", 20) == Recall(20)``."""
    return parse_metric(f"{name}@{k}")


def parse_metric(
    text: str | Metric, *, estimator: Estimator | None = None, scope: Scope = "all"
) -> Metric:
    """One metric name (see :data:`GRAMMAR`) or object; see :func:`metric_names`."""
    ((_, metric),) = metric_names([text], estimator=estimator, scope=scope).items()
    return metric


def parse_metrics(
    spec: str | Metric | Sequence[str | Metric],
    *,
    estimator: Estimator | None = None,
    scope: Scope = "all",
) -> list[Metric]:
    """``"recall@20,ndcg@20"`` (or a list of names and objects) → distinct metrics, in order."""
    out: list[Metric] = []
    for metric in metric_names(spec, estimator=estimator, scope=scope).values():
        if metric not in out:
            out.append(metric)
    return out


def metric_names(
    spec: str | Metric | Sequence[str | Metric],
    *,
    estimator: Estimator | None = None,
    scope: Scope = "all",
) -> dict[str, Metric]:
    """Each requested metric by its result key, in order.

    The key of a name is the name as written in canonical form (lower case, no spaces, K a
    plain integer): ``" Recall@20"`` → ``"recall@20"``; the key of an object is its label.
    What a name leaves out the call fills in: ``estimator`` for a ``recall``/``dcg``/``ndcg``
    name without ``ips-``/``snips-``, ``scope`` for a name without ``all:``/``rated:`` (the
    MAR protocols pass ``"rated"``). Objects without an estimator take ``estimator`` too.
    """
    if isinstance(spec, str):
        parts: list[str | Metric] = spec.split(",")
    elif isinstance(spec, Metric):
        parts = [spec]
    else:
        parts = list(spec)
    if estimator is not None and estimator not in ESTIMATORS:
        raise SiftrecError(f"estimator must be one of {', '.join(ESTIMATORS)}, got {estimator!r}")
    out: dict[str, Metric] = {}
    for part in parts:
        if isinstance(part, Metric):
            key, metric = part.label, part
            if estimator is not None and isinstance(part, _Weighted) and part.estimator is None:
                metric = replace(part, estimator=estimator)
        else:
            key, metric = _parse_name(str(part), estimator, scope)
        if out.setdefault(key, metric) != metric:
            raise SiftrecError(
                f"{key!r} names two different metrics here ({out[key].label} and "
                f"{metric.label}); write all:{key} or rated:{key}"
            )
    if not out:
        raise SiftrecError("no metrics requested; use e.g. 'recall@20,ndcg@20'")
    return out


def _parse_name(text: str, estimator: Estimator | None, scope: Scope) -> tuple[str, Metric]:
    """``(key, metric)`` of one name; every error is one line quoting :data:`GRAMMAR`."""
    compact = "".join(text.split()).lower()
    if not compact:
        raise SiftrecError("empty entry in the metric list; write e.g. 'recall@20,ndcg@20'")
    written_scope, colon, rest = compact.rpartition(":")
    if colon and written_scope not in SCOPES:
        raise SiftrecError(f"metric {text.strip()!r}: unknown scope {written_scope!r}; {_HELP}")
    body, at, k_text = rest.partition("@")
    if not at:
        raise SiftrecError(
            f"metric {text.strip()!r} has no cut-off; write it as NAME@K, e.g. 'recall@20'"
        )
    written_estimator, dash, name = body.rpartition("-")
    if dash and written_estimator not in ESTIMATORS:
        raise SiftrecError(
            f"metric {text.strip()!r}: unknown estimator {written_estimator!r}; {_HELP}"
        )
    try:
        k = int(k_text)
    except ValueError:
        raise SiftrecError(
            f"metric {text.strip()!r}: cut-off {k_text!r} is not an integer"
        ) from None
    if k <= 0:
        raise SiftrecError(f"metric {text.strip()!r}: cut-off must be a positive integer, got {k}")
    key = f"{written_scope}{colon}{written_estimator}{dash}{name}@{k}"
    if (written_scope or scope) == "rated":
        cls = _RATED_ITEMS.get(name)
        if cls is None or dash:
            raise SiftrecError(
                f"unknown MAR metric {text.strip()!r}: the rated-items metrics are "
                f"{', '.join(_RATED_ITEMS)} without an estimator (all:NAME@K ranks all items); "
                f"{_HELP}"
            )
        return key, cls(k)
    cls = _ALL_ITEMS.get(name)
    if cls is None:
        raise SiftrecError(f"unknown metric {name!r} in {text.strip()!r}; {_HELP}")
    if issubclass(cls, _Weighted):
        return key, cls(k, estimator=(written_estimator or estimator) or None)
    if dash:
        raise SiftrecError(
            f"metric {text.strip()!r}: {name} has no IPS/SNIPS version (ips-/snips- apply to "
            "recall, dcg, ndcg)"
        )
    return key, cls(k)


_HELP = (
    f"metric names read {GRAMMAR} with NAME one of {', '.join(_ALL_ITEMS)} "
    "(rated: dcg, recall, map), e.g. 'recall@20', 'snips-ndcg@5', 'rated:dcg@5'"
)


def require_family(metrics: dict[str, Metric], family: str, where: str) -> None:
    """Refuse a metric (by its result key) that another kernel computes, naming that call."""
    calls = {
        "ranking": "evaluate / ranking_metrics",
        "ips": "evaluate_ips / ips_ranking_metrics (propensity-weighted)",
        "rated": "evaluate_mar / rated_metrics (a MAR test set's rated items)",
    }
    for key, metric in metrics.items():
        if metric.family != family:
            raise SiftrecError(
                f"{where} cannot compute {key!r}: it is computed by {calls[metric.family]}"
            )


def ranking_metrics(
    ranked: np.ndarray,
    truth: sp.csr_matrix | sp.csr_array,
    specs: str | Metric | Sequence[str | Metric],
    n_items: int | None = None,
) -> dict[str, np.ndarray]:
    """Evaluate ranked lists against held-out items.

    Args:
        ranked: (n_users, K_max) item indices, best first; ``-1`` pads lists shorter than K_max.
            K_max must be at least the largest ``k`` in ``specs``.
        truth: (n_users, n_items) sparse matrix; the stored non-zero entries of row ``i`` are the
            held-out items T_u of the user of ``ranked`` row ``i``.
        specs: metrics to compute: names (``"recall@20,ndcg@20"``) or metric objects.
        n_items: catalog size for ``coverage`` (default ``truth.shape[1]``).

    Returns:
        ``{key: values}`` (keys as in :func:`metric_names`): a float64 array of shape
        (n_users,) for per-user metrics, with NaN for rows whose T_u is empty (undefined;
        ``np.nanmean`` then averages over users with held-out items, the library convention),
        and a 0-d float64 array for ``coverage@K``
        (distinct items in all top-K lists / n_items).
    """
    named = metric_names(specs)
    require_family(named, "ranking", "ranking_metrics")
    ranked, truth = check_metric_inputs(ranked, truth, list(named.values()))
    n_items = truth.shape[1] if n_items is None else int(n_items)
    if n_items <= 0:
        raise SiftrecError(f"n_items must be positive, got {n_items}")
    k_max = max(metric.k for metric in named.values())
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
        for key, spec in named.items():
            k = spec.k
            if spec.name == "coverage":
                items = top[:, :k]
                seen = np.zeros(truth.shape[1], dtype=bool)
                seen[items[items >= 0]] = True
                out[key] = np.asarray(seen.sum() / n_items, dtype=np.float64)
                continue
            n_hits = cum_hits[:, k - 1]
            if spec.name in ("hit_rate_pairs", "ndcg_pairs"):  # per held-out pair
                total = n_hits if spec.name == "hit_rate_pairs" else hits[:, :k] @ discount[:k]
                pairs = n_true.sum()
                out[key] = np.asarray(total.sum() / pairs if pairs else np.nan, dtype=np.float64)
                continue
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
            out[key] = value
    return out


def check_metric_inputs(
    ranked: np.ndarray, truth: sp.csr_matrix | sp.csr_array, specs: Sequence[Metric]
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
