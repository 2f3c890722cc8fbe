"""iALS: weighted matrix factorisation for implicit feedback (Hu, Koren & Volinsky, ICDM 2008).

Objective (Hu et al., ICDM 2008), with preference ``p_ui = 1`` on observed pairs and 0 elsewhere::

    Σ_{u,i ∈ U×I} c_ui (p_ui − x_uᵀ y_i)² + Σ_u λ_u ‖x_u‖² + Σ_i λ_i ‖y_i‖²

``c_ui = 1 + α r_ui`` ("linear") or ``1 + α log(1 + r_ui/ε)`` ("log") on observed pairs (``r``
is the summed interaction weight, or 1 with ``binary``) and ``c_ui = 1`` on unobserved pairs.
``benfred/implicit`` instead reads its input values as the confidences themselves (``c = α·r``,
no ``+1``): feeding it the matrix of our ``c`` with its ``alpha=1`` optimises this same objective.

Regularisation: "plain" uses ``λ_u = λ_i = λ``. "frequency" follows Rendle et al. (2022,
"Revisiting the performance of iALS", their ``λ·(|I_u| + α₀|I|)^ν``: the total weight of the row's
loss terms) in this parametrisation: ``λ_u = λ·(|I| + Σ_{i∈I_u}(c_ui − 1))^ν`` and
``λ_i = λ·(|U| + Σ_{u∈U_i}(c_ui − 1))^ν`` with ``ν = reg_exponent``; for binary data and ``α = 1``
this is exactly their form with ``α₀ = 1``.

Each iteration solves the items given the users, then the users given the items, so training
ends on a user solve against the final item factors. Solvers, both vectorised over all rows:

- "cg": ``cg_steps`` conjugate-gradient steps warm-started at the previous factors (Takács et al.
  2011, as in ``implicit``). The products ``A_u p`` use one sampled dense-dense product (the
  scores ``y_iᵀp_u`` at the observed pairs) and one sparse × dense product; the observed scores
  ``x_uᵀy_i`` are updated alongside the factors and give the initial residual and the loss.
- "cholesky": the exact solve ``A_u x_u = b_u`` (batched Cholesky), rows grouped by degree.

Fold-in (``score_history``) solves new users exactly against the fixed item factors. With
``solver="cholesky"`` it reproduces a training user's factors (same final solve); with "cg" it
returns the exact minimiser, which the training factors approach as ``cg_steps`` grows.
``similar_items`` is the cosine similarity of the item factors.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar, Literal

import numpy as np
import scipy.sparse as sp
import torch

from siftrec.data.interactions import Interactions
from siftrec.device import select_device
from siftrec.errors import SiftrecError
from siftrec.models.base import Recommender, item_cosine
from siftrec.models.products import score_matrix
from siftrec.models.registry import register
from siftrec.progress import new_progress, show_progress
from siftrec.search_space import Categorical, Float, Int, SearchSpace

#: Residual norm below which a row's CG stops (as in ``implicit``).
_CG_TOLERANCE = 1e-20
#: Padded (row, item) slots per block of the exact solver.
_EXACT_SLOTS = 1 << 20
#: Matrix entries (rows × d²) per block of the exact solver.
_EXACT_ENTRIES = 1 << 24


@dataclass
class IALSConfig:
    """iALS hyperparameters. Where it trains (``device``) and whether it shows a progress bar
    over iterations (``progress``) are fit options (:class:`~siftrec.models.base.FitOptions`),
    not hyperparameters.

    Attributes:
        factors: latent dimension d.
        regularization: the L2 weight λ.
        alpha: confidence scale α.
        confidence: ``"linear"``, confidence ``1 + α r``, or ``"log"``, ``1 + α log(1 + r/ε)``.
        epsilon: ε of the log confidence.
        reg_scaling: ``"plain"`` λ or Rendle et al.'s ``"frequency"``-scaled λ (module
            docstring).
        reg_exponent: exponent of the frequency scaling of λ.
        iterations: full sweeps (items, then users).
        solver: ``"cg"``, warm-started conjugate gradient with ``cg_steps`` steps, or the exact
            ``"cholesky"`` solve.
        cg_steps: conjugate-gradient steps per solve.
        init_std: factors start at N(0, init_std²/factors) (row norms ≈ init_std).
        binary: use r = 1 for every observed pair instead of the summed weights.
        seed: seeds the initial factors.
        dtype: precision of the factors and solves.
    """

    factors: int = 64
    regularization: float = 0.01
    alpha: float = 1.0
    confidence: Literal["linear", "log"] = "linear"
    epsilon: float = 1.0
    reg_scaling: Literal["plain", "frequency"] = "plain"
    reg_exponent: float = 1.0
    iterations: int = 15
    solver: Literal["cg", "cholesky"] = "cg"
    cg_steps: int = 3
    init_std: float = 0.1
    binary: bool = False
    seed: int = 0
    dtype: Literal["float32", "float64"] = "float32"


@register("ials")
class IALS(Recommender):
    """Implicit-feedback ALS with a batched conjugate-gradient or exact solver (torch)."""

    Config = IALSConfig
    search_space: ClassVar[SearchSpace] = {
        "factors": Int(16, 256, log=True),
        "regularization": Float(1e-4, 10.0, log=True),
        "alpha": Float(0.1, 100.0, log=True),
        "confidence": Categorical(("linear", "log")),
        "epsilon": Float(0.1, 10.0, log=True, when={"confidence": "log"}),
        "reg_scaling": Categorical(("plain", "frequency")),
        "reg_exponent": Float(0.0, 1.5, when={"reg_scaling": "frequency"}),
    }
    supports_fold_in = True
    supports_similar_items = True
    fit_options: ClassVar[frozenset[str]] = frozenset({"device", "progress"})

    # ------------------------------------------------------------------ fitting
    def _fit(self, train: Interactions) -> None:
        cfg = self._validated_config()
        device, dtype = select_device(self.options.device), getattr(torch, cfg.dtype)
        conf = self._confidences(train.matrix)
        n_users, n_items = conf.shape
        users = _Rows.build(conf, self._row_reg(conf), device, dtype)
        conf_t = conf.T.tocsr()
        items = _Rows.build(conf_t, self._row_reg(conf_t), device, dtype)

        # Position in the user-major entry order of each item-major entry, and back.
        to_items = (
            sp.csr_matrix((np.arange(conf.nnz), conf.indices, conf.indptr), shape=conf.shape)
            .T.tocsr()
            .data
        )
        to_items_t = torch.as_tensor(to_items, device=device)
        to_users_t = torch.as_tensor(np.argsort(to_items), device=device)

        gen = torch.Generator().manual_seed(cfg.seed)
        std = cfg.init_std / math.sqrt(cfg.factors)
        x = (torch.randn(n_users, cfg.factors, generator=gen, dtype=dtype) * std).to(device)
        y = (torch.randn(n_items, cfg.factors, generator=gen, dtype=dtype) * std).to(device)
        x[users.counts == 0] = 0
        y[items.counts == 0] = 0

        with torch.no_grad(), new_progress(show_progress(self.options.progress)) as bar:
            task = bar.add_task("iALS", total=cfg.iterations)
            # x_uᵀ y_i at the observed pairs (user-major order), kept current by the CG steps.
            s_users, gram_x = users.sample(x, y).clone(), x.T @ x
            for epoch in range(1, cfg.iterations + 1):
                start = time.perf_counter()
                if cfg.solver == "cg":
                    s_items = s_users[to_items_t]
                    items.cg(y, x, gram_x, s_items, cfg.cg_steps)
                    gram_y = y.T @ y
                    s_users = s_items[to_users_t]
                    users.cg(x, y, gram_y, s_users, cfg.cg_steps)
                else:
                    y = items.exact(x, gram_x)
                    gram_y = y.T @ y
                    x = users.exact(y, gram_y)
                    s_users = users.sample(x, y)
                gram_x = x.T @ x
                loss = users.loss(x, s_users, gram_x, gram_y) + items.reg_loss(y)
                if device.type == "cuda":
                    torch.cuda.synchronize(device)
                seconds = time.perf_counter() - start
                self.history_.append({"epoch": epoch, "loss": loss, "seconds": seconds})
                bar.update(task, advance=1, description=f"iALS loss {loss:.6g}")
        self.user_factors_, self.item_factors_ = x, y

    def _validated_config(self) -> IALSConfig:
        cfg = self.config
        checks = [
            (cfg.factors >= 1, f"factors must be >= 1, got {cfg.factors}"),
            (cfg.regularization >= 0, f"regularization must be >= 0, got {cfg.regularization}"),
            (cfg.alpha >= 0, f"alpha must be >= 0, got {cfg.alpha}"),
            (cfg.epsilon > 0, f"epsilon must be > 0, got {cfg.epsilon}"),
            (cfg.reg_exponent >= 0, f"reg_exponent must be >= 0, got {cfg.reg_exponent}"),
            (cfg.iterations >= 1, f"iterations must be >= 1, got {cfg.iterations}"),
            (cfg.cg_steps >= 1, f"cg_steps must be >= 1, got {cfg.cg_steps}"),
            (cfg.init_std >= 0, f"init_std must be >= 0, got {cfg.init_std}"),
            (cfg.confidence in ("linear", "log"), f"unknown confidence {cfg.confidence!r}"),
            (cfg.reg_scaling in ("plain", "frequency"), f"unknown reg_scaling {cfg.reg_scaling!r}"),
            (cfg.solver in ("cg", "cholesky"), f"unknown solver {cfg.solver!r}"),
            (cfg.dtype in ("float32", "float64"), f"unknown dtype {cfg.dtype!r}"),
        ]
        for ok, message in checks:
            if not ok:
                raise SiftrecError(f"ials: {message}")
        return cfg

    def _confidences(self, matrix: sp.csr_matrix) -> sp.csr_matrix:
        """CSR of c_ui on observed pairs; r = 0 entries equal unobserved ones and are dropped."""
        cfg = self.config
        m = sp.csr_matrix(matrix, dtype=np.float64, copy=True)
        if m.nnz and m.data.min() < 0:
            raise SiftrecError(
                f"ials needs non-negative interaction weights; {int((m.data < 0).sum())} "
                "(user, item) pairs have a negative summed weight"
            )
        m.eliminate_zeros()
        if cfg.binary:
            m.data[:] = 1.0
        if cfg.confidence == "linear":
            m.data = 1.0 + cfg.alpha * m.data
        else:
            m.data = 1.0 + cfg.alpha * np.log1p(m.data / cfg.epsilon)
        m.sort_indices()
        return m

    def _row_reg(self, conf: sp.csr_matrix) -> np.ndarray:
        """λ per row of ``conf`` (rows are solved against its columns)."""
        cfg = self.config
        if cfg.reg_scaling == "plain":
            return np.full(conf.shape[0], cfg.regularization)
        extra = np.asarray(conf.sum(axis=1)).ravel() - np.diff(conf.indptr)  # Σ (c − 1)
        return cfg.regularization * (conf.shape[1] + extra) ** cfg.reg_exponent

    # ------------------------------------------------------------------ scoring
    def _score(self, users: np.ndarray) -> np.ndarray | torch.Tensor:
        x, y = self.user_factors_, self.item_factors_
        with torch.no_grad():
            return score_matrix(x[torch.as_tensor(users, device=x.device)], y)

    def _score_history(self, history: sp.csr_matrix) -> torch.Tensor:
        """Exact solve of each history row against the fixed item factors, then scores."""
        y = self.item_factors_
        conf = self._confidences(history)
        rows = _Rows.build(conf, self._row_reg(conf), y.device, y.dtype)
        with torch.no_grad():
            x = rows.exact(y, y.T @ y)
            return x @ y.T

    def _similar_items(self, items: np.ndarray) -> torch.Tensor:
        """Cosine similarity of the item factors."""
        return item_cosine(self.item_factors_, items)

    # ------------------------------------------------------------------ persistence
    def _get_state(self) -> dict[str, np.ndarray]:
        return {
            "user_factors": self.user_factors_.cpu().numpy(),
            "item_factors": self.item_factors_.cpu().numpy(),
        }

    def _set_state(self, state: Mapping[str, np.ndarray]) -> None:
        device = select_device(self.options.device)
        self.user_factors_ = torch.as_tensor(state["user_factors"]).to(device)
        self.item_factors_ = torch.as_tensor(state["item_factors"]).to(device)


def _csr_tensor(
    crow: torch.Tensor, col: torch.Tensor, values: torch.Tensor, shape: tuple[int, int]
) -> torch.Tensor:
    """A sparse CSR tensor from trusted pieces (no invariant checks, no beta warning)."""
    with warnings.catch_warnings():  # torch flags its sparse CSR support as beta
        warnings.simplefilter("ignore", UserWarning)
        return torch.sparse_csr_tensor(crow, col, values, shape, check_invariants=False)


def _sq_norms(v: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean norm of each row."""
    return torch.linalg.vector_norm(v, dim=1).square()


@dataclass
class _Rows:
    """One side of the factorisation: the rows solved in a half-sweep, as torch CSR pieces.

    Indices are int32 where they fit, and sparse products write into existing buffers
    (``addmm_``, ``sampled_addmm(out=...)``): torch's CPU kernels otherwise copy the indices to
    int32 and the inputs to the outputs on every call.
    """

    crow: torch.Tensor  # (n_rows + 1,) row offsets
    col: torch.Tensor  # (nnz,) column of each entry
    row: torch.Tensor  # (nnz,) row of each entry
    conf: torch.Tensor  # (nnz,) c_ui
    weight: torch.Tensor  # (nnz,) c_ui − 1
    reg: torch.Tensor  # (n_rows,) λ per row
    uniform_reg: float | None  # λ when it is the same for every row
    counts: torch.Tensor  # (n_rows,) entries per row
    sampled: torch.Tensor  # CSR tensor whose values receive ``sample``'s results

    @classmethod
    def build(
        cls, conf: sp.csr_matrix, reg: np.ndarray, device: torch.device, dtype: torch.dtype
    ) -> _Rows:
        index = np.int32 if conf.nnz < np.iinfo(np.int32).max else np.int64
        crow = torch.as_tensor(conf.indptr.astype(index), device=device)
        col = torch.as_tensor(conf.indices.astype(index), device=device)
        values = torch.as_tensor(conf.data, dtype=dtype, device=device)
        counts = np.diff(conf.indptr)
        return cls(
            crow=crow,
            col=col,
            row=torch.as_tensor(
                np.repeat(np.arange(conf.shape[0], dtype=index), counts), device=device
            ),
            conf=values,
            weight=values - 1.0,
            reg=torch.as_tensor(reg, dtype=dtype, device=device),
            uniform_reg=float(reg[0]) if len(reg) and np.all(reg == reg[0]) else None,
            counts=torch.as_tensor(counts, device=device),
            sampled=_csr_tensor(crow, col, torch.zeros_like(values), conf.shape),
        )

    @property
    def n_rows(self) -> int:
        return len(self.counts)

    def spmm_into(
        self, out: torch.Tensor, values: torch.Tensor, y: torch.Tensor, beta: float = 1.0
    ) -> torch.Tensor:
        """``out ← beta·out + V y`` in place, V the sparse matrix with entry ``values``."""
        if len(values):
            out.addmm_(_csr_tensor(self.crow, self.col, values, self.sampled.shape), y, beta=beta)
        elif beta != 1.0:
            out.mul_(beta)
        return out

    def sample(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """``x_rᵀ y_c`` at every entry (r, c), in entry order.

        Returns a view of this structure's buffer, overwritten by the next call.
        """
        if len(self.col):
            # In place: beta = 0 scales the previous (finite) results away.
            torch.sparse.sampled_addmm(self.sampled, x, y.T, beta=0.0, out=self.sampled)
        return self.sampled.values()

    def cg(
        self, x: torch.Tensor, y: torch.Tensor, gram: torch.Tensor, s: torch.Tensor, steps: int
    ) -> None:
        """Warm-started CG on every row at once; updates ``x`` and ``s`` in place.

        ``s`` holds ``x_rᵀ y_c`` at the entries and is kept current.
        ``A p = (YᵀY + λI) p + Σ_c (c − 1)(y_cᵀp) y_c``: one sampled product gives the
        ``y_cᵀp`` and one sparse × dense product the sum. The last step needs only ``pᵀAp``.
        """
        dense = self._dense_operator(gram)
        # r = b − A x with b = Σ c y; the observed part of A x comes from s.
        r = self.spmm_into(dense(x), torch.addcmul(self.conf, self.weight, s, value=-1.0), y, -1.0)
        p, rs = r, _sq_norms(r)
        for step in range(steps):
            sp_ = self.sample(p, y)
            weighted = self.weight * sp_
            if step == steps - 1:
                p_ap = torch.linalg.vecdot(p, dense(p)) + self.row_sums(weighted * sp_)
            else:
                ap = self.spmm_into(dense(p), weighted, y)
                p_ap = torch.linalg.vecdot(p, ap)
            # Rows whose residual vanished stop (0/0 there is discarded by the where).
            active = rs > _CG_TOLERANCE
            step_size = torch.where(active, rs / p_ap, 0.0)
            x.addcmul_(step_size[:, None], p)
            s.addcmul_(step_size[self.row], sp_)
            if step == steps - 1:
                break
            r = torch.addcmul(r, step_size[:, None], ap, value=-1.0)
            rs_new = _sq_norms(r)
            p = torch.addcmul(r, torch.where(active, rs_new / rs, 0.0)[:, None], p)
            rs = rs_new

    def _dense_operator(self, gram: torch.Tensor):
        """``v ↦ (YᵀY + diag(λ)) v`` row-wise; a uniform λ is folded into the Gram matrix."""
        if self.uniform_reg is not None:
            eye = torch.eye(len(gram), dtype=gram.dtype, device=gram.device)
            folded = gram + self.uniform_reg * eye
            return lambda v: v @ folded
        reg = self.reg[:, None]
        return lambda v: (v @ gram).addcmul_(reg, v)

    def row_sums(self, values: torch.Tensor) -> torch.Tensor:
        """Sum of entry ``values`` per row."""
        return torch.segment_reduce(values, "sum", offsets=self.crow)

    def exact(self, y: torch.Tensor, gram: torch.Tensor) -> torch.Tensor:
        """Exact ``x_r = A_r⁻¹ b_r`` for every row (rows with no entries get zero vectors).

        ``A_r = YᵀY + λ_r I + Σ_c (c_rc − 1) y_c y_cᵀ`` is built per block of rows of similar
        degree as a batched product of padded item-factor blocks, then Cholesky-solved.
        """
        d = y.shape[1]
        x = y.new_zeros(self.n_rows, d)
        b = self.spmm_into(torch.zeros_like(x), self.conf, y)
        counts = self.counts.cpu().numpy()
        order = np.argsort(counts, kind="stable")
        order = order[counts[order] > 0]
        sorted_counts = counts[order]
        eye = torch.eye(d, dtype=y.dtype, device=y.device)
        start, max_rows = 0, max(1, _EXACT_ENTRIES // (d * d))
        while start < len(order):
            # Largest block whose padded size (rows × longest row) fits the slot budget.
            ahead = sorted_counts[start : start + max_rows]
            fits = np.arange(1, len(ahead) + 1) * ahead
            stop = start + max(1, int(np.searchsorted(fits, _EXACT_SLOTS, "right")))
            block = torch.as_tensor(order[start:stop], device=y.device)
            a = self._block_gram(block, int(sorted_counts[stop - 1]), y)
            a += gram + self.reg[block, None, None] * eye
            chol, info = torch.linalg.cholesky_ex(a)
            if bool((info > 0).any()):
                raise SiftrecError(
                    "ials: the normal equations are not positive definite; use regularization > 0"
                )
            x[block] = torch.cholesky_solve(b[block].unsqueeze(2), chol).squeeze(2)
            start = stop
        return x

    def _block_gram(self, block: torch.Tensor, width: int, y: torch.Tensor) -> torch.Tensor:
        """``Σ_c (c_rc − 1) y_c y_cᵀ`` for the rows ``block`` (each with ≤ ``width`` entries)."""
        counts = self.counts[block]
        local = torch.repeat_interleave(torch.arange(len(block), device=y.device), counts)
        slot = torch.arange(len(local), device=y.device) - (torch.cumsum(counts, 0) - counts)[local]
        entry = self.crow[block][local] + slot
        padded = y.new_zeros(len(block), width, y.shape[1])
        padded[local, slot] = y[self.col[entry]]
        weights = y.new_zeros(len(block), width, 1)
        weights[local, slot, 0] = self.weight[entry]
        return (padded * weights).transpose(1, 2) @ padded

    def loss(
        self, x: torch.Tensor, s: torch.Tensor, gram_x: torch.Tensor, gram_y: torch.Tensor
    ) -> float:
        """Weighted squared error over all pairs plus this side's regulariser.

        ``Σ_all c (p − s)² = Σ_obs [c (1 − s)² − s²] + Σ_all s²`` with ``Σ_all s² =
        tr((XᵀX)(YᵀY))``, and ``c (1 − s)² − s² = (c − 1)(1 − s)² + 1 − 2s``.
        """
        miss = 1.0 - s
        observed = torch.dot(self.weight * miss, miss) + len(s) - 2.0 * s.sum()
        everything = (gram_x.double() * gram_y.double()).sum()
        return float(observed) + float(everything) + self.reg_loss(x)

    def reg_loss(self, x: torch.Tensor) -> float:
        """``Σ_r λ_r ‖x_r‖²``."""
        return float(self.reg.double() @ _sq_norms(x).double())
