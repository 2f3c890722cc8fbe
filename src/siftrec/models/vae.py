"""Mult-VAE and Mult-DAE (Liang et al., WWW 2018): autoencoders of a user's row.

Both read a user's binary training row ``x_u``, L2-normalise it, apply input dropout (training
only) and decode logits over the whole catalog, trained with the multinomial log-likelihood
(objective ``multinomial``, the only kind they support).

- Mult-VAE ``[I-600-200-600-I]``: the encoder gives the mean and log-variance of
  ``q(z_u | x_u)``; training decodes ``z = μ + ε·σ`` and adds ``β_t · KL`` with the annealed
  ``β_t = min(anneal_cap, t / total_anneal_steps)`` (``t``: 0-based update count); prediction
  decodes ``μ``.
- Mult-DAE ``[I-200-I]``: a denoising autoencoder with weight decay.

``tanh`` after every hidden layer, none on the logits nor on ``μ``/``log σ²``; weights
Xavier-uniform, biases truncated-normal (std 0.001), as in the authors' notebook. Weight decay
is the config's ``l2``: the loss adds ``l2 · Σ‖W‖²`` over the weight matrices (the notebook's
``2 · reg`` with ``reg = lam/2 · Σ‖W‖²``; Mult-DAE's ``lam = 0.01 / batch_size`` = 2e-5).

They are user-input models: ``score(users)`` encodes the users' training rows, and fold-in
(``score_history``) encodes new rows, which the strong-generalisation protocol needs
(``evaluate(model, test, fold_in=...)``). The paper selects the epoch with the best validation
NDCG@100 (the default ``metric``); pass ``fit(train, evaluator=...)`` with a fold-in
evaluation for held-out users.

The input layer is a sparse × dense product over the rows' non-zeros (rows hold ~0.1 % of the
catalog), so its cost scales with the interactions, not with ``users × items``; input dropout
on the non-zeros has exactly the distribution of dropout on the dense row (zeros stay zero).
``similar_items`` is the cosine similarity of the decoder's output rows (one per item).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from itertools import pairwise
from typing import ClassVar

import numpy as np
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch import nn

from siftrec.errors import SiftrecError
from siftrec.models.lightgcn import csr_tensor
from siftrec.models.registry import register
from siftrec.models.torch_base import TorchRecommender
from siftrec.search_space import Float, Int, SearchSpace
from siftrec.train import Optimizer, TrainConfig
from siftrec.train.engine import Scorer


@dataclass
class MultDAEConfig(TrainConfig):
    """Mult-DAE fields plus every training field (``TrainConfig``).

    Attributes:
        hidden: width of the (single, tanh) hidden layer.
        dropout: input dropout probability in training (the notebook's ``1 − keep_prob``).
    """

    objective: str = "multinomial"
    epochs: int = 200
    batch_size: int = 500
    optimizer: Optimizer = "adam"
    lr: float = 1e-3
    l2: float = 0.01 / 500
    metric: str = "ndcg@100"
    hidden: int = 200
    dropout: float = 0.5

    def __post_init__(self) -> None:
        super().__post_init__()
        name = type(self).__name__.removesuffix("Config").lower()
        if self.hidden < 1:
            raise SiftrecError(f"hidden must be at least 1, got {self.hidden}")
        if not 0.0 <= self.dropout < 1.0:
            raise SiftrecError(f"dropout must be in [0, 1), got {self.dropout}")
        if self.optimizer == "sparse_adam":
            raise SiftrecError(
                f"{name} has dense layers; use optimizer=adam, adagrad or sgd, not sparse_adam"
            )
        if self.use_weights:
            raise SiftrecError(
                f"{name} encodes the users' binary rows (also when scoring), so use_weights "
                "is not supported"
            )


@dataclass
class MultVAEConfig(MultDAEConfig):
    """Mult-VAE fields plus every training field (``TrainConfig``).

    Attributes:
        hidden: width of the tanh hidden layers of encoder and decoder.
        latent: dimension of ``z``.
        anneal_cap: the largest KL weight ``β``.
        total_anneal_steps: updates over which ``β`` grows linearly from 0 to 1 (capped at
            ``anneal_cap``); 0 uses ``anneal_cap`` from the first update.
    """

    l2: float = 0.0
    hidden: int = 600
    latent: int = 200
    anneal_cap: float = 0.2
    total_anneal_steps: int = 200_000

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.latent < 1:
            raise SiftrecError(f"latent must be at least 1, got {self.latent}")
        if self.anneal_cap < 0:
            raise SiftrecError(f"anneal_cap must be non-negative, got {self.anneal_cap}")
        if self.total_anneal_steps < 0:
            raise SiftrecError(
                f"total_anneal_steps must be non-negative, got {self.total_anneal_steps}"
            )


class AutoEncoderScorer(Scorer):
    """Encoder/decoder over sparse user rows; variational (Mult-VAE) or denoising (Mult-DAE).

    Layers: encoder ``I → h₁ → … → code`` (``code = 2·latent`` for the VAE: μ and log σ²),
    decoder ``latent → … → I``. The training rows are a non-persistent CSR buffer built from the
    model's seen matrix, so ``score_all(users)`` can encode them.
    """

    supported_kinds = frozenset({"listwise"})

    def __init__(
        self,
        rows: sp.csr_matrix,
        encoder_dims: list[int],
        decoder_dims: list[int],
        variational: bool,
        dropout: float,
        l2: float,
        anneal_cap: float,
        total_anneal_steps: int,
        generator: torch.Generator,
    ) -> None:
        super().__init__(*rows.shape)
        self.variational, self.l2 = variational, l2
        self.anneal_cap, self.total_anneal_steps = anneal_cap, total_anneal_steps
        self.input_dropout = dropout
        # The input layer's weight is stored [I, h₁] so the sparse rows multiply it directly.
        self.input_weight = nn.Parameter(torch.empty(encoder_dims[0], encoder_dims[1]))
        self.input_bias = nn.Parameter(torch.empty(encoder_dims[1]))
        self.encoder = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(encoder_dims[1:]))
        self.decoder = nn.ModuleList(nn.Linear(a, b) for a, b in pairwise(decoder_dims))
        with torch.no_grad():
            for weight, bias in self._layers():
                nn.init.xavier_uniform_(weight, generator=generator)
                nn.init.trunc_normal_(bias, std=0.001, a=-0.002, b=0.002, generator=generator)
        binary = sp.csr_matrix(rows, dtype=np.float32)
        indptr, indices = (
            torch.from_numpy(a.astype(np.int64)) for a in (binary.indptr, binary.indices)
        )
        self.register_buffer("row_ptr", indptr, persistent=False)
        self.register_buffer("row_items", indices, persistent=False)

    def _layers(self) -> list[tuple[torch.Tensor, torch.Tensor]]:
        layers = [(self.input_weight, self.input_bias)]
        return layers + [(m.weight, m.bias) for m in (*self.encoder, *self.decoder)]

    def beta(self, step: int) -> float:
        """KL weight at the 0-based update ``step``: ``min(cap, step / total_anneal_steps)``."""
        if self.total_anneal_steps == 0:
            return self.anneal_cap
        return min(self.anneal_cap, step / self.total_anneal_steps)

    def user_rows(self, users: torch.Tensor) -> torch.Tensor:
        """The users' binary training rows as a sparse CSR tensor [B, n_items]."""
        starts = self.row_ptr[users]
        counts = self.row_ptr[users + 1] - starts
        ends = torch.cumsum(counts, 0)
        owner = torch.repeat_interleave(torch.arange(len(users), device=users.device), counts)
        pos = torch.arange(len(owner), device=users.device) + (starts - ends + counts)[owner]
        values = torch.ones(len(pos), device=users.device)
        crow = torch.cat([ends.new_zeros(1), ends])
        return csr_tensor(crow, self.row_items[pos], values, (len(users), self.n_items))

    def forward_sparse(self, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits [B, n_items] of sparse CSR ``rows`` and the KL term (0 for the DAE).

        Training mode: input dropout and, for the VAE, a sampled ``z``; evaluation: ``z = μ``.
        """
        crow, col, values = rows.crow_indices(), rows.col_indices(), rows.values()
        owner = torch.repeat_interleave(
            torch.arange(rows.shape[0], device=values.device), (crow[1:] - crow[:-1]).long()
        )
        norms = torch.zeros(rows.shape[0], device=values.device).index_add_(0, owner, values**2)
        values = values / norms.sqrt().clamp_min(1e-12)[owner]
        values = F.dropout(values, self.input_dropout, self.training)
        x = csr_tensor(crow, col, values, tuple(rows.shape))
        h = x @ self.input_weight + self.input_bias
        for layer in self.encoder:
            h = layer(torch.tanh(h))
        kl = h.new_zeros(())
        if self.variational:
            mu, logvar = h.chunk(2, dim=1)
            kl = (0.5 * (-logvar + logvar.exp() + mu.square() - 1)).sum(dim=1).mean()
            h = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        else:
            h = torch.tanh(h)
        for i, layer in enumerate(self.decoder):
            h = layer(h)
            if i < len(self.decoder) - 1:
                h = torch.tanh(h)
        return h, kl

    def forward_rows(
        self, users: torch.Tensor, rows: torch.Tensor, step: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        with warnings.catch_warnings():  # torch flags sparse CSR support as "beta" on first use
            warnings.simplefilter("ignore", UserWarning)
            sparse = rows.to_sparse_csr()
        logits, kl = self.forward_sparse(sparse)
        penalty = self.beta(step) * kl if self.variational else kl
        if self.l2:
            penalty = penalty + self.l2 * sum(w.square().sum() for w, _ in self._layers())
        return logits, penalty

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        return self.forward_sparse(self.user_rows(users))[0]


class _UserInputRecommender(TorchRecommender):
    """A torch model scoring from the users' rows, so it can fold in users unseen in training."""

    supports_fold_in = True
    supports_similar_items = True

    def _item_embeddings(self) -> torch.Tensor:
        """The decoder's last weight matrix, one row per item."""
        return self.scorer_.decoder[-1].weight.detach()

    def _score_history(self, history: sp.csr_matrix) -> torch.Tensor:
        rows = sp.csr_matrix(history, dtype=np.float32, copy=True)
        rows.eliminate_zeros()
        rows.data[:] = 1.0  # trained on binary rows
        indptr, indices = (
            torch.from_numpy(a.astype(np.int64)) for a in (rows.indptr, rows.indices)
        )
        tensor = csr_tensor(indptr, indices, torch.from_numpy(rows.data), rows.shape)
        scorer = self.scorer_.eval()
        with torch.no_grad():
            return scorer.forward_sparse(tensor.to(self.device_))[0]


@register("multvae")
class MultVAE(_UserInputRecommender):
    """Mult-VAE (``[I-600-200-600-I]``, KL annealing), multinomial likelihood."""

    Config = MultVAEConfig
    search_space: ClassVar[SearchSpace] = {
        "lr": Float(1e-4, 1e-2, log=True),
        "hidden": Int(100, 1000, log=True),
        "latent": Int(50, 400, log=True),
        "dropout": Float(0.0, 0.8),
        "anneal_cap": Float(0.0, 1.0),
    }

    def build_scorer(
        self, n_users: int, n_items: int, generator: torch.Generator
    ) -> AutoEncoderScorer:
        cfg = self.config
        return AutoEncoderScorer(
            self.seen_,
            encoder_dims=[n_items, cfg.hidden, 2 * cfg.latent],
            decoder_dims=[cfg.latent, cfg.hidden, n_items],
            variational=True,
            dropout=cfg.dropout,
            l2=cfg.l2,
            anneal_cap=cfg.anneal_cap,
            total_anneal_steps=cfg.total_anneal_steps,
            generator=generator,
        )


@register("multdae")
class MultDAE(_UserInputRecommender):
    """Mult-DAE (``[I-200-I]``, weight decay), multinomial likelihood."""

    Config = MultDAEConfig
    search_space: ClassVar[SearchSpace] = {
        "lr": Float(1e-4, 1e-2, log=True),
        "hidden": Int(50, 1000, log=True),
        "dropout": Float(0.0, 0.8),
        "l2": Float(1e-6, 1e-3, log=True),
    }

    def build_scorer(
        self, n_users: int, n_items: int, generator: torch.Generator
    ) -> AutoEncoderScorer:
        cfg = self.config
        return AutoEncoderScorer(
            self.seen_,
            encoder_dims=[n_items, cfg.hidden],
            decoder_dims=[cfg.hidden, n_items],
            variational=False,
            dropout=cfg.dropout,
            l2=cfg.l2,
            anneal_cap=0.0,
            total_anneal_steps=0,
            generator=generator,
        )
