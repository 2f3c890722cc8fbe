"""Choosing among generated candidates with a reward: best-of-N with a margin over the original
and fallback to it (Nextdoor, methods.md §10), median selection (Diffusion-DRO's guard against
reward hacking), and group-normalised rewards with low-variance groups filtered (Edit-R1)."""

from __future__ import annotations

from typing import Literal

import numpy as np

from siftrec.errors import SiftrecError

#: Index returned by :func:`best_of_n` when the original candidate is kept.
KEEP_ORIGINAL = -1


def best_of_n(
    rewards: np.ndarray,
    original: np.ndarray | None = None,
    *,
    margin: float = 0.0,
    selection: Literal["max", "median"] = "max",
) -> np.ndarray:
    """Per context (row of ``rewards`` [C, N], NaN = no candidate), the chosen candidate's
    column, or :data:`KEEP_ORIGINAL`.

    ``max`` takes the highest reward, ``median`` the candidate at the lower median of the
    row's rewards. With ``original`` [C] (the baseline's reward) the pick is accepted only if
    its reward exceeds ``original + margin``; otherwise (and for rows without candidates) the
    original is kept.
    """
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 2:
        raise SiftrecError(f"rewards must be a [contexts, candidates] matrix, got {rewards.shape}")
    if selection not in ("max", "median"):
        raise SiftrecError(f"selection must be max or median, got {selection!r}")
    if margin < 0:
        raise SiftrecError(f"margin must be non-negative, got {margin}")
    present = ~np.isnan(rewards)
    counts = present.sum(axis=1)
    order = np.argsort(np.where(present, -rewards, np.inf), axis=1, kind="stable")
    rank = np.zeros(len(rewards), dtype=np.int64) if selection == "max" else counts // 2
    chosen = order[np.arange(len(rewards)), np.minimum(rank, rewards.shape[1] - 1)]
    best = rewards[np.arange(len(rewards)), chosen]
    keep = counts == 0
    if original is not None:
        original = np.asarray(original, dtype=np.float64)
        if original.shape != (len(rewards),):
            raise SiftrecError(f"original must have one reward per context, got {original.shape}")
        keep |= ~(best > original + margin)
    return np.where(keep, KEEP_ORIGINAL, chosen)


def group_normalize(rewards: np.ndarray, min_std: float = 1e-3) -> tuple[np.ndarray, np.ndarray]:
    """``(r − mean) / std`` within each context's group (row; NaN ignored) and a mask of the
    groups kept: groups whose reward spread is below ``min_std`` (or with fewer than two
    candidates) are filtered out, since dividing by a tiny spread amplifies noise; their
    normalised rewards are 0."""
    rewards = np.asarray(rewards, dtype=np.float64)
    if rewards.ndim != 2:
        raise SiftrecError(f"rewards must be a [contexts, candidates] matrix, got {rewards.shape}")
    counts = (~np.isnan(rewards)).sum(axis=1)
    with np.errstate(invalid="ignore"):
        mean = np.nanmean(np.where(counts[:, None] > 0, rewards, 0.0), axis=1)
        std = np.sqrt(np.nanmean(np.square(rewards - mean[:, None]), axis=1))
    keep = (counts >= 2) & (std >= min_std)
    z = np.where(keep[:, None], (rewards - mean[:, None]) / np.where(keep, std, 1.0)[:, None], 0.0)
    return np.where(np.isnan(rewards), np.nan, z), keep
