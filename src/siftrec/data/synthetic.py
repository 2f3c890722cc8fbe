"""Semi-synthetic click logs with known true preferences, exposure propensities and noise labels.

Real logs never say which clicks reflect a preference; this generator does, so denoising and
debiasing methods can be scored against the truth. It is also siftrec's built-in default data set.

Generative process (``generate(SyntheticConfig(...))``; ``n`` users, ``m`` items, every draw from
``np.random.default_rng(seed)``):

1. **Taste.** User and item factors ``p_u, q_i ~ N(0, I_dim)``; affinity
   ``z_ui = p_u·q_i / √dim`` (about unit variance); item quality ``b_i ~ N(0, quality_std²)``.
2. **Preference.** Relevance probability ``γ_ui = σ(preference_sharpness · (z_ui + b_i − c))``,
   with ``c`` the ``(1 − relevance_rate)`` quantile of ``z + b`` (so about ``relevance_rate`` of the
   pairs are relevant); binary relevance ``R_ui ~ Bern(γ_ui)``, and each user's ``min_clicks``
   highest-``γ`` items are always relevant. ``SyntheticData.preference`` is ``R`` (0/1).
3. **Exposure.** Item popularity follows a power law over a random popularity rank ``r_i``:
   ``π_i = r_i^(−popularity_exponent)``; user activity ``a_u ~ LogNormal(0, activity_std²)``; the
   propensity ``θ_ui = clip(exposure_rate · w_ui / mean(w), min_exposure, 1)`` with
   ``w_ui = a_u · π_i · exp(exposure_affinity · z_ui)`` (popular items and, mildly, items matching
   the user's taste are shown more: exposure is missing-not-at-random).
   ``SyntheticData.exposure`` is θ.
4. **True clicks.** ``O_ui ~ Bern(θ_ui)``; a click is ``O ∧ R``. A user left with fewer than
   ``min_clicks`` clicks gets extra clicks on relevant unclicked items drawn with probability ∝ θ.
5. **False-positive clicks** (``is_noise``), ``noise_ratio`` of all clicks, always on items the user
   does not prefer (``R = 0``), by users drawn ∝ their true click count: *clickbait*
   (``clickbait_share``; items drawn ∝ θ, i.e. popular, exposed items), *bursts* (``burst_share``;
   runs of ``burst_size − 1 … burst_size + 1`` clicks within a few seconds, items ∝ θ) and
   *misclicks* (the rest; uniform items).
6. **Time.** Each user's clicks are put in random order (a burst stays contiguous) and grouped into
   sessions of about ``session_length`` clicks (a new session starts with probability
   ``1/session_length``; never inside a burst). The first click is at a uniform time within 30 days
   of ``start`` (Unix seconds); the next click follows the previous click's dwell time plus a gap:
   ``Exp(session_gap_hours)`` between sessions, ``Exp(20 s)`` within a session, ``U(0, 1 s)``
   within a burst. ``timestamp`` is the integer second (non-decreasing per user), ``session`` a
   global session id.
7. **Dwell time** (seconds, log-normal with spread ``dwell_sigma``): median ``true_dwell_median``
   for true clicks, ``noise_dwell_median`` for clickbait and misclicks (the two overlap, so dwell
   alone cannot separate them), ``burst_dwell_median`` (spread 0.5) for burst clicks.

Users and items have integer ids ``0..n−1`` equal to their indices, so ``preference[u, i]`` and
``exposure[u, i]`` line up with ``interactions.users``/``items``. The defaults give about 1,000
users × 800 items with a few percent density, generated in well under a second.

Evaluating against the truth: held-out clicks are as exposure-biased as the training clicks.
:func:`true_relevance_test` gives every relevant pair outside the known clicks (the test a log
with every item shown would give), and :func:`with_exposure` adds the true θ of each pair of a
log as its ``propensity`` column (for IPS/SNIPS evaluation of held-out clicks).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from siftrec.data.ids import IdMap
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError

_BROWSE_GAP_SECONDS = 20.0
_START_WINDOW_SECONDS = 30 * 86_400.0
_BURST_DWELL_SIGMA = 0.5


@dataclass
class SyntheticConfig:
    """Parameters of the generative process (see the module docstring for their roles)."""

    n_users: int = 1000
    n_items: int = 800
    dim: int = 16
    relevance_rate: float = 0.1
    preference_sharpness: float = 4.0
    quality_std: float = 0.5
    popularity_exponent: float = 1.0
    exposure_rate: float = 0.2
    exposure_affinity: float = 0.5
    activity_std: float = 0.5
    min_exposure: float = 0.001
    min_clicks: int = 5
    noise_ratio: float = 0.2
    clickbait_share: float = 0.4
    burst_share: float = 0.3
    burst_size: int = 4
    true_dwell_median: float = 60.0
    noise_dwell_median: float = 5.0
    burst_dwell_median: float = 1.5
    dwell_sigma: float = 0.8
    session_length: float = 6.0
    session_gap_hours: float = 24.0
    start: int = 1_704_067_200  # 2024-01-01T00:00:00Z
    seed: int = 0


@dataclass(frozen=True)
class SyntheticData:
    """A generated log and its ground truth.

    Attributes:
        interactions: clicks with ``timestamp`` (int seconds), ``dwell_time`` (float seconds),
            ``session`` (int) and ``is_noise`` (bool) columns; ids equal indices.
        preference: (n_users, n_items) float32 binary relevance ``R`` (1 = the user prefers it).
        exposure: (n_users, n_items) float32 exposure propensity ``θ`` (always > 0).
        config: the parameters that produced it.
    """

    interactions: Interactions
    preference: np.ndarray
    exposure: np.ndarray
    config: SyntheticConfig


def generate(config: SyntheticConfig | None = None, **overrides: object) -> SyntheticData:
    """Generate a log; ``overrides`` replace fields of ``config`` (default: the defaults)."""
    if config is not None and not isinstance(config, SyntheticConfig):
        raise SiftrecError(f"config must be a SyntheticConfig, got {type(config).__name__}")
    known = {f.name for f in dataclasses.fields(SyntheticConfig)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise SiftrecError(
            f"unknown synthetic parameter {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )
    cfg = dataclasses.replace(config or SyntheticConfig(), **overrides)
    _validate(cfg)
    rng = np.random.default_rng(cfg.seed)
    n, m = cfg.n_users, cfg.n_items

    # 1-2. taste and binary relevance
    p = rng.standard_normal((n, cfg.dim))
    q = rng.standard_normal((m, cfg.dim))
    affinity = (p @ q.T) / math.sqrt(cfg.dim)
    utility = affinity + cfg.quality_std * rng.standard_normal(m)
    offset = np.quantile(utility, 1.0 - cfg.relevance_rate)
    gamma = 1.0 / (1.0 + np.exp(-cfg.preference_sharpness * (utility - offset)))
    relevant = rng.random((n, m)) < gamma
    top = np.argpartition(-gamma, cfg.min_clicks - 1, axis=1)[:, : cfg.min_clicks]
    relevant[np.arange(n)[:, None], top] = True

    # 3. exposure propensities
    rank = rng.permutation(m) + 1.0
    popularity = rank ** (-cfg.popularity_exponent)
    activity = np.exp(cfg.activity_std * rng.standard_normal(n))
    weight = activity[:, None] * popularity[None, :] * np.exp(cfg.exposure_affinity * affinity)
    theta = np.clip(cfg.exposure_rate * weight / weight.mean(), cfg.min_exposure, 1.0)

    # 4. true clicks, topped up to min_clicks per user
    clicked = (rng.random((n, m)) < theta) & relevant
    _top_up(rng, clicked, relevant, theta, cfg.min_clicks)
    true_users, true_items = np.nonzero(clicked)

    # 5. false-positive clicks on non-preferred items
    n_noise = round(cfg.noise_ratio / (1.0 - cfg.noise_ratio) * len(true_users))
    n_bait = round(cfg.clickbait_share * n_noise)
    n_burst_clicks = min(round(cfg.burst_share * n_noise), n_noise - n_bait)
    n_misclick = n_noise - n_bait - n_burst_clicks
    not_relevant = ~relevant
    user_weight = clicked.sum(axis=1) * not_relevant.any(axis=1)
    if n_noise and not user_weight.any():
        raise SiftrecError("every item is relevant to every user: lower relevance_rate for noise")
    user_p = user_weight / max(1, user_weight.sum())
    bait_users = rng.choice(n, size=n_bait, p=user_p)
    sizes = _burst_sizes(rng, n_burst_clicks, cfg.burst_size)
    burst_of_click = np.repeat(np.arange(len(sizes)), sizes)
    burst_users = rng.choice(n, size=len(sizes), p=user_p)[burst_of_click]
    exposed_items = _sample_in_rows(
        rng, theta * not_relevant, np.concatenate([bait_users, burst_users])
    )
    bait_items, burst_items = exposed_items[:n_bait], exposed_items[n_bait:]
    miss_users = rng.choice(n, size=n_misclick, p=user_p)
    miss_items = _sample_in_rows(rng, not_relevant.astype(np.float64), miss_users)
    within_burst = np.arange(n_burst_clicks) - np.repeat(np.cumsum(sizes) - sizes, sizes)

    # 6-7. order, sessions, dwell and timestamps
    users = np.concatenate([true_users, bait_users, miss_users, burst_users])
    items = np.concatenate([true_items, bait_items, miss_items, burst_items])
    n_single = len(users) - n_burst_clicks
    is_noise = np.arange(len(users)) >= len(true_users)
    is_burst = np.arange(len(users)) >= n_single
    within = np.concatenate([np.zeros(n_single, dtype=np.int64), within_burst])
    group_key = np.concatenate([rng.random(n_single), rng.random(len(sizes))[burst_of_click]])
    dwell = np.concatenate(
        [
            _lognormal(rng, cfg.true_dwell_median, cfg.dwell_sigma, len(true_users)),
            _lognormal(rng, cfg.noise_dwell_median, cfg.dwell_sigma, n_bait + n_misclick),
            _lognormal(rng, cfg.burst_dwell_median, _BURST_DWELL_SIGMA, n_burst_clicks),
        ]
    )
    order = np.lexsort((within, group_key, users))
    users, items, is_noise, is_burst, within, dwell = (
        a[order] for a in (users, items, is_noise, is_burst, within, dwell)
    )
    timestamp, session = _timeline(rng, cfg, users, is_burst & (within > 0), dwell)
    interactions = Interactions(
        users,
        items,
        np.ones(len(users), dtype=np.float32),
        IdMap(np.arange(n, dtype=np.int64)),
        IdMap(np.arange(m, dtype=np.int64)),
        {
            "timestamp": timestamp,
            "dwell_time": dwell.astype(np.float32),
            "session": session,
            "is_noise": is_noise,
        },
    )
    return SyntheticData(interactions, relevant.astype(np.float32), theta.astype(np.float32), cfg)


def true_relevance_test(
    data: SyntheticData, known: Interactions | Sequence[Interactions] = ()
) -> Interactions:
    """Every pair the user prefers (``R = 1``) that is not in ``known``: a test of true relevance.

    Held-out clicks only contain items that were exposed, so they favour popular items like the
    training clicks do. This test holds every relevant item, as a missing-at-random test with
    every item shown would. Pass the clicks a model trains and validates on as ``known``: they
    are masked when ranking, so they are left out here too. Ids and maps are those of
    ``data.interactions``; rows are sorted by user, then item.
    """
    wanted = data.preference.astype(bool)
    for log in [known] if isinstance(known, Interactions) else known:
        _check_same_maps(data, log)
        wanted[log.users, log.items] = False
    users, items = np.nonzero(wanted)
    clicks = data.interactions
    return Interactions(
        users, items, np.ones(len(users), dtype=np.float32), clicks.user_map, clicks.item_map
    )


def with_exposure(data: SyntheticData, log: Interactions) -> Interactions:
    """``log`` with a ``propensity`` column: the true exposure ``θ_ui`` of each of its pairs.

    ``siftrec.evaluate.evaluate_ips`` weighs held-out clicks by it; an objective that reads the
    column (Rel-MF, UBPR) trains with the true propensities instead of estimating them.
    """
    _check_same_maps(data, log)
    return log.with_columns(propensity=data.exposure[log.users, log.items].astype(np.float64))


def _check_same_maps(data: SyntheticData, log: Interactions) -> None:
    """Refuse a log whose users and items are not those of ``data`` (ids equal to indices)."""
    n_users, n_items = data.preference.shape
    same = log.shape == (n_users, n_items) and all(
        np.array_equal(ids, np.arange(len(ids))) for ids in (log.user_map.ids, log.item_map.ids)
    )
    if not same:
        raise SiftrecError(
            f"the log's {log.n_users} users × {log.n_items} items are not the synthetic data's "
            f"{n_users} × {n_items} (ids 0..n−1): pass a log split from its interactions"
        )


def _top_up(
    rng: np.random.Generator,
    clicked: np.ndarray,
    relevant: np.ndarray,
    theta: np.ndarray,
    min_clicks: int,
) -> None:
    """Give users below ``min_clicks`` extra clicks on relevant unclicked items, drawn ∝ θ."""
    deficit = min_clicks - clicked.sum(axis=1)
    rows = np.flatnonzero(deficit > 0)
    if len(rows) == 0:
        return
    eligible = relevant[rows] & ~clicked[rows]
    gumbel = -np.log(-np.log(rng.random(eligible.shape)))
    keys = np.where(eligible, np.log(theta[rows]) + gumbel, -np.inf)
    ranked = np.argsort(-keys, axis=1, kind="stable")
    take = np.arange(clicked.shape[1])[None, :] < deficit[rows][:, None]
    clicked[np.broadcast_to(rows[:, None], take.shape)[take], ranked[take]] = True


def _sample_in_rows(rng: np.random.Generator, weights: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One column per entry of ``rows``, drawn ∝ that row of ``weights`` (rows must have mass)."""
    if len(rows) == 0:
        return np.zeros(0, dtype=np.int64)
    used = np.unique(rows)
    cdf = np.cumsum(weights[used], axis=1)
    cdf /= cdf[:, -1:]
    cdf += np.arange(len(used))[:, None]  # row j lives in (j, j + 1]: one sorted array
    target = np.searchsorted(used, rows) + rng.random(len(rows))
    flat = np.searchsorted(cdf.ravel(), target, side="right")
    return np.minimum(flat % weights.shape[1], weights.shape[1] - 1)


def _burst_sizes(rng: np.random.Generator, total: int, size: int) -> np.ndarray:
    """Burst lengths uniform in ``size ± 1`` adding up to ``total`` (the last one trimmed)."""
    if total == 0:
        return np.zeros(0, dtype=np.int64)
    sizes = rng.integers(size - 1, size + 2, size=total // (size - 1) + 1)
    ends = np.cumsum(sizes)
    count = int(np.searchsorted(ends, total)) + 1
    sizes = sizes[:count]
    sizes[-1] -= ends[count - 1] - total
    return sizes


def _lognormal(rng: np.random.Generator, median: float, sigma: float, size: int) -> np.ndarray:
    return rng.lognormal(math.log(median), sigma, size)


def _timeline(
    rng: np.random.Generator,
    cfg: SyntheticConfig,
    users: np.ndarray,
    burst_continues: np.ndarray,
    dwell: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Integer timestamps and global session ids for clicks sorted by (user, position)."""
    total = len(users)
    first = np.ones(total, dtype=bool)
    first[1:] = users[1:] != users[:-1]
    new_session = first | (~burst_continues & (rng.random(total) < 1.0 / cfg.session_length))
    gap = np.where(
        new_session,
        rng.exponential(cfg.session_gap_hours * 3600.0, total),
        np.where(burst_continues, rng.random(total), rng.exponential(_BROWSE_GAP_SECONDS, total)),
    )
    step = np.zeros(total)
    step[1:] = dwell[:-1] + gap[1:]
    step[first] = 0.0
    elapsed = np.cumsum(step)
    user_start = cfg.start + rng.random(cfg.n_users) * _START_WINDOW_SECONDS
    segment = np.cumsum(first) - 1
    seconds = user_start[users] + elapsed - elapsed[np.flatnonzero(first)][segment]
    return np.floor(seconds).astype(np.int64), np.cumsum(new_session) - 1


def _validate(cfg: SyntheticConfig) -> None:
    """One-line errors for parameters the process cannot honour."""
    for field in dataclasses.fields(cfg):
        value = getattr(cfg, field.name)
        expected = int if field.type in ("int", int) else float
        if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
            raise SiftrecError(f"synthetic parameter {field.name}={value!r} is not a number")
        if expected is int and not isinstance(value, int | np.integer):
            raise SiftrecError(f"synthetic parameter {field.name}={value!r} must be an integer")
        if not math.isfinite(value):
            raise SiftrecError(f"synthetic parameter {field.name}={value!r} must be finite")
    checks = [
        ("n_users", cfg.n_users >= 1, "must be ≥ 1"),
        ("n_items", cfg.n_items > cfg.min_clicks, "must exceed min_clicks"),
        ("dim", cfg.dim >= 1, "must be ≥ 1"),
        ("relevance_rate", 0 < cfg.relevance_rate < 1, "must be in (0, 1)"),
        ("preference_sharpness", cfg.preference_sharpness > 0, "must be > 0"),
        ("quality_std", cfg.quality_std >= 0, "must be ≥ 0"),
        ("popularity_exponent", cfg.popularity_exponent >= 0, "must be ≥ 0"),
        ("exposure_rate", 0 < cfg.exposure_rate <= 1, "must be in (0, 1]"),
        ("activity_std", cfg.activity_std >= 0, "must be ≥ 0"),
        ("min_exposure", 0 < cfg.min_exposure <= 1, "must be in (0, 1]"),
        ("min_clicks", cfg.min_clicks >= 1, "must be ≥ 1"),
        ("noise_ratio", 0 <= cfg.noise_ratio < 1, "must be in [0, 1)"),
        ("clickbait_share", 0 <= cfg.clickbait_share <= 1, "must be in [0, 1]"),
        (
            "burst_share",
            0 <= cfg.burst_share <= 1 - cfg.clickbait_share,
            "must be in [0, 1 − clickbait_share]",
        ),
        ("burst_size", cfg.burst_size >= 3, "must be ≥ 3"),
        ("true_dwell_median", cfg.true_dwell_median > 0, "must be > 0"),
        ("noise_dwell_median", cfg.noise_dwell_median > 0, "must be > 0"),
        ("burst_dwell_median", cfg.burst_dwell_median > 0, "must be > 0"),
        ("dwell_sigma", cfg.dwell_sigma > 0, "must be > 0"),
        ("session_length", cfg.session_length >= 1, "must be ≥ 1"),
        ("session_gap_hours", cfg.session_gap_hours > 0, "must be > 0"),
    ]
    for name, ok, rule in checks:
        if not ok:
            raise SiftrecError(f"synthetic parameter {name}={getattr(cfg, name)!r} {rule}")
