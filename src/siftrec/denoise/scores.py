"""Per-interaction noise scores: which training interactions look like false positives.

``noise_scores(model, train, method)`` returns one float per row of ``train`` (higher = more
likely noise). Methods are functions ``fn(model, train, **options) -> np.ndarray`` in a small
registry, so other modules add theirs with ``@register_noise_score("name")`` (e.g. NBPO's flip
posterior) without touching this file. Built-in methods:

- ``loss``: for a torch model trained with a sampled (pointwise or pairwise) objective, whose
  scores are logits, the BCE loss of the interaction as a positive, ``softplus(−s_ui)``
  (the quantity T-CE truncates). Any other model (classic models, listwise VAEs) has scores
  on a per-user scale, so the score is the user's normalised rank of the item instead:
  ``(#items scored higher + ½ #other items tied) / (n_items − 1)``, 0 for the user's top item
  and 1 for the bottom one, comparable across users.
- ``percentile``: the interaction's loss percentile among its user's own training
  interactions (PLD's observation, Zhang et al., WWW 2025: noisy positives stand out in the user's
  personal loss distribution even where the global distributions overlap); mid-ranks for ties,
  0.5 for users with a single interaction.
- ``dwell`` / ``burst``: the rule-based scores of :mod:`siftrec.data.filters` (need the
  ``dwell_time`` / ``timestamp`` columns; options are the filters' thresholds; no model).

``train`` may be indexed on other id maps than the model (e.g. re-read from a file): rows are
mapped onto the model's maps by raw id; a user or item unknown to the model is an error.
Scoring is batched: logits of the interactions' (user, item) pairs in chunks through the
scorer's ``score_pairs``, or, for other models, ``model.score`` over blocks of users.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.stats import rankdata

from siftrec.data.filters import DEFAULT_BURST_WINDOW, burst_filter, dwell_filter
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.models.base import Recommender
from siftrec.models.torch_base import TorchRecommender
from siftrec.objectives import SAMPLED_KINDS, get_objective

NoiseScoreFn = Callable[..., np.ndarray]

_REGISTRY: dict[str, NoiseScoreFn] = {}
#: Pairs scored per chunk on the logit path; score-matrix entries per block on the rank path.
_BLOCK_ENTRIES = 1 << 24


def register_noise_score(name: str) -> Callable[[NoiseScoreFn], NoiseScoreFn]:
    """Decorator registering ``fn(model, train, **options) -> scores`` under ``name``
    (case-insensitive)."""
    name = name.lower()

    def decorate(fn: NoiseScoreFn) -> NoiseScoreFn:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise RuntimeError(f"noise score {name!r} registered twice")
        _REGISTRY[name] = fn
        return fn

    return decorate


def available_noise_scores() -> list[str]:
    """Names of the registered noise-score methods."""
    return sorted(_REGISTRY)


def noise_scores(
    model: Recommender | None, train: Interactions, method: str = "loss", **options: Any
) -> np.ndarray:
    """One float64 noise score per row of ``train`` (higher = more likely noise).

    ``model`` is the fitted model whose fit is judged (``None`` for ``dwell``/``burst``);
    ``options`` go to the method (e.g. ``min_seconds`` for ``dwell``).
    """
    if not isinstance(train, Interactions):
        raise SiftrecError(f"noise scores need Interactions, got {type(train).__name__}")
    fn = _REGISTRY.get(method.lower())
    if fn is None:
        known = ", ".join(available_noise_scores())
        raise SiftrecError(f"unknown noise score {method!r}; available: {known}")
    try:
        inspect.signature(fn).bind(model, train, **options)
    except TypeError:
        accepted = list(inspect.signature(fn).parameters)[2:]
        raise SiftrecError(
            f"noise score {method!r} does not take {', '.join(sorted(options))} "
            f"(options: {', '.join(accepted) or 'none'})"
        ) from None
    scores = np.asarray(fn(model, train, **options), dtype=np.float64)
    if scores.shape != (len(train),):
        raise SiftrecError(
            f"noise score {method!r} returned shape {scores.shape}, expected ({len(train)},)"
        )
    if np.isnan(scores).any():
        raise SiftrecError(f"noise score {method!r} produced {int(np.isnan(scores).sum())} NaNs")
    return scores


# ---------------------------------------------------------------------------- built-in methods
@register_noise_score("loss")
def loss_scores(model: Recommender, train: Interactions) -> np.ndarray:
    """``softplus(−s_ui)`` for logit models, else the per-user normalised rank (see module)."""
    return _loss(model, *model_indices(model, train))


@register_noise_score("percentile")
def percentile_scores(model: Recommender, train: Interactions) -> np.ndarray:
    """The ``loss`` score's percentile within each user's own interactions (see module)."""
    users, items = model_indices(model, train)
    return within_user_percentile(_loss(model, users, items), users)


@register_noise_score("dwell")
def dwell_scores(
    model: Recommender | None,
    train: Interactions,
    min_seconds: float | None = None,
    item_quantile: float | None = None,
) -> np.ndarray:
    """:func:`siftrec.data.filters.dwell_filter`'s score (shorter dwell → higher)."""
    return dwell_filter(train, min_seconds=min_seconds, item_quantile=item_quantile)[1]


@register_noise_score("burst")
def burst_scores(
    model: Recommender | None, train: Interactions, window_seconds: float = DEFAULT_BURST_WINDOW
) -> np.ndarray:
    """:func:`siftrec.data.filters.burst_filter`'s score (the click's burst size)."""
    return burst_filter(train, window_seconds=window_seconds)[1]


# ---------------------------------------------------------------------------- helpers
def model_indices(model: Recommender, train: Interactions) -> tuple[np.ndarray, np.ndarray]:
    """The rows' user and item indices in the model's id maps (int64)."""
    if not isinstance(model, Recommender):
        raise SiftrecError(f"this noise score needs a fitted model, got {type(model).__name__}")
    if not model.is_fitted:
        raise SiftrecError(f"{model.name} model is not fitted; call fit(train) first")
    if train.user_map == model.user_map_ and train.item_map == model.item_map_:
        return train.users.astype(np.int64), train.items.astype(np.int64)
    users = model.user_map_.to_index(train.raw_users())
    items = model.item_map_.to_index(train.raw_items())
    unknown = (users < 0) | (items < 0)
    if unknown.any():
        raise SiftrecError(
            f"{int(unknown.sum()):,} of {len(train):,} interactions have a user or item unknown "
            "to the model; score the log the model was trained on"
        )
    return users, items


def within_user_percentile(values: np.ndarray, users: np.ndarray) -> np.ndarray:
    """Mid-rank of each value among its user's values, scaled to [0, 1] (0.5 if alone)."""
    n = len(values)
    order = np.lexsort((values, users))
    sorted_users, sorted_values = users[order], values[order]
    position = np.arange(n)
    user_start = np.r_[True, sorted_users[1:] != sorted_users[:-1]]
    tie_start = user_start | np.r_[True, sorted_values[1:] != sorted_values[:-1]]
    first_of_user = np.maximum.accumulate(np.where(user_start, position, 0))
    tie_id = np.cumsum(tie_start) - 1
    tie_first = np.flatnonzero(tie_start)
    tie_size = np.diff(np.r_[tie_first, n])
    mid_rank = tie_first[tie_id] + (tie_size[tie_id] - 1) / 2 - first_of_user
    user_size = np.diff(np.r_[np.flatnonzero(user_start), n])[np.cumsum(user_start) - 1]
    pct = np.divide(mid_rank, user_size - 1, out=np.full(n, 0.5), where=user_size > 1)
    out = np.empty(n)
    out[order] = pct
    return out


def _loss(model: Recommender, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    if _outputs_logits(model):
        return np.logaddexp(0.0, -model.score_pairs(users, items).astype(np.float64))
    return _normalised_ranks(model, users, items)


def _outputs_logits(model: Recommender) -> bool:
    """Whether the model's scores are logits: a torch model with a sampled objective."""
    return (
        isinstance(model, TorchRecommender)
        and get_objective(model.trained_objective).kind in SAMPLED_KINDS
    )


def _normalised_ranks(model: Recommender, users: np.ndarray, items: np.ndarray) -> np.ndarray:
    """Per row, the item's rank in its user's full score row, scaled to [0, 1] (0 = top)."""
    n_items = model.n_items
    order = np.argsort(users, kind="stable")
    distinct, starts = np.unique(users[order], return_index=True)
    bounds = np.r_[starts, len(users)]
    per_block = max(1, _BLOCK_ENTRIES // n_items)
    out = np.empty(len(users))
    for b in range(0, len(distinct), per_block):
        block_users = distinct[b : b + per_block]
        rows = order[bounds[b] : bounds[b + len(block_users)]]
        ranks = rankdata(model.score(block_users), method="average", axis=1)  # 1 = lowest
        position = np.searchsorted(block_users, users[rows])
        out[rows] = (n_items - ranks[position, items[rows]]) / max(1, n_items - 1)
    return out
