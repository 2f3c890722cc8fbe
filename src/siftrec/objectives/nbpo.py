"""NBPO: noisy-label robust pointwise BCE with a learned label-flip model (Yu & Qin, SIGIR 2020).

An unvoted pair may be a true positive the user never saw. NBPO learns, jointly with the
recommender (logit ``x_ui``, the scorer's score), a second MF of flip logits
``γ_ui = ⟨P_u, Q_i⟩`` with ``ρ_ui = σ(γ_ui) = P(unvoted | truly positive)``; observed
positives are assumed clean. The default variant (c) of the official code (``_NBPO.py``) applies
per pair the gradients of the stop-gradient objective (maximised)::

    voted (u,i):   sg(1−ρ)·ln σ(x) + sg(σ(x))·ln(1−ρ)
    unvoted (u,j): ln σ(−x) + sg(ρ)·ln σ(x) + sg(σ(x))·ln ρ

which this objective minimises negated. The flip MF is the objective's own module
(``Objective.build``), trained with the scorer, saved under ``objective.*`` and not used for
ranking. On the trainer's fused path (MF's default) its row gradients are analytic
(``NBPO.fused_gradients``, compiled loops in ``nbpo_kernels``): no autograd graph and no sparse
gradient tensors for either model (``bench/nbpo_epoch.py`` times it against BPR).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import ClassVar

import torch
import torch.nn.functional as F
from torch import nn

from siftrec.errors import SiftrecError
from siftrec.objectives import nbpo_kernels
from siftrec.objectives.base import (
    Batch,
    Gradients,
    ObjectiveKind,
    SampledObjective,
    register_objective,
)
from siftrec.search_space import Float, Int, SearchSpace
from siftrec.train.engine import RowGrad


class FlipMF(nn.Module):
    """The flip model ``γ_ui = ⟨P_u, Q_i⟩`` (``P`` [n_users, dim], ``Q`` [n_items, dim])."""

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        init_scale: float,
        sparse: bool,
        generator: torch.Generator,
    ) -> None:
        super().__init__()
        self.user_emb = nn.Embedding(n_users, dim, sparse=sparse)
        self.item_emb = nn.Embedding(n_items, dim, sparse=sparse)
        # P ~ c·U(0,1)/√K1, Q ~ −c·U(0,1)/√K1: E[γ] = −c²/4 (−6.25 for c = 5, ρ ≈ 0.002).
        scale = init_scale / math.sqrt(dim)
        with torch.no_grad():
            self.user_emb.weight.uniform_(0.0, scale, generator=generator)
            self.item_emb.weight.uniform_(-scale, 0.0, generator=generator)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Flip logits [B, k] of ``items`` [B, k] for ``users`` [B]."""
        return torch.linalg.vecdot(self.item_emb(items), self.user_emb(users).unsqueeze(1))

    def pair_logits(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Flip logits [B] of the pairs (``users[b]``, ``items[b]``)."""
        return self(users, items.unsqueeze(1)).squeeze(1)

    def regularization(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``½ Σ‖row‖² / B`` over the *distinct* ``P_u`` and ``Q_i`` rows of the batch.

        Each touched row counts once, however often it occurs in the batch, so a per-sample SGD
        step (``lr·B`` on this mean) shrinks it by the factor ``1 − lr·λ_Φ`` once per batch, as
        the official code's dense decay ``W += η(∇ − λ_Φ·W)`` does. Counting every occurrence
        would shrink a row met ``k`` times by ``1 − lr·λ_Φ·k``: below −1 for a popular item
        (``k > 2 / (lr·λ_Φ)``), which flips its sign and grows it geometrically until the loss
        overflows.
        """
        total = (
            self.user_emb(torch.unique(users)).square().sum()
            + self.item_emb(torch.unique(items)).square().sum()
        )
        return 0.5 * total / len(users)


@register_objective("nbpo")
@dataclass
class NBPO(SampledObjective):
    """NBPO variant (c): stop-gradient surrogate of the noisy-label likelihood.

    With ``x`` the scorer's logits and ``γ`` the flip logits of the same pairs::

        loss = (Σ_b w_b · n_neg · v_b + Σ_bj u_bj) / B + l2_flip · ½ Σ‖distinct P, Q rows‖² / B
        v = −[sg(σ(−γ))·ln σ(x) + sg(σ(x))·ln σ(−γ)]              (voted)
        u = −[ln σ(−x) + sg(σ(γ))·ln σ(x) + sg(σ(x))·ln σ(γ)]     (unvoted)

    The voted term counts once per (positive, negative) pair as in the official code, and the
    loss is a sum over pairs divided by B: with MF's per-sample SGD (a step of ``lr·B`` on
    the mean) ``lr`` is the official ``η``. The flip model reads the batch's ``users`` and
    ``items``; it does not fit the shared pointwise formula (its terms mix two models).

    The official L2 is a dense decay of all rows after every batch; here each row the batch
    touches decays once per batch (:meth:`FlipMF.regularization`), so with per-sample SGD
    ``l2_flip`` is the official ``λ_Φ`` wherever a batch touches most rows, and training is
    stable for ``lr·l2_flip < 2`` whatever the item popularity. The likelihood terms use
    log-sigmoid forms, finite with bounded gradients (|∂/∂x|, |∂/∂γ| ≤ 1 per pair) for any
    finite logits, so they need none of the official code's sigmoid clipping.

    Attributes:
        dim: flip-model dimension ``K1`` (50).
        l2_flip: ``λ_Φ``, L2 of the batch's distinct flip rows (0.1: chosen with MF's
            defaults by a leave-one-dataset-out study over 7 noisy logs, see
            ``docs/benchmarks.md``; the authors' MovieLens setting is 1;
            keep it above the scorer's ``l2`` so the flip model cannot explain everything
            away).
        init_scale: ``c`` in the initialisation ``P ~ c·U(0,1)/√K1``, ``Q ~ −c·U(0,1)/√K1``
            (5: initial ``ρ ≈ 0.002``, so training starts as BCE).
    """

    kind: ClassVar[ObjectiveKind] = "pointwise"
    search_space: ClassVar[SearchSpace] = {
        "dim": Int(8, 64, log=True),
        "l2_flip": Float(0.05, 10.0, log=True),
    }

    dim: int = 50
    l2_flip: float = 0.1
    init_scale: float = 5.0

    def __post_init__(self) -> None:
        if self.dim < 1:
            raise SiftrecError(f"dim must be at least 1, got {self.dim}")
        if not self.l2_flip >= 0.0:
            raise SiftrecError(f"l2_flip must be non-negative, got {self.l2_flip}")
        if not self.init_scale > 0.0:
            raise SiftrecError(f"init_scale must be positive, got {self.init_scale}")
        self.module: FlipMF | None = None

    def build(self, n_users: int, n_items: int, generator: torch.Generator, sparse: bool) -> FlipMF:
        """The flip MF, initialised so that ``ρ`` starts near 0."""
        return FlipMF(n_users, n_items, self.dim, self.init_scale, sparse, generator)

    def __call__(self, batch: Batch) -> torch.Tensor:
        flip = self._flip(batch)
        gamma = flip(batch.users, batch.items)
        loss = self._likelihood(batch, batch.scores, gamma)
        if self.l2_flip:
            loss = loss + self.l2_flip * flip.regularization(batch.users, batch.items)
        return loss

    def score_gradients(self, batch: Batch) -> Gradients:
        """The loss and its closed-form gradients w.r.t. the scorer's logits."""
        return self._closed_form(batch, None)[0]

    def fused_gradients(self, batch: Batch, scale: float) -> tuple[Gradients, list[RowGrad]]:
        """The score gradients and the flip MF's row-sparse gradients times ``scale``.

        With ``dγ`` the gradient w.r.t. the flip logits (see :meth:`_closed_form`),
        ``dP_b = Σ_k dγ_bk Q_bk`` and ``dQ_bk = dγ_bk P_b`` per occurrence, and the L2 adds
        ``l2_flip · row / B`` once per distinct row of the batch (``FlipMF.regularization``).
        """
        return self._closed_form(batch, scale)

    def _flip(self, batch: Batch) -> FlipMF:
        if self.module is None:
            raise SiftrecError("nbpo has no flip model; train it through a model (MF)")
        if batch.items is None:
            raise SiftrecError("nbpo needs the batch's users and items")
        return self.module

    def _likelihood(self, batch: Batch, scores: torch.Tensor, gamma: torch.Tensor) -> torch.Tensor:
        """``(Σ_b w_b · n_neg · v_b + Σ_bj u_bj) / B`` of logits and flip logits [B, 1 + n_neg]."""
        pos, neg = scores[:, 0], scores[:, 1:]
        voted, unvoted = self.pair_losses(pos, gamma[:, 0], neg, gamma[:, 1:])
        if batch.weights is not None:
            voted = voted * batch.weights.to(voted.dtype)
        return (neg.shape[1] * voted.sum() + unvoted.sum()) / len(pos)

    def _closed_form(self, batch: Batch, scale: float | None) -> tuple[Gradients, list[RowGrad]]:
        """Loss, score gradients and (``scale`` not None) the flip rows' gradients × ``scale``.

        Per pair, with ``a = n_neg·w_b/B`` for the voted term and ``1/B`` for the unvoted ones::

            voted:   d/dx = −a·σ(−γ)·σ(−x)       d/dγ = a·σ(x)·σ(γ)
            unvoted: d/dx = (σ(x) − σ(γ)·σ(−x))/B  d/dγ = −σ(x)·σ(−γ)/B

        The L2 gradient of a distinct row, ``l2_flip · row / B``, is spread over its ``m``
        occurrences in the batch (``1/m`` of it each), so every gradient row is one occurrence's.
        """
        flip = self._flip(batch)
        users, items = batch.users, batch.items
        n, n_neg = len(users), items.shape[1] - 1
        P, Q = flip.user_emb.weight.detach(), flip.item_emb.weight.detach()
        step = 1.0 if scale is None else scale
        c = self.l2_flip * step / n
        user_decay = _occurrences(users, len(P)).to(P.dtype).reciprocal_().mul_(c)
        item_decay = _occurrences(items.reshape(-1), len(Q)).to(Q.dtype).reciprocal_().mul_(c)
        item_decay = item_decay.view(items.shape)
        compiled = P.device.type == "cpu" and P.dtype == torch.float32
        gamma, squares = _flip_forward(P, Q, users, items, user_decay, item_decay, compiled)
        x = batch.scores.detach()
        loss = self._likelihood(batch, x, gamma)
        if self.l2_flip:  # squares: c·Σ‖row‖²/m over the occurrences = c·Σ‖distinct row‖²
            loss = loss + 0.5 * squares.sum() / step
        sx, sg, snx, sng = (torch.sigmoid(t) for t in (x, gamma, -x, -gamma))
        a = n_neg / n if batch.weights is None else batch.weights.to(x.dtype) * (n_neg / n)
        dx = (sx - sg * snx).div_(n)
        dx[:, 0] = sng[:, 0].mul(snx[:, 0]).mul_(-a)
        grads = Gradients(loss, dx[:, 0], dx[:, 1:])
        if scale is None:
            return grads, []
        voted = sx[:, 0].mul(sg[:, 0]).mul_(a * scale)
        dgamma = sx.mul_(sng).mul_(-scale / n)  # sx and sng are dead after this
        dgamma[:, 0] = voted
        grad_p, grad_q = _flip_backward(
            P, Q, users, items, dgamma, user_decay, item_decay, compiled
        )
        return grads, [
            RowGrad(flip.user_emb.weight, users, grad_p),
            RowGrad(flip.item_emb.weight, items.reshape(-1), grad_q),
        ]

    @staticmethod
    def pair_losses(
        x_pos: torch.Tensor, g_pos: torch.Tensor, x_neg: torch.Tensor, g_neg: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The voted [B] and unvoted [B, n_neg] stop-gradient terms (to minimise)."""
        voted = -(
            torch.sigmoid(-g_pos.detach()) * F.logsigmoid(x_pos)
            + torch.sigmoid(x_pos.detach()) * F.logsigmoid(-g_pos)
        )
        unvoted = -(
            F.logsigmoid(-x_neg)
            + torch.sigmoid(g_neg.detach()) * F.logsigmoid(x_neg)
            + torch.sigmoid(x_neg.detach()) * F.logsigmoid(g_neg)
        )
        return voted, unvoted


def _occurrences(rows: torch.Tensor, n_rows: int) -> torch.Tensor:
    """How often each entry's value occurs in ``rows`` (aligned with ``rows``): a bincount
    over the table's ``n_rows`` when it is not much larger than the batch (linear time), else
    ``torch.unique``'s counts (a sort)."""
    if n_rows <= 8 * len(rows):
        return torch.bincount(rows, minlength=n_rows).index_select(0, rows)
    _, inverse, counts = torch.unique(rows, return_inverse=True, return_counts=True)
    return counts.index_select(0, inverse)


def _flip_forward(
    P: torch.Tensor,
    Q: torch.Tensor,
    users: torch.Tensor,
    items: torch.Tensor,
    user_decay: torch.Tensor,
    item_decay: torch.Tensor,
    compiled: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Flip logits ``P_u · Q_i`` [B, K] and per example ``Σ decay·‖row‖²`` [B]
    (``nbpo_kernels.flip_forward``; ``compiled`` False: the same in torch, any device)."""
    if compiled:
        arrays = (t.numpy() for t in (P, Q, users, items, user_decay, item_decay))
        gamma, squares = nbpo_kernels.flip_forward(*arrays)
        return torch.from_numpy(gamma), torch.from_numpy(squares)
    p = P.index_select(0, users)
    q = Q.index_select(0, items.reshape(-1)).view(*items.shape, -1)
    gamma = torch.bmm(q, p.unsqueeze(2)).squeeze(2)
    squares = p.square().sum(1).mul_(user_decay) + (q.square().sum(2) * item_decay).sum(1)
    return gamma, squares


def _flip_backward(
    P: torch.Tensor,
    Q: torch.Tensor,
    users: torch.Tensor,
    items: torch.Tensor,
    dgamma: torch.Tensor,
    user_decay: torch.Tensor,
    item_decay: torch.Tensor,
    compiled: bool,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-occurrence row gradients of ``Σ dgamma·γ + ½Σ decay·‖row‖²``: [B, d] of the users'
    rows, [B·K, d] of the items' (``nbpo_kernels.flip_backward``; ``compiled`` False: torch)."""
    if compiled:
        arrays = (t.numpy() for t in (P, Q, users, items, dgamma, user_decay, item_decay))
        grad_p, grad_q = nbpo_kernels.flip_backward(*arrays)
        return torch.from_numpy(grad_p), torch.from_numpy(grad_q)
    p = P.index_select(0, users)
    q = Q.index_select(0, items.reshape(-1)).view(*items.shape, -1)
    # γ_bk = <p_b, q_bk>:  dp_b = Σ_k dγ_bk q_bk,  dq_bk = dγ_bk p_b
    grad_p = p * user_decay.unsqueeze(1)
    for k in range(q.shape[1]):
        grad_p.addcmul_(q[:, k], dgamma[:, k : k + 1])
    grad_q = q.mul_(item_decay.unsqueeze(2)).addcmul_(dgamma.unsqueeze(2), p.unsqueeze(1))
    return grad_p, grad_q.view(-1, q.shape[2])
