"""MF's ``backend="numba"``: the trainer's epochs run by the compiled per-sample SGD kernel.

:func:`numba_epoch` checks that a configuration has a per-sample form (objective BPR, BCE or
R-CE; the uniform sampler; plain SGD) and returns the trainer's ``epoch_fn``: each call draws the
epoch's order (with ``epoch_mode="interactions"``, every interaction once, user by user: the
users in a fresh random order, each user's interactions from a random offset, see
:func:`~siftrec.train.sgd_kernels.user_grouped_order`; with ``epoch_mode="users"`` the
sampler's LightGCN-style user draws) and a seed from the sampler's generator, and runs
:func:`siftrec.train.sgd_kernels.sgd_epoch` on the scorer's tables in place. The trainer keeps
evaluation, early stopping, the restore of the best epoch and the history.
"""

from __future__ import annotations

import numba
import numpy as np
import torch

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.objectives.bce import BCE
from siftrec.objectives.bpr import BPR
from siftrec.objectives.reweighted import ReweightedBCE
from siftrec.samplers.uniform import UniformSampler
from siftrec.train import TrainConfig
from siftrec.train.engine import BatchSampler, Objective, Scorer
from siftrec.train.sgd_kernels import (
    OBJECTIVE_BCE,
    OBJECTIVE_BPR,
    OBJECTIVE_RCE,
    sgd_epoch,
    user_grouped_order,
)
from siftrec.train.trainer import EpochFn

#: Blocks per dynamically scheduled chunk of the kernel's parallel loop: a thread that the OS
#: deschedules on a busy machine holds back only its current chunk, not a static half.
CHUNK_BLOCKS = 4

#: Objectives with a per-sample form, by class (exact type: a subclass may change the loss).
KERNEL_OBJECTIVES = {BPR: OBJECTIVE_BPR, BCE: OBJECTIVE_BCE, ReweightedBCE: OBJECTIVE_RCE}


def check_numba_config(config: TrainConfig) -> None:
    """Refuse, when the model is built, the training fields the kernel has no form for."""
    if config.optimizer != "sgd":
        raise SiftrecError(
            f"backend='numba' trains with per-sample SGD; optimizer={config.optimizer!r} needs "
            "backend='torch'"
        )
    if config.weight_decay:
        raise SiftrecError("backend='numba' has no weight_decay; use l2 (or backend='torch')")
    if getattr(config, "align", "none") != "none":
        raise SiftrecError("backend='numba' has no text alignment term; use backend='torch'")


def numba_epoch(
    config: TrainConfig,
    objective: Objective,
    sampler: BatchSampler | None,
    scorer: Scorer,
    train: Interactions,
) -> EpochFn:
    """The ``epoch_fn`` training ``scorer`` (an ``MFScorer`` on the CPU) with ``config``."""
    check_numba_config(config)
    code = KERNEL_OBJECTIVES.get(type(objective))
    if code is None:
        raise SiftrecError(
            f"backend='numba' trains the objectives bpr, bce and rce (per-sample forms), not "
            f"{config.objective!r}; use backend='torch'"
        )
    if type(sampler) is not UniformSampler:
        raise SiftrecError(
            f"backend='numba' draws uniform negatives, not sampler={config.sampler!r}; "
            "use backend='torch'"
        )
    csr = train.binary
    if not csr.has_sorted_indices:
        csr = csr.sorted_indices()
    index_type = np.int32 if max(train.n_users, train.n_items) < 2**31 else np.int64
    users = train.users.astype(index_type)
    items = train.items.astype(index_type)
    weights = (  # all 1 (as a log without weights): the kernel's unweighted path, same result
        np.ascontiguousarray(train.weights, dtype=np.float32)
        if config.use_weights and train.uniform_weight != 1.0
        else np.zeros(0, dtype=np.float32)
    )
    beta = float(getattr(objective, "beta", 0.0))
    weight_negatives = bool(getattr(objective, "weight_negatives", False))

    # interaction ids grouped by user (a CSR over ids), for the user-by-user epochs
    row_ids = np.argsort(users, kind="stable").astype(index_type)
    row_ptr = np.concatenate(([0], np.cumsum(np.bincount(users, minlength=train.n_users))))
    grouped = getattr(sampler, "epoch_mode", "interactions") == "interactions"

    def run(epoch: int) -> float:  # the order and seed come from the sampler's generator
        if grouped:
            user_order = sampler.rng.permutation(train.n_users)
            offsets = sampler.rng.integers(0, 2**31, size=train.n_users)
            order = user_grouped_order(user_order, row_ptr, row_ids, offsets)
        else:
            order = sampler.epoch_ids()
        seed = int(sampler.rng.integers(2**63))
        with torch.no_grad():
            tables = [scorer.user_emb.weight, scorer.item_emb.weight]
            if scorer.bias is not None:
                tables.append(scorer.bias.weight)
            if any(t.device.type != "cpu" or not t.is_contiguous() for t in tables):
                raise SiftrecError("backend='numba' needs contiguous CPU tables")
            arrays = [t.detach().numpy() for t in tables]
            bias = arrays[2].reshape(-1) if len(arrays) > 2 else np.zeros(0, dtype=np.float32)
            previous = numba.set_parallel_chunksize(CHUNK_BLOCKS)
            try:
                return sgd_epoch(
                    arrays[0],
                    arrays[1],
                    bias,
                    order,
                    users,
                    items,
                    weights,
                    csr.indptr,
                    csr.indices,
                    config.n_negatives,
                    config.exclude_positives,
                    code,
                    beta,
                    weight_negatives,
                    config.lr,
                    config.l2,
                    seed,
                )
            finally:
                numba.set_parallel_chunksize(previous)

    return run
