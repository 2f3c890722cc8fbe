"""HR@K and NDCG@K per test pair (MuLe's convention) beside the per-user ones."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from siftrec.evaluate.metrics import parse_metric, ranking_metrics


def test_pair_metrics_count_every_held_out_pair():
    ranked = np.array([[0, 1, 2], [3, 4, 5]])
    truth = sp.csr_matrix(([1, 1, 1, 1], ([0, 0, 0, 1], [0, 2, 9, 7])), shape=(2, 10))
    out = ranking_metrics(
        ranked, truth, "hit_rate@2,hit_rate_pairs@2,hit_rate_pairs@3,ndcg_pairs@3,ndcg@3"
    )
    assert np.nanmean(out["hit_rate@2"]) == pytest.approx(0.5)  # per user: 1 of 2 users
    assert float(out["hit_rate_pairs@2"]) == pytest.approx(1 / 4)  # per pair: 1 of 4 pairs
    assert float(out["hit_rate_pairs@3"]) == pytest.approx(2 / 4)
    # pair NDCG: each hit pair scores 1/log2(rank + 1): ranks 1 and 3 → (1 + 0.5) / 4 pairs
    assert float(out["ndcg_pairs@3"]) == pytest.approx(1.5 / 4)
    assert out["ndcg_pairs@3"].shape == ()


def test_pair_metrics_parse_and_are_not_per_user():
    metric = parse_metric("HIT_RATE_PAIRS@10")
    assert metric.label == "hit_rate_pairs@10" and not metric.per_user
