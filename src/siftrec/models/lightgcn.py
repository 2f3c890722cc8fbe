"""LightGCN (He et al., SIGIR 2020): linear propagation over the user–item graph.

``E⁽⁰⁾ = [P; Q]`` are free embeddings, ``E⁽ᵏ⁺¹⁾ = Â E⁽ᵏ⁾`` with the symmetrically normalised
bipartite adjacency ``Â = D^{-1/2} A D^{-1/2}``, ``A = [[0, R], [Rᵀ, 0]]`` built from the binary
training matrix, and the final embedding is the layer mean ``E = Σ_k E⁽ᵏ⁾ / (K + 1)``; no feature
transforms, no non-linearities. ``s_ui = ⟨e_u, e_i⟩``. Defaults follow ``LightGCN-PyTorch``
(d 64, 3 layers, Adam 1e-3, batch L2 1e-4 on the layer-0 rows, batch 2048, ``N(0, 0.1²)``
initialisation, ``|S|`` uniform-user triples per epoch).

Training propagates once per mini-batch, as the reference code does: ``prepare`` computes the
first ``K − 1`` layers without autograd, and :class:`_LastLayerRows` computes the last layer for
the batch's nodes only and the exact gradient (``2(K − 1)`` full sparse products per step instead
of ``2K``). Scoring in evaluation mode propagates once and caches the result until the
parameters change.

Training is bit-identical for a seed whatever the number of CPU threads: gathers whose gradient
sums repeated rows use ``index_select`` (backward: ``index_add_``, which adds rows in index order)
rather than advanced indexing, whose CPU backward adds with atomics from several threads when a
batch is large, so rounding depended on thread timing. The sparse products (MKL's CSR kernel)
gave bit-identical results from 1 to 7 threads.

Fold-in (``recommend_history``) solves a new user's final embedding against the frozen final item
embeddings in closed form (regularised least squares,
:func:`~siftrec.models.torch_base.fold_in_least_squares`; the graph is not extended);
``similar_items`` is the cosine similarity of the final item embeddings.
"""

from __future__ import annotations

import itertools
import warnings
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch
from torch import nn
from torch.autograd.function import FunctionCtx

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.models.augment import AugmentConfig, with_augmentation
from siftrec.models.products import score_matrix
from siftrec.models.registry import register
from siftrec.models.torch_base import TorchRecommender
from siftrec.search_space import SAMPLED_OBJECTIVES, SAMPLERS, Float, Int, SearchSpace
from siftrec.train import Optimizer
from siftrec.train.engine import AuxiliaryLoss, Factors, Scorer


@dataclass
class LightGCNConfig(AugmentConfig):
    """LightGCN fields plus every training field (``TrainConfig``) and the LLMRec-style
    augmentation (``augment_*``, ``siftrec.models.augment``).

    Attributes:
        dim: embedding dimension.
        layers: propagation layers ``K`` (0 gives plain MF on the same training setup).
        init_std: standard deviation of the normal initialisation of ``E⁽⁰⁾``.
        edge_chunk: propagate ``Â`` by blocks of rows holding at most this many edges (a row
            with more is a block of its own), one sparse product per block, so the sparse
            kernel's temporary memory is bounded by a block instead of the whole graph; the
            results are those of the single product. None: one product over the whole graph.
    """

    epoch_mode: Literal["interactions", "users"] = "users"
    epochs: int = 1000
    batch_size: int = 2048
    optimizer: Optimizer = "adam"
    lr: float = 1e-3
    l2: float = 1e-4
    dim: int = 64
    layers: int = 3
    init_std: float = 0.1
    edge_chunk: int | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.dim < 1:
            raise SiftrecError(f"dim must be at least 1, got {self.dim}")
        if self.layers < 0:
            raise SiftrecError(f"layers must be non-negative, got {self.layers}")
        if self.init_std <= 0:
            raise SiftrecError(f"init_std must be positive, got {self.init_std}")
        if self.edge_chunk is not None and self.edge_chunk < 1:
            raise SiftrecError(f"edge_chunk must be at least 1 (or None), got {self.edge_chunk}")
        if self.optimizer == "sparse_adam":
            raise SiftrecError(
                "lightgcn propagates through the whole graph, so its gradients are dense; "
                "use optimizer=adam, adagrad or sgd instead of sparse_adam"
            )


def normalized_adjacency(seen: sp.csr_matrix) -> sp.csr_matrix:
    """``D^{-1/2} A D^{-1/2}`` of the bipartite graph ``A = [[0, R], [Rᵀ, 0]]`` (float32 CSR).

    ``R`` is ``seen`` binarised; nodes without edges get a zero row (no division by zero).
    """
    r = sp.csr_matrix(seen, dtype=np.float32, copy=True)
    r.data[:] = 1.0
    adj = sp.bmat([[None, r], [r.T, None]], format="csr", dtype=np.float32)
    degree = np.asarray(adj.sum(axis=1), dtype=np.float64).ravel()
    scale = np.zeros_like(degree)
    np.power(degree, -0.5, out=scale, where=degree > 0)
    d = sp.diags(scale.astype(np.float32))
    adj = (d @ adj @ d).tocsr()
    adj.sort_indices()
    return adj


def to_torch_csr(matrix: sp.csr_matrix) -> torch.Tensor:
    """A scipy CSR matrix as a torch sparse CSR tensor (int32 indices when they fit)."""
    return csr_tensor(
        torch.from_numpy(matrix.indptr),
        torch.from_numpy(matrix.indices),
        torch.from_numpy(matrix.data),
        matrix.shape,
    )


def csr_rows(adj: torch.Tensor, rows: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``adj[rows]`` as a CSR tensor, and the (sub-matrix) row index of each of its entries."""
    crow, col, val = adj.crow_indices(), adj.col_indices(), adj.values()
    starts = crow[rows].long()
    counts = crow[rows + 1].long() - starts
    ends = torch.cumsum(counts, 0)
    owner = torch.repeat_interleave(torch.arange(len(rows), device=rows.device), counts)
    pos = torch.arange(len(owner), device=rows.device) + (starts - ends + counts)[owner]
    sub = csr_tensor(
        torch.cat([ends.new_zeros(1), ends]), col[pos], val[pos], (len(rows), adj.shape[1])
    )
    return sub, owner


def csr_transpose(sub: torch.Tensor, owner: torch.Tensor, n_cols: int) -> torch.Tensor:
    """``subᵀ`` as a CSR tensor (``owner``: the row index of each entry of ``sub``)."""
    col = sub.col_indices().long()
    order = torch.argsort(col, stable=True)
    ends = torch.cumsum(torch.bincount(col, minlength=n_cols), 0)
    crow = torch.cat([ends.new_zeros(1), ends])
    return csr_tensor(crow, owner[order], sub.values()[order], (n_cols, sub.shape[0]))


def csr_tensor(
    crow: torch.Tensor, col: torch.Tensor, val: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """A torch sparse CSR tensor from its arrays (int32 indices when they fit)."""
    index = torch.int32 if len(val) < 2**31 - 1 else torch.int64
    with warnings.catch_warnings():  # torch flags sparse CSR support as "beta" on first use
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(
            crow.to(index), col.to(index), val, size=shape, check_invariants=False
        )


def edge_blocks(indptr: np.ndarray, edge_chunk: int) -> list[tuple[int, int]]:
    """Row ranges ``[lo, hi)`` of a CSR matrix with row pointer ``indptr``, in order and
    covering every row, each holding at most ``edge_chunk`` entries (or a single row)."""
    bounds, n_rows = [0], len(indptr) - 1
    while bounds[-1] < n_rows:
        lo = bounds[-1]
        hi = int(np.searchsorted(indptr, indptr[lo] + edge_chunk, side="right")) - 1
        bounds.append(min(max(hi, lo + 1), n_rows))
    return list(itertools.pairwise(bounds))


def blocked_product(
    adj: torch.Tensor, x: torch.Tensor, blocks: list[tuple[int, int]] | None
) -> torch.Tensor:
    """``adj @ x`` for a CSR ``adj``: one sparse product (``blocks`` None) or one per row
    block of :func:`edge_blocks`, written into the rows of the result (each row is the same
    sum over the same entries either way)."""
    if blocks is None:
        return adj @ x
    crow, col, val = adj.crow_indices(), adj.col_indices(), adj.values()
    out = x.new_empty((adj.shape[0], x.shape[1]))
    for lo, hi in blocks:
        start, stop = int(crow[lo]), int(crow[hi])
        block = csr_tensor(
            crow[lo : hi + 1] - start, col[start:stop], val[start:stop], (hi - lo, adj.shape[1])
        )
        out[lo:hi] = block @ x
    return out


class _LastLayerRows(torch.autograd.Function):
    """Final embeddings of some graph nodes, given the first ``K − 1`` layers.

    Forward: ``(Σ_{k<K} E⁽ᵏ⁾[S] + Â[S] E⁽ᴷ⁻¹⁾) / (K + 1)`` for the unique nodes ``S`` of a batch,
    so the last layer costs a product with ``|S|`` rows instead of the whole graph. Backward:
    ``∂/∂E⁽⁰⁾ = Σ_k Âᵏ G / (K + 1)`` (``Â`` is symmetric) by Horner's rule, starting from the
    ``|S|``-row gradient ``G`` with ``Â[S]ᵀ G``. That is 2(K − 1) full sparse products per step
    instead of 2K, and no transpose of ``Â`` (autograd's generic sparse backward builds one per
    call, which on CPU costs several times the product itself).
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        user_emb: torch.Tensor,
        item_emb: torch.Tensor,
        nodes: torch.Tensor,
        adj: torch.Tensor,
        partial: torch.Tensor,
        last: torch.Tensor,
        layers: int,
        blocks: list[tuple[int, int]] | None,
    ) -> torch.Tensor:
        sub, owner = csr_rows(adj, nodes)
        ctx.adj, ctx.sub, ctx.owner, ctx.nodes, ctx.layers = adj, sub, owner, nodes, layers
        ctx.blocks = blocks
        ctx.n_users = user_emb.shape[0]
        return (partial[nodes] + sub @ last) / (layers + 1)

    @staticmethod
    def backward(ctx: FunctionCtx, grad: torch.Tensor) -> tuple[torch.Tensor | None, ...]:
        adj, nodes = ctx.adj, ctx.nodes
        total = csr_transpose(ctx.sub, ctx.owner, adj.shape[0]) @ grad
        for _ in range(ctx.layers - 1):
            total = blocked_product(adj, total.index_add_(0, nodes, grad), ctx.blocks)
        total.index_add_(0, nodes, grad).div_(ctx.layers + 1)
        return total[: ctx.n_users], total[ctx.n_users :], None, None, None, None, None, None


class LightGCNScorer(Scorer):
    """Layer-0 embedding tables and the normalised graph (a non-persistent buffer).

    ``prepare`` propagates without autograd: in training mode the first ``K − 1`` layers (the
    last layer and the gradient are computed per batch by :class:`_LastLayerRows`), in
    evaluation mode all ``K`` layers, whose mean is cached for scoring. Caches are keyed by the
    parameters' version counters, so scoring after a parameter change re-propagates instead of
    using stale embeddings.
    """

    def __init__(
        self,
        adjacency: sp.csr_matrix,
        n_users: int,
        n_items: int,
        dim: int,
        layers: int,
        init_std: float,
        generator: torch.Generator,
        edge_chunk: int | None = None,
    ) -> None:
        super().__init__(n_users, n_items)
        self.layers = layers
        #: Row blocks of the graph products (``edge_chunk``), None: one product.
        self.blocks = None if edge_chunk is None else edge_blocks(adjacency.indptr, edge_chunk)
        self.user_emb = nn.Parameter(
            torch.empty(n_users, dim).normal_(0, init_std, generator=generator)
        )
        self.item_emb = nn.Parameter(
            torch.empty(n_items, dim).normal_(0, init_std, generator=generator)
        )
        self.register_buffer("adjacency", to_torch_csr(adjacency), persistent=False)
        self._cache: tuple[torch.Tensor, torch.Tensor] | None = None
        self._cache_key: tuple | None = None
        #: Training-mode final embeddings and the cache key they were computed under.
        self._final: torch.Tensor | None = None
        self._final_key: tuple | None = None

    def _key(self) -> tuple:
        return self.training, self.user_emb._version, self.item_emb._version

    def prepare(self) -> None:
        with torch.no_grad():
            layer = torch.cat([self.user_emb, self.item_emb])
            total = layer.clone()
            steps = self.layers - 1 if self.training and self.layers else self.layers
            for _ in range(steps):
                layer = blocked_product(self.adjacency, layer, self.blocks)
                total += layer
            if self.training:
                self._cache = (total, layer)
            else:
                self._cache = (total.div_(self.layers + 1), layer)
        self._cache_key = self._key()

    def _cached(self) -> tuple[torch.Tensor, torch.Tensor]:
        if self._cache_key != self._key():
            self.prepare()
        return self._cache

    def propagate(self) -> torch.Tensor:
        """Final embeddings ``[users; items]`` (the mean of layers ``0..K``), without autograd."""
        total, last = self._cached()
        if not self.training or not self.layers:
            return total
        if self._final_key != self._cache_key:  # once per parameter version, not per call
            with torch.no_grad():
                last = blocked_product(self.adjacency, last, self.blocks)
                self._final = (total + last) / (self.layers + 1)
            self._final_key = self._cache_key
        return self._final

    def node_embeddings(self, nodes: torch.Tensor) -> torch.Tensor:
        """Final embeddings of graph nodes (users, then ``n_users + item``), any repetition.

        Differentiable with respect to the layer-0 tables in training mode.
        """
        if not self.training:
            return self._cached()[0][nodes]
        if not self.layers:
            return torch.cat([self.user_emb, self.item_emb]).index_select(0, nodes)
        unique, inverse = torch.unique(nodes, return_inverse=True)
        partial, last = self._cached()
        rows = _LastLayerRows.apply(
            self.user_emb,
            self.item_emb,
            unique,
            self.adjacency,
            partial,
            last,
            self.layers,
            self.blocks,
        )
        return rows.index_select(0, inverse)

    def score_candidates(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        emb = self.node_embeddings(torch.cat([users, items.reshape(-1) + self.n_users]))
        p, q = emb[: len(users)], emb[len(users) :].view(*items.shape, -1)
        towers = self.level_towers()
        if towers is not None:  # per-level similarities [B, N, K] in training
            return towers.candidates(p, q, self.training)
        return torch.bmm(q, p.unsqueeze(2)).squeeze(2)

    def embed(self, users: torch.Tensor, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        emb = self.node_embeddings(torch.cat([users, items + self.n_users]))
        return emb[: len(users)], emb[len(users) :]

    def score_all(self, users: torch.Tensor) -> torch.Tensor:
        final = self.propagate()
        p, q = final[users], final[self.n_users :]
        towers = self.level_towers()
        if towers is not None:
            p, q = towers.table(p), towers.table(q)
        return score_matrix(p, q)

    def factors(self) -> Factors:
        final = self.propagate()
        p, q = final[: self.n_users], final[self.n_users :]
        towers = self.level_towers()
        if towers is not None:
            p, q = towers.table(p), towers.table(q)
        return p, q, None

    def regularization(
        self, users: torch.Tensor, pos: torch.Tensor, neg: torch.Tensor
    ) -> torch.Tensor:
        items = torch.cat([pos.unsqueeze(1), neg], dim=1).reshape(-1)
        total = (
            self.user_emb.index_select(0, users).square().sum()
            + self.item_emb.index_select(0, items).square().sum()
        )
        return 0.5 * total / len(users)


@register("lightgcn")
class LightGCN(TorchRecommender):
    """LightGCN trained by any sampled objective (BPR by default)."""

    Config = LightGCNConfig
    supports_fold_in = True
    fold_in_exact = False
    supports_similar_items = True
    search_space: ClassVar[SearchSpace] = {
        "dim": Int(16, 128, log=True),
        "layers": Int(1, 4),
        "lr": Float(1e-4, 1e-2, log=True),
        "l2": Float(1e-6, 1e-2, log=True),
        "objective": SAMPLED_OBJECTIVES,
        "sampler": SAMPLERS,
    }

    def _alignment(
        self, config: LightGCNConfig, train: Interactions, kind: str
    ) -> AuxiliaryLoss | None:
        """The RLMRec term plus the augmented-edge term of ``augment_k``."""
        auxiliary = super()._alignment(config, train, kind)
        return with_augmentation(auxiliary, config, train, self._item_text, kind, self.device_)

    def build_scorer(
        self, n_users: int, n_items: int, generator: torch.Generator
    ) -> LightGCNScorer:
        cfg = self.config
        return LightGCNScorer(
            normalized_adjacency(self.seen_),
            n_users,
            n_items,
            dim=cfg.dim,
            layers=cfg.layers,
            init_std=cfg.init_std,
            generator=generator,
            edge_chunk=cfg.edge_chunk,
        )
