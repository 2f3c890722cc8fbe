"""Matrix factorisation: ``s_ui = ⟨p_u, q_i⟩ (+ b_i)``, trained by any sampled objective.

With the default objective (``bpr``) this is BPR-MF (Rendle et al., UAI 2009); with ``bce`` it is
the pointwise "BPO" model (Yu & Qin, SIGIR 2020). Training runs on the fused row-sparse path
(analytic gradients, only the touched embedding rows updated) unless ``optimizer="adam"`` or
``fused=False``.

Fold-in (``recommend_history``) solves a new user's vector against the frozen item factors in
closed form (regularised least squares, :func:`~siftrec.models.torch_base.fold_in_least_squares`);
``similar_items`` is the cosine similarity of the item factors.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

import torch
from torch import nn

from siftrec.data.interactions import Interactions
from siftrec.device import select_device
from siftrec.errors import SiftrecError
from siftrec.models.augment import AugmentConfig, with_augmentation
from siftrec.models.mf_numba import check_numba_config, numba_epoch
from siftrec.models.products import score_matrix
from siftrec.models.registry import register
from siftrec.models.torch_base import TorchRecommender
from siftrec.search_space import SAMPLED_OBJECTIVES, SAMPLERS, Float, Int, SearchSpace
from siftrec.train import BatchSampler, Objective, Optimizer, TrainConfig
from siftrec.train.engine import AuxiliaryLoss, Factors, RowGrad, Scorer
from siftrec.train.trainer import EpochFn


@dataclass
class MFConfig(AugmentConfig):
    """MF fields plus every training field (``TrainConfig``) and the LLMRec-style augmentation
    (``augment_*``, ``siftrec.models.augment``).

    Training defaults: per-sample SGD (lr 0.05, L2 0.01 on the batch's rows, as in
    MyMediaLite/implicit-style BPR) on the fused path, batches of 4096; its Recall@20 after 20
    epochs on ML-1M is higher than ``implicit``'s, and ``backend="numba"`` trains the same model
    on the CPU in about a third of the torch path's epoch time (``docs/benchmarks.md``).
    ``optimizer="sparse_adam", lr=0.005`` is the lazy-Adam variant.

    Attributes:
        dim: embedding dimension.
        item_bias: add a learned per-item bias to every score.
        init_std: standard deviation of the normal initialisation of the embeddings.
        backend: ``"torch"`` (the reference: the trainer's mini-batch steps, any optimizer,
            objective and sampler, CPU or CUDA) or ``"numba"``, the fast CPU path: compiled
            per-sample SGD (``siftrec.train.sgd_kernels``), thread-parallel without locks, for
            the objectives ``bpr``, ``bce`` and ``rce`` with the ``uniform`` sampler and
            ``optimizer="sgd"`` (``lr`` per sample, ``l2`` on the rows each sample touches,
            as on the torch path; ``batch_size`` and ``fused`` play no part). An epoch of
            ``epoch_mode="interactions"`` visits every interaction once, user by user (users
            in a fresh random order, each one's interactions together), which keeps the rows
            in cache; the torch path shuffles the interactions themselves. It trains and
            scores on the CPU (``device="auto"`` picks it; a CUDA device is refused) with
            numba's threads (``NUMBA_NUM_THREADS`` / ``numba.set_num_threads``); one thread
            reproduces a seed exactly, several do not (unsynchronised "Hogwild" updates).
    """

    batch_size: int = 4096
    optimizer: Optimizer = "sgd"
    lr: float = 0.05
    l2: float = 0.01
    dim: int = 64
    item_bias: bool = False
    init_std: float = 0.1
    backend: Literal["torch", "numba"] = "torch"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim < 1:
            raise SiftrecError(f"dim must be at least 1, got {self.dim}")
        if self.init_std <= 0:
            raise SiftrecError(f"init_std must be positive, got {self.init_std}")
        if self.backend not in ("torch", "numba"):
            raise SiftrecError(f"backend must be 'torch' or 'numba', got {self.backend!r}")
        if self.backend == "numba":
            check_numba_config(self)
            if self.augment_k:
                raise SiftrecError("backend='numba' has no augmented-edge term; use torch")


class MFScorer(Scorer):
    """User and item embedding tables (sparse gradients unless trained with dense Adam)."""

    supports_fused = True

    def __init__(
        self,
        n_users: int,
        n_items: int,
        dim: int,
        item_bias: bool,
        init_std: float,
        sparse: bool,
        generator: torch.Generator,
    ) -> None:
        super().__init__(n_users, n_items)
        self.user_emb = nn.Embedding(n_users, dim, sparse=sparse)
        self.item_emb = nn.Embedding(n_items, dim, sparse=sparse)
        with torch.no_grad():
            self.user_emb.weight.normal_(0.0, init_std, generator=generator)
            self.item_emb.weight.normal_(0.0, init_std, generator=generator)
        self.bias = (
            nn.Embedding(n_items, 1, sparse=sparse, _weight=torch.zeros(n_items, 1))
            if item_bias
            else None
        )

    def score_candidates(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        towers = self.level_towers()
        if towers is not None:  # per-level similarities [B, N, K] in training; bias on level 1
            scores = towers.candidates(self.user_emb(users), self.item_emb(items), self.training)
            if self.bias is None:
                return scores
            bias = self.bias(items).squeeze(2)
            if scores.dim() == 2:
                return scores + bias
            return torch.cat([scores[..., :1] + bias.unsqueeze(-1), scores[..., 1:]], dim=-1)
        scores = torch.linalg.vecdot(self.item_emb(items), self.user_emb(users).unsqueeze(1))
        return scores if self.bias is None else scores + self.bias(items).squeeze(2)

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        p, q = self.user_emb(users), self.item_emb.weight
        towers = self.level_towers()
        if towers is not None:
            p, q = towers.table(p), towers.table(q)
        scores = score_matrix(p, q)
        return scores if self.bias is None else scores + self.bias.weight.T

    def embed(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.user_emb(users), self.item_emb(items)

    def factors(self) -> Factors:
        bias = None if self.bias is None else self.bias.weight.detach()[:, 0]
        p, q = self.user_emb.weight.detach(), self.item_emb.weight.detach()
        towers = self.level_towers()
        if towers is not None:
            p, q = towers.table(p), towers.table(q)
        return p, q, bias

    def regularization(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> torch.Tensor:
        items = torch.cat([pos.unsqueeze(1), neg], dim=1)
        total = self.user_emb(users).square().sum() + self.item_emb(items).square().sum()
        if self.bias is not None:
            total = total + self.bias(items).square().sum()
        return 0.5 * total / len(users)

    def sparse_forward(
        self, users: torch.Tensor, items: torch.Tensor
    ) -> tuple[torch.Tensor, tuple]:
        flat = items.reshape(-1)
        p = self.user_emb.weight.index_select(0, users)
        q = self.item_emb.weight.index_select(0, flat).view(*items.shape, -1)
        scores = torch.linalg.vecdot(q, p.unsqueeze(1))
        b = None
        if self.bias is not None:
            b = self.bias.weight.index_select(0, flat).view(items.shape)
            scores = scores + b
        return scores, (users, flat, p, q, b)

    def sparse_backward(self, cache: tuple, dscores: torch.Tensor, l2: float) -> list[RowGrad]:
        users, flat, p, q, b = cache
        c = l2 / len(users)
        # s_bk = <p_b, q_bk> (+ b_bk):  dp_b = Σ_k ds_bk q_bk,  dq_bk = ds_bk p_b,  db_bk = ds_bk;
        # the L2 term adds c·row. The gathered q is dead after grad_p: grad_q reuses its memory.
        grad_p = torch.mul(p, c)
        for k in range(q.shape[1]):
            grad_p.addcmul_(q[:, k], dscores[:, k : k + 1])
        grad_q = q.mul_(c).addcmul_(dscores.unsqueeze(2), p.unsqueeze(1))
        grads = [
            RowGrad(self.user_emb.weight, users, grad_p),
            RowGrad(self.item_emb.weight, flat, grad_q.view(len(flat), -1)),
        ]
        if self.bias is not None:
            grad_b = dscores + c * b if c else dscores
            grads.append(RowGrad(self.bias.weight, flat, grad_b.reshape(-1, 1)))
        return grads


@register("mf")
class MF(TorchRecommender):
    """Dot-product matrix factorisation with an optional item bias (BPR-MF by default)."""

    Config = MFConfig
    supports_fold_in = True
    fold_in_exact = False
    supports_similar_items = True
    #: Ranges for the default per-sample SGD (``optimizer="sgd"``).
    search_space: ClassVar[SearchSpace] = {
        "dim": Int(16, 256, log=True),
        "lr": Float(0.005, 0.5, log=True),
        "l2": Float(1e-4, 0.1, log=True),
        "n_negatives": Int(1, 8, log=True),
        "objective": SAMPLED_OBJECTIVES,
        "sampler": SAMPLERS,
    }

    def _alignment(self, config: MFConfig, train: Interactions, kind: str) -> AuxiliaryLoss | None:
        """The RLMRec term plus the augmented-edge term of ``augment_k``."""
        auxiliary = super()._alignment(config, train, kind)
        return with_augmentation(auxiliary, config, train, self._item_text, kind, self.device_)

    def build_scorer(self, n_users: int, n_items: int, generator: torch.Generator) -> MFScorer:
        cfg = self.config
        return MFScorer(
            n_users,
            n_items,
            dim=cfg.dim,
            item_bias=cfg.item_bias,
            init_std=cfg.init_std,
            sparse=cfg.optimizer != "adam" and not cfg.weight_decay,
            generator=generator,
        )

    def _new_scorer(self, n_users: int, n_items: int, objective: str | None = None) -> Scorer:
        """The torch scorer; with ``backend="numba"`` on the CPU (its kernel's device)."""
        scorer = super()._new_scorer(n_users, n_items, objective)
        if self.config.backend == "numba" and self.device_.type != "cpu":
            if self.options.device != "auto":
                raise SiftrecError(
                    f"backend='numba' runs on the CPU, not device={self.options.device!r}; "
                    "use backend='torch' on CUDA"
                )
            self.device_ = select_device("cpu")
            scorer = scorer.to(self.device_)
        return scorer

    def compiled_epoch(
        self,
        config: TrainConfig,
        objective: Objective,
        sampler: BatchSampler | None,
        train: Interactions,
    ) -> EpochFn | None:
        """``backend="numba"``: the compiled per-sample SGD epoch (``siftrec.models.mf_numba``)."""
        if config.backend != "numba":
            return None
        return numba_epoch(config, objective, sampler, self.scorer_, train)
