"""The shared torch training engine: the contract types, config, loop, row-sparse optimizers,
history plots. Nothing here imports a model, an objective or a sampler module."""

from siftrec.train.config import SPARSE_OPTIMIZERS, Optimizer, TrainConfig
from siftrec.train.engine import (
    Batch,
    BatchSampler,
    Factors,
    Gradients,
    ListwiseObjective,
    Objective,
    RowGrad,
    SampledObjective,
    Scorer,
)
from siftrec.train.history import plot_history, validation_metrics
from siftrec.train.sparse import RowAdagrad, RowAdam, RowSGD, RowSparseOptimizer
from siftrec.train.trainer import Evaluate, Trainer, TrainResult

__all__ = [
    "SPARSE_OPTIMIZERS",
    "Batch",
    "BatchSampler",
    "Evaluate",
    "Factors",
    "Gradients",
    "ListwiseObjective",
    "Objective",
    "Optimizer",
    "RowAdagrad",
    "RowAdam",
    "RowGrad",
    "RowSGD",
    "RowSparseOptimizer",
    "SampledObjective",
    "Scorer",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "plot_history",
    "validation_metrics",
]
