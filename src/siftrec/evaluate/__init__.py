"""Evaluation: pure ranking metrics and the full-ranking protocol over a fitted model."""

from siftrec.evaluate.metrics import METRICS, MetricSpec, parse_metrics, ranking_metrics
from siftrec.evaluate.protocol import EvaluationResult, evaluate

__all__ = [
    "METRICS",
    "EvaluationResult",
    "MetricSpec",
    "evaluate",
    "parse_metrics",
    "ranking_metrics",
]
