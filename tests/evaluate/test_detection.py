import numpy as np
import pytest

from siftrec import SiftrecError
from siftrec.evaluate.detection import (
    average_precision,
    detection_report,
    precision_at_k,
    roc_auc,
)


def pair_count_auc(scores: np.ndarray, labels: np.ndarray) -> float:
    """O(n²) definition: P(noisy > clean) + ½ P(tie) over all (noisy, clean) pairs."""
    pos, neg = scores[labels], scores[~labels]
    diff = pos[:, None] - neg[None, :]
    return float(((diff > 0).sum() + 0.5 * (diff == 0).sum()) / diff.size)


def threshold_ap(scores: np.ndarray, labels: np.ndarray) -> float:
    """AP by looping over distinct thresholds, highest first."""
    total, previous_recall = 0.0, 0.0
    for t in np.unique(scores)[::-1]:
        chosen = scores >= t
        recall = labels[chosen].sum() / labels.sum()
        total += (recall - previous_recall) * labels[chosen].mean()
        previous_recall = recall
    return total


def test_hand_computed_example():
    scores = np.array([0.1, 0.4, 0.35, 0.8])
    labels = np.array([False, False, True, True])
    # pairs (noisy, clean): 0.35>0.1, 0.35<0.4, 0.8>0.1, 0.8>0.4 → 3/4
    assert roc_auc(scores, labels) == pytest.approx(0.75)
    # ranking 0.8(+) 0.4(−) 0.35(+) 0.1(−): AP = ½ (1 + 2/3)
    assert average_precision(scores, labels) == pytest.approx(5 / 6)
    report = detection_report(scores, labels)
    assert report["precision_at_ratio"] == pytest.approx(0.5)  # top 2: 0.8(+), 0.4(−)
    assert (report["n"], report["n_noise"], report["noise_ratio"]) == (4, 2, 0.5)


def test_ties_count_half():
    scores = np.array([1.0, 1.0, 0.0, 0.0])
    labels = np.array([True, False, True, False])
    assert roc_auc(scores, labels) == pytest.approx(0.5)
    # top 1 of a tie between one noisy and one clean row: expected precision ½
    assert precision_at_k(scores, labels, 1) == pytest.approx(0.5)
    assert precision_at_k(scores, labels, 2) == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(4))
def test_matches_pair_count_and_threshold_loop(seed):
    rng = np.random.default_rng(seed)
    n = 400
    labels = rng.random(n) < 0.25
    scores = rng.integers(0, 12, n) + 2.0 * labels  # many ties, informative
    assert roc_auc(scores, labels) == pytest.approx(pair_count_auc(scores, labels), abs=1e-12)
    assert average_precision(scores, labels) == pytest.approx(threshold_ap(scores, labels))


def test_precision_at_ratio_without_ties():
    rng = np.random.default_rng(0)
    scores = rng.random(100)
    labels = rng.random(100) < 0.3
    k = int(labels.sum())
    top = np.argsort(-scores)[:k]
    assert detection_report(scores, labels)["precision_at_ratio"] == pytest.approx(
        labels[top].mean()
    )


def test_perfect_and_reversed_scores():
    labels = np.array([True, True, False, False, False])
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0])
    report = detection_report(scores, labels)
    assert report["roc_auc"] == report["precision_at_ratio"] == report["average_precision"] == 1
    assert roc_auc(-scores, labels) == 0.0


def test_integer_labels_accepted():
    assert roc_auc(np.array([0.2, 0.9]), np.array([0, 1])) == 1.0


@pytest.mark.parametrize(
    ("scores", "labels", "message"),
    [
        (np.array([0.1, 0.2]), np.array([True]), "same length"),
        (np.array([0.1, np.nan]), np.array([True, False]), "NaN"),
        (np.array([0.1, 0.2]), np.array([True, True]), "both noisy and clean"),
        (np.array([0.1, 0.2]), np.array([0, 2]), "boolean"),
        (np.array(["a", "b"]), np.array([True, False]), "numeric"),
    ],
)
def test_errors(scores, labels, message):
    with pytest.raises(SiftrecError, match=message):
        detection_report(scores, labels)


def test_bad_k():
    with pytest.raises(SiftrecError, match="k must be"):
        precision_at_k(np.array([0.1, 0.2]), np.array([True, False]), 3)
