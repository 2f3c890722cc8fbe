"""A semi-synthetic world of contexts and generated candidates with known engagement, and
noisy, position-biased click logs drawn from it (for judging reward models and selection).

Each context ``x`` has a latent topic ``z_x ∈ R^k``; each of its ``M`` candidates (column 0:
the original, columns ``1..M-1``: generated) has a latent ``v = ρ z_x + √(1−ρ²) ε`` (``ρ``: how
faithful it is to the context; the original has ``ρ = 0.6``, generated ones ``ρ ~ U(0, 1)``) and a
click-bait strength ``h ~ U(0, 1)²``. True engagement ``e = σ(3⟨z_x, v⟩/k − 2 − λ h)``; the
probability of a click when examined ``c = σ(3⟨z_x, v⟩/k − 2 + λ h)`` (bait attracts clicks
but does not engage). What a reward model sees are noisy random projections of ``z_x`` and of
``[v; h]`` (the frozen "text embeddings"). A log shows ``n_shown`` random candidates per
context in random positions ``1..n_shown``, examined with probability ``θ_k = k^−η``, clicked
with probability ``θ_k·c``, plus false clicks with probability ``flip``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siftrec.errors import SiftrecError


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


@dataclass(frozen=True)
class RewardWorld:
    """Observed vectors and the truth: ``contexts`` [C, t], ``candidates`` [C, M, t] (column 0
    the original), true ``engagement`` [C, M] and click probability when examined ``clickable``
    [C, M]."""

    contexts: np.ndarray
    candidates: np.ndarray
    engagement: np.ndarray
    clickable: np.ndarray

    @property
    def n_contexts(self) -> int:
        return len(self.contexts)

    @property
    def n_candidates(self) -> int:
        return self.candidates.shape[1]


@dataclass(frozen=True)
class ClickLog:
    """Logged rows: ``context`` [n], ``candidate`` [n] (column in the world), ``position`` [n]
    (1-based), ``examination`` [n] (``θ_k``, the IPS propensity of a click), ``click`` [n] and
    ``logging`` [n] (probability the logging policy put that candidate in that slot)."""

    context: np.ndarray
    candidate: np.ndarray
    position: np.ndarray
    examination: np.ndarray
    click: np.ndarray
    logging: np.ndarray


def make_world(
    n_contexts: int = 2000,
    n_candidates: int = 16,
    dim: int = 16,
    latent: int = 8,
    bait: float = 1.5,
    observation_noise: float = 0.3,
    seed: int = 0,
) -> RewardWorld:
    """Contexts with one original and ``n_candidates`` generated candidates (see module doc)."""
    if n_contexts < 1 or n_candidates < 1 or dim < 1 or latent < 1:
        raise SiftrecError("n_contexts, n_candidates, dim and latent must be at least 1")
    if bait < 0 or observation_noise < 0:
        raise SiftrecError("bait and observation_noise must be non-negative")
    rng = np.random.default_rng(seed)
    m = n_candidates + 1
    z = rng.standard_normal((n_contexts, latent))
    rho = rng.uniform(0.0, 1.0, (n_contexts, m))
    rho[:, 0] = 0.6
    noise = rng.standard_normal((n_contexts, m, latent))
    v = rho[..., None] * z[:, None, :] + np.sqrt(1 - rho[..., None] ** 2) * noise
    h = rng.uniform(0.0, 1.0, (n_contexts, m)) ** 2
    quality = 3.0 * np.einsum("ck,cmk->cm", z, v) / latent - 2.0
    project_x = rng.standard_normal((latent, dim)) / np.sqrt(latent)
    project_y = rng.standard_normal((latent + 1, dim)) / np.sqrt(latent + 1)
    contexts = z @ project_x + observation_noise * rng.standard_normal((n_contexts, dim))
    features = np.concatenate([v, 2.0 * h[..., None]], axis=2)
    candidates = features @ project_y + observation_noise * rng.standard_normal(
        (n_contexts, m, dim)
    )
    return RewardWorld(
        contexts.astype(np.float32),
        candidates.astype(np.float32),
        _sigmoid(quality - bait * h),
        _sigmoid(quality + bait * h),
    )


def log_clicks(
    world: RewardWorld,
    n_shown: int = 4,
    eta: float = 1.0,
    flip: float = 0.05,
    seed: int = 0,
) -> ClickLog:
    """One impression per context: ``n_shown`` distinct random candidates in random positions,
    clicks with position bias ``θ_k = k^−η`` and false clicks with probability ``flip``."""
    m = world.n_candidates
    if not 1 <= n_shown <= m:
        raise SiftrecError(f"n_shown must be between 1 and {m}, got {n_shown}")
    if eta < 0 or not 0 <= flip < 1:
        raise SiftrecError("eta must be non-negative and flip in [0, 1)")
    rng = np.random.default_rng(seed)
    c = world.n_contexts
    shown = np.argsort(rng.random((c, m)), axis=1)[:, :n_shown]
    position = np.broadcast_to(np.arange(1, n_shown + 1), (c, n_shown))
    examination = position.astype(np.float64) ** -eta
    clickable = np.take_along_axis(world.clickable, shown, axis=1)
    click = (rng.random((c, n_shown)) < examination * clickable) | (rng.random((c, n_shown)) < flip)
    return ClickLog(
        np.repeat(np.arange(c), n_shown),
        shown.ravel(),
        position.ravel().copy(),
        examination.ravel(),
        click.ravel().astype(np.int8),
        np.full(c * n_shown, 1.0 / m),
    )


def pairwise_accuracy(predicted: np.ndarray, truth: np.ndarray) -> float:
    """Share of within-context candidate pairs (rows of [C, M]; ties in ``truth`` skipped) that
    ``predicted`` orders as ``truth`` does."""
    predicted, truth = np.asarray(predicted), np.asarray(truth)
    if predicted.shape != truth.shape or predicted.ndim != 2:
        raise SiftrecError("predicted and truth must be equal [contexts, candidates] matrices")
    i, j = np.triu_indices(truth.shape[1], k=1)
    dt = truth[:, i] - truth[:, j]
    dp = predicted[:, i] - predicted[:, j]
    counted = dt != 0
    return float(((np.sign(dp) == np.sign(dt)) & counted).sum() / max(counted.sum(), 1))
