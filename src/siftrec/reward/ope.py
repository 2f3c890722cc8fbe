"""Off-policy value of a selection policy from a logged, randomised exposure: IPS and SNIPS."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from siftrec.bias.propensity import check_propensities, effective_sample_size
from siftrec.errors import SiftrecError


@dataclass(frozen=True)
class PolicyValue:
    """Estimated engagement per context of a target policy: ``ips`` (unbiased when the logging
    propensities are right and positive), ``snips`` (self-normalised: lower variance, small
    bias), the number of logged rows the policy agrees with and the weights' effective sample
    size."""

    ips: float
    snips: float
    matched: int
    effective_sample_size: float


def policy_value(
    target: np.ndarray, rewards: np.ndarray, propensities: np.ndarray, clip: float = 0.0
) -> PolicyValue:
    """Value of a policy from logged rows: ``target`` [n] is the probability the target policy
    gives the logged action (1/0 for a deterministic selection), ``rewards`` [n] the logged
    engagement, ``propensities`` [n] the logging policy's probability of that action.

    ``IPS = mean(w·r)``, ``SNIPS = Σ w·r / Σ w`` with ``w = target / max(p, clip)``.
    """
    target = np.asarray(target, dtype=np.float64)
    rewards = np.asarray(rewards, dtype=np.float64)
    p = check_propensities(propensities, "logging propensities")
    if not (target.shape == rewards.shape == p.shape) or target.ndim != 1 or not len(target):
        raise SiftrecError("target, rewards and propensities must be equal-length non-empty rows")
    if ((target < 0) | (target > 1)).any():
        raise SiftrecError("target probabilities must lie in [0, 1]")
    p = np.maximum(p, clip)
    if ((p <= 0) & (target > 0)).any():
        raise SiftrecError("a row the target policy takes has logging propensity 0; pass clip > 0")
    w = np.divide(target, p, out=np.zeros_like(target), where=p > 0)
    total = w.sum()
    return PolicyValue(
        ips=float(np.mean(w * rewards)),
        snips=float((w * rewards).sum() / total) if total > 0 else float("nan"),
        matched=int((target > 0).sum()),
        effective_sample_size=effective_sample_size(w),
    )
