"""Item-based collaborative filtering (ItemKNN) with shrunk cosine similarity.

``sim(i, j) = x_i·x_j / (‖x_i‖‖x_j‖ + shrink)`` over item columns of the user × item matrix;
each target item keeps its ``k`` most similar other items, and a user's score for item ``j`` is
``Σ_i x_ui · sim(i, j)`` over those neighbours (``X_u · S`` with a sparse ``S``). The similarity
is built one block of items at a time (dense block × all items, top-k by ``argpartition``), so
memory stays bounded on catalogs of tens of thousands of items. The work is still quadratic in
the catalog size: the fit estimates its memory and refuses what would not fit in the memory this
process may use (:mod:`siftrec.resources`), and shows a progress bar with the estimated operation
count on a terminal when the work is large.

Fold-in scores a new user's row as ``x S`` like any training row; ``similar_items`` of item ``i``
is column ``i`` of ``S`` (its ``k`` neighbours by shrunk cosine, every other item 0).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.models.base import Recommender
from siftrec.models.registry import register
from siftrec.progress import show_progress
from siftrec.resources import require_memory
from siftrec.search_space import Float, Int, SearchSpace

#: Size of the dense similarity block (block items × all items, float32) built at a time.
_BLOCK_BYTES = 128 * 2**20

#: Estimated operations (see ``similarity_cost``) above which a terminal shows a progress bar.
_PROGRESS_OPERATIONS = 10**9


@dataclass
class ItemKNNConfig:
    """ItemKNN hyperparameters.

    Attributes:
        k: neighbours kept per item.
        shrink: added to the cosine denominator, damping similarities supported by few
            co-occurrences (0 = plain cosine).
        feedback_weighting: ``"binary"`` uses 1 per observed pair, ``"weights"`` the
            interaction weights (both for the similarity and for scoring).
        force: skip the memory check before building the similarity.
    """

    k: int = 100
    shrink: float = 10.0
    feedback_weighting: Literal["binary", "weights"] = "binary"
    force: bool = False

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
    search_space: ClassVar[SearchSpace] = {
        "k": Int(10, 1000, log=True),
        "shrink": Float(0.0, 200.0),
    }
    supports_fold_in = True
    supports_similar_items = True

    def _fit(self, train: Interactions) -> None:
        self.user_matrix_ = self._weighted(train.matrix)
        if not self.config.force:
            check_memory(self.user_matrix_, self.config.k)
        self.similarity_ = item_similarity(
            self.user_matrix_, self.config.k, self.config.shrink, self.options.progress
        )

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

    def _similar_items(self, items: np.ndarray) -> np.ndarray:
        """Column ``i`` of the pruned similarity matrix: item ``i``'s ``k`` neighbours (other
        items score 0). The transpose is built once per similarity matrix."""
        cached = getattr(self, "_neighbours", None)
        if cached is None or cached[0] is not self.similarity_:
            cached = (self.similarity_, self.similarity_.T.tocsr())
            self._neighbours = cached
        return cached[1][items].toarray()

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
        if shape != (self.n_items, self.n_items):
            raise SiftrecError(
                f"itemknn: saved similarity has shape {shape}, expected "
                f"({self.n_items}, {self.n_items})"
            )
        try:
            self.similarity_ = sp.csr_matrix(
                (state["sim_data"], state["sim_indices"], state["sim_indptr"]), shape=shape
            )
            self.similarity_.check_format(full_check=True)
        except ValueError as exc:
            raise SiftrecError(f"itemknn: saved similarity is corrupt ({exc})") from None
        self.user_matrix_ = self._weighted(self.seen_)
        if self.config.feedback_weighting == "weights":
            weights = state["user_weights"]
            if len(weights) != self.user_matrix_.nnz:
                raise SiftrecError("itemknn: saved user weights do not match the seen matrix")
            self.user_matrix_.data = weights.astype(np.float32)


def similarity_cost(matrix: sp.csr_matrix, k: int) -> tuple[int, int]:
    """Estimated (peak bytes, operations) of :func:`item_similarity` on ``matrix``.

    Bytes: the float32 matrix and its transpose; one dense block of similarities with its
    denominators, ``argpartition`` indices (int64), mask and the sparse product it came from;
    and the kept neighbours (int64 coordinates, float32 values) with their concatenation and
    sparse copies. Operations: ``Σ_u deg(u)²`` multiply-adds for ``XᵀX`` plus ~10 per dense
    similarity entry (shrink, division, top-k selection) — quadratic in the catalog size.
    """
    n_items = matrix.shape[1]
    k = max(0, min(k, n_items - 1))
    rows = min(n_items, _block_rows(n_items))
    degrees = np.diff(matrix.indptr).astype(np.float64)
    nbytes = 2 * matrix.nnz * 8 + rows * n_items * (4 + 4 + 8 + 1 + 8) + n_items * k * 56
    operations = int(degrees @ degrees) + 10 * n_items * n_items
    return nbytes, operations


def check_memory(matrix: sp.csr_matrix, k: int) -> None:
    """Raise a SiftrecError when :func:`item_similarity` would not fit in this process's memory."""
    nbytes, _ = similarity_cost(matrix, k)
    n_items = matrix.shape[1]
    k = min(k, n_items - 1)
    require_memory(
        nbytes,
        f"ItemKNN on {n_items:,} items",
        "use a smaller k, keep fewer items (k_core with item_k), or set force=true to try anyway",
        detail=f"{k:,} neighbours per item and dense similarity blocks",
    )


def item_similarity(
    matrix: sp.csr_matrix, k: int, shrink: float, progress: bool | None = None
) -> sp.csr_matrix:
    """Top-``k`` shrunk-cosine item-item similarity of a user × item matrix.

    Returns an items × items float32 CSR ``S`` whose column ``j`` holds the (at most ``k``)
    nonzero similarities of item ``j``'s nearest other items, so that ``X @ S`` scores items.
    Ties at the ``k``-th neighbour are resolved by ``argpartition`` (deterministic for a given
    input). ``progress`` shows a bar over the blocks on stderr; None shows it when stderr is a
    terminal and the work is large (see :func:`similarity_cost`).
    """
    x = sp.csr_matrix(matrix, dtype=np.float32)
    n_items = x.shape[1]
    x_t = x.T.tocsr()
    norms = np.sqrt(np.asarray(x.multiply(x).sum(axis=0), dtype=np.float64).ravel())
    norms = norms.astype(np.float32)
    k = min(k, n_items - 1)
    _, operations = similarity_cost(x, k)
    if progress is None:
        progress = operations >= _PROGRESS_OPERATIONS and show_progress()
    progress = show_progress(progress)
    description = f"item similarity (~{operations:.1e} ops)"
    targets, neighbours, values = [], [], []
    for start, stop in _blocks(n_items, _block_rows(n_items), description, progress):
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


def _block_rows(n_items: int) -> int:
    """Items per dense similarity block (block × all items float32 within ``_BLOCK_BYTES``)."""
    return max(1, _BLOCK_BYTES // (4 * n_items))


def _blocks(n: int, size: int, description: str, progress: bool) -> Iterator[tuple[int, int]]:
    """``(start, stop)`` ranges of at most ``size`` items, with an optional bar on stderr."""
    ranges = [(start, min(start + size, n)) for start in range(0, n, size)]
    if not progress:
        yield from ranges
        return
    columns = (
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
    )
    with Progress(*columns, console=_console(), transient=True) as bar:
        task = bar.add_task(description, total=n)
        for start, stop in ranges:
            yield start, stop
            bar.advance(task, stop - start)


def _console() -> Console:
    return Console(stderr=True)
