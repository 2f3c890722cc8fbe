"""The one training loop of every torch model: mini-batches, evaluation, early stopping.

``Trainer(scorer, objective, sampler, config, changed=..., evaluate=...).fit(train)`` runs seeded
epochs of the objective over the sampler's batches (or the users' rows, listwise), evaluates
every ``eval_every`` epochs through ``evaluate``, stops after ``patience`` epochs without
improvement and restores the best parameters. It knows the engine contract
(``siftrec.train.engine``) only: the model builds the scorer, objective and sampler and hands
them in with two callables (LensKit's "the model builds its trainer"). Two step implementations
compute the same update: autograd (any scorer, any optimizer) and the fused row-sparse path
(scorers with analytic gradients; ``sgd``/``adagrad``/``sparse_adam``). Under a
``torch.distributed`` process group each rank trains its users' part of every batch on the
autograd path and the gradients are summed over the ranks (``siftrec.train.distributed``).
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from siftrec.data.interactions import Interactions
from siftrec.errors import SiftrecError
from siftrec.evaluate.metrics import metric_names
from siftrec.progress import show_progress
from siftrec.train.config import SPARSE_OPTIMIZERS, TrainConfig
from siftrec.train.distributed import Replica, active
from siftrec.train.engine import (
    OBJECTIVE_MODULE,
    SAMPLED_KINDS,
    AuxiliaryLoss,
    Batch,
    BatchSampler,
    Factors,
    FactorsFn,
    ListwiseObjective,
    Objective,
    RowGrad,
    SampledObjective,
    ScoreFn,
    Scorer,
)
from siftrec.train.progress import TrainProgress
from siftrec.train.sparse import RowSparseOptimizer, row_optimizer

__all__ = ["OBJECTIVE_MODULE", "EpochFn", "Evaluate", "TrainResult", "Trainer"]

log = logging.getLogger(__name__)

#: ``evaluate() -> {metric: value}`` on validation with the current parameters; higher is better
#: for the selection metric.
Evaluate = Callable[[], Mapping[str, float]]
#: ``epoch_fn(epoch) -> mean loss``: one whole epoch that updates the scorer's parameters in place
#: instead of the trainer's mini-batch steps (a compiled kernel, e.g. MF's ``backend="numba"``).
EpochFn = Callable[[int], float]


@dataclass
class TrainResult:
    """Per-epoch ``history``, the restored ``best_epoch`` (1-based) and its ``best_score``."""

    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_score: float | None = None
    stopped_early: bool = False


class Trainer:
    """Trains ``scorer`` with ``objective`` on ``sampler``'s batches according to ``config``.

    Args:
        scorer: the module to train, on its device (its parameters are updated in place).
        objective: what to minimise; its kind must be one the scorer supports.
        sampler: the batches of a sampled objective (None for a listwise one).
        config: the training hyperparameters (epochs, batch size, optimizer, ...).
        changed: called whenever the parameters changed (before each epoch, after the
            restore), so the owner drops whatever it derived from them.
        evaluate: the validation metrics with the current parameters (None: no validation).
        progress: show per-epoch bars on stderr (None: when stderr is a terminal).
        auxiliary: an extra loss term added on every sampled step (e.g. the RLMRec text
            alignment), trained by its own Adam; None: the objective alone.
        epoch_fn: runs each epoch in place of the mini-batch steps (after the sampler's setup,
            so it may use the sampler's seeded generator); evaluation, early stopping and the
            restore stay the trainer's.
    """

    def __init__(
        self,
        scorer: Scorer,
        objective: Objective,
        sampler: BatchSampler | None,
        config: TrainConfig,
        *,
        changed: Callable[[], None] | None = None,
        evaluate: Evaluate | None = None,
        progress: bool | None = None,
        auxiliary: AuxiliaryLoss | None = None,
        epoch_fn: EpochFn | None = None,
    ) -> None:
        if auxiliary is not None and objective.kind not in SAMPLED_KINDS:
            raise SiftrecError(f"the listwise objective {objective.name!r} takes no extra term")
        if objective.kind not in scorer.supported_kinds:
            kinds = ", ".join(sorted(scorer.supported_kinds))
            raise SiftrecError(
                f"objective {objective.name!r} is {objective.kind}; {type(scorer).__name__} "
                f"supports: {kinds}"
            )
        if (objective.kind in SAMPLED_KINDS) != (sampler is not None):
            need = "needs a sampler" if sampler is None else "takes no sampler"
            raise SiftrecError(f"the {objective.kind} objective {objective.name!r} {need}")
        self.scorer, self.objective, self.sampler, self.config = scorer, objective, sampler, config
        self.changed = changed or (lambda: None)
        self.evaluate = evaluate
        self.progress = progress
        self.auxiliary = auxiliary
        self.epoch_fn = epoch_fn
        self.replica: Replica | None = None  # this rank's part of a data-parallel fit

    # ------------------------------------------------------------------ public
    def fit(self, train: Interactions) -> TrainResult:
        """Train the scorer in place on ``train``; returns the history and the best epoch."""
        cfg, scorer, objective = self.config, self.scorer, self.objective
        self.device = next(iter(scorer.parameters())).device
        module = dict(scorer.named_children()).get(OBJECTIVE_MODULE)
        if module is not None:
            objective.bind(module)
        objective.setup(train)
        self.rng = np.random.default_rng(cfg.seed)
        self.step = 0
        self.weights = self._column(train.weights) if cfg.use_weights else None
        propensity = (
            train.column("propensity")
            if train.has_column("propensity")
            else objective.interaction_propensities(train)
        )
        self.propensities = None if propensity is None else self._column(propensity)
        self.levels = (  # ordinal feedback levels of the positives (batch.levels)
            torch.as_tensor(train.column("level").astype(np.int64), device=self.device)
            if train.has_column("level")
            else None
        )
        if self.sampler is not None:
            self.sampler.setup(train, self.rng)
        self.replica = self._replica(train)
        self.fused = self._fused_optimizer(scorer, objective, module is not None)
        if self.fused is not None and self.replica is not None:
            if self.replica.rank == 0:
                log.info("distributed training takes the autograd path (fused: one process only)")
            self.fused = None
        self.optimizer = None if self.fused else self._torch_optimizer(scorer)
        aux_params = [] if self.auxiliary is None else list(self.auxiliary.parameters())
        # a term may have no parameters of its own (augmented pairs)
        self.aux_optimizer = torch.optim.Adam(aux_params, self.auxiliary.lr) if aux_params else None

        result = TrainResult()
        best_state: dict[str, torch.Tensor] | None = None
        peak: float | None = None  # the highest validation score so far
        n_batches = math.ceil(
            (len(train) if self.sampler else np.count_nonzero(train.user_counts())) / cfg.batch_size
        )
        bars = show_progress(self.progress) and (self.replica is None or self.replica.rank == 0)
        with TrainProgress(bars, cfg.epochs, n_batches, cfg.metric) as progress:
            for epoch in range(cfg.epochs):
                start = time.perf_counter()
                record: dict[str, Any] = {"epoch": epoch + 1}
                record["loss"] = self._run_epoch(train, epoch, progress, record)
                record["seconds"] = time.perf_counter() - start
                last = epoch + 1 == cfg.epochs
                # evaluate every eval_every epochs and after the last one
                due = cfg.eval_every and ((epoch + 1) % cfg.eval_every == 0 or last)
                if self.evaluate is not None and due:
                    score = self._evaluate(record)
                    if _on_best_plateau(score, peak, cfg.tolerance):
                        result.best_score, result.best_epoch = score, epoch + 1
                        if cfg.restore_best:
                            best_state = {
                                k: v.detach().clone() for k, v in scorer.state_dict().items()
                            }
                    peak = score if peak is None else max(peak, score)
                result.history.append(record)
                progress.epoch_done(record, record.get(_metric_key(cfg.metric)))
                stale = result.best_epoch is not None and epoch + 1 - result.best_epoch
                if cfg.patience is not None and stale and stale >= cfg.patience and not last:
                    result.stopped_early = True
                    break
        if best_state is not None and result.best_epoch != result.history[-1]["epoch"]:
            scorer.load_state_dict(best_state)
        self.changed()
        scorer.eval()
        return result

    def _run_epoch(
        self, train: Interactions, epoch: int, progress: TrainProgress, record: dict[str, Any]
    ) -> float:
        """Train one epoch; returns the mean batch loss. Sampled objectives add to ``record``
        the seconds spent in the sampler (``sample_seconds``, part of the epoch's seconds)."""
        scorer, objective = self.scorer, self.objective
        scorer.train()
        self.changed()
        if self.replica is not None:
            self.replica.begin_epoch(epoch)
        if self.epoch_fn is not None:
            steps = iter([torch.tensor(self.epoch_fn(epoch), dtype=torch.float64)])
        elif isinstance(objective, SampledObjective):
            if self.sampler.wants_scores:
                self.sampler.score_fn, self.sampler.factors_fn = self._score_fns(scorer)
            batches = _timed(self.sampler.epoch(epoch, self.config.batch_size), record)
            steps = (self._sampled_step(scorer, objective, batch, epoch) for batch in batches)
        else:
            steps = (
                self._listwise_step(scorer, objective, users, rows, epoch)
                for users, rows in self._user_batches(train, self.config.batch_size)
            )
        losses = []
        for loss in steps:
            losses.append(loss.detach())
            self.step += 1
            progress.batch_done()
        stacked = torch.stack(losses).double()
        if self.replica is not None:  # the ranks' share-weighted losses add up to the batch's
            stacked = self.replica.sum(stacked)
        mean_loss = stacked.mean().item()
        if not math.isfinite(mean_loss):
            raise SiftrecError(
                f"training diverged: the loss is {mean_loss} at epoch {epoch + 1}; "
                "lower lr or raise l2"
            )
        return mean_loss

    # ------------------------------------------------------------------ steps
    def _sampled_step(
        self, scorer: Scorer, objective: SampledObjective, drawn: Batch, epoch: int
    ) -> torch.Tensor:
        if self.replica is not None:  # this rank's users' part of the global batch
            drawn = self.replica.local_batch(drawn)
            if not len(drawn):  # none of them: join the gradient reduction all the same
                if self.aux_optimizer is not None:
                    self.aux_optimizer.zero_grad(set_to_none=True)
                self._update(None, 0)
                return torch.zeros((), device=self.device)
        dev = self.device
        users = drawn.users.to(dev, non_blocking=True)
        items = drawn.items.to(dev, non_blocking=True)
        weights = propensities = levels = None
        if self.weights is not None or self.propensities is not None or self.levels is not None:
            ids = drawn.ids.to(dev, non_blocking=True)
            if self.weights is not None:
                weights = self.weights[ids]
            if self.propensities is not None:
                propensities = self.propensities[ids]
            if self.levels is not None:
                levels = self.levels[ids]
        batch = Batch(
            drawn.ids,
            users,
            items,
            weights=weights,
            propensities=propensities,
            levels=levels,
            step=self.step,
            epoch=epoch,
        )
        fused = self.fused
        if fused is not None:
            scores, cache = scorer.sparse_forward(users, items)
            scale = fused.grad_scale(len(batch))
            grads, own = objective.fused_gradients(replace(batch, scores=scores), scale)
            dscores = torch.cat([grads.pos.unsqueeze(1), grads.neg], dim=1).mul_(scale)
            rows = scorer.sparse_backward(cache, dscores, self.config.l2 * scale) + own
            if self.auxiliary is not None:
                rows = self._auxiliary_rows(scorer, batch, rows, scale)
            fused.step(rows)
            return grads.loss
        scorer.prepare()
        scores = scorer.score_candidates(users, items)
        loss = objective(replace(batch, scores=scores))
        total = loss
        if self.config.l2:
            total = loss + self.config.l2 * scorer.regularization(users, items[:, 0], items[:, 1:])
        if self.auxiliary is not None:
            total = total + self.auxiliary(scorer, batch)
        if self.aux_optimizer is not None:
            self.aux_optimizer.zero_grad(set_to_none=True)
        self._update(total, len(batch))
        return loss if self.replica is None else loss * self.replica.share

    def _auxiliary_rows(
        self, scorer: Scorer, batch: Batch, rows: list[RowGrad], scale: float
    ) -> list[RowGrad]:
        """The fused step's ``rows`` plus the auxiliary term's gradient rows, times ``scale``
        as the objective's are; the term's own parameters take their Adam step here.

        Only the term goes through autograd: its backward reaches the rows it reads (sparse
        gradients of embedding tables; a dense gradient contributes its non-zero rows).
        """
        params = [p for p in scorer.parameters() if p.requires_grad]
        for param in params:
            param.grad = None
        if self.aux_optimizer is not None:
            self.aux_optimizer.zero_grad(set_to_none=True)
        self.auxiliary(scorer, batch).backward()
        if self.aux_optimizer is not None:
            self.aux_optimizer.step()
        merged = {id(g.param): g for g in rows}
        for param in params:
            grad, param.grad = param.grad, None
            if grad is None:
                continue
            if grad.is_sparse:
                grad = grad.coalesce()
                index, values = grad.indices()[0], grad.values()
            else:
                index = torch.nonzero(grad.reshape(len(grad), -1).any(dim=1)).squeeze(1)
                values = grad.index_select(0, index)
            values = values.mul_(scale) if scale != 1.0 else values
            own = merged.get(id(param))
            if own is None:
                merged[id(param)] = RowGrad(param, index, values)
            else:
                index = torch.cat([own.rows.to(index.dtype), index])
                merged[id(param)] = RowGrad(param, index, torch.cat([own.grad, values]))
        return list(merged.values())

    def _update(self, total: torch.Tensor | None, size: int | None) -> None:
        """Back-propagate ``total`` (None: nothing on this rank) and step the optimizers.

        ``size``: the batch's positives, for ``sgd``'s per-sample rate (None: ``lr`` as given).
        In a data-parallel fit the loss is weighted by this rank's share of the global batch
        and the gradients are summed over the ranks before the step.
        """
        optimizer, replica = self.optimizer, self.replica
        if size is not None and self.config.optimizer == "sgd":  # step the mean with lr·B
            batch = size if replica is None else replica.global_size
            optimizer.param_groups[0]["lr"] = self.config.lr * batch
        optimizer.zero_grad(set_to_none=True)
        if total is not None:
            (total if replica is None else total * replica.share).backward()
        if replica is not None:
            replica.reduce_gradients()
        optimizer.step()
        if self.aux_optimizer is not None:
            self.aux_optimizer.step()

    def _listwise_step(
        self,
        scorer: Scorer,
        objective: ListwiseObjective,
        users: torch.Tensor,
        rows: torch.Tensor,
        epoch: int,
    ) -> torch.Tensor:
        if self.replica is not None and not len(users):  # no user of this rank in the batch
            self._update(None, None)
            return torch.zeros((), device=self.device)
        scorer.prepare()
        logits, penalty = scorer.forward_rows(users, rows, self.step)
        batch = Batch(None, users, scores=logits, targets=rows, step=self.step, epoch=epoch)
        loss = objective(batch)
        self._update(loss + penalty, None)
        return loss if self.replica is None else loss * self.replica.share

    def _user_batches(
        self, train: Interactions, batch_size: int
    ) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """Shuffled users with a training item and their (dense) training rows."""
        matrix = train.matrix if self.config.use_weights else train.binary
        users = np.flatnonzero(np.diff(matrix.indptr))
        users = users[self.rng.permutation(len(users))]
        for start in range(0, len(users), batch_size):
            chunk = users[start : start + batch_size]
            if self.replica is not None:  # this rank's users of the global batch
                chunk = self.replica.local_users(chunk)
            rows = torch.from_numpy(matrix[chunk].toarray()).to(self.device)
            yield torch.from_numpy(chunk).to(self.device), rows

    # ------------------------------------------------------------------ helpers
    def _replica(self, train: Interactions) -> Replica | None:
        """This rank's part of a data-parallel fit (``siftrec.train.distributed``) when a
        process group of several ranks is active, else None."""
        if not active():
            return None
        if self.epoch_fn is not None:
            raise SiftrecError(
                "a compiled epoch (MF backend='numba') runs in one process; use "
                "backend='torch' for distributed training"
            )
        counts = train.user_counts()  # listwise batches hold users, sampled ones interactions
        weights = counts if self.sampler is not None else (counts > 0).astype(np.float64)
        modules = [self.scorer] if self.auxiliary is None else [self.scorer, self.auxiliary]
        return Replica.join(modules, weights, self.config.seed)

    def _column(self, values: np.ndarray) -> torch.Tensor:
        values = np.asarray(values, dtype=np.float32)
        if len(values) and values.strides == (0,):  # uniform (Interactions.weights): no memory
            return torch.full((1,), float(values[0]), device=self.device).expand(len(values))
        return torch.as_tensor(values, device=self.device)

    def _fused_optimizer(
        self, scorer: Scorer, objective: Objective, owns_module: bool
    ) -> RowSparseOptimizer | None:
        cfg = self.config
        usable = (
            cfg.fused
            and scorer.supports_fused
            and objective.kind in SAMPLED_KINDS
            and cfg.optimizer in SPARSE_OPTIMIZERS
            and not cfg.weight_decay
            # an objective's own parameters need its analytic gradient (fused_gradients)
            and (
                not owns_module
                or type(objective).fused_gradients is not SampledObjective.fused_gradients
            )
        )
        return row_optimizer(cfg.optimizer, cfg.lr) if usable else None

    def _torch_optimizer(self, scorer: Scorer) -> torch.optim.Optimizer:
        cfg = self.config
        params = [p for p in scorer.parameters() if p.requires_grad]
        if cfg.optimizer == "adam":
            return torch.optim.Adam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        if cfg.optimizer == "sparse_adam":
            return torch.optim.SparseAdam(params, lr=cfg.lr)
        if cfg.optimizer == "adagrad":
            return torch.optim.Adagrad(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
        return torch.optim.SGD(params, lr=cfg.lr, weight_decay=cfg.weight_decay)

    def _evaluate(self, record: dict[str, Any]) -> float:
        start = time.perf_counter()
        values = {_metric_key(k): float(v) for k, v in self.evaluate().items()}
        record.update(values)
        record["eval_seconds"] = time.perf_counter() - start
        key = _metric_key(self.config.metric)
        if key not in values:
            raise SiftrecError(
                f"the evaluator returned {sorted(values)}, not the selection metric {key!r}"
            )
        return values[key]

    def _score_fns(self, scorer: Scorer) -> tuple[ScoreFn, FactorsFn]:
        """No-grad ``score_fn`` (candidates) and ``factors_fn`` (factor tables) of ``scorer``."""
        dev = self.device
        prepared: list[tuple] = []  # parameter versions at the last prepare()

        def ready() -> None:
            # prepare() only when the parameters changed: chunked scoring between two steps
            # (PLD's per-epoch pass) propagates a graph once, not once per chunk
            key = (scorer.training, *(p._version for p in scorer.parameters()))
            if prepared != [key]:
                scorer.prepare()
                prepared[:] = [key]

        def score(users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
            with torch.no_grad():
                ready()
                return scorer.score_candidates(users.to(dev), items.to(dev))

        def factors() -> Factors | None:
            with torch.no_grad():
                ready()
                return scorer.factors()

        return score, factors


def _timed(batches: Iterator[Batch], record: dict[str, Any]) -> Iterator[Batch]:
    """``batches``, adding the seconds spent producing them to ``record["sample_seconds"]``."""
    record["sample_seconds"] = 0.0
    while True:
        start = time.perf_counter()
        batch = next(batches, None)
        record["sample_seconds"] += time.perf_counter() - start
        if batch is None:
            return
        yield batch


def _metric_key(name: str) -> str:
    """The result key of ``name``: the metric grammar's canonical key (``"NDCG@020"`` →
    ``"ndcg@20"``), or ``name`` as written when it is an evaluator's own value outside the
    grammar (e.g. a negated validation loss)."""
    try:
        ((key, _),) = metric_names([name]).items()
    except SiftrecError:
        return name
    return key


def _on_best_plateau(score: float, peak: float | None, tolerance: float | None) -> bool:
    """Whether an epoch scoring ``score`` becomes the best epoch: it beats the ``peak`` so far,
    or, with a ``tolerance``, comes within that share of it (so on a flat, noisy validation curve
    the latest such epoch, the longest-trained, is the one restored)."""
    if peak is None or score > peak:
        return True
    return bool(tolerance) and score >= peak - tolerance * abs(peak)
