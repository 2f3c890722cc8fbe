"""Row-sparse optimizers for the fused training path.

A scorer with an analytic gradient returns ``RowGrad``s: for each parameter, the rows a batch
touched and their gradient rows (duplicates allowed). These optimizers update only those rows and
compute exactly what ``torch.optim.SGD`` / ``Adagrad`` / ``SparseAdam`` compute from the
equivalent sparse ``nn.Embedding`` gradients, without autograd or dense gradient tables — the
dense backward through whole embedding tables is what makes a plain PyTorch BPR loop much slower
than a hand-written one (``docs/benchmarks.md``).
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod

import torch

from siftrec.errors import SiftrecError
from siftrec.train.engine import RowGrad


class RowSparseOptimizer(ABC):
    """Applies one update per parameter per step from ``RowGrad``s."""

    def __init__(self, lr: float) -> None:
        self.lr = lr

    def grad_scale(self, batch_size: int) -> float:
        """Factor the trainer applies to ``dscores`` and ``l2`` before ``sparse_backward``.

        The backward pass is linear in both, so SGD folds its step (−lr·B) in and receives
        the update itself, saving a pass over every gradient row; others use 1.
        """
        return 1.0

    def step(self, grads: list[RowGrad]) -> None:
        seen: set[int] = set()
        for g in grads:
            if id(g.param) in seen:
                raise SiftrecError("a scorer returned two RowGrads for one parameter in a step")
            seen.add(id(g.param))
            with torch.no_grad():
                self._update(g)

    @abstractmethod
    def _update(self, g: RowGrad) -> None:
        """Update ``g.param`` in place."""


def coalesce(g: RowGrad) -> tuple[torch.Tensor, torch.Tensor]:
    """Unique rows (sorted) and their summed gradient rows.

    A bincount over the table's rows (linear time) beats ``torch.unique`` (a sort) when the
    table is not much larger than the batch; huge tables fall back to the sort.
    """
    n_rows = g.param.shape[0]
    if n_rows <= 8 * len(g.rows):
        counts = torch.bincount(g.rows, minlength=n_rows)
        present = counts > 0
        rows = present.nonzero().squeeze(1)
        inverse = (present.cumsum(0) - 1).index_select(0, g.rows)
    else:
        rows, inverse = torch.unique(g.rows, return_inverse=True)
    summed = g.grad.new_zeros((len(rows), *g.grad.shape[1:])).index_add_(0, inverse, g.grad)
    return rows, summed


class RowSGD(RowSparseOptimizer):
    """Per-sample SGD: ``param[rows] -= lr · B · grad`` of the batch-mean loss.

    ``grad_scale`` makes the scorer return that update directly; duplicates accumulate
    (no coalescing needed). ``index_add_`` is called without ``alpha`` (its CPU kernel is
    slower with one).
    """

    def grad_scale(self, batch_size: int) -> float:
        return -self.lr * batch_size

    def _update(self, g: RowGrad) -> None:
        g.param.index_add_(0, g.rows, g.grad)


class RowAdagrad(RowSparseOptimizer):
    """Adagrad on touched rows, as ``torch.optim.Adagrad`` does for sparse gradients."""

    def __init__(self, lr: float, eps: float = 1e-10) -> None:
        super().__init__(lr)
        self.eps = eps
        self.state: dict[int, torch.Tensor] = {}

    def _update(self, g: RowGrad) -> None:
        rows, grad = coalesce(g)
        sums = self.state.setdefault(id(g.param), torch.zeros_like(g.param))
        acc = sums.index_select(0, rows).addcmul_(grad, grad)
        sums.index_copy_(0, rows, acc)
        g.param.index_add_(0, rows, grad.div_(acc.sqrt_().add_(self.eps)).mul_(-self.lr))


class RowAdam(RowSparseOptimizer):
    """Lazy Adam: moments and parameters of touched rows only (``torch.optim.SparseAdam``)."""

    def __init__(
        self, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8
    ) -> None:
        super().__init__(lr)
        self.betas, self.eps = betas, eps
        self.state: dict[int, tuple[torch.Tensor, torch.Tensor, list[int]]] = {}

    def _update(self, g: RowGrad) -> None:
        beta1, beta2 = self.betas
        rows, grad = coalesce(g)
        if id(g.param) not in self.state:
            self.state[id(g.param)] = (torch.zeros_like(g.param), torch.zeros_like(g.param), [0])
        exp_avg, exp_avg_sq, step = self.state[id(g.param)]
        step[0] += 1
        m = exp_avg.index_select(0, rows).lerp_(grad, 1 - beta1)
        v = exp_avg_sq.index_select(0, rows).mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
        exp_avg.index_copy_(0, rows, m)
        exp_avg_sq.index_copy_(0, rows, v)
        step_size = self.lr * math.sqrt(1 - beta2 ** step[0]) / (1 - beta1 ** step[0])
        g.param.index_add_(0, rows, m.div_(v.sqrt_().add_(self.eps)).mul_(-step_size))


def row_optimizer(name: str, lr: float) -> RowSparseOptimizer:
    """The row-sparse optimizer called ``name`` (``sgd``, ``adagrad`` or ``sparse_adam``)."""
    makers = {"sgd": RowSGD, "adagrad": RowAdagrad, "sparse_adam": RowAdam}
    if name not in makers:
        raise SiftrecError(f"optimizer {name!r} has no row-sparse form; use {sorted(makers)}")
    return makers[name](lr)
