"""T-CE: the truncated BCE loss of Adaptive Denoising Training (Wang et al., WSDM 2021).

Large-loss positives are likely false positives early in training, so each mini-batch drops
the positives with the largest BCE loss. The dropped count follows the official code
(``DenoisingRec/T_CE/loss.py``): a fraction ``ε(T)`` of the **whole batch** (positives and
sampled negatives), taken from the positives only — negatives have sort key 0 and are never
dropped — so with one negative per positive ``ε = 0.2`` removes ~40 % of the positives.
``drop_of="positives"`` drops ``ε(T)`` of the positives instead (the paper's reading).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
import torch.nn.functional as F

from siftrec.errors import SiftrecError
from siftrec.objectives.base import (
    Batch,
    PointwiseObjective,
    PointwiseWeights,
    register_objective,
)
from siftrec.search_space import Float, SearchSpace


@register_objective("tce", "t-ce")
@dataclass
class TruncatedBCE(PointwiseObjective):
    """Mean BCE over the kept samples of a batch (the ``drop_rate(step)`` largest-loss
    positives removed).

    ``loss = (Σ_kept w_b softplus(−s_b) + Σ_bj softplus(s_bj)) / n_kept``: the shared
    pointwise formula with the dropped positives weighted 0 (so they get no gradient).

    Attributes:
        drop_rate: final drop rate ``ε_max`` (authors' default 0.2).
        num_gradual: mini-batch iterations over which ``ε`` grows from 0 (default 30000;
            used only with ``ramp_epochs = 0``).
        ramp_epochs: epochs over which ``ε`` grows from 0, one step per epoch: ``ε(e) =
            drop_rate**exponent · e / ramp_epochs`` for the 0-based epoch ``e < ramp_epochs``,
            then ``drop_rate``. A ramp in epochs is the same share of training whatever the
            log's size and batch, where ``num_gradual`` steps are not; 0 uses ``num_gradual``.
        exponent: the schedule ends at ``drop_rate ** exponent`` before jumping to
            ``drop_rate`` (official code; default 1, a plain linear ramp).
        drop_of: ``"batch"`` (official code: ``ε`` of all labelled samples, taken from the
            positives) or ``"positives"`` (``ε`` of the positives).
    """

    search_space: ClassVar[SearchSpace] = {
        "drop_rate": Float(0.05, 0.5),
        # the ramp in epochs carries over between log sizes; a step count does not
        "ramp_epochs": Float(1.0, 20.0),
    }

    drop_rate: float = 0.2
    num_gradual: int = 30000
    ramp_epochs: float = 0.0
    exponent: float = 1.0
    drop_of: Literal["batch", "positives"] = "batch"

    def __post_init__(self) -> None:
        if not 0.0 <= self.drop_rate < 1.0:
            raise SiftrecError(f"drop_rate must be in [0, 1), got {self.drop_rate}")
        if self.num_gradual < 1:
            raise SiftrecError(f"num_gradual must be at least 1, got {self.num_gradual}")
        if not self.ramp_epochs >= 0:
            raise SiftrecError(f"ramp_epochs must be non-negative, got {self.ramp_epochs}")
        if self.exponent <= 0:
            raise SiftrecError(f"exponent must be positive, got {self.exponent}")
        if self.drop_of not in ("batch", "positives"):
            raise SiftrecError(f"drop_of must be 'batch' or 'positives', got {self.drop_of!r}")

    def drop_rate_at(self, step: int, epoch: int = 0) -> float:
        """``ε`` at the 0-based ``step`` and ``epoch``: the epoch ramp (``ramp_epochs > 0``),
        else ``linspace(0, drop_rate**exponent, num_gradual)[step]``, then ``drop_rate`` (the
        official ``drop_rate_schedule``)."""
        if self.ramp_epochs > 0:
            if epoch >= self.ramp_epochs:
                return self.drop_rate
            return self.drop_rate**self.exponent * epoch / self.ramp_epochs
        if step >= self.num_gradual:
            return self.drop_rate
        if self.num_gradual == 1:
            return 0.0
        return self.drop_rate**self.exponent * step / (self.num_gradual - 1)

    def n_dropped(self, n_pos: int, n_neg: int, step: int, epoch: int = 0) -> int:
        """How many positives a batch of ``n_pos`` positives and ``n_neg`` negatives drops."""
        rate = self.drop_rate_at(step, epoch)
        if self.drop_of == "positives":
            return n_pos - int((1.0 - rate) * n_pos)
        total = n_pos + n_neg
        return min(n_pos, total - int((1.0 - rate) * total))

    def weights(self, batch: Batch) -> PointwiseWeights:
        """The kept positives (the ``n_dropped`` largest ``softplus(−s_b)`` get weight 0, the
        rest their interaction weight) and the number of kept labelled samples."""
        per = F.softplus(-batch.pos_scores.detach())
        n_neg = batch.neg_scores.numel()
        drop = self.n_dropped(len(per), n_neg, batch.step, batch.epoch)
        keep = torch.ones_like(per)
        if drop:
            keep[torch.topk(per, drop, sorted=False).indices] = 0.0
        if batch.weights is not None:
            keep = keep * batch.weights.to(keep.dtype)
        return PointwiseWeights(keep, None, len(per) - drop + n_neg)
