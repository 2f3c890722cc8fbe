"""EASE (Steck, WWW 2019): a closed-form item-item linear autoencoder with a zero diagonal.

``min_B ‖X − XB‖² + λ‖B‖²  s.t. diag(B) = 0`` has the solution
``G = XᵀX + λI, P = G⁻¹, B_ij = −P_ij / P_jj (i ≠ j), B_jj = 0``; scores are ``X_u B``.

The fit keeps a single dense n_items × n_items matrix alive on CPU: the Gram matrix is filled
block by block from sparse products, factorised and inverted in place with a Cholesky
decomposition (torch, MKL on CPU), and turned into ``B`` in place. ``B`` lives on the selected
torch device, so scoring runs on CUDA when available. A memory guard refuses catalogs whose
dense matrices would not fit in the memory this process may still use (the smallest of
available memory, its address-space limit and its cgroup limit).

Fold-in scores a new user's row as ``x B`` like any training row; ``similar_items`` of item
``i`` is row ``B_i`` (the weight ``i`` gives every other item in the scores).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch

from siftrec.data.interactions import Interactions
from siftrec.device import select_device
from siftrec.errors import SiftrecError
from siftrec.models.base import Recommender
from siftrec.models.registry import register
from siftrec.progress import progress_bar
from siftrec.resources import require_memory
from siftrec.search_space import Float, SearchSpace

#: Size of the host-side Gram block (block items × all items) built at a time.
_BLOCK_BYTES = 256 * 2**20

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@dataclass
class EASEConfig:
    """EASE hyperparameters. Where the matrices live is the fit option ``device``
    (:class:`~siftrec.models.base.FitOptions`), not a hyperparameter.

    Attributes:
        l2: the ridge λ. The default 500 is Steck's value for ML-20M; it grows with the data
            size (BARS used 80 on Gowalla), so tune it on a validation split.
        binary: 1 per observed pair (default) instead of the interaction weights.
        dtype: precision of the dense matrices (float32 halves memory; float64 is exact to
            ~1e-12).
        force: skip the memory check before allocating the dense matrices.
    """

    l2: float = 500.0
    binary: bool = True
    dtype: Literal["float32", "float64"] = "float32"
    force: bool = False

    def __post_init__(self) -> None:
        if not self.l2 > 0:
            raise SiftrecError(f"ease: l2 must be > 0, got {self.l2!r}")
        if self.dtype not in _DTYPES:
            raise SiftrecError(f"ease: dtype must be 'float32' or 'float64', got {self.dtype!r}")


@register("ease")
class EASE(Recommender):
    """Closed-form item-item model ``B``; scores are ``X_u @ B``."""

    Config = EASEConfig
    search_space: ClassVar[SearchSpace] = {"l2": Float(1.0, 10_000.0, log=True)}
    supports_fold_in = True
    supports_similar_items = True
    fit_options: ClassVar[frozenset[str]] = frozenset({"device", "progress"})

    def _fit(self, train: Interactions) -> None:
        device = select_device(self.options.device)
        dtype = _DTYPES[self.config.dtype]
        self.user_matrix_ = self._weighted(train.matrix)
        n_items = train.n_items
        if not self.config.force:
            check_memory(n_items, dtype, device)
        try:
            with progress_bar("EASE: Gram matrix", None, self.options.progress) as advance:
                gram = gram_matrix(self.user_matrix_, dtype, device)
                advance(description="EASE: Cholesky solve and inverse")
                self.B_ = ease_weights(gram, self.config.l2)
        except (MemoryError, RuntimeError) as exc:
            # torch reports a failed CPU allocation as RuntimeError, a CUDA one as OutOfMemoryError.
            if not isinstance(exc, MemoryError | torch.OutOfMemoryError) and (
                "can't allocate memory" not in str(exc)
            ):
                raise
            raise SiftrecError(
                f"EASE on {n_items:,} items ran out of memory allocating its "
                f"{n_items:,}² matrix; use itemknn or ials, or keep fewer items"
            ) from None

    def _weighted(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """``matrix`` as float32 CSR, with every stored value set to 1 when ``binary``."""
        out = sp.csr_matrix(matrix, dtype=np.float32, copy=True)
        if self.config.binary:
            out.data[:] = 1.0
        return out

    def _product(self, rows: sp.csr_matrix) -> np.ndarray | torch.Tensor:
        """``rows @ B``: scipy sparse × dense on CPU (fastest there), torch sparse on CUDA."""
        rows = rows.astype(_numpy_dtype(self.B_.dtype))
        if self.B_.device.type == "cpu":
            return rows @ self.B_.numpy()
        coo = rows.tocoo()
        sparse = torch.sparse_coo_tensor(
            torch.from_numpy(np.vstack([coo.row, coo.col]).astype(np.int64)),
            torch.from_numpy(coo.data),
            size=rows.shape,
            is_coalesced=True,
        )
        return torch.sparse.mm(sparse.to(self.B_.device), self.B_)

    def _score(self, users: np.ndarray) -> np.ndarray | torch.Tensor:
        return self._product(self.user_matrix_[users])

    def _score_history(self, history: sp.csr_matrix) -> np.ndarray | torch.Tensor:
        return self._product(self._weighted(history))

    def _similar_items(self, items: np.ndarray) -> torch.Tensor:
        """Row ``B[i]``: the weight item ``i`` gives every item in a user's scores."""
        return self.B_[torch.as_tensor(items, device=self.B_.device)].clone()

    def _get_state(self) -> dict[str, np.ndarray]:
        state = {"B": self.B_.cpu().numpy()}
        if not self.config.binary:
            state["user_weights"] = self.user_matrix_.data
        return state

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        if state["B"].shape != (self.n_items, self.n_items):
            raise SiftrecError(
                f"ease: saved weights have shape {state['B'].shape}, expected "
                f"({self.n_items}, {self.n_items})"
            )
        weights = np.asarray(state["B"], dtype=_numpy_dtype(_DTYPES[self.config.dtype]))
        self.B_ = torch.from_numpy(weights).to(select_device(self.options.device))
        self.user_matrix_ = self._weighted(self.seen_)
        if not self.config.binary:
            data = state["user_weights"]
            if len(data) != self.user_matrix_.nnz:
                raise SiftrecError("ease: saved user weights do not match the seen matrix")
            self.user_matrix_.data = data.astype(np.float32)


def gram_matrix(matrix: sp.csr_matrix, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """Dense ``XᵀX`` (items × items) on ``device``, filled one block of rows at a time."""
    x = matrix.astype(_numpy_dtype(dtype))
    x_t = x.T.tocsr()
    n_items = x.shape[1]
    gram = torch.empty((n_items, n_items), dtype=dtype, device=device)
    block = max(1, _BLOCK_BYTES // (n_items * x.dtype.itemsize))
    for start in range(0, n_items, block):
        stop = min(start + block, n_items)
        gram[start:stop] = torch.from_numpy((x_t[start:stop] @ x).toarray())
    return gram


def ease_weights(gram: torch.Tensor, l2: float) -> torch.Tensor:
    """EASE ``B`` from the Gram matrix ``XᵀX``, computed in place (``gram`` is consumed)."""
    gram.diagonal().add_(l2)
    # The Gram matrix is symmetric, so its transpose view is a column-major copy of it, which
    # LAPACK (CPU) factorises and inverts in place without an extra n×n buffer; cuSOLVER's
    # inverse clones the factor once (see required_bytes).
    view = gram.mT
    info = torch.empty((), dtype=torch.int32, device=gram.device)
    torch.linalg.cholesky_ex(view, out=(view, info))
    if int(info) != 0:
        raise SiftrecError(
            f"ease: XᵀX + {l2:g}·I is not positive definite in {gram.dtype} "
            f"(Cholesky failed at column {int(info)}); increase l2 or use dtype=float64"
        )
    torch.cholesky_inverse(view, out=view)
    diag = gram.diagonal().clone()
    gram.div_(diag.neg_())  # column j divided by −P_jj
    gram.fill_diagonal_(0.0)
    return gram


def required_bytes(n_items: int, dtype: torch.dtype, device: torch.device) -> int:
    """Estimated peak memory of an EASE fit on ``device``.

    CPU: one n×n matrix (Gram → Cholesky factor → inverse → B, all in place) plus a Gram
    block. CUDA: two n×n matrices (cuSOLVER's inverse may use a second one) on the GPU.
    """
    itemsize = torch.empty((), dtype=dtype).element_size()
    n_matrices = 2 if device.type == "cuda" else 1
    return n_matrices * n_items * n_items * itemsize + _BLOCK_BYTES


def check_memory(n_items: int, dtype: torch.dtype, device: torch.device) -> None:
    """Raise a SiftrecError when an EASE fit of ``n_items`` items would not fit in memory.

    On CPU the estimate is compared with what this process may still allocate (available
    memory, ``ulimit -v`` and the cgroup limit, see :mod:`siftrec.resources`); on CUDA with the
    device's free memory.
    """
    name = str(dtype).removeprefix("torch.")
    alternative = "use itemknn or ials, keep fewer items (k_core with item_k)"
    if dtype != torch.float32:
        alternative += ", use dtype=float32"
    alternative += ", or set force=true to try anyway"
    if device.type == "cuda":
        free, _ = torch.cuda.mem_get_info(device)
        limits = {f"free memory on {device}": int(free)}
        detail = f"the {n_items:,}² {name} Gram matrix and its inverse on {device}"
    else:
        limits = None
        detail = f"the {n_items:,}² {name} Gram matrix, inverted in place"
    require_memory(
        required_bytes(n_items, dtype, device),
        f"EASE on {n_items:,} items",
        alternative,
        detail=detail,
        limits=limits,
    )


def _numpy_dtype(dtype: torch.dtype) -> np.dtype:
    return np.dtype(np.float64 if dtype == torch.float64 else np.float32)
