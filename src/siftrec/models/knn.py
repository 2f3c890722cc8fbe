"""Item-based collaborative filtering (ItemKNN) with shrunk cosine similarity.

``sim(i, j) = x_i·x_j / (‖x_i‖‖x_j‖ + shrink)`` over item columns of the user × item matrix;
each target item keeps its ``k`` most similar other items, and a user's score for item ``j`` is
``Σ_i x_ui · sim(i, j)`` over those neighbours (``X_u · S`` with a sparse ``S``). The similarity
is built one block of items at a time (dense block × all items, top-k by ``argpartition``), so
memory stays bounded on catalogs of tens of thousands of items.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

import numpy as np
import scipy.sparse as sp

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.models.base import Recommender
from siftrec.models.registry import register

#: Size of the dense similarity block (block items × all items, float32) built at a time.
_BLOCK_BYTES = 128 * 2**20


@dataclass
class ItemKNNConfig:
    """``k``: neighbours kept per item; ``shrink``: added to the cosine denominator, damping
    similarities supported by few co-occurrences (0 = plain cosine);
    ``feedback_weighting``: ``"binary"`` uses 1 per observed pair, ``"weights"`` the
    interaction weights (both for the similarity and for scoring)."""

    k: int = 100
    shrink: float = 10.0
    feedback_weighting: Literal["binary", "weights"] = "binary"

    def __post_init__(self) -> None:
        if isinstance(self.k, bool) or not isinstance(self.k, int | np.integer) or self.k < 1:
            raise SiftrecError(f"itemknn: k must be a positive integer, got {self.k!r}")
        if not self.shrink >= 0:
            raise SiftrecError(f"itemknn: shrink must be >= 0, got {self.shrink!r}")
        if self.feedback_weighting not in ("binary", "weights"):
            raise SiftrecError(
                f"itemknn: feedback_weighting must be 'binary' or 'weights', "
                f"got {self.feedback_weighting!r}"
            )


@register("itemknn")
class ItemKNN(Recommender):
    """Item-item neighbourhood model: scores = user row × sparse top-k cosine similarity."""

    Config = ItemKNNConfig
    supports_fold_in = True

    def _fit(self, train: Interactions) -> None:
        self.user_matrix_ = self._weighted(train.matrix)
        self.similarity_ = item_similarity(self.user_matrix_, self.config.k, self.config.shrink)

    def _weighted(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """``matrix`` as float32 CSR, with every stored value set to 1 in binary mode."""
        out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
        if self.config.feedback_weighting == "binary":
            out.data[:] = 1.0
        return out

    def _score(self, users: np.ndarray) -> np.ndarray:
        return (self.user_matrix_[users] @ self.similarity_).toarray()

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray:
        return (self._weighted(history) @ self.similarity_).toarray()

    def _get_state(self) -> dict[str, np.ndarray]:
        s = self.similarity_
        state = {
            "sim_data": s.data,
            "sim_indices": s.indices,
            "sim_indptr": s.indptr,
            "sim_shape": np.asarray(s.shape, dtype=np.int64),
        }
        if self.config.feedback_weighting == "weights":
            state["user_weights"] = self.user_matrix_.data
        return state

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        shape = tuple(int(v) for v in state["sim_shape"])
        self.similarity_ = sp.csr_matrix(
            (state["sim_data"], state["sim_indices"], state["sim_indptr"]), shape=shape
        )
        self.user_matrix_ = self._weighted(self.seen_)
        if self.config.feedback_weighting == "weights":
            weights = state["user_weights"]
            if len(weights) != self.user_matrix_.nnz:
                raise SiftrecError("itemknn: saved user weights do not match the seen matrix")
            self.user_matrix_.data = weights.astype(np.float32)


def item_similarity(matrix: sp.csr_matrix, k: int, shrink: float) -> sp.csr_matrix:
    """Top-``k`` shrunk-cosine item-item similarity of a user × item matrix.

    Returns an items × items float32 CSR ``S`` whose column ``j`` holds the (at most ``k``)
    nonzero similarities of item ``j``'s nearest other items, so that ``X @ S`` scores items.
    Ties at the ``k``-th neighbour are resolved by ``argpartition`` (deterministic for a given
    input).
    """
    x = sp.csr_matrix(matrix, dtype=np.float32)
    n_items = x.shape[1]
    x_t = x.T.tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel())
    norms = norms.astype(np.float32)
    k = min(k, n_items - 1)
    block = max(1, _BLOCK_BYTES // (4 * n_items))
    targets, neighbours, values = [], [], []
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        sim = (x_t[start:stop] @ x).toarray()
        denom = np.outer(norms[start:stop], norms)
        denom += np.float32(shrink)
        np.divide(sim, denom, out=sim, where=denom > 0)  # zero-norm items have zero dots
        sim[np.arange(stop - start), np.arange(start, stop)] = 0.0
        if k < n_items - 1:
            cols = np.argpartition(sim, n_items - k, axis=1)[:, n_items - k :]
        else:
            cols = np.broadcast_to(np.arange(n_items), sim.shape)
        vals = np.take_along_axis(sim, cols, axis=1)
        keep = vals != 0
        targets.append(np.broadcast_to(np.arange(start, stop)[:, None], cols.shape)[keep])
        neighbours.append(cols[keep])
        values.append(vals[keep])
    s = sp.csr_matrix(
        (np.concatenate(values), (np.concatenate(neighbours), np.concatenate(targets))),
        shape=(n_items, n_items),
        dtype=np.float32,
    )
    s.sort_indices()
    return s
