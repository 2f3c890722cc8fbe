"""Plain and IPS/SNIPS metrics in one evaluation, with the propensities named by one string.

``siftrec evaluate --metrics recall@20,snips-ndcg@20 --propensity SPEC`` lands here: the plain
metrics go through :func:`~siftrec.evaluate.protocol.evaluate`, the ``ips-``/``snips-`` ones
through :func:`~siftrec.evaluate.ips.evaluate_ips` with the propensities ``SPEC`` names
(:data:`PROPENSITY_SPEC`), and the two results become one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from siftrec.data.interactions import Interactions
from siftrec.data.readers import ITEM_ALIASES, read_frame
from siftrec.data.readers.columns import find_column
from siftrec.errors import SiftrecError
from siftrec.evaluate.metrics import Metric, metric_names
from siftrec.evaluate.protocol import EvaluationResult, evaluate
from siftrec.evaluate.ranker import Ranker

#: What a propensity spec may be (ETA's default is ``siftrec.bias.propensity.DEFAULT_ETA``).
PROPENSITY_SPEC = (
    "'power-law[:ETA]' (item popularity in the model's training data, (n_i / max n)^ETA, "
    "ETA 0.5 by default), 'column[:NAME]' (the test file's per-pair column, "
    "'propensity' by default) or a CSV/Parquet file with item,propensity columns"
)


def training_log(model: Ranker) -> Interactions:
    """The model's training pairs (its ``seen_`` matrix) with its id maps."""
    return Interactions.from_csr(model.seen_, model.user_map_, model.item_map_)


def resolve_propensities(
    spec: str, model: Ranker, test: Interactions
) -> tuple[np.ndarray | None, Interactions]:
    """``(per-item θ or None, test)`` for :func:`evaluate_ips` from ``spec``.

    ``None`` means per pair: ``test`` then carries a ``propensity`` column (copied from the
    column ``spec`` names). Per-item values are aligned with ``model.item_map_``; an item
    without one is NaN, refused by :func:`evaluate_ips` only where a held-out pair needs it.
    """
    # lazy: siftrec.bias loads torch (its exposure model); plain metrics do not need it
    from siftrec.bias.propensity import DEFAULT_ETA, check_propensities, popularity_propensities

    kind, _, arg = spec.partition(":")
    if kind == "power-law":
        try:
            eta = float(arg) if arg else DEFAULT_ETA
        except ValueError:
            raise SiftrecError(f"propensity {spec!r}: ETA {arg!r} is not a number") from None
        return popularity_propensities(training_log(model), eta), test
    if kind == "column":
        name = arg or "propensity"
        if not test.has_column(name):
            found = ", ".join(test.columns) or "none"
            raise SiftrecError(
                f"propensity {spec!r}: the test file has no {name!r} column (side columns: {found})"
            )
        values = check_propensities(test.column(name), f"the test file's {name!r} column")
        return None, test.with_columns(propensity=values)
    path = Path(spec)
    if not path.is_file():
        raise SiftrecError(f"propensity {spec!r} is no file; give {PROPENSITY_SPEC}")
    theta = read_item_propensities(path, model)
    held = model.item_map_.to_index(test.raw_items(), what="item")
    lacking = np.unique(held[(held >= 0) & np.isnan(theta[held])])
    if lacking.size:
        raise SiftrecError(
            f"{path.name} gives no propensity for {lacking.size:,} held-out items "
            f"(e.g. {model.item_map_.to_raw(lacking[:1])[0]})"
        )
    return theta, test


def read_item_propensities(path: Path, model: Ranker) -> np.ndarray:
    """θ per item of ``model.item_map_`` from a CSV/Parquet file with item,propensity columns;
    items the file does not list are NaN, items the model does not know are ignored."""
    from siftrec.bias.propensity import check_propensities  # lazy: loads torch

    frame = read_frame(path)
    item = find_column(frame.columns, ITEM_ALIASES)
    if item is None or "propensity" not in frame.columns:
        raise SiftrecError(
            f"{path.name} needs an item column and a propensity column; it has "
            f"{', '.join(frame.columns)}"
        )
    try:
        values = frame["propensity"].cast(float).to_numpy()
    except Exception:  # polars raises several types for a non-numeric text cell
        raise SiftrecError(f"{path.name}: the propensity column holds non-numbers") from None
    values = check_propensities(values, f"{path.name}'s propensities")
    index = model.item_map_.to_index(frame[item].cast(str).to_numpy(), what="item")
    known = index >= 0
    if np.unique(index[known]).size != int(known.sum()):
        raise SiftrecError(f"{path.name} lists an item twice")
    theta = np.full(model.n_items, np.nan)
    theta[index[known]] = values[known]
    return theta


def evaluate_weighted(
    model: Ranker,
    test: Interactions,
    metrics: str | Sequence[str | Metric],
    propensity: str | None = None,
    *,
    exclude: Interactions | Sequence[Interactions] | None = None,
    progress: bool = False,
) -> EvaluationResult:
    """Full-ranking evaluation of plain and ``ips-``/``snips-`` metrics together.

    ``propensity`` (:data:`PROPENSITY_SPEC`) is required by, and only allowed with, IPS/SNIPS
    metrics. Both protocols rank the same users (same masks, cold items dropped), so the
    per-user values line up; the result keeps the requested metric order.
    """
    named = metric_names(metrics)
    weighted = [key for key, metric in named.items() if metric.family == "ips"]
    plain = [key for key in named if key not in weighted]
    if weighted and propensity is None:
        raise SiftrecError(
            f"{', '.join(weighted)} weigh hits by inverse propensities: give a propensity "
            f"source ({PROPENSITY_SPEC})"
        )
    if propensity is not None and not weighted:
        raise SiftrecError(
            "a propensity source weighs only ips-/snips- metrics; add one, e.g. snips-ndcg@20"
        )
    results = []
    if plain:
        results.append(evaluate(model, test, plain, exclude=exclude, progress=progress))
    if weighted:
        from siftrec.evaluate.ips import evaluate_ips  # lazy: loads torch through siftrec.bias

        assert propensity is not None
        theta, test = resolve_propensities(propensity, model, test)
        results.append(evaluate_ips(model, test, weighted, theta, exclude=exclude))
    first = results[0]
    if any(not np.array_equal(r.users, first.users) for r in results[1:]):
        raise SiftrecError("the plain and IPS protocols evaluated different users")
    merged_metrics = {k: v for r in results for k, v in r.metrics.items()}
    merged_users = {k: v for r in results for k, v in r.per_user.items()}
    return EvaluationResult(
        metrics={key: merged_metrics[key] for key in named},
        n_users=first.n_users,
        n_skipped_users=first.n_skipped_users,
        n_dropped_interactions=first.n_dropped_interactions,
        users=first.users,
        per_user={key: merged_users[key] for key in named if key in merged_users},
        seconds=sum(r.seconds for r in results),
    )
