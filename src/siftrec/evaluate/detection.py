"""How well a per-interaction noise score finds the truly noisy interactions.

Pure functions of ``(scores, is_noise)``; higher scores must mean "more likely noise". Ties are
treated fairly everywhere: they count one half in ROC-AUC, are resolved in expectation (random
tie order) in precision@ratio, and form one threshold in average precision.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

from siftrec.errors import SiftrecError


def detection_report(scores: np.ndarray, is_noise: np.ndarray) -> dict[str, float | int]:
    """ROC-AUC, precision at the true noise ratio and average precision of ``scores``.

    Returns ``roc_auc``, ``precision_at_ratio`` (precision among the ``round(ratio · n)``
    highest scores, ``ratio`` the share of noisy rows), ``average_precision``, ``n``,
    ``n_noise`` and ``noise_ratio``. Needs at least one noisy and one clean row.
    """
    scores, labels = _check(scores, is_noise)
    n, n_noise = len(labels), int(labels.sum())
    return {
        "roc_auc": roc_auc(scores, labels),
        "precision_at_ratio": precision_at_k(scores, labels, n_noise),  # round(ratio · n)
        "average_precision": average_precision(scores, labels),
        "n": n,
        "n_noise": n_noise,
        "noise_ratio": n_noise / n,
    }


def roc_auc(scores: np.ndarray, is_noise: np.ndarray) -> float:
    """P(score of a noisy row > score of a clean row) + ½ P(tie): the Mann–Whitney U statistic
    ``(Σ ranks of noisy − n₁(n₁+1)/2) / (n₁ n₀)`` with mid-ranks for ties."""
    scores, labels = _check(scores, is_noise)
    n_pos = int(labels.sum())
    n_neg = len(labels) - n_pos
    ranks = rankdata(scores, method="average")
    return float((ranks[labels].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def precision_at_k(scores: np.ndarray, is_noise: np.ndarray, k: int) -> float:
    """Share of noisy rows among the ``k`` highest scores; rows tied at the cut-off count by
    their expected share (the mean over random orders of the tied rows)."""
    scores, labels = _check(scores, is_noise)
    if not 1 <= k <= len(scores):
        raise SiftrecError(f"k must be in [1, {len(scores)}], got {k}")
    cut = np.partition(scores, len(scores) - k)[len(scores) - k]
    above, tied = scores > cut, scores == cut
    pos_above = int(labels[above].sum())
    pos_tied = int(labels[tied].sum())
    need = k - int(above.sum())
    return (pos_above + need * pos_tied / int(tied.sum())) / k


def average_precision(scores: np.ndarray, is_noise: np.ndarray) -> float:
    """``Σ_t (R_t − R_{t−1}) P_t`` over the distinct score thresholds, highest first (the
    step-wise area under the precision–recall curve, as scikit-learn computes it)."""
    scores, labels = _check(scores, is_noise)
    order = np.argsort(-scores, kind="stable")
    sorted_scores, sorted_labels = scores[order], labels[order]
    last = np.r_[sorted_scores[1:] != sorted_scores[:-1], True]  # end of each tie group
    true_pos = np.cumsum(sorted_labels)[last]
    precision = true_pos / (np.flatnonzero(last) + 1)
    recall_gain = np.diff(np.r_[0, true_pos]) / true_pos[-1]
    return float(np.sum(recall_gain * precision))


def _check(scores: np.ndarray, is_noise: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores)
    labels = np.asarray(is_noise)
    if scores.ndim != 1 or labels.ndim != 1 or len(scores) != len(labels):
        raise SiftrecError(
            f"scores {scores.shape} and is_noise {labels.shape} must be 1-d of the same length"
        )
    if scores.dtype.kind not in "iuf":
        raise SiftrecError(f"noise scores must be numeric, got dtype {scores.dtype}")
    if labels.dtype != bool:
        if labels.dtype.kind not in "iu" or not np.isin(labels, (0, 1)).all():
            raise SiftrecError("is_noise must be boolean (or 0/1)")
        labels = labels.astype(bool)
    scores = scores.astype(np.float64)
    if np.isnan(scores).any():
        raise SiftrecError(f"noise scores contain {int(np.isnan(scores).sum())} NaN values")
    n_noise = int(labels.sum())
    if n_noise == 0 or n_noise == len(labels):
        raise SiftrecError(
            "detection quality needs both noisy and clean interactions "
            f"({n_noise} of {len(labels)} are flagged is_noise)"
        )
    return scores, labels
