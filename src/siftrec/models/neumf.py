"""GMF and NeuMF (He et al., WWW 2017) as Wang et al. (WSDM 2021) train them for T-CE and R-CE.

GMF: ``s_ui = wᵀ (p_u ⊙ q_i) + b``. NeuMF ("NeuMF-end", no pre-training): a GMF branch with its
own embeddings and an MLP tower over ``[p'_u; q'_i]`` (embeddings of size ``dim·2^(L−1)``, then
``L`` blocks ``Dropout → Linear(n, n/2) → ReLU`` ending at ``dim``), concatenated and mapped to a
logit by one linear layer. Initialisation as in the reference code: embeddings ``N(0, 0.01²)``,
tower weights Xavier-uniform, predict layer Kaiming-uniform (``a = 1``), biases zero.

Defaults follow DenoisingRec: ``dim`` (its ``factor_num``) 32, 3 layers, no dropout, Adam
``lr`` 1e-3, BCE with one uniform negative per positive, 10 epochs. DenoisingRec's batch of
1024 counts positives and negatives together; here ``batch_size`` counts positives (each with
its ``n_negatives``), so ``batch_size=512`` reproduces its number of steps per epoch (which
matters for T-CE's per-step drop-rate schedule).

Fold-in (``recommend_history``): GMF is a dot product (``(p ⊙ w)ᵀ q + b``), so a new user's
vector is solved in closed form against the frozen item embeddings (regularised least squares,
:func:`~siftrec.models.torch_base.fold_in_least_squares`). NeuMF's tower is not linear in the
user: its new users' GMF and MLP embeddings start at the training users' mean and take
``FOLD_IN_STEPS`` Adam steps on the class-balanced BCE of their row over the whole catalog, every
other weight frozen. ``similar_items`` is the cosine similarity of the item embeddings (GMF's,
joined with the MLP tower's for NeuMF).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from siftrec.errors import SiftrecError
from siftrec.models.registry import register
from siftrec.models.torch_base import TorchRecommender
from siftrec.search_space import SAMPLED_OBJECTIVES, SAMPLERS, Float, Int, SearchSpace
from siftrec.train import Optimizer, TrainConfig
from siftrec.train.engine import Factors, Scorer

#: Upper bound on the elements of the [users, items, hidden] block ``score_all`` materialises.
SCORE_BLOCK_ELEMENTS = 1 << 24
#: NeuMF fold-in: Adam steps, learning rate and new users optimised together.
FOLD_IN_STEPS = 50
FOLD_IN_LR = 0.05
FOLD_IN_BATCH = 256


@dataclass
class GMFConfig(TrainConfig):
    """GMF fields plus every training field (``TrainConfig``).

    Attributes:
        dim: embedding size (DenoisingRec's ``factor_num``).
    """

    objective: str = "bce"
    epochs: int = 10
    batch_size: int = 1024
    optimizer: Optimizer = "adam"
    lr: float = 1e-3
    dim: int = 32

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim < 1:
            raise SiftrecError(f"dim must be at least 1, got {self.dim}")
        if self.optimizer == "sparse_adam":
            raise SiftrecError(
                f"{type(self).__name__.removesuffix('Config').lower()} has dense layers; use "
                "optimizer=adam, adagrad or sgd instead of sparse_adam"
            )


@dataclass
class NeuMFConfig(GMFConfig):
    """NeuMF fields plus every training field (``TrainConfig``).

    Attributes:
        dim: GMF embedding size and output size of the MLP tower (``factor_num``).
        num_layers: MLP tower depth; its embeddings have ``dim · 2^(num_layers − 1)`` entries.
        dropout: dropout probability before every tower layer (training only).
    """

    num_layers: int = 3
    dropout: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.num_layers < 1:
            raise SiftrecError(f"num_layers must be at least 1, got {self.num_layers}")
        if not 0.0 <= self.dropout < 1.0:
            raise SiftrecError(f"dropout must be in [0, 1), got {self.dropout}")


class NeuMFScorer(Scorer):
    """GMF branch (always) and MLP tower (``num_layers > 0``), joined by a linear predict layer.

    ``num_layers = 0`` is GMF. ``score_candidates`` runs the pairs exactly as the reference
    (dropout included in training mode; without autograd and active dropout, the same scores
    with the first layer split as below); ``score_all`` is the evaluation-mode forward over the
    whole catalog, vectorised: the first tower layer is split into its user and item halves
    (computed once per call), and items are processed in chunks that bound memory.
    """

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        num_layers: int,
        dropout: float,
        generator: torch.Generator,
    ) -> None:
        super().__init__(n_users, n_items)
        self.gmf_user = nn.Embedding(n_users, dim)
        self.gmf_item = nn.Embedding(n_items, dim)
        tables = [self.gmf_user, self.gmf_item]
        self.tower = nn.ModuleList()
        if num_layers:
            width = dim * 2 ** (num_layers - 1)
            self.mlp_user = nn.Embedding(n_users, width)
            self.mlp_item = nn.Embedding(n_items, width)
            tables += [self.mlp_user, self.mlp_item]
            for i in range(num_layers):
                size = dim * 2 ** (num_layers - i)
                self.tower.append(nn.Linear(size, size // 2))
        self.dropout = nn.Dropout(dropout)
        self.predict = nn.Linear(dim * 2 if num_layers else dim, 1)
        with torch.no_grad():
            for table in tables:
                table.weight.normal_(0.0, 0.01, generator=generator)
            for layer in self.tower:
                nn.init.xavier_uniform_(layer.weight, generator=generator)
                layer.bias.zero_()
            nn.init.kaiming_uniform_(
                self.predict.weight, a=1, nonlinearity="sigmoid", generator=generator
            )
            self.predict.bias.zero_()

    def _tables(self, users: torch.Tensor, items: torch.Tensor) -> list[torch.Tensor]:
        tables = [self.gmf_user(users), self.gmf_item(items)]
        if self.tower:
            tables += [self.mlp_user(users), self.mlp_item(items)]
        return tables

    def embed(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """GMF embeddings, joined with the MLP tower's when there is one."""
        user_tables = [self.gmf_user(users)] + ([self.mlp_user(users)] if self.tower else [])
        item_tables = [self.gmf_item(items)] + ([self.mlp_item(items)] if self.tower else [])
        return torch.cat(user_tables, dim=1), torch.cat(item_tables, dim=1)

    def score_candidates(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        towers = self.level_towers()
        if towers is not None and not self.tower:  # GMF: per-level blocks of (p ⊙ w, q)
            scores = towers.candidates(
                self.gmf_user(users) * self.predict.weight[0], self.gmf_item(items), self.training
            )
            bias = self.predict.bias
            if scores.dim() == 2:
                return scores + bias
            return torch.cat([scores[..., :1] + bias, scores[..., 1:]], dim=-1)
        if self.tower and not torch.is_grad_enabled() and not self._dropout_active():
            return self._score_candidates_split(users, items)
        p, q, *mlp = self._tables(users.unsqueeze(1).expand_as(items), items)
        hidden = None
        if mlp:
            hidden = torch.cat(mlp, dim=-1)
            for layer in self.tower:
                hidden = torch.relu(layer(self.dropout(hidden)))
        joined = p * q if hidden is None else torch.cat([p * q, hidden], dim=-1)
        return self.predict(joined).squeeze(-1)

    def _dropout_active(self) -> bool:
        return self.training and self.dropout.p > 0

    def _score_candidates_split(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """``score_candidates`` without autograd or dropout, the first tower layer split as in
        ``score_all``: its user and item halves are computed once per distinct user and item of
        the call, not once per pair (PLD's scoring pass repeats each user and item many times)."""
        unique_users, user_index = torch.unique(users, return_inverse=True)
        unique_items, item_index = torch.unique(items, return_inverse=True)
        user_part, item_part = self._first_layer_halves(
            self.mlp_user(unique_users), self.mlp_item(unique_items)
        )
        hidden = torch.relu(user_part[user_index].unsqueeze(1) + item_part[item_index])
        for layer in self.tower[1:]:
            hidden = torch.relu(layer(hidden))
        gmf = self.gmf_user(users).unsqueeze(1) * self.gmf_item(items)
        return self.predict(torch.cat([gmf, hidden], dim=-1)).squeeze(-1)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        return self.score_user_rows(
            self.gmf_user(users), self.mlp_user(users) if self.tower else None
        )

    def score_user_rows(
        self, gmf_rows: torch.Tensor, mlp_rows: torch.Tensor | None
    ) -> torch.Tensor:
        """Scores [B, n_items] of users given by their GMF and MLP embedding rows (training
        users' rows, or fold-in users' rows being optimised: differentiable in them)."""
        dim = self.gmf_user.embedding_dim
        weight, bias = self.predict.weight[0], self.predict.bias
        # wᵀ(p ⊙ q) = (p ⊙ w)ᵀ q: the GMF branch of every item in one product.
        user_rows, item_rows = gmf_rows * weight[:dim], self.gmf_item.weight
        towers = self.level_towers()
        if towers is not None and not self.tower:
            user_rows, item_rows = towers.table(user_rows), towers.table(item_rows)
        scores = user_rows @ item_rows.T + bias
        if not self.tower:
            return scores
        first, rest = self.tower[0], self.tower[1:]
        user_part, item_part = self._first_layer_halves(mlp_rows, self.mlp_item.weight)
        chunk = max(1, SCORE_BLOCK_ELEMENTS // max(1, len(gmf_rows) * first.out_features))
        for start in range(0, self.n_items, chunk):
            stop = min(start + chunk, self.n_items)
            hidden = torch.relu(user_part.unsqueeze(1) + item_part[start:stop])
            for layer in rest:
                hidden = torch.relu(layer(hidden))
            scores[:, start:stop] += hidden @ weight[dim:]
        return scores

    def _first_layer_halves(
        self, user_rows: torch.Tensor, item_rows: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``Linear([u; i]) = (W_u u + b) + W_i i``: the first tower layer's user half of MLP
        embedding rows ``user_rows`` and item half of ``item_rows``, each computed once."""
        first, width = self.tower[0], self.mlp_user.embedding_dim
        user_part = user_rows @ first.weight[:, :width].T + first.bias
        return user_part, item_rows @ first.weight[:, width:].T

    def factors(self) -> Factors | None:
        """GMF: ``wᵀ(p ⊙ q) + b = (p ⊙ w)ᵀ q + b``; None with an MLP tower (no dot product)."""
        if self.tower:
            return None
        weight, bias = self.predict.weight.detach()[0], self.predict.bias.detach()
        user_factors, item_factors = self.gmf_user.weight.detach() * weight, self.gmf_item.weight
        towers = self.level_towers()
        if towers is not None:
            user_factors, item_factors = towers.table(user_factors), towers.table(item_factors)
        return user_factors, item_factors.detach(), bias.expand(self.n_items)

    def regularization(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> torch.Tensor:
        items = torch.cat([pos.unsqueeze(1), neg], dim=1)
        total = sum(rows.square().sum() for rows in self._tables(users, items))
        return 0.5 * total / len(users)


@register("gmf")
class GMF(TorchRecommender):
    """Generalized matrix factorisation (NCF's GMF), BCE with sampled negatives by default."""

    Config = GMFConfig
    supports_fold_in = True
    fold_in_exact = False
    supports_similar_items = True
    search_space: ClassVar[SearchSpace] = {
        "dim": Int(8, 128, log=True),
        "lr": Float(1e-4, 1e-2, log=True),
        "l2": Float(1e-6, 1e-2, log=True),
        "n_negatives": Int(1, 8, log=True),
        "objective": SAMPLED_OBJECTIVES,
        "sampler": SAMPLERS,
    }

    def build_scorer(self, n_users: int, n_items: int, generator: torch.Generator) -> NeuMFScorer:
        return NeuMFScorer(n_users, n_items, self.config.dim, 0, 0.0, generator)


@register("neumf")
class NeuMF(TorchRecommender):
    """NeuMF without pre-training (DenoisingRec's "NeuMF-end")."""

    Config = NeuMFConfig
    supports_fold_in = True
    fold_in_exact = False
    supports_similar_items = True
    search_space: ClassVar[SearchSpace] = {
        **GMF.search_space,
        "num_layers": Int(1, 3),
        "dropout": Float(0.0, 0.5),
    }

    def build_scorer(self, n_users: int, n_items: int, generator: torch.Generator) -> NeuMFScorer:
        cfg = self.config
        return NeuMFScorer(n_users, n_items, cfg.dim, cfg.num_layers, cfg.dropout, generator)

    def _score_history(self, history: sp.csr_matrix) -> torch.Tensor:
        """Optimised fold-in (the module docstring), ``FOLD_IN_BATCH`` new users at a time; each
        user's loss is their own, so a user's result does not depend on the batch."""
        scorer = self._ready_scorer()
        if scorer.factors() is not None:  # no tower: closed form
            return super()._score_history(history)
        blocks = [
            self._fold_in_block(scorer, history[start : start + FOLD_IN_BATCH])
            for start in range(0, history.shape[0], FOLD_IN_BATCH)
        ]
        return torch.cat(blocks) if blocks else torch.zeros(0, self.n_items, device=self.device_)

    def _fold_in_block(self, scorer: NeuMFScorer, rows: sp.csr_matrix) -> torch.Tensor:
        target = torch.from_numpy((rows > 0).toarray().astype(np.float32)).to(self.device_)
        n_pos = target.sum(dim=1, keepdim=True)
        weight = torch.where(target > 0, (self.n_items - n_pos) / n_pos.clamp_min(1.0), 1.0)
        start = [table.weight.detach().mean(dim=0) for table in (scorer.gmf_user, scorer.mlp_user)]
        gmf, mlp = (row.expand(len(target), -1).clone().requires_grad_() for row in start)
        optimizer = torch.optim.Adam([gmf, mlp], lr=FOLD_IN_LR)
        with torch.enable_grad():
            for _ in range(FOLD_IN_STEPS):
                logits = scorer.score_user_rows(gmf, mlp)
                bce = F.binary_cross_entropy_with_logits(
                    logits, target, weight=weight, reduction="none"
                )
                loss = (bce.sum(dim=1) / weight.sum(dim=1)).sum()
                loss = loss + self.config.l2 * (gmf.square().sum() + mlp.square().sum())
                gmf.grad, mlp.grad = torch.autograd.grad(loss, [gmf, mlp])
                optimizer.step()
        with torch.no_grad():
            return scorer.score_user_rows(gmf, mlp)

    def _item_embeddings(self) -> torch.Tensor:
        """GMF item embeddings joined with the MLP tower's (GMF alone without a tower)."""
        scorer = self._ready_scorer()
        tables = [scorer.gmf_item.weight] + ([scorer.mlp_item.weight] if scorer.tower else [])
        return torch.cat(tables, dim=1).detach()
