"""GNOLR: the nested ordinal logistic loss over feedback levels (Zhang et al., KDD 2025).

Feedback of ``K`` ordinal levels (e.g. 1 collect < 2 cart < 3 buy; ``batch.levels``, from the
log's ``level`` column, ``siftrec.data.levels``) is modelled by cumulative probabilities

    p_k = P(y ≥ k | u, i) = σ(z_k − a_k),    z_k = Σ_{j≤k} S_j·s_j,    a_1 < a_2 < … < a_K,

of per-level similarities ``s_k`` (the paper's towers, ``towers=True``: the scorer's user and
item embeddings cut into ``K`` level blocks, ``siftrec.train.towers``; MF, GMF, LightGCN),
scales ``S_j`` (``S``; with ``normalize`` the deeper levels' capped at their cut-point gaps,
:meth:`GNOLR.level_scales`) and cut-points ``a_k``. With ``towers=False`` every level shares the
scorer's one logit, ``z_k = S·s`` (the paper's Neural-OLR parameterisation; any scorer).
Sampled negatives are level 0. Category probabilities are
``P(y=0) = 1 − p_1``, ``P(y=k) = p_k − p_{k+1}``, ``P(y=K) = p_K``, and the nested loss of the
paper (methods.md §7.4) sums, for every truncation ``t = 1..K``, the ordinal likelihood in which
the levels above ``t`` are merged into ``t``:

    NLL_t = −[1{y=0} ln(1 − p_1) + Σ_{k<t} 1{y=k} ln(p_k − p_{k+1}) + 1{y≥t} ln p_t],
    L = mean over the batch's samples of Σ_t NLL_t.

``NLL_1`` is BCE on level 1, ``NLL_K`` the full ordinal likelihood. Per sample the sum has a
closed form: ``Σ_{t≤y} ln p_t + (K − y)·ln P(y)``.

Cut-points follow the authors: ``m_k = π_k/(1 − π_k)`` with ``π_k`` the rate of ``y ≥ k`` among
the training samples (positives at their levels plus the sampled negatives, so
``π_k = share of positives at level ≥ k / (1 + n_neg)``), ``a_k = −ln m_k``: an untrained model
(``s ≈ 0``) is calibrated. With ``learn_cutpoints`` they are learned as ``a_1 + cumsum(exp(α))``
(ordered by construction) with ``anchor · MSE(a, −ln m)`` added to the loss.

Numerical guard (the authors' NaN from ``ln(p_0 − p_1)``): with ``x_k = z_k − a_k``,
``ln(p_k − p_{k+1})`` is computed as ``ln σ(x_k) + ln σ(−x_{k+1}) + ln(1 − e^{−(x_k − x_{k+1})})``
(exact, no cancellation) with ``x_k − x_{k+1}`` floored at ``eps``: finite for any scores.
With towers ``x_k − x_{k+1} = a_{k+1} − a_k − S_{k+1}·s_{k+1}``, which an unnormalised deep
level's similarity can make negative; the floor keeps the first two terms, whose gradient pushes
it back (normalised towers with capped scales keep it positive).

Censored levels (``censored``, an extension of the paper): the level of a pair is the deepest
one reached *so far*, and a pair that stopped at ``k < K`` (an item collected, not yet bought)
may still go deeper, so its levels above ``k`` are right-censored rather than observed as not
reached: the category term ``P(y = k)`` becomes ``P(y ≥ k) = p_k`` (nested: every truncation
``t > k`` scores ``ln p_k``; naive: the indicators above ``k`` are left out). Sampled negatives
stay observed level 0. This is the likelihood that fits a log whose test is *later* behaviour
(the Tmall protocol predicts future purchases, many of them of items collected in training).

Variants (the paper's ablations): ``nested`` (GNOLR), ``non_nested`` (only ``NLL_K``: the
cumulative OLR likelihood, the paper's V1) and ``naive`` (independent BCE on each cumulative
indicator ``1{y ≥ k}`` against ``p_k``, no category likelihood).

Scoring: outside training the scorer's score of a pair is ``z_K/S`` (with towers
``Σ_k (S_k/S)·s_k``: the dot product of the concatenated level vectors, normalised and weighted
by ``√(S_k/S)``, the paper's single retrieval space), and ``p_K = σ(z_K − a_K)`` is strictly
increasing in it, so ``recommend`` ranks by the probability of the deepest level;
:meth:`GNOLR.deepest_probability` maps scores to ``p_K``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from siftrec.data.interactions import Interactions
from siftrec.data.levels import LEVEL, check_levels
from siftrec.errors import SiftrecError
from siftrec.objectives.base import Batch, ObjectiveKind, SampledObjective, register_objective
from siftrec.search_space import Categorical, Float, SearchSpace
from siftrec.train.towers import NORMALIZE, LevelTowers, Normalize

#: Most levels a learnable module holds (its parameter sizes are fixed before the data is seen,
#: so a saved model loads without it).
MAX_LEVELS = 16
Variant = Literal["nested", "non_nested", "naive"]
VARIANTS = ("nested", "non_nested", "naive")


def level_rates(train: Interactions, k: int | None = None) -> np.ndarray:
    """``[K]`` share of the training rows at level ≥ ``k`` for ``k = 1..K`` (every row is level
    1 in a log without levels; ``K`` = the deepest level unless given)."""
    if train.has_column(LEVEL):
        levels = check_levels(train.column(LEVEL), "training log")
    else:
        levels = np.ones(len(train), dtype=np.int16)
    if not len(levels):
        raise SiftrecError("cannot set up levels on an empty log")
    k = int(levels.max()) if k is None else k
    if k < 1 or k > MAX_LEVELS:
        raise SiftrecError(f"the number of levels must be in 1..{MAX_LEVELS}, got {k}")
    counts = np.bincount(np.minimum(levels, k), minlength=k + 1)
    return counts[::-1].cumsum()[::-1][1:] / len(levels)


def merged_levels(rates: np.ndarray, min_share: float) -> np.ndarray:
    """``[K + 1]`` map of levels ``0..K`` (``rates`` from :func:`level_rates`) onto dense levels
    in which every level below the deepest holds at least ``min_share`` of the rows: a rarer one
    joins the nearest kept level below it (level 1 the nearest above). Level 0 stays 0."""
    rates = np.asarray(rates, dtype=np.float64)
    shares = rates - np.append(rates[1:], 0.0)  # rows at exactly level k, k = 1..K
    kept = np.flatnonzero((shares >= min_share) | (np.arange(len(rates)) == len(rates) - 1))
    levels = np.arange(len(rates))
    below = np.searchsorted(kept, levels, side="right") - 1  # nearest kept level ≤ k
    target = np.where(below >= 0, below, 0)  # before the first kept level: the first one
    return np.concatenate([[0], target + 1]).astype(np.int64)


def base_cutpoints(rates: np.ndarray, n_negatives: int) -> np.ndarray:
    """``a_k = −ln m_k``, ``m_k = π_k/(1 − π_k)``, ``π_k = rates_k / (1 + n_negatives)`` (clipped
    to [1e-6, 1 − 1e-6]); non-decreasing in ``k``."""
    pi = np.clip(np.asarray(rates, dtype=np.float64) / (1 + n_negatives), 1e-6, 1 - 1e-6)
    return np.log((1 - pi) / pi)


class Cutpoints(nn.Module):
    """Learnable ordered cut-points ``a = a_1 + cumsum([0, exp(α)])`` (first ``K`` used) and the
    anchor ``−ln m`` they are pulled to; initialised on the first training batch."""

    def __init__(self) -> None:
        super().__init__()
        self.first = nn.Parameter(torch.zeros(()))
        self.log_gaps = nn.Parameter(torch.zeros(MAX_LEVELS - 1))
        self.register_buffer("target", torch.zeros(MAX_LEVELS))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    def initialise(self, target: torch.Tensor, eps: float) -> None:
        """Set ``a`` to ``target`` (gaps floored at ``eps``)."""
        with torch.no_grad():
            k = len(target)
            self.target[:k] = target
            self.first.fill_(float(target[0]))
            gaps = torch.clamp(target[1:] - target[:-1], min=eps)
            self.log_gaps[: k - 1] = torch.log(gaps)
            self.ready.fill_(True)

    def forward(self, k: int) -> torch.Tensor:
        gaps = torch.exp(self.log_gaps[: k - 1])
        return torch.cat([self.first.reshape(1), self.first + torch.cumsum(gaps, 0)])


@dataclass
class _LevelObjective(SampledObjective):
    """What the ordinal objectives share: ``K``, the level rates and the label matrix.

    Attributes:
        levels: ``K``; 0 takes the deepest level of the training log. Deeper levels in a
            batch count as ``K``.
        eps: the numerical guard of the probabilities.
    """

    kind: ClassVar[ObjectiveKind] = "pointwise"

    levels: int = 0
    eps: float = 1e-7

    def __post_init__(self) -> None:
        if not 0 <= self.levels <= MAX_LEVELS:
            raise SiftrecError(f"levels must be in 0..{MAX_LEVELS} (0: from the data)")
        if not 0 < self.eps < 1e-2:
            raise SiftrecError(f"eps must be in (0, 0.01), got {self.eps}")
        self.rates_: np.ndarray | None = None
        #: ``[K_data + 1]`` map of the log's levels onto the ones modelled (None: identity).
        self.level_map_: torch.Tensor | None = None

    def setup(self, train: Interactions) -> None:
        self.rates_ = level_rates(train, self.levels or None)
        self.level_map_ = None

    @property
    def n_levels(self) -> int:
        """``K`` (from :meth:`setup`)."""
        if self.rates_ is None:
            raise SiftrecError(f"{self.name}: call setup(train) before the first batch")
        return len(self.rates_)

    def labels(self, batch: Batch) -> torch.Tensor:
        """``[B, 1 + n_neg]`` levels: the positives' (``K`` when the batch has none), then 0."""
        k = self.n_levels
        shape = batch.scores.shape[:2]  # [B, 1 + n_neg] (towers add a level axis to the scores)
        labels = torch.zeros(shape, dtype=torch.long, device=batch.scores.device)
        if batch.levels is None:
            labels[:, 0] = k
        elif self.level_map_ is None:
            labels[:, 0] = batch.levels.to(labels.device).long().clamp(0, k)
        else:
            lookup = self.level_map_.to(labels.device)
            labels[:, 0] = lookup[batch.levels.to(labels.device).long().clamp(0, len(lookup) - 1)]
        return labels

    def fixed_cutpoints(self, batch: Batch) -> torch.Tensor:
        """``−ln m_k`` [K] for this batch's negatives per positive."""
        a = base_cutpoints(self.rates_, batch.scores.shape[1] - 1)
        return torch.as_tensor(a, dtype=batch.scores.dtype, device=batch.scores.device)

    def sample_weights(self, batch: Batch) -> torch.Tensor | None:
        """``[B, 1 + n_neg]`` interaction weights on the positives' column (None without)."""
        if batch.weights is None:
            return None
        w = torch.ones(batch.scores.shape[:2], dtype=batch.scores.dtype, device=batch.scores.device)
        w[:, 0] = batch.weights.to(w.dtype)
        return w


def log_categories(x: torch.Tensor, eps: float) -> torch.Tensor:
    """``[..., K + 1]`` log-probabilities of the categories ``y = 0..K`` from ``x_k = z_k − a_k``
    ``[..., K]``, guarded (see the module docstring)."""
    c0 = F.logsigmoid(-x[..., :1])
    top = F.logsigmoid(x[..., -1:])
    if x.shape[-1] == 1:
        return torch.cat([c0, top], dim=-1)
    gaps = torch.clamp(x[..., :-1] - x[..., 1:], min=eps)
    middle = F.logsigmoid(x[..., :-1]) + F.logsigmoid(-x[..., 1:]) + torch.log(-torch.expm1(-gaps))
    return torch.cat([c0, middle, top], dim=-1)


@register_objective("gnolr")
@dataclass
class GNOLR(_LevelObjective):
    """The nested ordinal loss (module docstring) on per-level towers or a shared logit.

    Attributes:
        variant: ``nested`` (GNOLR), ``non_nested`` (only the full OLR likelihood ``NLL_K``)
            or ``naive`` (BCE per cumulative indicator).
        towers: one similarity per level from the scorer's user and item embeddings cut into
            ``K`` blocks (the paper's model; MF, GMF, LightGCN; the scorer takes the autograd
            path); False: one shared logit for every level (any scorer).
        normalize: towers only (ignored without): ``"all"`` L2-normalises each level's block (the
            paper's towers: ``s_k`` a cosine, so ``scale`` sets how confident a level can get, and
            the deeper levels' scales are capped so every pair's levels stay nested,
            :meth:`level_scales`); ``"deep"`` (default) every block but level 1's: level 1 a free
            dot product, the deeper levels bounded and capped. A deeper level's tower never meets a
            level-0 negative (``P(y=0) = 1 − p_1``), so on the unobserved items it ranks it is
            unconstrained; bounded, it can only lower an item by at most twice the cut-point gaps.
            ``"none"``: no block normalised, deeper levels unbounded.
        min_share: towers only: a level below the deepest that holds fewer than this share of
            the training rows is merged into the nearest shallower level (level 1 into level 2;
            :func:`merged_levels`). Tower ``k + 1`` is pushed down only by the pairs that stop at
            level ``k``: above a near-empty level (Tmall's carts, 0.4 % of the rows) it has
            nothing against it and swamps the ranking. 0 keeps every level.
        scale: ``S`` in ``z_k = Σ_{j≤k} S_j·s_j`` (``S_1 = S``).
        learn_cutpoints: learn the cut-points (ordered, pulled to ``−ln m`` by ``anchor``)
            instead of fixing them at ``−ln m``. They are shared by every sample: train them
            with ``optimizer="adam"`` (MF's per-sample SGD steps ``lr·B`` on the batch mean,
            which suits embedding rows, not parameters every sample moves).
        anchor: weight of ``MSE(a, −ln m)`` when the cut-points are learned (authors: 1e-3).
        censored: levels below the deepest are right-censored (module docstring): a pair
            that stopped at ``k`` adds ``ln p_k`` instead of ``ln P(y = k)``. Nothing then
            pushes a deeper tower down in the nested likelihoods (level-0 negatives meet only
            ``p_1``), so with towers it needs ``variant="naive"``.
        levels: ``K``; 0 takes the deepest level of the training log. Deeper levels in a
            batch count as ``K``.
        eps: the numerical guard: floor of the learned cut-point gaps and of ``x_k − x_{k+1}``.
    """

    search_space: ClassVar[SearchSpace] = {
        "scale": Float(0.5, 4.0, log=True),
        "learn_cutpoints": Categorical((False, True)),
    }

    variant: Variant = "nested"
    towers: bool = True
    normalize: Normalize = "deep"
    min_share: float = 0.01
    scale: float = 1.0
    learn_cutpoints: bool = False
    anchor: float = 1e-3
    censored: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.censored and self.towers and self.variant != "naive":
            raise SiftrecError(
                "censored levels on per-level towers need variant=naive (in the nested "
                "likelihoods no negative reaches a deeper tower); or set towers=false"
            )
        if self.variant not in VARIANTS:
            raise SiftrecError(
                f"variant must be one of {', '.join(VARIANTS)}, got {self.variant!r}"
            )
        if not self.scale > 0:
            raise SiftrecError(f"scale must be positive, got {self.scale}")
        if not self.anchor >= 0:
            raise SiftrecError(f"anchor must be non-negative, got {self.anchor}")
        if self.normalize not in NORMALIZE:
            raise SiftrecError(
                f"normalize must be one of {', '.join(NORMALIZE)}, got {self.normalize!r}"
            )
        if not 0 <= self.min_share < 0.5:
            raise SiftrecError(f"min_share must be in [0, 0.5), got {self.min_share}")

    def build(
        self, n_users: int, n_items: int, generator: torch.Generator, sparse: bool
    ) -> nn.Module | None:
        if not self.towers:
            return Cutpoints() if self.learn_cutpoints else None
        towers = LevelTowers(self.normalize)
        if self.learn_cutpoints:
            towers.add_module("cutpoints", Cutpoints())
        return towers

    def setup(self, train: Interactions) -> None:
        super().setup(train)
        lookup = merged_levels(self.rates_, self.min_share) if self.towers else None
        if lookup is not None and lookup[-1] < len(self.rates_):
            shares = self.rates_ - np.append(self.rates_[1:], 0.0)
            merged = np.bincount(lookup[1:] - 1, weights=shares)
            self.rates_ = merged[::-1].cumsum()[::-1]
            self.level_map_ = torch.as_tensor(lookup)
        towers = getattr(self, "module", None)  # None: called outside a model (no scorer)
        if self.towers and towers is not None:
            towers.set_levels(self.n_levels)

    def _cutpoint_module(self) -> Cutpoints:
        return self.module.cutpoints if self.towers else self.module

    def cutpoints(self, batch: Batch) -> torch.Tensor:
        """The cut-points ``a`` [K] used for ``batch`` (learned or fixed)."""
        fixed = self.fixed_cutpoints(batch)
        if not self.learn_cutpoints:
            return fixed
        module = self._cutpoint_module()
        if not bool(module.ready):
            module.initialise(fixed.to(module.first.dtype), self.eps)
        return module(self.n_levels).to(fixed.dtype)

    def level_scales(self, a: torch.Tensor) -> torch.Tensor:
        """``[K]`` scale of each level's similarity: ``S``, and with ``normalize`` the deeper
        levels' capped at ``(1 − 10⁻³)·(a_k − a_{k−1})``, so that ``S_k·s_k < a_k − a_{k−1}``
        for every cosine ``s_k`` and ``p_{k−1} > p_k`` for every pair (the authors' bound
        ``S < min_k (a_{k+1} − a_k)``, per level): deep levels only lower ``p_K`` below what
        level 1 gives. Unnormalised towers are unbounded: nothing keeps a pair's levels nested."""
        scales = torch.full_like(a, self.scale)
        if self.normalize != "none" and len(a) > 1:
            gaps = (1 - 1e-3) * (a[1:] - a[:-1]).detach().clamp_min(0)
            scales = torch.cat([scales[:1], torch.minimum(scales[1:], gaps)])
        return scales

    def logits(self, batch: Batch, a: torch.Tensor) -> torch.Tensor:
        """``z_k`` [B, N, K]: the cumulative sums of ``S_k·s_k`` (towers: the scorer returns
        ``s`` [B, N, K]; scales from :meth:`level_scales` of the cut-points ``a``) or ``S·s``
        of the shared logit [B, N]."""
        scores = batch.scores
        if not self.towers:
            return self.scale * scores.unsqueeze(-1).expand(*scores.shape, self.n_levels)
        if scores.dim() != 3 or scores.shape[-1] != self.n_levels:
            raise SiftrecError(
                "gnolr's per-level towers need a model with user and item towers (mf, gmf, "
                "lightgcn); this model gives one logit per pair: set towers=false"
            )
        scales = self.level_scales(a).to(scores.dtype)
        towers = getattr(self, "module", None)
        if towers is not None:  # scoring ranks by Σ_k S_k s_k / S = z_K / S
            towers.set_weights(scales / self.scale)
        return torch.cumsum(scores * scales, dim=-1)

    def __call__(self, batch: Batch) -> torch.Tensor:
        k = self.n_levels
        a = self.cutpoints(batch)
        y = self.labels(batch)
        x = self.logits(batch, a) - a  # [B, N, K]
        if self.variant == "naive":
            target = y.unsqueeze(-1) >= torch.arange(1, k + 1, device=y.device)
            terms = torch.where(target, F.logsigmoid(x), F.logsigmoid(-x))
            if self.censored:  # a positive's indicators above its level are unknown
                terms = terms * (target | (y == 0).unsqueeze(-1))
            per = -terms.sum(-1)
        else:
            log_cat = log_categories(x, self.eps)
            own = log_cat.gather(-1, y.unsqueeze(-1)).squeeze(-1)  # ln P(y)
            if self.censored:  # ln P(y ≥ y) = ln p_y for the positives
                reached = F.logsigmoid(x).gather(-1, (y - 1).clamp(min=0).unsqueeze(-1))
                own = torch.where(y > 0, reached.squeeze(-1), own)
            if self.variant == "non_nested":
                per = -own
            else:  # Σ_{t ≤ y} ln p_t + (K − y)·ln P(y)
                cum = torch.cumsum(F.logsigmoid(x), dim=-1)
                prefix = torch.where(
                    y > 0, cum.gather(-1, (y - 1).clamp(min=0).unsqueeze(-1)).squeeze(-1), 0.0
                )
                per = -(prefix + (k - y).to(x.dtype) * own)
        w = self.sample_weights(batch)
        loss = (per if w is None else per * w).mean()
        if self.learn_cutpoints and self.anchor:
            target = self._cutpoint_module().target[:k].to(a.dtype)
            loss = loss + self.anchor * torch.mean((a - target) ** 2)
        return loss

    def deepest_probability(self, logits: torch.Tensor, n_negatives: int) -> torch.Tensor:
        """``p_K = σ(S·s − a_K)`` of the scorer's scores ``s`` (with towers ``Σ_k s_k``; fixed
        cut-points: for ``n_negatives`` per positive; learned: the trained ones). Strictly
        increasing in the score."""
        module = self._cutpoint_module() if self.learn_cutpoints else None
        if module is not None and bool(module.ready):
            a_k = module(self.n_levels)[-1].detach()
        else:
            a_k = float(base_cutpoints(self.rates_, n_negatives)[-1])
        return torch.sigmoid(self.scale * logits - a_k)


class LevelHeads(nn.Module):
    """One logistic head per level on a shared logit: ``σ(exp(ω_k)·s + b_k)`` (first ``K``)."""

    def __init__(self) -> None:
        super().__init__()
        self.log_slope = nn.Parameter(torch.zeros(MAX_LEVELS))
        self.bias = nn.Parameter(torch.zeros(MAX_LEVELS))
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))

    def forward(self, scores: torch.Tensor, k: int) -> torch.Tensor:
        return torch.exp(self.log_slope[:k]) * scores.unsqueeze(-1) + self.bias[:k]


@register_objective("multitask")
@dataclass
class MultiTask(_LevelObjective):
    """Multi-task baseline: one BCE head per level over the shared user/item towers.

    Head ``k`` predicts the cumulative indicator ``1{y ≥ k}`` (engaged at level ``k`` or
    deeper; levels are the deepest per pair, ``siftrec.data.levels``) as
    ``σ(exp(ω_k)·s + b_k)`` from the scorer's logit ``s``; the loss is the mean over heads and
    samples. Slopes start at 1 and biases at ``ln m_k`` (the base rates, as GNOLR's
    cut-points). Unlike GNOLR, the heads are independent: no ordering between levels and no
    category likelihood. With positive slopes the deepest head is increasing in the logit, so
    ``recommend`` ranks by it. The heads are shared by every sample: train with
    ``optimizer="adam"`` (see ``GNOLR.learn_cutpoints``).
    """

    search_space: ClassVar[SearchSpace] = {}

    def build(
        self, n_users: int, n_items: int, generator: torch.Generator, sparse: bool
    ) -> nn.Module | None:
        return LevelHeads()

    def __call__(self, batch: Batch) -> torch.Tensor:
        k = self.n_levels
        heads: LevelHeads = self.module
        if not bool(heads.ready):
            with torch.no_grad():
                heads.bias[:k] = -self.fixed_cutpoints(batch).to(heads.bias.dtype)
                heads.ready.fill_(True)
        logits = heads(batch.scores, k).to(batch.scores.dtype)  # [B, N, K]
        target = self.labels(batch).unsqueeze(-1) >= torch.arange(1, k + 1, device=logits.device)
        per = -torch.where(target, F.logsigmoid(logits), F.logsigmoid(-logits)).mean(-1)
        w = self.sample_weights(batch)
        return (per if w is None else per * w).mean()
