"""Top-K retrieval by inner product over item vectors: an exact index and a faiss ANN index.

A dot-product model scores user ``u`` and item ``i`` as ``x_u · y_i + b_i``. Folding the bias
into the vectors (``[x_u, 1] · [y_i, b_i]``) makes every such model a maximum-inner-product
search (MIPS) over one item table. :func:`factor_tables` takes those tables from a fitted model
through its public attributes (a torch model's ``scorer_.factors()``, iALS's factor tables) and
checks them against the model's own scores, so an index never serves scores the model would not.

Inner products are not a metric, so an index built for L2 distances cannot search them as they
are. :class:`FaissIndex` applies the extra-dimension transform (Bachrach et al., "Speeding Up
the Xbox Recommender System Using a Euclidean Transformation for Inner-Product Spaces", RecSys
2014): each item gets a last coordinate ``sqrt(M² - |y|²)`` (``M`` the largest item norm) and
each query a 0, after which L2 order is inner-product order. It is an inverted-file index
(``IndexIVFFlat``): k-means cells (seeded, so the same factors give the same index) and an exact
scan of the ``nprobe`` cells nearest a query; the scores it returns are the true inner products.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, ClassVar

import numpy as np
import torch

from siftrec.atomic import atomic_path
from siftrec.errors import SiftrecError
from siftrec.models.ranking import top_k

if TYPE_CHECKING:
    from siftrec.models.base import Recommender

#: Users whose factor scores are compared with the model's own before an index is trusted.
CHECK_USERS = 8
#: IVF cells scanned per query: recall@10 0.97 on gowalla's iALS factors, 0.998 on the 1M-item
#: synthetic catalog (docs/benchmarks.md, "Serving").
DEFAULT_NPROBE = 64


class VectorIndex(ABC):
    """Top-``k`` items by inner product with query vectors (rows of a float32 matrix)."""

    #: The ``--ann`` name of the backend.
    name: ClassVar[str]
    #: Whether results are exact (the same items as scoring every item).
    exact: ClassVar[bool]

    @property
    @abstractmethod
    def n_items(self) -> int:
        """Number of indexed items."""

    @property
    @abstractmethod
    def dim(self) -> int:
        """Dimension of the query vectors."""

    @abstractmethod
    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Item indices (int64) and inner products (float32), shape (len(queries), k), best first.

        Rows with fewer than ``k`` results found are padded with index -1 and score -inf.
        """

    def _check(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, int]:
        queries = np.ascontiguousarray(np.atleast_2d(queries), dtype=np.float32)
        if queries.shape[1] != self.dim:
            raise SiftrecError(f"queries have {queries.shape[1]} dimensions, index has {self.dim}")
        if k < 1:
            raise SiftrecError(f"k must be a positive integer, got {k}")
        return queries, min(k, self.n_items)


class ExactIndex(VectorIndex):
    """Scores every item (one matrix product per query block); the reference for recall."""

    name = "exact"
    exact = True

    def __init__(self, items: np.ndarray) -> None:
        self.items = torch.as_tensor(_as_table(items, "item vectors"))

    @property
    def n_items(self) -> int:
        return self.items.shape[0]

    @property
    def dim(self) -> int:
        return self.items.shape[1]

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries, k = self._check(queries, k)
        with torch.no_grad():
            return top_k(torch.as_tensor(queries) @ self.items.T, k)


class FaissIndex(VectorIndex):
    """faiss ``IndexIVFFlat`` over the extra-dimension transform (see the module docstring).

    ``n_lists`` k-means cells (default ``4·sqrt(n)``, at most n/39 so each has the training
    points faiss asks for), trained on at most ``train_size`` items drawn with ``seed``;
    ``nprobe`` cells are scanned per query (more: higher recall, slower).
    """

    name = "faiss"
    exact = False

    def __init__(
        self,
        items: np.ndarray | None = None,
        *,
        n_lists: int | None = None,
        nprobe: int = DEFAULT_NPROBE,
        train_size: int = 100_000,
        seed: int = 0,
        _index: object | None = None,
    ) -> None:
        faiss = import_faiss()
        if _index is not None:
            self._index = _index
        else:
            items = _as_table(items, "item vectors")
            n = len(items)
            if n_lists is None:
                n_lists = max(1, min(int(4 * math.sqrt(n)), n // 39))
            if not 1 <= n_lists <= n:
                raise SiftrecError(f"n_lists must be in [1, {n}] for {n} items, got {n_lists}")
            data = _augment_items(items)
            quantizer = faiss.IndexFlatL2(data.shape[1])
            index = faiss.IndexIVFFlat(quantizer, data.shape[1], n_lists, faiss.METRIC_L2)
            index.cp.seed = seed
            rng = np.random.default_rng(seed)
            sample = data if n <= train_size else data[np.sort(rng.choice(n, train_size, False))]
            index.train(sample)
            index.add(data)
            index.make_direct_map()  # candidates' vectors give their true inner products
            self._index = index
        if nprobe < 1:
            raise SiftrecError(f"nprobe must be at least 1, got {nprobe}")
        self._index.nprobe = min(nprobe, self._index.nlist)

    @property
    def n_items(self) -> int:
        return int(self._index.ntotal)

    @property
    def dim(self) -> int:
        return int(self._index.d) - 1

    @property
    def nprobe(self) -> int:
        return int(self._index.nprobe)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        queries, k = self._check(queries, k)
        augmented = np.hstack([queries, np.zeros((len(queries), 1), dtype=np.float32)])
        _, index = self._index.search(augmented, k)
        index = index.astype(np.int64)
        found = index >= 0
        # True inner products of the candidates (the L2 distances carry the added coordinate).
        vectors = self._index.reconstruct_batch(np.where(found, index, 0).ravel())
        vectors = vectors.reshape(*index.shape, -1)[..., :-1]
        scores = np.einsum("qkd,qd->qk", vectors, queries).astype(np.float32)
        scores[~found] = -np.inf
        order = np.lexsort((np.where(found, index, np.iinfo(np.int64).max), -scores), axis=-1)
        return np.take_along_axis(index, order, 1), np.take_along_axis(scores, order, 1)

    def save(self, path: str | Path) -> Path:
        """Write the index to ``path`` atomically (faiss' own format)."""
        faiss = import_faiss()
        with atomic_path(path) as tmp:
            faiss.write_index(self._index, str(tmp))
        return Path(path)

    @classmethod
    def load(cls, path: str | Path, nprobe: int = DEFAULT_NPROBE) -> FaissIndex:
        """Read an index written by :meth:`save`."""
        faiss = import_faiss()
        if not Path(path).is_file():
            raise SiftrecError(f"ANN index file {path} not found")
        try:
            index = faiss.read_index(str(path))
        except RuntimeError:
            raise SiftrecError(f"{path} is not a faiss index file") from None
        if not isinstance(index, faiss.IndexIVFFlat):
            raise SiftrecError(f"{path} is not a faiss index written by siftrec export")
        if index.direct_map.type == faiss.DirectMap.NoMap:
            index.make_direct_map()
        return cls(_index=index, nprobe=nprobe)


#: ``--ann`` backends by name.
BACKENDS: dict[str, type[VectorIndex]] = {"exact": ExactIndex, "faiss": FaissIndex}


def build_index(name: str, items: np.ndarray, **options: int) -> VectorIndex:
    """An index of backend ``name`` (``exact`` or ``faiss``) over ``items``."""
    if name not in BACKENDS:
        raise SiftrecError(f"unknown ANN backend {name!r}; choose one of {', '.join(BACKENDS)}")
    return BACKENDS[name](items, **options)


def import_faiss() -> ModuleType:
    """The faiss module, or a one-line error saying how to install it."""
    try:
        import faiss  # lazy: an optional dependency (the serve extra)
    except ImportError:
        raise SiftrecError(
            "the faiss ANN backend needs faiss-cpu (part of the serve extra): pip install faiss-cpu"
        ) from None
    return faiss


def factor_tables(model: Recommender) -> tuple[np.ndarray, np.ndarray] | None:
    """``(user vectors, item vectors)`` with ``score(u) = users[u] @ items.T``, or None.

    None when the model is no dot product (EASE, ItemKNN, NeuMF with an MLP tower, ...). An item
    bias becomes a last coordinate (1 on the user side). The tables are checked against
    ``model.score`` on a few users; a mismatch is an error, never a silently different ranking.
    """
    tables = _raw_tables(model)
    if tables is None:
        return None
    users, items, bias = (None if t is None else t.detach().float().cpu().numpy() for t in tables)
    if bias is not None:
        users = np.hstack([users, np.ones((len(users), 1), dtype=np.float32)])
        items = np.hstack([items, bias.reshape(-1, 1)])
    users, items = np.ascontiguousarray(users), np.ascontiguousarray(items)
    check = np.unique(np.linspace(0, len(users) - 1, CHECK_USERS).astype(np.int64))
    expected = model.score(check)
    got = users[check] @ items.T
    scale = max(float(np.abs(expected).max()), 1e-6)
    if not np.allclose(got, expected, rtol=1e-3, atol=1e-4 * scale):
        raise SiftrecError(
            f"{model.name}'s factor tables do not reproduce its scores; serve it with ann='exact'"
        )
    return users, items


def _raw_tables(
    model: Recommender,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None] | None:
    """The model's user table, item table and item bias (None) from its public attributes."""
    scorer = getattr(model, "scorer_", None)
    if scorer is not None:
        with torch.no_grad():
            scorer.eval()
            return scorer.factors()
    users, items = getattr(model, "user_factors_", None), getattr(model, "item_factors_", None)
    if isinstance(users, torch.Tensor) and isinstance(items, torch.Tensor):
        return users, items, None
    return None


def _as_table(values: np.ndarray | None, what: str) -> np.ndarray:
    table = np.ascontiguousarray(values, dtype=np.float32)
    if table.ndim != 2 or table.shape[0] == 0 or table.shape[1] == 0:
        raise SiftrecError(f"{what} must be a non-empty 2-D array, got shape {table.shape}")
    if not np.isfinite(table).all():
        raise SiftrecError(f"{what} hold non-finite values")
    return table


def _augment_items(items: np.ndarray) -> np.ndarray:
    """Items with the last coordinate ``sqrt(M² - |y|²)``: L2 order becomes inner-product order."""
    norms = np.einsum("ij,ij->i", items, items, dtype=np.float64)
    extra = np.sqrt(np.maximum(norms.max() - norms, 0.0)).astype(np.float32)
    return np.ascontiguousarray(np.hstack([items, extra[:, None]]))
