"""Evaluation: metric objects and their one name grammar, pure ranking-metric kernels and the
full-ranking protocol over a fitted model (IPS/SNIPS: :mod:`.ips`; MAR test sets: :mod:`.mar`).
"""

from siftrec.evaluate.metrics import (
    DCG,
    GRAMMAR,
    MAP,
    METRICS,
    MRR,
    NDCG,
    Coverage,
    HitRate,
    Metric,
    MetricSpec,
    Precision,
    RatedDCG,
    RatedMAP,
    RatedRecall,
    Recall,
    RecallCapped,
    metric_names,
    parse_metric,
    parse_metrics,
    ranking_metrics,
)
from siftrec.evaluate.protocol import EvaluationResult, evaluate

__all__ = [
    "DCG",
    "GRAMMAR",
    "MAP",
    "METRICS",
    "MRR",
    "NDCG",
    "Coverage",
    "EvaluationResult",
    "HitRate",
    "Metric",
    "MetricSpec",
    "Precision",
    "RatedDCG",
    "RatedMAP",
    "RatedRecall",
    "Recall",
    "RecallCapped",
    "evaluate",
    "metric_names",
    "parse_metric",
    "parse_metrics",
    "ranking_metrics",
]
