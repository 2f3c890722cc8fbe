"""RLMRec text alignment (Ren et al., WWW 2024) as an auxiliary term for any embedding scorer.

Given frozen unit text vectors ``s_x`` of users and items (``siftrec.text``) and the scorer's
collaborative embeddings ``e_x`` (``Scorer.embed``), on every batch:

- ``con`` (RLMRec-Con): ``f(s) = MLP(t → (t+d)/2 → d)`` with LeakyReLU;
  ``L = InfoNCE(e_u, f(s_u); f(s_U)) + InfoNCE(e_i, f(s_i); f(s_I))`` over the batch's distinct
  users ``U`` and items ``I`` (positives and negatives), cosine similarity over ``τ``;
- ``gen`` (RLMRec-Gen): a random fraction ``ρ`` of the batch's distinct users and items is
  masked; ``g(e) = MLP(d → (d+t)/2 → t)`` reconstructs their text vectors, scored by
  ``InfoNCE(g(e_x), s_x; s_M)`` among the masked set ``M``.

``InfoNCE(a, b; N) = -cos(a, b)/τ + log Σ_{n∈N} exp(cos(a, n)/τ)``, averaged over nodes with
text (nodes without text neither anchor nor act as negatives). The term returned is
``weight · L``. Differences from the reference code: users are contrasted against the batch's
users rather than all users (bounded cost), and ``gen`` reconstructs from the node's own final
embedding rather than from a graph pass with mask tokens in place of the masked nodes' inputs
(the same term for every backbone, graph or not).
"""

from __future__ import annotations

from typing import Literal

import torch
from torch import nn
from torch.nn import functional as F

from siftrec.errors import SiftrecError
from siftrec.train.engine import AuxiliaryLoss, Batch, Scorer


def info_nce(
    anchors: torch.Tensor, targets: torch.Tensor, valid: torch.Tensor, temperature: float
) -> torch.Tensor:
    """Mean over valid rows ``x`` of ``-cos(a_x, b_x)/τ + log Σ_{valid n} exp(cos(a_x, b_n)/τ)``
    (0 when fewer than one valid row)."""
    if not bool(valid.any()):
        return anchors.sum() * 0.0
    logits = F.normalize(anchors, dim=1) @ F.normalize(targets, dim=1).T / temperature
    logits = logits.masked_fill(~valid.unsqueeze(0), float("-inf"))
    losses = torch.logsumexp(logits, dim=1) - logits.diagonal()
    return losses[valid].mean()


def _mlp(n_in: int, n_out: int) -> nn.Sequential:
    hidden = (n_in + n_out) // 2
    return nn.Sequential(nn.Linear(n_in, hidden), nn.LeakyReLU(), nn.Linear(hidden, n_out))


class TextAlignment(AuxiliaryLoss):
    """The RLMRec-Con / RLMRec-Gen term over fixed text vectors.

    Args:
        user_text: ``[n_users, t]`` text vectors (zero rows: no text).
        item_text: ``[n_items, t]``.
        cf_dim: dimension of the scorer's embeddings (``Scorer.embed``).
        mode: ``"con"`` or ``"gen"``.
        weight: multiplies the term.
        temperature: InfoNCE ``τ``.
        mask_ratio: fraction of the batch's nodes masked (``gen``).
        generator: seeds the MLP initialisation.
        lr: learning rate of the MLP's Adam.
    """

    def __init__(
        self,
        user_text: torch.Tensor,
        item_text: torch.Tensor,
        cf_dim: int,
        mode: Literal["con", "gen"],
        weight: float,
        temperature: float,
        mask_ratio: float,
        generator: torch.Generator,
        lr: float = 1e-3,
    ) -> None:
        super().__init__()
        if mode not in ("con", "gen"):
            raise SiftrecError(f"alignment mode must be con or gen, got {mode!r}")
        if user_text.shape[1] != item_text.shape[1]:
            raise SiftrecError("user and item text vectors differ in dimension")
        self.mode, self.weight, self.temperature = mode, weight, temperature
        self.mask_ratio, self.lr = mask_ratio, lr
        self.register_buffer("user_text", user_text.float(), persistent=False)
        self.register_buffer("item_text", item_text.float(), persistent=False)
        self.register_buffer("user_valid", user_text.abs().sum(1) > 0, persistent=False)
        self.register_buffer("item_valid", item_text.abs().sum(1) > 0, persistent=False)
        text_dim = user_text.shape[1]
        self.mlp = _mlp(text_dim, cf_dim) if mode == "con" else _mlp(cf_dim, text_dim)
        with torch.no_grad():
            for layer in self.mlp:
                if isinstance(layer, nn.Linear):
                    nn.init.xavier_uniform_(layer.weight, generator=generator)
                    layer.bias.zero_()
        self._generator = torch.Generator().manual_seed(
            int(torch.randint(0, 2**62, (1,), generator=generator))
        )

    def forward(self, scorer: Scorer, batch: Batch) -> torch.Tensor:
        users = torch.unique(batch.users)
        items = torch.unique(batch.items)
        if self.mode == "gen":
            users, items = self._masked(users), self._masked(items)
        e_users, e_items = scorer.embed(users, items)
        total = self.node_loss(e_users, self.user_text[users], self.user_valid[users])
        total = total + self.node_loss(e_items, self.item_text[items], self.item_valid[items])
        return self.weight * total

    def node_loss(
        self, embeddings: torch.Tensor, text: torch.Tensor, valid: torch.Tensor
    ) -> torch.Tensor:
        """The unweighted term of one node type: ``con`` aligns ``e`` with ``f(s)``, ``gen``
        ``g(e)`` with ``s``."""
        if self.mode == "con":
            return info_nce(embeddings, self.mlp(text), valid, self.temperature)
        return info_nce(self.mlp(embeddings), text, valid, self.temperature)

    def _masked(self, nodes: torch.Tensor) -> torch.Tensor:
        """A random ``mask_ratio`` share (at least two) of ``nodes``."""
        count = min(len(nodes), max(2, round(self.mask_ratio * len(nodes))))
        order = torch.randperm(len(nodes), generator=self._generator)[:count]
        return nodes[order.to(nodes.device)]
