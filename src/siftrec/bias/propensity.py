"""Exposure propensities θ = P(item shown to user): estimation, user-supplied values, diagnostics.

A click needs exposure and relevance; inverse-propensity weights ``1/θ`` undo the exposure bias
of a missing-not-at-random log. Propensities come either from the log itself,
as a per-interaction ``propensity`` column supplied by the user (impression logs, Coat's shipped
propensities: :func:`with_propensity`), or are estimated on the training log
(:func:`estimate_propensities`): by the item-popularity power law of Saito et al. (WSDM 2020,
:func:`popularity_propensities`) or by a model of exposure (:mod:`siftrec.bias.exposure`).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from siftrec.bias.exposure import fit_exposure_model
from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError

#: Exponent of the popularity power law (Saito et al.'s code).
DEFAULT_ETA = 0.5
#: Lower clip of propensities: Saito et al.'s evaluation floor; their tuned Rel-MF clip on
#: Yahoo! R3 is 0.009.
DEFAULT_FLOOR = 0.01
#: Ways to estimate propensities from a training log (:func:`estimate_propensities`).
PROPENSITY_METHODS = ("power-law", "exposure-model")
#: Quantiles reported by :func:`diagnose_propensities`.
QUANTILES = (0.0, 0.01, 0.05, 0.25, 0.5, 0.75, 0.95, 0.99, 1.0)


def check_propensities(values: np.ndarray, what: str = "propensities") -> np.ndarray:
    """``values`` as float64 after checking every one is finite and in [0, 1]."""
    arr = np.asarray(values, dtype=np.float64)
    bad = ~np.isfinite(arr) | (arr < 0) | (arr > 1)
    if bad.any():
        example = arr[bad].flat[0]
        raise SiftrecError(
            f"{what} must lie in [0, 1]; {int(bad.sum())} value(s) do not (e.g. {example})"
        )
    return arr


def clip_propensities(values: np.ndarray, floor: float = DEFAULT_FLOOR) -> np.ndarray:
    """``max(θ, floor)``: bounds the inverse weights by ``1/floor`` (a bias–variance knob)."""
    _check_floor(floor)
    return np.maximum(check_propensities(values), floor)


def popularity_propensities(
    train: Interactions, eta: float = DEFAULT_ETA, floor: float = DEFAULT_FLOOR
) -> np.ndarray:
    """Item propensities ``θ_i = max((n_i / max_j n_j)^eta, floor)``, one per item of the map.

    ``n_i`` is the number of distinct users with a training interaction on item ``i``, counted
    over the whole item map (``bincount(minlength=n_items)``): items without interactions are
    kept in place and get ``floor``, so ``θ[train.items]`` is always aligned. (Saito et al.'s
    ``np.unique(..., return_counts=True)`` drops them and shifts every later item.)
    """
    if not isinstance(train, Interactions):
        raise SiftrecError(f"expected Interactions, got {type(train).__name__}")
    if len(train) == 0:
        raise SiftrecError("cannot estimate propensities from an empty interaction log")
    if not np.isfinite(eta) or eta < 0:
        raise SiftrecError(f"eta must be a non-negative number, got {eta}")
    _check_floor(floor)
    counts = np.bincount(train.binary.indices, minlength=train.n_items).astype(np.float64)
    theta = (counts / counts.max()) ** eta
    theta[counts == 0] = 0.0  # 0 ** 0 would make unseen items certain when eta = 0
    return np.maximum(theta, floor)


def estimate_propensities(
    train: Interactions,
    method: str = "power-law",
    *,
    eta: float = DEFAULT_ETA,
    floor: float = DEFAULT_FLOOR,
) -> np.ndarray:
    """The estimated propensity of every interaction of ``train``, clipped below at ``floor``.

    ``method``: ``"power-law"`` (:func:`popularity_propensities` with ``eta``, per item) or
    ``"exposure-model"`` (:func:`siftrec.bias.exposure.fit_exposure_model`, per pair).
    """
    if method == "power-law":
        return popularity_propensities(train, eta, floor)[train.items]
    if method == "exposure-model":
        _check_floor(floor)
        model = fit_exposure_model(train)
        return np.maximum(model.propensities(train.users, train.items), floor)
    raise SiftrecError(f"propensity must be one of {', '.join(PROPENSITY_METHODS)}, got {method!r}")


def with_propensity(
    data: Interactions, propensities: np.ndarray, floor: float | None = None
) -> Interactions:
    """``data`` with a ``propensity`` column looked up per interaction.

    ``propensities`` is per item (shape ``(n_items,)``) or per pair (shape
    ``(n_users, n_items)``, e.g. Coat's learned propensities). ``floor`` clips from below.
    """
    arr = np.asarray(propensities)
    if arr.shape == (data.n_items,):
        values = arr[data.items]
    elif arr.shape == data.shape:
        values = arr[data.users, data.items]
    else:
        raise SiftrecError(
            f"propensities have shape {arr.shape}; expected ({data.n_items},) per item or "
            f"{data.shape} per (user, item) pair"
        )
    values = check_propensities(values)
    if floor is not None:
        values = clip_propensities(values, floor)
    return data.with_columns(propensity=values.astype(np.float32))


def effective_sample_size(weights: np.ndarray) -> float:
    """Kish's effective sample size ``(Σw)² / Σw²`` of non-negative weights."""
    w = np.asarray(weights, dtype=np.float64)
    if w.size == 0:
        raise SiftrecError("no weights given")
    if not np.all(np.isfinite(w)) or (w < 0).any():
        raise SiftrecError("weights must be finite and non-negative")
    total = w.sum()
    return float(total * total / np.square(w).sum()) if total > 0 else 0.0


@dataclass(frozen=True)
class PropensityDiagnostics:
    """Summary of the propensities weighting a set of interactions.

    Attributes:
        n: number of propensities.
        quantiles: ``{"q0": min, "q1": 1st percentile, ..., "q50": median, ..., "q100": max}``
            of the propensities after clipping.
        clip: the lower clip applied before weighting (0: none).
        share_clipped: fraction of propensities raised to ``clip``.
        max_weight: the largest inverse-propensity weight ``1 / θ``.
        ess: effective sample size ``(Σw)² / Σw²`` of the weights ``w = 1 / θ``.
        ess_ratio: ``ess / n`` (1 for uniform propensities; small values mean a few
            interactions dominate every IPS estimate).
    """

    n: int
    quantiles: dict[str, float]
    clip: float
    share_clipped: float
    max_weight: float
    ess: float
    ess_ratio: float

    def to_dict(self) -> dict[str, object]:
        return asdict(self)


def diagnose_propensities(propensities: np.ndarray, clip: float = 0.0) -> PropensityDiagnostics:
    """Quantiles of ``max(θ, clip)`` and the effective sample size of its inverse weights."""
    raw = check_propensities(np.ravel(propensities))
    if raw.size == 0:
        raise SiftrecError("no propensities given")
    if not 0 <= clip <= 1:
        raise SiftrecError(f"clip must be in [0, 1], got {clip}")
    theta = np.maximum(raw, clip)
    if (theta <= 0).any():
        raise SiftrecError(
            f"{int((theta <= 0).sum())} propensities are 0, so their weights are infinite; "
            "pass clip > 0"
        )
    weights = 1.0 / theta
    ess = effective_sample_size(weights)
    values = np.quantile(theta, QUANTILES)
    return PropensityDiagnostics(
        n=int(theta.size),
        quantiles={f"q{round(q * 100)}": float(v) for q, v in zip(QUANTILES, values, strict=True)},
        clip=float(clip),
        share_clipped=float(np.mean(raw < clip)),
        max_weight=float(weights.max()),
        ess=ess,
        ess_ratio=ess / theta.size,
    )


def _check_floor(floor: float) -> None:
    if not 0 <= floor <= 1:
        raise SiftrecError(f"floor must be in [0, 1], got {floor}")
