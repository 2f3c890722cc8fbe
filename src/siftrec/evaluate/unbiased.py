"""Earlier home of the IPS/SNIPS metrics and the MAR protocols, kept so that imports from it work.

The code lives in :mod:`siftrec.evaluate.ips` and :mod:`siftrec.evaluate.mar`.
"""

from siftrec.evaluate.ips import evaluate_ips, ips_ranking_metrics, validation_propensities
from siftrec.evaluate.mar import evaluate_mar, evaluate_mar_all, evaluate_mar_rated
from siftrec.evaluate.metrics import ESTIMATORS, Estimator

__all__ = [
    "ESTIMATORS",
    "Estimator",
    "evaluate_ips",
    "evaluate_mar",
    "evaluate_mar_all",
    "evaluate_mar_rated",
    "ips_ranking_metrics",
    "validation_propensities",
]
