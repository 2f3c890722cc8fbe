"""Pointwise binary cross-entropy ("BPO", Yu & Qin, SIGIR 2020): positives labelled 1, sampled
negatives 0."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from siftrec.objectives.base import PointwiseObjective, register_objective
from siftrec.search_space import SearchSpace


@register_objective("bce", "bpo")
@dataclass
class BCE(PointwiseObjective):
    """Mean BCE over the B·(1 + n_neg) labelled samples of a batch.

    ``loss = (Σ_b w_b softplus(−s_b) + Σ_bj softplus(s_bj)) / (B·(1 + n_neg))``; weights apply to
    the positives only. The formula and its closed-form gradient are
    :class:`~siftrec.objectives.base.PointwiseObjective`'s defaults.
    """

    search_space: ClassVar[SearchSpace] = {}
