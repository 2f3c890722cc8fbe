"""The full-ranking evaluation protocol: every user's held-out items ranked among all items.

For every test user: score all candidate items, mask the training items (and any extra
exclusion, e.g. the validation set at test time), take the top K and compare it with the user's
held-out items. Test logs may come with their own id maps; they are re-indexed onto the model's
maps and whatever cannot be evaluated is dropped and counted, never silently kept or lost.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

from siftrec.data.ids import IdMap
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.evaluate.metrics import Metric, metric_names, ranking_metrics, require_family
from siftrec.evaluate.ranker import Ranker
from siftrec.progress import new_progress, show_progress

if TYPE_CHECKING:
    import polars  # for annotations only: polars is slow to import, to_polars imports it lazily


@dataclass
class EvaluationResult:
    """Outcome of :func:`evaluate`.

    Attributes:
        metrics: mean over evaluated users per metric, keys like ``"recall@20"`` (``coverage@K``
            is catalog-level: distinct recommended items / candidate items).
        n_users: evaluated users (non-empty held-out set after filtering).
        n_skipped_users: test users unknown to the model (or, with fold-in, without fold-in
            interactions) or whose held-out set became empty after filtering.
        n_dropped_interactions: held-out rows dropped because their user or item is unknown to
            the model or (``drop_cold_items``) their item has no training interaction.
        users: evaluated user indices — into ``model.user_map_``, or into ``fold_in.user_map``
            when evaluated with fold-in.
        per_user: per-user metric values aligned with ``users`` (``coverage`` is not per user).
        seconds: wall time of the evaluation.
    """

    metrics: dict[str, float]
    n_users: int
    n_skipped_users: int
    n_dropped_interactions: int
    users: np.ndarray
    per_user: dict[str, np.ndarray]
    seconds: float

    def to_json(self) -> dict[str, float | int]:
        """``{metric: mean, ..., "n_users": n}`` — the JSON the CLI prints."""
        return {**self.metrics, "n_users": self.n_users}

    def per_user_frame(self, user_map: IdMap) -> polars.DataFrame:
        """A DataFrame with the raw ``user`` id and one column per per-user metric.

        ``user_map`` is the map ``users`` indexes: ``model.user_map_``, or ``fold_in.user_map``
        for a fold-in evaluation.
        """
        import polars as pl  # lazy: polars is heavy to import

        if self.users.size and self.users.max() >= len(user_map):
            raise SiftrecError(
                f"user map has {len(user_map)} ids but the result holds user index "
                f"{int(self.users.max())}; pass the model's (or the fold-in log's) user map"
            )
        data = {"user": user_map.to_raw(self.users)}
        data.update(self.per_user)
        return pl.DataFrame(data)


def evaluate(
    model: Ranker,
    test: Interactions,
    metrics: str | Metric | Sequence[str | Metric] = "recall@20,ndcg@20",
    *,
    exclude: Interactions | Sequence[Interactions] | None = None,
    exclude_seen: bool = True,
    fold_in: Interactions | None = None,
    drop_cold_items: bool = True,
    batch_size: int = 2048,
    progress: bool = False,
) -> EvaluationResult:
    """Full-ranking evaluation of ``model`` on the held-out log ``test``.

    Args:
        model: a fitted recommender.
        test: held-out interactions; any id maps (re-indexed onto the model's by raw id).
        metrics: ``"recall@20,ndcg@20"``, a list of such names or metric objects
            (``[Recall(20), NDCG(20)]``); results are keyed by the names as written (canonical
            form) or the objects' labels (see ``docs/metrics.md``).
        exclude: more interactions to mask (e.g. the validation set at test time).
        exclude_seen: mask the training items (with fold-in: the fold-in items).
        fold_in: strong generalisation — the test users are new users whose interactions in
            ``fold_in`` (matched to ``test`` by raw user id) are fed to
            ``model.recommend_history``; ``result.users`` then indexes ``fold_in.user_map``.
        drop_cold_items: remove items without training interactions from the candidates and
            from the held-out sets (counted in ``n_dropped_interactions``). With ``False`` they
            stay in both.
        batch_size: users scored at a time (bounds memory at batch_size × n_items scores).
        progress: show a bar over the users scored on stderr (unless ``siftrec --quiet``).
    """
    start = time.perf_counter()
    named = metric_names(metrics)
    require_family(named, "ranking", "evaluate")
    check_protocol_args(model, test, exclude, fold_in, batch_size)
    k = max(metric.k for metric in named.values())
    n_test_users = int(np.unique(test.users).size)

    if fold_in is None:
        held, n_dropped = test.remap(model.user_map_, model.item_map_)
    else:
        history, _ = fold_in.remap(fold_in.user_map, model.item_map_)
        held, n_dropped = test.remap(fold_in.user_map, model.item_map_)
        has_history = np.bincount(history.users, minlength=history.n_users) > 0
        keep = has_history[held.users]
        n_dropped += int((~keep).sum())
        held = held.subset(keep)
    held, truth, users, cold, n_dropped = evaluable_heldout(
        model, held, n_dropped, len(test), drop_cold_items
    )
    truth = truth[users]

    ranked = np.empty((len(users), k), dtype=np.int64)
    exclude_items = cold if cold.size else None
    if fold_in is None:
        mask = exclusion_matrix(model, exclude)
        for lo, hi in _batches(len(users), batch_size, progress):
            ranked[lo:hi], _ = model.recommend(
                users[lo:hi],
                k=k,
                exclude_seen=exclude_seen,
                exclude=mask,
                exclude_items=exclude_items,
                batch_size=batch_size,
            )
    else:
        fold_matrix = history.matrix[users]
        for lo, hi in _batches(len(users), batch_size, progress):
            ranked[lo:hi], _ = model.recommend_history(
                fold_matrix[lo:hi],
                k=k,
                exclude_seen=exclude_seen,
                batch_size=batch_size,
                exclude_items=exclude_items,
            )

    values = ranking_metrics(ranked, truth, list(named), n_items=model.n_items - cold.size)
    return EvaluationResult(
        metrics={key: float(np.mean(values[key])) for key in named},
        n_users=len(users),
        n_skipped_users=n_test_users - len(users),
        n_dropped_interactions=n_dropped,
        users=users,
        per_user={key: values[key] for key, metric in named.items() if metric.per_user},
        seconds=time.perf_counter() - start,
    )


def evaluable_heldout(
    model: Ranker, held: Interactions, n_dropped: int, n_rows: int, drop_cold_items: bool
) -> tuple[Interactions, sp.csr_matrix, np.ndarray, np.ndarray, int]:
    """Drop cold items from a re-indexed held-out log and find the users left to evaluate.

    Returns the filtered log, its binary truth matrix (all model users), the evaluable user
    indices, the cold item indices and the updated count of dropped rows.
    """
    item_counts = np.bincount(model.seen_.indices, minlength=model.n_items)
    cold = np.flatnonzero(item_counts == 0) if drop_cold_items else np.zeros(0, dtype=np.int64)
    if cold.size:
        keep = item_counts[held.items] > 0
        n_dropped += int((~keep).sum())
        held = held.subset(keep)
    truth = held.binary
    users = np.flatnonzero(np.diff(truth.indptr))
    if users.size == 0:
        raise SiftrecError(
            f"no test user left to evaluate: {n_dropped} of {n_rows} held-out interactions "
            "were dropped (user or item unknown to the model, or item never seen in training)"
        )
    return held, truth, users, cold, n_dropped


def check_protocol_args(
    model: Ranker,
    test: Interactions,
    exclude: Interactions | Sequence[Interactions] | None,
    fold_in: Interactions | None,
    batch_size: int,
) -> None:
    """Raise a one-line error for arguments no held-out protocol accepts."""
    if not isinstance(model, Ranker):
        raise SiftrecError(
            "evaluate expects a siftrec model (see siftrec.evaluate.ranker), "
            f"got {type(model).__name__}"
        )
    if not model.is_fitted:
        raise SiftrecError(f"{model.name} model is not fitted; call fit(train) first")
    if not isinstance(test, Interactions):
        raise SiftrecError(f"test must be Interactions, got {type(test).__name__}")
    if len(test) == 0:
        raise SiftrecError("test set is empty; nothing to evaluate")
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
        raise SiftrecError(f"batch_size must be a positive integer, got {batch_size!r}")
    if fold_in is not None:
        if not isinstance(fold_in, Interactions):
            raise SiftrecError(f"fold_in must be Interactions, got {type(fold_in).__name__}")
        if not model.supports_fold_in:
            raise SiftrecError(
                f"{model.name} cannot score users unseen in training, so it cannot be evaluated "
                "with fold_in (strong generalisation)"
            )
        if exclude is not None:
            raise SiftrecError(
                "exclude cannot be combined with fold_in: only the fold-in items are masked"
            )


def exclusion_matrix(
    model: Ranker, exclude: Interactions | Sequence[Interactions] | None
) -> sp.csr_matrix | None:
    """The extra exclusions re-indexed onto the model (rows it does not know are irrelevant)."""
    if exclude is None:
        return None
    parts = [exclude] if isinstance(exclude, Interactions) else list(exclude)
    mask = None
    for part in parts:
        if not isinstance(part, Interactions):
            raise SiftrecError(f"exclude must be Interactions, got {type(part).__name__}")
        remapped, _ = part.remap(model.user_map_, model.item_map_)
        mask = remapped.binary if mask is None else mask + remapped.binary
    return mask


def _batches(n: int, batch_size: int, progress: bool) -> Iterator[tuple[int, int]]:
    """``(lo, hi)`` user ranges of at most ``batch_size``, with an optional rich progress bar."""
    ranges = [(lo, min(lo + batch_size, n)) for lo in range(0, n, batch_size)]
    if not show_progress(progress):
        yield from ranges
        return
    with new_progress(True) as bar:
        task = bar.add_task("evaluating users", total=n)
        for lo, hi in ranges:
            yield lo, hi
            bar.advance(task, hi - lo)
