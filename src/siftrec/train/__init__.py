"""The shared torch training engine: config, loop, row-sparse optimizers, history plots."""

from siftrec.train.config import SPARSE_OPTIMIZERS, Optimizer, TrainConfig
from siftrec.train.history import plot_history, validation_metrics
from siftrec.train.sparse import RowAdagrad, RowAdam, RowGrad, RowSGD, RowSparseOptimizer
from siftrec.train.trainer import Evaluator, Trainer, TrainResult

__all__ = [
    "SPARSE_OPTIMIZERS",
    "Evaluator",
    "Optimizer",
    "RowAdagrad",
    "RowAdam",
    "RowGrad",
    "RowSGD",
    "RowSparseOptimizer",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "plot_history",
    "validation_metrics",
]
