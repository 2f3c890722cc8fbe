"""Noise protocols: logs with known false positives, so denoisers can be scored against the truth.

- :func:`add_random_noise` — PLD's protocol (Zhang et al., WWW 2025): each user gets
  ``⌊ratio · n_u⌋`` extra items drawn uniformly among the items they have not interacted with.
- :func:`add_popular_noise` — the same with items drawn ∝ ``popularity^beta`` (clickbait-like
  noise on exposed, popular items, which loss-based denoisers find harder).
- :func:`natural_noise` / :func:`clean_only` — the DenoisingRec / DiffRec protocol: interactions
  rated below a threshold are false positives; training keeps them (flagged), the test set keeps
  only the clean ones.

Every protocol returns a new log with a boolean ``is_noise`` column; the adding protocols flag
exactly the rows they append (after the original rows, sorted by user and item) and leave the
flags of existing rows as they were (False when the log had none). Added rows have weight 1 and
copy every other side column (timestamp, session, dwell, ...) from a random interaction of the
same user: an injected click carries no side-information signal, and every column keeps its
dtype.

Sampling is exact and vectorised: a draw is a uniform point in the user's free probability mass
(the mass of the items they have not interacted with yet), mapped to an item by a bisection over
the user's slice of the sorted (user, item) keys; each round re-draws only what collided with
an item drawn in the same round, and every accepted pair is confirmed against the sorted key
set. There is no Python loop over users or interactions.
"""

from __future__ import annotations

import math

import numpy as np

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError


def add_random_noise(data: Interactions, ratio: float, seed: int = 0) -> Interactions:
    """Append ``⌊ratio · n_u⌋`` uniform random unseen items per user, flagged ``is_noise``.

    ``n_u`` is the user's number of interactions (rows). A user never gets more extra items than
    they have unseen items.
    """
    _check_ratio(ratio)
    return _add_noise(data, ratio, np.ones(data.n_items), seed)


def add_popular_noise(
    data: Interactions, ratio: float, seed: int = 0, beta: float = 1.0
) -> Interactions:
    """Like :func:`add_random_noise`, with items drawn ∝ ``count_i^beta`` (counts in ``data``).

    ``beta = 0`` is uniform over the items present in ``data``; items without interactions are
    never drawn.
    """
    _check_ratio(ratio)
    if isinstance(beta, bool) or not isinstance(beta, int | float) or not math.isfinite(beta):
        raise SiftrecError(f"beta must be a finite number, got {beta!r}")
    if beta < 0:
        raise SiftrecError(f"beta must be non-negative, got {beta}")
    counts = data.item_counts().astype(np.float64)
    mass = np.where(counts > 0, (counts / max(1.0, counts.max())) ** beta, 0.0)  # no overflow
    return _add_noise(data, ratio, mass, seed)


def natural_noise(
    data: Interactions, threshold: float = 4.0, column: str = "rating"
) -> Interactions:
    """Flag interactions whose ``column`` is below ``threshold`` as ``is_noise``.

    Rows are kept (they stay training positives); existing flags are kept too (logical or).
    """
    values = data.column(column)
    if values.dtype.kind not in "iufb":
        raise SiftrecError(f"column {column!r} is not numeric (dtype {values.dtype})")
    if not math.isfinite(threshold):
        raise SiftrecError(f"threshold must be finite, got {threshold}")
    low = values.astype(np.float64) < threshold
    return data.with_columns(is_noise=_flags(data) | low)


def clean_only(data: Interactions) -> Interactions:
    """The rows not flagged ``is_noise`` (id maps kept), e.g. a clean test set."""
    flags = data.column("is_noise")
    if flags.dtype != bool:
        raise SiftrecError(f"is_noise column must be boolean, got dtype {flags.dtype}")
    return data.subset(~flags)


# ---------------------------------------------------------------------------- internals
def _check_ratio(ratio: float) -> None:
    if isinstance(ratio, bool) or not isinstance(ratio, int | float) or not math.isfinite(ratio):
        raise SiftrecError(f"noise ratio must be a finite number, got {ratio!r}")
    if ratio < 0:
        raise SiftrecError(f"noise ratio must be non-negative, got {ratio}")


def _flags(data: Interactions) -> np.ndarray:
    if not data.has_column("is_noise"):
        return np.zeros(len(data), dtype=bool)
    flags = data.column("is_noise")
    if flags.dtype != bool:
        raise SiftrecError(f"is_noise column must be boolean, got dtype {flags.dtype}")
    return flags


def _add_noise(data: Interactions, ratio: float, mass: np.ndarray, seed: int) -> Interactions:
    """Append the sampled pairs (``mass``: item weights) with donor side columns and flags."""
    flags = _flags(data)
    rng = np.random.default_rng(seed)
    n_items = data.n_items
    taken = _unique_keys(data.users.astype(np.int64) * n_items + data.items)
    counts = data.user_counts()
    need = np.floor(ratio * counts).astype(np.int64)  # PLD: int(ratio · len(train_u))
    drawable = mass > 0
    seen_drawable = np.bincount(
        taken // n_items, weights=drawable[taken % n_items], minlength=data.n_users
    )
    need = np.minimum(need, int(drawable.sum()) - seen_drawable.astype(np.int64))
    keys = _draw_unseen(taken, need, mass, n_items, rng)
    users, items = keys // n_items, keys % n_items
    donors = _donor_rows(data.users, counts, users, rng)
    return Interactions(
        np.concatenate([data.users, users]),
        np.concatenate([data.items, items]),
        np.concatenate([data.weights, np.ones(len(keys), dtype=np.float32)]),
        data.user_map,
        data.item_map,
        {
            **{k: np.concatenate([v, v[donors]]) for k, v in data.columns.items()},
            "is_noise": np.concatenate([flags, np.ones(len(keys), dtype=bool)]),
        },
    )


def _unique_keys(keys: np.ndarray) -> np.ndarray:
    keys = np.sort(keys)
    return keys[np.r_[True, keys[1:] != keys[:-1]]] if len(keys) else keys


def _draw_unseen(
    taken: np.ndarray, need: np.ndarray, mass: np.ndarray, n_items: int, rng: np.random.Generator
) -> np.ndarray:
    """Sorted keys of ``need[u]`` distinct new items per user ``u``, drawn ∝ ``mass``.

    ``taken`` holds the sorted unique keys ``user · n_items + item`` that must not be drawn.
    """
    accepted: list[np.ndarray] = []
    pending = need.copy()
    while pending.any():
        users = np.repeat(np.arange(len(pending), dtype=np.int64), pending)
        items = _sample_free(taken, users, len(pending), mass, n_items, rng)
        keys = users * n_items + items
        ok = mass[items] > 0  # float round-off can land on a zero-mass or taken item: redraw
        ok[ok] = ~_contains(taken, keys[ok])
        fresh = _unique_keys(keys[ok])
        if len(fresh) == 0:  # exact arithmetic accepts ≥ 1 item per pending user and round
            raise SiftrecError(
                f"cannot draw the unseen items of {int((pending > 0).sum())} users: their item "
                "weights vanish next to the others in float64 (use a smaller beta)"
            )
        accepted.append(fresh)
        pending -= np.bincount(fresh // n_items, minlength=len(pending))
        taken = np.sort(np.concatenate([taken, fresh]))
    return np.sort(np.concatenate(accepted)) if accepted else np.zeros(0, dtype=np.int64)


def _sample_free(
    taken: np.ndarray,
    users: np.ndarray,
    n_users: int,
    mass: np.ndarray,
    n_items: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """One item per entry of ``users``, drawn ∝ ``mass`` among the user's free items.

    In "free coordinates" (the item mass line with the user's taken items cut out) the k-th taken
    item of the user starts at ``a_k = C⁻(p_k) − Σ_{l<k} mass(p_l)`` (``C⁻`` the exclusive
    cumulative mass). A uniform point ``t`` of the free mass skips the ``m = #{a_k ≤ t}`` taken
    items before it, so its global coordinate is ``t + Σ_{k<m} mass(p_k)``.
    """
    cum = np.cumsum(mass)
    taken_users, taken_items = taken // n_items, taken % n_items
    indptr = np.searchsorted(taken_users, np.arange(n_users + 1))
    w = mass[taken_items]
    prefix = np.concatenate([[0.0], np.cumsum(w)])
    free_start = (cum[taken_items] - w) - (prefix[:-1] - prefix[indptr[taken_users]])
    user_lo, user_hi = indptr[users], indptr[users + 1]
    free_mass = cum[-1] - (prefix[user_hi] - prefix[user_lo])
    t = rng.random(len(users)) * free_mass
    skipped = _bisect_right(free_start, user_lo, user_hi, t)
    point = t + (prefix[skipped] - prefix[user_lo])
    return np.minimum(np.searchsorted(cum, point, side="right"), len(mass) - 1)


def _bisect_right(
    values: np.ndarray, lo: np.ndarray, hi: np.ndarray, queries: np.ndarray
) -> np.ndarray:
    """Per query, the first index in ``[lo, hi)`` of sorted ``values`` with value > query."""
    lo, hi = lo.copy(), hi.copy()
    while True:
        active = lo < hi
        if not active.any():
            return lo
        mid = (lo + hi) // 2
        right = active & (values[np.minimum(mid, len(values) - 1)] <= queries)
        lo = np.where(right, mid + 1, lo)
        hi = np.where(active & ~right, mid, hi)


def _contains(sorted_keys: np.ndarray, keys: np.ndarray) -> np.ndarray:
    if len(sorted_keys) == 0:
        return np.zeros(len(keys), dtype=bool)
    pos = np.minimum(np.searchsorted(sorted_keys, keys), len(sorted_keys) - 1)
    return sorted_keys[pos] == keys


def _donor_rows(
    row_users: np.ndarray, counts: np.ndarray, users: np.ndarray, rng: np.random.Generator
) -> np.ndarray:
    """A uniformly random existing row of each user in ``users`` (each has at least one row)."""
    by_user = np.argsort(row_users, kind="stable")
    first = np.concatenate([[0], np.cumsum(counts)[:-1]])
    offset = np.floor(rng.random(len(users)) * counts[users]).astype(np.int64)
    return by_user[first[users] + offset]
