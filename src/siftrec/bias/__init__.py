"""Exposure bias: propensities, their diagnostics and Rel-MF's pointwise loss estimators."""

from siftrec.bias.estimators import (
    LOCAL_LOSSES,
    LocalLoss,
    ideal_loss,
    ips_loss,
    naive_loss,
    pointwise_risk,
)
from siftrec.bias.propensity import (
    DEFAULT_ETA,
    DEFAULT_FLOOR,
    PropensityDiagnostics,
    check_propensities,
    clip_propensities,
    diagnose_propensities,
    effective_sample_size,
    popularity_propensities,
    with_propensity,
)

__all__ = [
    "DEFAULT_ETA",
    "DEFAULT_FLOOR",
    "LOCAL_LOSSES",
    "LocalLoss",
    "PropensityDiagnostics",
    "check_propensities",
    "clip_propensities",
    "diagnose_propensities",
    "effective_sample_size",
    "ideal_loss",
    "ips_loss",
    "naive_loss",
    "pointwise_risk",
    "popularity_propensities",
    "with_propensity",
]
