"""Exposure bias: propensities (given, power law, exposure model), their diagnostics and Rel-MF's
pointwise loss estimators."""

from siftrec.bias.estimators import (
    LOCAL_LOSSES,
    LocalLoss,
    ideal_loss,
    ips_loss,
    naive_loss,
    pointwise_risk,
)
from siftrec.bias.exposure import ExposureModel, fit_exposure_model
from siftrec.bias.propensity import (
    DEFAULT_ETA,
    DEFAULT_FLOOR,
    PROPENSITY_METHODS,
    PropensityDiagnostics,
    check_propensities,
    clip_propensities,
    diagnose_propensities,
    effective_sample_size,
    estimate_propensities,
    popularity_propensities,
    with_propensity,
)

__all__ = [
    "DEFAULT_ETA",
    "DEFAULT_FLOOR",
    "LOCAL_LOSSES",
    "PROPENSITY_METHODS",
    "ExposureModel",
    "LocalLoss",
    "PropensityDiagnostics",
    "check_propensities",
    "clip_propensities",
    "diagnose_propensities",
    "effective_sample_size",
    "estimate_propensities",
    "fit_exposure_model",
    "ideal_loss",
    "ips_loss",
    "naive_loss",
    "pointwise_risk",
    "popularity_propensities",
    "with_propensity",
]
