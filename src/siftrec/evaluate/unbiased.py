"""Compatibility re-exports of the IPS/SNIPS metrics and the MAR protocols.

``siftrec.evaluate.unbiased`` names the functions of :mod:`siftrec.evaluate.ips` and
:mod:`siftrec.evaluate.mar` (and the estimator names of :mod:`siftrec.evaluate.metrics`), so code
that imports them from here keeps working; new code imports them from those modules.
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
